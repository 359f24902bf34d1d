"""What the airspace checker reports: violations, warnings and the whole report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from flight_plans.geodesy import GeoPoint


class ViolationKind(StrEnum):
    """What rule a path breaks."""

    ZONE_INCURSION = "zone_incursion"
    """Enters the volume of a prohibited (no-fly) zone."""
    AUTHORISATION_REQUIRED = "authorisation_required"
    """Enters a zone that needs an authorisation the mission does not carry."""
    CONDITIONAL_ZONE = "conditional_zone"
    """Enters a conditional zone (a warning: the pilot must meet its conditions)."""
    OUTSIDE_OPERATING_AREA = "outside_operating_area"
    """Leaves the union of inclusion zones, or their vertical limits."""
    ABOVE_CEILING = "above_ceiling"
    """Above the global ceiling (e.g. 120 m AGL)."""
    TOO_FAR = "too_far_from_launch"
    """Beyond the maximum distance from the launch point."""
    BELOW_MIN_ALTITUDE = "below_min_transit_altitude"
    """A mission leg below the minimum transit altitude."""


class _PathEnd(Protocol):
    @property
    def item_index(self) -> int | None: ...

    @property
    def phase(self) -> str: ...


def describe_leg(a: _PathEnd, b: _PathEnd) -> str:
    """Human name of the leg between two path points (``"leg 3→4"``, ``"take-off"``, ...)."""
    if b.phase == "takeoff":
        return "the take-off climb"
    if b.phase == "land":
        return f"the descent at item {b.item_index}"
    if b.phase == "rtl":
        return f"the return to launch (item {b.item_index})"
    if a.item_index is None:
        return f"the leg from launch to item {b.item_index}"
    if a.item_index == b.item_index:
        return f"item {b.item_index}"
    return f"leg {a.item_index}→{b.item_index}"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule, located on the mission.

    Attributes:
        kind: which rule.
        message: one sentence for the pilot (what, where, how much).
        suggestion: how to fix it.
        item_index: the mission item at the end of the offending leg (or the item itself).
        leg: ``(from_item, to_item)`` indices of the leg (``None`` = launch point).
        zone_id / zone_label: the zone involved, if any.
        inside_m: how far inside the zone (or outside the area / beyond the limit), metres.
        over_m: how far over (or into) a vertical limit, metres.
        location: where the breach starts.
        blocking: False for warnings (conditional zones).
        leg_number: index of the leg in the flight path (-1 for loiter circles).
    """

    kind: ViolationKind
    message: str
    suggestion: str = ""
    item_index: int | None = None
    leg: tuple[int | None, int | None] | None = None
    zone_id: str | None = None
    zone_label: str | None = None
    inside_m: float | None = None
    over_m: float | None = None
    location: GeoPoint | None = None
    blocking: bool = True
    leg_number: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (lat/lon in degrees)."""
        return {
            "kind": self.kind.value,
            "message": self.message,
            "suggestion": self.suggestion,
            "item_index": self.item_index,
            "leg": list(self.leg) if self.leg else None,
            "zone_id": self.zone_id,
            "zone": self.zone_label,
            "inside_m": None if self.inside_m is None else round(self.inside_m, 2),
            "over_m": None if self.over_m is None else round(self.over_m, 2),
            "location": (
                None
                if self.location is None
                else {"lat_deg": self.location.lat_deg, "lon_deg": self.location.lon_deg}
            ),
            "blocking": self.blocking,
        }


@dataclass(frozen=True, slots=True)
class AirspaceReport:
    """The verdict of :func:`~mission_control.airspace.check.check`.

    Attributes:
        ok: no blocking violation.
        violations: blocking violations, in path order.
        warnings: non-blocking findings (conditional zones).
        window: the time window zones were evaluated for.
        legs_checked / circles_checked: how much path was checked.
        zones_total / zones_considered: zones known / zones near the path and in force.
        error_bound_m: the safety pad that covers the geometric approximation.
        path: the flight path as ``(point, alt_rel_m)`` pairs.
    """

    ok: bool
    violations: tuple[Violation, ...]
    warnings: tuple[Violation, ...]
    window: tuple[datetime, datetime]
    legs_checked: int
    circles_checked: int
    zones_total: int
    zones_considered: int
    error_bound_m: float
    path: tuple[tuple[GeoPoint, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "violations": [v.to_json() for v in self.violations],
            "warnings": [v.to_json() for v in self.warnings],
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
            "legs_checked": self.legs_checked,
            "circles_checked": self.circles_checked,
            "zones_total": self.zones_total,
            "zones_considered": self.zones_considered,
            "error_bound_m": self.error_bound_m,
        }
