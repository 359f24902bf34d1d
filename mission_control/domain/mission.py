"""Missions and their state machine.

A :class:`Mission` is one drone's flight for one incident: the planned
:class:`flight_plans.plan.Plan` (mission items, plus the fence once it is built for the
upload), the airspace report it was checked with, and where it stands. The transition table
:data:`MISSION_TRANSITIONS` is the single source of truth for what may follow what;
:meth:`Mission.transition` returns the next value (with a history entry) or raises
:class:`~mission_control.domain.errors.IllegalTransition`.

::

    pending_approval → approved → uploading → ready → in_flight ⇄ paused → returning → completed
    pending_approval → rejected | expired        any non-terminal → aborted | failed
    in_flight | paused | returning → link_lost → (back to where it was, or returning/completed)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from flight_plans.plan import Plan
from mission_control.domain.errors import IllegalTransition, InvalidField
from mission_control.domain.incident import PatternKind

__all__ = [
    "ACTIVE_STATES",
    "FLYING_STATES",
    "MISSION_TRANSITIONS",
    "TERMINAL_STATES",
    "Mission",
    "MissionState",
    "Transition",
]


class MissionState(StrEnum):
    """Where a mission stands (the API spells them in lower case)."""

    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    UPLOADING = "uploading"
    READY = "ready"
    IN_FLIGHT = "in_flight"
    PAUSED = "paused"
    RETURNING = "returning"
    COMPLETED = "completed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ABORTED = "aborted"
    FAILED = "failed"
    LINK_LOST = "link_lost"


S = MissionState

TERMINAL_STATES = frozenset({S.COMPLETED, S.REJECTED, S.EXPIRED, S.ABORTED, S.FAILED})
"""States a mission never leaves."""

FLYING_STATES = frozenset({S.IN_FLIGHT, S.PAUSED, S.RETURNING, S.LINK_LOST})
"""States in which the vehicle is (or may be) airborne on this mission."""

ACTIVE_STATES = frozenset(set(S) - TERMINAL_STATES)
"""Non-terminal states: reloaded and re-attached after a restart."""

MISSION_TRANSITIONS: dict[MissionState, frozenset[MissionState]] = {
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.ABORTED, S.FAILED}),
    S.APPROVED: frozenset({S.UPLOADING, S.ABORTED, S.FAILED}),
    S.UPLOADING: frozenset({S.READY, S.ABORTED, S.FAILED}),
    S.READY: frozenset({S.IN_FLIGHT, S.ABORTED, S.FAILED}),
    S.IN_FLIGHT: frozenset({S.PAUSED, S.RETURNING, S.COMPLETED, S.ABORTED, S.FAILED, S.LINK_LOST}),
    S.PAUSED: frozenset({S.IN_FLIGHT, S.RETURNING, S.ABORTED, S.FAILED, S.LINK_LOST}),
    S.RETURNING: frozenset({S.COMPLETED, S.ABORTED, S.FAILED, S.LINK_LOST}),
    S.LINK_LOST: frozenset({S.IN_FLIGHT, S.PAUSED, S.RETURNING, S.COMPLETED, S.ABORTED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.ABORTED: frozenset(),
    S.FAILED: frozenset(),
}
"""Allowed state changes: current → the states it may become."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One entry of a mission's history.

    Attributes:
        from_state: the state before (``None`` for creation).
        to_state: the state after.
        at: aware UTC time.
        by: the user name, or ``"system"`` for the service itself.
        reason: why, for a person (may be empty).
    """

    from_state: MissionState | None
    to_state: MissionState
    at: datetime
    by: str
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "from_state": None if self.from_state is None else self.from_state.value,
            "to_state": self.to_state.value,
            "at": self.at.isoformat(),
            "by": self.by,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Transition:
        """Inverse of :meth:`to_json`."""
        prev = doc.get("from_state")
        return cls(
            from_state=None if prev is None else MissionState(prev),
            to_state=MissionState(doc["to_state"]),
            at=datetime.fromisoformat(doc["at"]),
            by=str(doc["by"]),
            reason=str(doc.get("reason", "")),
        )


@dataclass(frozen=True, slots=True)
class Mission:
    """One drone's mission for one incident.

    Attributes:
        id: the service's id.
        incident_id: the incident it serves.
        drone_id: the vehicle's MAVLink system id.
        state: see :class:`MissionState`.
        plan: the planned flight (``plan.mission`` items with home = the launch point;
            ``plan.fence`` is empty until the upload builds it from the zones in force).
        airspace_report: the last airspace check, as
            :meth:`~mission_control.airspace.violations.AirspaceReport.to_json` gives it.
        pattern: the pattern flown at the incident.
        eta_s: estimated seconds from approval to on station (take-off + transit).
        station_item: index of the first mission item on station (reaching it = on station).
        notes: sentences for the pilot (route detours, stand-off, battery margin).
        authorisations: zone identifier → authorisation reference the plan relies on.
        created_at, updated_at: aware UTC times.
        expires_at: when a pending mission expires unless approved.
        approved_by, approved_at: the recorded pilot approval (``None`` until approved).
        reason: why the last transition happened.
        history: every transition, oldest first (creation included).
    """

    id: str
    incident_id: str
    drone_id: int
    plan: Plan
    airspace_report: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    state: MissionState = MissionState.PENDING_APPROVAL
    pattern: PatternKind = PatternKind.ORBIT
    eta_s: float = 0.0
    station_item: int = 0
    notes: tuple[str, ...] = ()
    authorisations: Mapping[str, str] = field(default_factory=dict)
    approved_by: str | None = None
    approved_at: datetime | None = None
    reason: str = ""
    history: tuple[Transition, ...] = ()

    def __post_init__(self) -> None:
        for name in ("id", "incident_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidField(name, "must be a non-empty string")
        if isinstance(self.drone_id, bool) or not isinstance(self.drone_id, int):
            raise InvalidField("drone_id", f"must be a MAVLink system id, got {self.drone_id!r}")
        if not 1 <= self.drone_id <= 255:
            raise InvalidField("drone_id", f"must be 1..255, got {self.drone_id}")
        if not isinstance(self.plan, Plan):
            raise InvalidField("plan", "must be a flight_plans Plan")
        if self.plan.mission.home is None:
            raise InvalidField("plan", "the mission needs its home (launch) position")
        if not math.isfinite(self.eta_s) or self.eta_s < 0:
            raise InvalidField("eta_s", f"must be a finite number >= 0, got {self.eta_s!r}")
        if not 0 <= self.station_item <= len(self.plan.mission.items):
            raise InvalidField("station_item", "must index the mission's items")
        for name in ("created_at", "updated_at", "expires_at"):
            t = getattr(self, name)
            if not isinstance(t, datetime) or t.tzinfo is None:
                raise InvalidField(name, "must be an aware datetime")
        object.__setattr__(self, "state", MissionState(self.state))
        object.__setattr__(self, "pattern", PatternKind(self.pattern))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "authorisations", dict(self.authorisations))

    @property
    def terminal(self) -> bool:
        """True in a state the mission never leaves."""
        return self.state in TERMINAL_STATES

    @property
    def approved(self) -> bool:
        """True once a pilot approval is recorded."""
        return self.approved_by is not None and self.approved_at is not None

    @property
    def airspace_ok(self) -> bool:
        """True if the last airspace check passed."""
        return bool(self.airspace_report.get("ok", False))

    def can_become(self, state: MissionState | str) -> bool:
        """True if the transition table allows ``state`` next."""
        return MissionState(state) in MISSION_TRANSITIONS[self.state]

    def transition(
        self, state: MissionState | str, *, at: datetime, by: str, reason: str = ""
    ) -> Mission:
        """The mission in ``state`` from ``at``, with the change appended to its history.

        Approving records ``approved_by`` / ``approved_at``; the service must re-run the
        airspace check before (see :meth:`with_airspace_report`).

        Raises:
            IllegalTransition: the table does not allow it (the mission is unchanged).
            InvalidField: naive ``at`` or empty ``by``.
        """
        new = MissionState(state)
        if not self.can_become(new):
            raise IllegalTransition("mission", self.id, self.state.value, new.value)
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidField("at", "must be an aware datetime")
        if not by:
            raise InvalidField("by", "a transition needs an actor")
        step = Transition(self.state, new, at, by, reason)
        extra: dict[str, Any] = {}
        if new is S.APPROVED:
            extra = {"approved_by": by, "approved_at": at}
        return replace(
            self, state=new, updated_at=at, reason=reason, history=(*self.history, step), **extra
        )

    def with_airspace_report(self, report: Mapping[str, Any], *, at: datetime) -> Mission:
        """The mission carrying a newer airspace check (state unchanged)."""
        return replace(self, airspace_report=dict(report), updated_at=at)

    def with_plan(self, plan: Plan, *, at: datetime) -> Mission:
        """The mission with another plan (e.g. the fence built for the upload)."""
        return replace(self, plan=plan, updated_at=at)
