"""Incidents: something happened at a place and someone wants eyes on it.

An :class:`Incident` is a frozen value; :meth:`Incident.transition` returns the next value
or raises :class:`~mission_control.domain.errors.IllegalTransition`. Times are aware UTC
datetimes supplied by the caller (the core reads no clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from mission_control.domain.errors import IllegalTransition, InvalidField

__all__ = [
    "INCIDENT_TRANSITIONS",
    "Incident",
    "IncidentStatus",
    "PatternKind",
    "check_location",
]


class IncidentStatus(StrEnum):
    """Where an incident stands.

    ``open``: reported, nothing planned yet. ``dispatching``: a mission exists for it and is
    not over. ``covered``: a drone reached it (on station) or its mission completed.
    ``unserviceable``: no drone or no legal route could serve it, or its mission ended
    without coverage — ``status_reason`` says why. ``closed``: done with.
    """

    OPEN = "open"
    DISPATCHING = "dispatching"
    COVERED = "covered"
    UNSERVICEABLE = "unserviceable"
    CLOSED = "closed"


INCIDENT_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.OPEN: frozenset(
        {IncidentStatus.DISPATCHING, IncidentStatus.UNSERVICEABLE, IncidentStatus.CLOSED}
    ),
    IncidentStatus.DISPATCHING: frozenset(
        {
            IncidentStatus.COVERED,
            IncidentStatus.UNSERVICEABLE,
            IncidentStatus.OPEN,
            IncidentStatus.CLOSED,
        }
    ),
    IncidentStatus.COVERED: frozenset({IncidentStatus.DISPATCHING, IncidentStatus.CLOSED}),
    IncidentStatus.UNSERVICEABLE: frozenset(
        {IncidentStatus.DISPATCHING, IncidentStatus.OPEN, IncidentStatus.CLOSED}
    ),
    IncidentStatus.CLOSED: frozenset(),
}
"""Allowed status changes: current → the statuses it may become."""


class PatternKind(StrEnum):
    """The flight pattern flown at the incident."""

    ORBIT = "orbit"
    HOVER = "hover"
    SURVEY = "survey"
    EXPANDING_SQUARE = "expanding_square"


def check_location(lat_deg: object, lon_deg: object) -> tuple[float, float]:
    """Validated ``(lat_deg, lon_deg)``: finite, latitude in [-90, 90], longitude in [-180, 180].

    Raises:
        InvalidField: naming ``lat_deg`` or ``lon_deg``.
    """
    out: list[float] = []
    for name, value, limit in (("lat_deg", lat_deg, 90.0), ("lon_deg", lon_deg, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidField(name, f"must be a number of degrees, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise InvalidField(name, f"must be finite, got {value!r}")
        if not -limit <= v <= limit:
            raise InvalidField(name, f"must be within ±{limit:g}°, got {v!r}")
        out.append(v)
    return out[0], out[1]


@dataclass(frozen=True, slots=True)
class Incident:
    """A reported incident.

    Attributes:
        id: the service's id for it.
        source: where it came from: ``api``, ``mqtt``, ``cad`` ...
        external_id: the sender's own id (e.g. a CAD event number); with ``source`` it
            identifies a re-sent report.
        kind: what happened (``shots_fired``, ``fire``, ``missing_person`` ...).
        priority: 1 (most urgent) to 5.
        lat_deg, lon_deg: where (WGS84).
        description: free text from the reporter.
        reported_by: the user (or integration) that reported it.
        created_at, updated_at: aware UTC times.
        status: see :class:`IncidentStatus`.
        status_reason: why the last status was set (always set for ``unserviceable``).
        pattern: the requested flight pattern, ``None`` for the default (orbit).
        radius_m: the requested pattern radius, ``None`` for the default by kind.
    """

    id: str
    source: str
    kind: str
    priority: int
    lat_deg: float
    lon_deg: float
    reported_by: str
    created_at: datetime
    updated_at: datetime
    status: IncidentStatus = IncidentStatus.OPEN
    status_reason: str | None = None
    external_id: str | None = None
    description: str = ""
    pattern: PatternKind | None = None
    radius_m: float | None = None

    def __post_init__(self) -> None:
        for name in ("id", "source", "kind", "reported_by"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidField(name, "must be a non-empty string")
        if len(self.kind) > 64:
            raise InvalidField("kind", "must be at most 64 characters")
        if len(self.description) > 4000:
            raise InvalidField("description", "must be at most 4000 characters")
        if self.external_id is not None and not 0 < len(self.external_id) <= 200:
            raise InvalidField("external_id", "must be 1 to 200 characters")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InvalidField("priority", f"must be an integer 1..5, got {self.priority!r}")
        if not 1 <= self.priority <= 5:
            raise InvalidField("priority", f"must be 1 (most urgent) to 5, got {self.priority}")
        lat, lon = check_location(self.lat_deg, self.lon_deg)
        object.__setattr__(self, "lat_deg", lat)
        object.__setattr__(self, "lon_deg", lon)
        object.__setattr__(self, "status", IncidentStatus(self.status))
        if self.pattern is not None:
            try:
                object.__setattr__(self, "pattern", PatternKind(self.pattern))
            except ValueError:
                choices = ", ".join(p.value for p in PatternKind)
                raise InvalidField("pattern", f"must be one of {choices}") from None
        if self.radius_m is not None:
            r = self.radius_m
            if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r):
                raise InvalidField("radius_m", f"must be a finite number of metres, got {r!r}")
            if not 10.0 <= r <= 2000.0:
                raise InvalidField("radius_m", f"must be 10 to 2000 m, got {r:g}")
            object.__setattr__(self, "radius_m", float(r))
        for name in ("created_at", "updated_at"):
            t = getattr(self, name)
            if not isinstance(t, datetime) or t.tzinfo is None:
                raise InvalidField(name, "must be an aware datetime")
        if self.status is IncidentStatus.UNSERVICEABLE and not self.status_reason:
            raise InvalidField("status_reason", "an unserviceable incident must say why")

    @property
    def terminal(self) -> bool:
        """True once closed."""
        return self.status is IncidentStatus.CLOSED

    def can_become(self, status: IncidentStatus) -> bool:
        """True if the transition table allows ``status`` next."""
        return status in INCIDENT_TRANSITIONS[self.status]

    def transition(
        self, status: IncidentStatus | str, *, at: datetime, reason: str | None = None
    ) -> Incident:
        """The incident in ``status`` from ``at``.

        Raises:
            IllegalTransition: the table does not allow it.
            InvalidField: ``unserviceable`` without a reason, naive ``at``.
        """
        new = IncidentStatus(status)
        if not self.can_become(new):
            raise IllegalTransition("incident", self.id, self.status.value, new.value)
        return replace(self, status=new, status_reason=reason, updated_at=at)
