"""The dispatch policy: which drone goes to an incident, on what flight.

``dispatch(incident, drones, zones, at=...)`` is pure and deterministic:

1. **Candidates.** A drone is a candidate when its link is connected, it is landed,
   disarmed and not on a mission, its home position and battery level are known, its GPS
   fix and pre-arm checks are not known to be bad, and its battery covers a lower bound of
   the flight — transit both ways, the time on station, take-off and landing — plus the
   reserve (:func:`~.target.battery_shortfall`). Every other drone gets a
   :class:`CandidateRejection` saying why.
2. **Ranking** by ETA: geodesic distance from home to the incident at cruise speed, plus
   the take-off time (ties: lower drone id).
3. **Planning** (:func:`~.planning.plan_drone`) of at most
   ``policy.max_candidates_planned`` candidates in ETA order: route, pattern, return,
   energy with the reserve on the real mission, airspace check. The first that passes wins.

No proposal is never silent: :attr:`DispatchResult.reason` is one sentence that says why
(no drones connected, all busy, or each drone's reason).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flight_plans.geodesy import GeoPoint, distance_m
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.zones import Zone
from mission_control.domain.dispatch_policy import DispatchError, DispatchPolicy, RejectionKind
from mission_control.domain.errors import InvalidField
from mission_control.domain.fleet import DroneSnapshot
from mission_control.domain.incident import Incident
from mission_control.domain.planning import Proposal, plan_drone, plan_for
from mission_control.domain.target import Target, battery_shortfall, target_for

__all__ = [
    "CandidateRejection",
    "DispatchError",
    "DispatchPolicy",
    "DispatchResult",
    "Proposal",
    "RejectionKind",
    "dispatch",
    "eligibility",
    "eta_s",
    "plan_for",
]

GOOD_FIXES = frozenset({"fix_3d", "fix_dgps", "rtk_float", "rtk_fixed"})
"""GPS fix types good enough to fly a mission."""


@dataclass(frozen=True, slots=True)
class CandidateRejection:
    """Why one drone was not sent.

    Attributes:
        drone_id: the drone.
        reason: one phrase for the pilot (``"link lost"``, ``"on mission m-12"``, battery
            figures, the zone in the way ...).
        kind: the class of reason.
    """

    drone_id: int
    reason: str
    kind: RejectionKind

    def __post_init__(self) -> None:
        if not self.reason:
            raise InvalidField("reason", "a rejection must say why")
        object.__setattr__(self, "kind", RejectionKind(self.kind))


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """The outcome of one dispatch.

    Attributes:
        proposal: the chosen drone's checked flight, or ``None``.
        rejected: every other drone and why, in the order given.
        reason: when there is no proposal, one sentence saying why (never empty).
    """

    proposal: Proposal | None
    rejected: tuple[CandidateRejection, ...]
    reason: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rejected", tuple(self.rejected))
        if self.proposal is None and not self.reason:
            raise InvalidField("reason", "a dispatch without a proposal must say why")
        if self.proposal is not None and self.reason is not None:
            raise InvalidField("reason", "must be None when there is a proposal")


def eligibility(drone: DroneSnapshot) -> CandidateRejection | None:
    """Why ``drone`` cannot be sent at all (link, busy, not ready), or ``None``."""

    def no(reason: str, kind: RejectionKind) -> CandidateRejection:
        return CandidateRejection(drone.drone_id, reason, kind)

    if drone.link != "connected":
        return no(f"link {drone.link}", RejectionKind.LINK)
    if drone.mission_id is not None:
        return no(f"on mission {drone.mission_id}", RejectionKind.BUSY)
    if not drone.landed:
        return no("flying", RejectionKind.BUSY)
    if drone.armed:
        return no("armed on the ground", RejectionKind.BUSY)
    if drone.home is None:
        reason = "no home position yet" if drone.has_position else "no position/home yet"
        return no(reason, RejectionKind.NOT_READY)
    if drone.gps_fix is not None and drone.gps_fix not in GOOD_FIXES:
        return no(f"no 3D GPS fix ({drone.gps_fix})", RejectionKind.NOT_READY)
    if drone.armable is False:
        return no("pre-arm checks failing", RejectionKind.NOT_READY)
    if drone.battery_fraction is None:
        return no("battery unknown", RejectionKind.NOT_READY)
    return None


def eta_s(drone: DroneSnapshot, incident_point: GeoPoint, policy: DispatchPolicy) -> float:
    """Seconds to the incident: take-off time plus the straight distance at cruise speed.

    Raises:
        InvalidField: the drone has no home position.
    """
    if drone.home is None:
        raise InvalidField("home", f"drone {drone.drone_id} has no home position")
    d = distance_m(drone.home.point, incident_point)
    return policy.takeoff_s(drone.profile) + d / drone.profile.cruise_speed_m_s


def dispatch(
    incident: Incident,
    drones: Sequence[DroneSnapshot],
    zones: ZoneIndex | Sequence[Zone],
    *,
    at: datetime,
    policy: DispatchPolicy | None = None,
) -> DispatchResult:
    """Choose a drone for ``incident`` and plan its flight.

    Args:
        incident: what and where; its pattern and radius (or the policy's defaults).
        drones: the fleet's snapshots at ``at``.
        zones: the airspace (build a :class:`ZoneIndex` once and reuse it).
        at: the dispatch time (aware): the launch time for zone schedules.
        policy: the policy (default :class:`DispatchPolicy`).

    Returns:
        The proposal of the best drone whose flight passes the energy and airspace checks
        and the reason for every other drone; or no proposal and the reason.

    Raises:
        InvalidField: ``at`` is not aware.
    """
    pol = policy or DispatchPolicy()
    index = zones if isinstance(zones, ZoneIndex) else ZoneIndex(zones)
    target = target_for(incident, index, at=at, policy=pol)
    rejected: dict[int, CandidateRejection] = {}
    ranked: list[tuple[float, int, DroneSnapshot]] = []
    for d in drones:
        why = eligibility(d) or _battery(target, d)
        if why is not None:
            rejected[d.drone_id] = why
        else:
            ranked.append((eta_s(d, target.point, pol), d.drone_id, d))
    ranked.sort(key=lambda e: (e[0], e[1]))
    proposal: Proposal | None = None
    for n, (eta, did, d) in enumerate(ranked):
        if proposal is not None:
            reason = f"ETA {eta:.0f} s; drone {proposal.drone_id} was chosen"
            rejected[did] = CandidateRejection(did, reason, RejectionKind.OUTRANKED)
        elif n >= pol.max_candidates_planned:
            reason = f"not planned: only the {pol.max_candidates_planned} nearest drones are tried"
            rejected[did] = CandidateRejection(did, reason, RejectionKind.NOT_PLANNED)
        else:
            try:
                proposal = plan_drone(target, d)
            except DispatchError as e:
                rejected[did] = CandidateRejection(did, e.reason, e.kind)
    order = [rejected[d.drone_id] for d in drones if d.drone_id in rejected]
    if proposal is not None:
        return DispatchResult(proposal, tuple(order), None)
    return DispatchResult(None, tuple(order), summarise(order))


def _battery(target: Target, drone: DroneSnapshot) -> CandidateRejection | None:
    why = battery_shortfall(target, drone)
    return None if why is None else CandidateRejection(drone.drone_id, why, RejectionKind.BATTERY)


_UNAVAILABLE = frozenset({RejectionKind.LINK, RejectionKind.BUSY})
_ORDER = (
    RejectionKind.NO_ROUTE,
    RejectionKind.AIRSPACE,
    RejectionKind.BATTERY,
    RejectionKind.NOT_READY,
    RejectionKind.BUSY,
    RejectionKind.LINK,
    RejectionKind.NOT_PLANNED,
    RejectionKind.OUTRANKED,
)
"""Most telling reasons first in the summary: what planning found, then availability."""


def _unavailable_word(r: CandidateRejection) -> str:
    return "on a mission" if r.reason.startswith("on mission") else r.reason


def _who(ids: list[int]) -> str:
    if len(ids) == 1:
        return f"drone {ids[0]}"
    if len(ids) <= 5:
        return "drones " + ", ".join(map(str, ids))
    return f"{len(ids)} drones"


def summarise(rejected: Sequence[CandidateRejection], *, max_groups: int = 4) -> str:
    """One sentence saying why no drone was sent.

    ``"no drones are connected"``; ``"no drone is available: 2 on a mission, 1 flying"``;
    else the reasons grouped, planning findings first: ``"no drone can serve the incident:
    drone 3: battery ...; drones 4, 5: no route to the incident: ..."``.
    """
    if not rejected:
        return "no drones are connected"
    if all(r.kind is RejectionKind.LINK for r in rejected):
        counts = Counter(r.reason for r in rejected)
        return "no drones are connected (" + ", ".join(f"{n} {w}" for w, n in counts.items()) + ")"
    if all(r.kind in _UNAVAILABLE for r in rejected):
        counts = Counter(_unavailable_word(r) for r in rejected)
        return "no drone is available: " + ", ".join(f"{n} {w}" for w, n in counts.items())
    groups: dict[tuple[int, str], list[int]] = {}
    for r in rejected:
        key = _ORDER.index(r.kind), _unavailable_word(r)
        groups.setdefault(key, []).append(r.drone_id)
    ordered = sorted(groups.items(), key=lambda g: g[0][0])
    parts = [f"{_who(ids)}: {reason}" for (_, reason), ids in ordered[:max_groups]]
    more = sum(len(ids) for _, ids in ordered[max_groups:])
    tail = f"; {more} more for other reasons" if more else ""
    return "no drone can serve the incident: " + "; ".join(parts) + tail
