"""Airspace zones: where, how high, when, and how strict.

A :class:`Zone` is one horizontal shape (polygon with holes, or circle) with one vertical
band, a kind (exclusion = no-fly, inclusion = operating area), a restriction level and a
schedule. Sources that give one zone several shapes or layers (ED-269 ``geometry`` lists,
ED-318 ``GeometryCollection``, GeoJSON ``MultiPolygon``) become several :class:`Zone`
objects sharing an ``identifier`` and numbered by ``part``.

Units are converted on load: every altitude here is in metres and carries its datum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum
from mission_control.airspace.errors import ZoneError

FT_TO_M = 0.3048
"""International foot, exactly."""


class ZoneKind(StrEnum):
    """Whether the vehicle must stay out of a zone or inside it."""

    EXCLUSION = "exclusion"
    """No-fly: the path must not enter the zone's volume."""
    INCLUSION = "inclusion"
    """Operating area: when any exists, the whole path must stay inside one."""


class Restriction(StrEnum):
    """How strict a zone is (ED-269 / ED-318 ``restriction`` / ``type``)."""

    PROHIBITED = "prohibited"
    REQ_AUTHORISATION = "req_authorisation"
    """Flight allowed only with an authorisation reference attached to the mission."""
    CONDITIONAL = "conditional"
    """Flight allowed under conditions the operator must meet: reported as a warning."""
    NO_RESTRICTION = "no_restriction"
    """Information only: never a violation."""


@dataclass(frozen=True, slots=True)
class Altitude:
    """A height in metres above a stated datum."""

    value_m: float
    datum: AltDatum

    def __post_init__(self) -> None:
        if isinstance(self.value_m, bool) or not isinstance(self.value_m, int | float):
            raise ZoneError("altitude", f"{self.value_m!r} is not a number")
        if not math.isfinite(self.value_m):
            raise ZoneError("altitude", f"{self.value_m!r} is not finite")
        object.__setattr__(self, "value_m", float(self.value_m))
        object.__setattr__(self, "datum", AltDatum(self.datum))

    @classmethod
    def of(cls, value: float, unit: str, datum: AltDatum) -> Altitude:
        """An altitude given in ``unit`` (``m``, ``ft`` or ``FL`` flight level).

        A flight level is taken as hundreds of feet AMSL (standard atmosphere, no QNH
        correction); ``datum`` is then ignored.

        Raises:
            ZoneError: unknown unit or a value that is not finite.
        """
        u = unit.strip().upper()
        if u in ("M", "METRE", "METER", "METRES", "METERS"):
            return cls(value, datum)
        if u in ("FT", "FEET", "FOOT"):
            return cls(float(value) * FT_TO_M, datum)
        if u == "FL":
            return cls(float(value) * 100.0 * FT_TO_M, AltDatum.AMSL)
        raise ZoneError("unit", f"unknown altitude unit {unit!r} (use m, ft or FL)")


@dataclass(frozen=True, slots=True)
class VerticalLimits:
    """A zone's vertical band. ``floor=None`` is the surface, ``ceiling=None`` unlimited."""

    floor: Altitude | None = None
    ceiling: Altitude | None = None


_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Days of the week and a daily UTC time window (``end <= start`` crosses midnight).

    Attributes:
        days: ISO weekday numbers 0 = Monday .. 6 = Sunday.
        start / end: UTC times of day.
    """

    days: frozenset[int]
    start: time = time(0, 0)
    end: time = time(23, 59, 59, 999999)

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        if not days or not days <= set(range(7)):
            raise ZoneError("schedule.day", f"days must be 0..6 (Mon..Sun), got {sorted(days)}")
        object.__setattr__(self, "days", days)

    @classmethod
    def from_names(cls, names: list[str], start: time, end: time) -> WeeklyWindow:
        """From ED-269 day names (``MON``..``SUN``, ``ANY``)."""
        days: set[int] = set()
        for n in names:
            key = str(n).strip().upper()
            if key == "ANY":
                days |= set(range(7))
            elif key[:3] in _WEEKDAYS:
                days.add(_WEEKDAYS.index(key[:3]))
            else:
                raise ZoneError("schedule.day", f"unknown day {n!r}")
        return cls(frozenset(days), start, end)

    def intervals(self, t0: datetime, t1: datetime) -> list[tuple[datetime, datetime]]:
        """The window's active UTC intervals that touch ``[t0, t1]``."""
        out: list[tuple[datetime, datetime]] = []
        day = datetime.combine(t0.date() - timedelta(days=1), time(0), tzinfo=UTC)
        while day <= t1:
            if day.weekday() in self.days:
                s = datetime.combine(day.date(), self.start, tzinfo=UTC)
                e = datetime.combine(day.date(), self.end, tzinfo=UTC)
                if e <= s:
                    e += timedelta(days=1)
                if s <= t1 and e >= t0:
                    out.append((s, e))
            day += timedelta(days=1)
        return out


@dataclass(frozen=True, slots=True)
class Period:
    """One ``applicability`` entry: an optional start/end and optional weekly windows."""

    start: datetime | None = None
    end: datetime | None = None
    windows: tuple[WeeklyWindow, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None and v.tzinfo is None:
                raise ZoneError(f"schedule.{name}", "times must carry a time zone (UTC)")
        if self.start and self.end and self.end < self.start:
            raise ZoneError("schedule", f"ends ({self.end}) before it starts ({self.start})")
        object.__setattr__(self, "windows", tuple(self.windows))

    def active_during(self, t0: datetime, t1: datetime) -> bool:
        """True if the period is in force at any instant of ``[t0, t1]``."""
        lo = max(t0, self.start) if self.start else t0
        hi = min(t1, self.end) if self.end else t1
        if lo > hi:
            return False
        if not self.windows:
            return True
        return any(w.intervals(lo, hi) for w in self.windows)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a zone is in force: permanently (no periods) or during any of its periods."""

    periods: tuple[Period, ...] = ()

    @property
    def permanent(self) -> bool:
        """True when the zone is always in force."""
        return not self.periods

    def active_during(self, t0: datetime, t1: datetime | None = None) -> bool:
        """True if the zone is in force at any instant of ``[t0, t1]`` (aware datetimes)."""
        t1 = t1 or t0
        if t0.tzinfo is None or t1.tzinfo is None:
            raise ZoneError("at", "times must carry a time zone (UTC)")
        return self.permanent or any(p.active_during(t0, t1) for p in self.periods)


ZoneShape = GeoPolygon | GeoCircle


@dataclass(frozen=True, slots=True)
class Zone:
    """One airspace zone volume.

    Attributes:
        identifier: the zone's id in its source (shared by parts of one source zone).
        shape: a :class:`GeoPolygon` (holes allowed) or :class:`GeoCircle`.
        kind: exclusion (no-fly) or inclusion (operating area).
        vertical: floor and ceiling, each with its datum.
        restriction: prohibited / requires authorisation / conditional / no restriction.
        schedule: when the zone is in force.
        name, reason, message, authority: human-readable details from the source.
        source: where it was loaded from (file and feature index).
        part: index of this shape/layer among the parts of the source zone.
    """

    identifier: str
    shape: ZoneShape
    kind: ZoneKind = ZoneKind.EXCLUSION
    vertical: VerticalLimits = field(default_factory=VerticalLimits)
    restriction: Restriction = Restriction.PROHIBITED
    schedule: Schedule = field(default_factory=Schedule)
    name: str = ""
    reason: tuple[str, ...] = ()
    message: str = ""
    authority: str = ""
    source: str = ""
    part: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.identifier, str) or not self.identifier.strip():
            raise ZoneError("identifier", "a zone needs a non-empty identifier")
        if not isinstance(self.shape, GeoPolygon | GeoCircle):
            raise ZoneError(
                "shape", f"expected a polygon or circle, got {type(self.shape).__name__}"
            )
        object.__setattr__(self, "kind", ZoneKind(self.kind))
        object.__setattr__(self, "restriction", Restriction(self.restriction))
        object.__setattr__(self, "reason", tuple(self.reason))

    @property
    def label(self) -> str:
        """``identifier`` (plus ``#part`` for multi-part zones) and name, for messages."""
        ident = self.identifier if self.part == 0 else f"{self.identifier}#{self.part}"
        return f"{ident} “{self.name}”" if self.name and self.name != self.identifier else ident

    def active_during(self, t0: datetime, t1: datetime | None = None) -> bool:
        """True if the zone is in force at any instant of ``[t0, t1]``."""
        return self.schedule.active_during(t0, t1)
