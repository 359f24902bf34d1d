"""The knobs of the dispatch policy and the error it raises when no plan is possible.

:class:`DispatchPolicy` is a frozen, validated value: the service builds one from its
settings and passes it to :func:`~mission_control.domain.dispatch.dispatch`. Defaults suit
a ~1.5 kg multicopter under a 120 m ceiling in urban public-safety work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from flight_plans.camera import CameraModel
from flight_plans.energy import VehicleProfile
from mission_control.airspace.check import Rules
from mission_control.airspace.routing import DEFAULT_MARGIN_M, MIN_MARGIN_M
from mission_control.domain.errors import DomainError, InvalidField

__all__ = [
    "DEFAULT_ORBIT_RADII_M",
    "DispatchError",
    "DispatchPolicy",
    "RejectionKind",
    "normalise_kind",
]

DEFAULT_ORBIT_RADII_M: Mapping[str, float] = MappingProxyType(
    {
        # armed threats: watch from outside small-arms range and out of earshot
        "shots_fired": 250.0,
        "active_shooter": 300.0,
        "armed_person": 250.0,
        "hostage": 300.0,
        "bomb_threat": 300.0,
        "explosion": 300.0,
        "hazmat": 300.0,
        # fires: clear of the smoke column, the whole structure in frame
        "fire": 150.0,
        "structure_fire": 150.0,
        "wildfire": 300.0,
        # scenes on roads and people: close enough to see detail
        "traffic_collision": 80.0,
        "vehicle_crash": 80.0,
        "missing_person": 150.0,
        "search_and_rescue": 150.0,
        "water_rescue": 100.0,
        "medical": 60.0,
        "burglary": 100.0,
        "robbery": 120.0,
        "assault": 100.0,
        "suspicious_person": 100.0,
        "pursuit": 150.0,
    }
)
"""Overwatch orbit radius (metres) by incident kind; unknown kinds use the policy default."""


def normalise_kind(kind: str) -> str:
    """An incident kind as the radius table spells it (``"Shots Fired"`` → ``shots_fired``)."""
    return "_".join(kind.strip().lower().replace("-", " ").split())


class RejectionKind(StrEnum):
    """Why a drone was not chosen, in classes the summary sentence counts."""

    LINK = "link"
    """Not connected (link lost or degraded)."""
    BUSY = "busy"
    """On a mission, flying or armed."""
    NOT_READY = "not_ready"
    """No home position, no GPS fix, pre-arm checks failing, battery unknown."""
    BATTERY = "battery"
    """Not enough energy for the flight with the reserve."""
    NO_ROUTE = "no_route"
    """No legal transit, or no stand-off orbit clear of the zones."""
    AIRSPACE = "airspace"
    """The planned mission fails the airspace check."""
    NOT_PLANNED = "not_planned"
    """Eligible but beyond the number of candidates planned per dispatch."""
    OUTRANKED = "outranked"
    """Eligible, but a drone earlier in the ranking was chosen."""


class DispatchError(DomainError):
    """No plan is possible for this drone and incident.

    Attributes:
        drone_id: the drone planned for.
        kind: the class of reason (:class:`RejectionKind`).
        reason: one sentence for the pilot (names the zone, the battery figures ...).
    """

    def __init__(self, drone_id: int, kind: RejectionKind, reason: str) -> None:
        super().__init__(f"drone {drone_id}: {reason}")
        self.drone_id = drone_id
        self.kind = kind
        self.reason = reason


_POSITIVE = (
    "time_on_station_s",
    "takeoff_alt_rel_m",
    "transit_alt_rel_m",
    "station_alt_rel_m",
    "default_orbit_radius_m",
    "min_orbit_radius_m",
    "orbit_speed_m_s",
    "flight_window_s",
)


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How dispatch chooses a drone and plans its flight.

    Attributes:
        time_on_station_s: how long the pattern is flown at the incident (orbit, hover).
        reserve_fraction: share of a full pack that must be left on landing (0..1).
        takeoff_alt_rel_m: take-off climb, metres above home.
        transit_alt_rel_m: altitude of the way there and back, metres above home (the
            climb to it happens over home).
        station_alt_rel_m: altitude of the pattern, metres above home.
        spinup_s: arming and motor spin-up before the climb, seconds.
        takeoff_time_s: time from the command to leaving at transit altitude; ``None``:
            ``spinup_s`` plus the climb to ``transit_alt_rel_m`` at the vehicle's climb speed.
        orbit_radius_by_kind_m: orbit radius (metres) by normalised incident kind.
        default_orbit_radius_m: radius for kinds not in the table.
        min_orbit_radius_m: smallest radius a stand-off orbit may shrink to.
        orbit_speed_m_s: ground speed on the orbit.
        search_tracks_per_radius: expanding-square track spacing is radius / this.
        route_margin_m: distance kept from blocking zones (route and pattern), metres.
        flight_window_s: zones in force at any time from dispatch to this many seconds
            later are avoided by the route and the pattern.
        rules: the operator's rules for the airspace check (ceiling ...).
        camera: the camera a survey is planned for.
        max_candidates_planned: plan at most this many eligible drones (best ETA first).
    """

    time_on_station_s: float = 600.0
    reserve_fraction: float = 0.2
    takeoff_alt_rel_m: float = 30.0
    transit_alt_rel_m: float = 80.0
    station_alt_rel_m: float = 60.0
    spinup_s: float = 5.0
    takeoff_time_s: float | None = None
    orbit_radius_by_kind_m: Mapping[str, float] = field(
        default_factory=lambda: DEFAULT_ORBIT_RADII_M, hash=False
    )
    default_orbit_radius_m: float = 120.0
    min_orbit_radius_m: float = 30.0
    orbit_speed_m_s: float = 5.0
    search_tracks_per_radius: int = 4
    route_margin_m: float = DEFAULT_MARGIN_M
    flight_window_s: float = 3600.0
    rules: Rules = field(default_factory=Rules)
    camera: CameraModel = field(
        default_factory=lambda: CameraModel(13.2, 8.8, 8.8, 5472, 3648)  # 1-inch 20 MP
    )
    max_candidates_planned: int = 5

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise InvalidField(name, f"must be a finite number, got {v!r}")
            if v <= 0:
                raise InvalidField(name, f"must be > 0, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not 0.0 <= self.reserve_fraction < 1.0:
            raise InvalidField("reserve_fraction", "must be in [0, 1)")
        if not math.isfinite(self.spinup_s) or self.spinup_s < 0:
            raise InvalidField("spinup_s", "must be a finite number >= 0")
        if self.takeoff_time_s is not None and not (
            math.isfinite(self.takeoff_time_s) and self.takeoff_time_s >= 0
        ):
            raise InvalidField("takeoff_time_s", "must be a finite number >= 0 or None")
        if self.takeoff_alt_rel_m > self.transit_alt_rel_m:
            raise InvalidField("takeoff_alt_rel_m", "must not be above transit_alt_rel_m")
        ceiling = self.rules.ceiling_agl_m
        for name in ("transit_alt_rel_m", "station_alt_rel_m"):
            if ceiling is not None and getattr(self, name) > ceiling:
                raise InvalidField(name, f"must not be above the {ceiling:g} m ceiling")
        if not math.isfinite(self.route_margin_m) or self.route_margin_m < MIN_MARGIN_M:
            raise InvalidField("route_margin_m", f"must be >= {MIN_MARGIN_M:g} m")
        if self.min_orbit_radius_m > self.default_orbit_radius_m:
            raise InvalidField("min_orbit_radius_m", "must not exceed default_orbit_radius_m")
        radii: dict[str, float] = {}
        for kind, r in self.orbit_radius_by_kind_m.items():
            if not (isinstance(r, int | float) and math.isfinite(r) and r > 0):
                raise InvalidField("orbit_radius_by_kind_m", f"{kind}: must be > 0 m, got {r!r}")
            radii[normalise_kind(kind)] = float(r)
        object.__setattr__(self, "orbit_radius_by_kind_m", MappingProxyType(radii))
        for name in ("search_tracks_per_radius", "max_candidates_planned"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidField(name, f"must be an integer >= 1, got {v!r}")

    def orbit_radius_m(self, kind: str) -> float:
        """The orbit radius for an incident ``kind``, metres."""
        return self.orbit_radius_by_kind_m.get(normalise_kind(kind), self.default_orbit_radius_m)

    def takeoff_s(self, profile: VehicleProfile) -> float:
        """Seconds from the launch command to leaving at transit altitude."""
        if self.takeoff_time_s is not None:
            return self.takeoff_time_s
        return self.spinup_s + self.transit_alt_rel_m / profile.climb_speed_m_s
