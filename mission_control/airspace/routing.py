"""Transit routes around airspace zones: the shortest legal path between two points.

``route(start, goal, zones)`` returns the shortest path that keeps ``margin_m`` away from
every zone that blocks the flight (prohibited zones, and zones requiring an authorisation
the flight does not carry) and, when inclusion zones exist, inside the operating area by the
same margin. The path is then handed to the airspace checker; a route is only returned
when the checker finds nothing wrong with it.

How:

1. One :class:`~flight_plans.geodesy.LocalFrame` centred between start and goal; zones
   near the start–goal corridor are projected into it (:class:`ZoneIndex`), grown by the
   margin and merged (:mod:`.free_space`).
2. The shortest path over the reduced visibility graph of the free space (:mod:`.visibility`).
3. Zones near the path that were not considered yet (the path may swing out of the
   corridor) are added and the path recomputed, until every zone near the path is
   accounted for. The cost grows with the zones near the route, not with the zone set.

A goal inside a blocking zone is not an error for overwatch: the route ends at the nearest
point of the free airspace, and says so (``goal_reached=False``, ``standoff_from``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType

from shapely.geometry import LineString

from flight_plans.geodesy import (
    EARTH_MEAN_RADIUS_M,
    WGS84,
    GeoPoint,
    LocalFrame,
    distance_m,
    inverse,
    path_length_m,
)
from flight_plans.geometry import GeoCircle, GeoPolygon, mean_point
from flight_plans.mission import AltDatum, HomePosition, MavCmd, Mission, MissionItem
from mission_control.airspace.check import Rules, check
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.free_space import (
    CHECK_PAD_M,
    FreeSpace,
    Incomplete,
    Plan,
    ZoneShape,
    obstacle,
    polygon_of,
)
from mission_control.airspace.index import ZoneIndex, pad_box
from mission_control.airspace.violations import ViolationKind
from mission_control.airspace.zones import Altitude, Restriction, Zone, ZoneKind

__all__ = ["DEFAULT_MARGIN_M", "MIN_MARGIN_M", "Route", "RouteRequestError", "route"]

DEFAULT_MARGIN_M = 50.0
MIN_MARGIN_M = 2.0
"""The checker pads zones by 1 m; a smaller margin would leave no room for its rounding."""
VERIFY_ALT_REL_M = 60.0
"""Transit altitude used to check a route planned without one."""
MAX_ROUTE_M = 100_000.0
"""Longest start–goal distance planned (one local frame; errors grow with its size)."""
MIN_CORRIDOR_M = 500.0
"""Zones this far (or 4 margins, if more) from the start–goal line are considered at first."""
MAX_ROUNDS = 64

_NO_AUTHORISATIONS: Mapping[str, str] = MappingProxyType({})
_CHECKED_KINDS = frozenset(
    {
        ViolationKind.ZONE_INCURSION,
        ViolationKind.AUTHORISATION_REQUIRED,
        ViolationKind.OUTSIDE_OPERATING_AREA,
    }
)


class RouteRequestError(AirspaceError, ValueError):
    """A routing argument is invalid.

    Attributes:
        field: the argument (e.g. ``"margin_m"``).
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _number(field: str, value: float, *, low: float, inclusive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RouteRequestError(field, f"must be a finite number, got {value!r}")
    if value < low or (not inclusive and value == low):
        raise RouteRequestError(
            field, f"must be {'>=' if inclusive else '>'} {low:g}, got {value!r}"
        )
    return float(value)


@dataclass(frozen=True, slots=True)
class Route:
    """A transit path.

    Attributes:
        points: from the start to the goal (or to the stand-off point).
        length_m: geodesic length of the path.
        direct_length_m: geodesic distance from start to goal.
        goal_reached: False when the path ends at a stand-off point.
        standoff_from: label of the zone the goal is in (or too close to), if not reached.
        notes: sentences for the pilot (detours, stand-off, authorisations used).
        margin_m: the distance kept from zones.
    """

    points: tuple[GeoPoint, ...]
    length_m: float
    direct_length_m: float
    goal_reached: bool = True
    standoff_from: str | None = None
    notes: tuple[str, ...] = ()
    margin_m: float = DEFAULT_MARGIN_M

    def to_mission(
        self,
        *,
        alt_rel_m: float,
        home: HomePosition | None = None,
        max_corner_cut_m: float | None = None,
    ) -> Mission:
        """The route as ``NAV_WAYPOINT`` items at ``alt_rel_m`` (``GLOBAL_RELATIVE_ALT``).

        No take-off or return: wrap it with
        :func:`flight_plans.patterns.with_takeoff_and_rtl`. Each waypoint's acceptance
        radius lets the vehicle round the corner by at most ``max_corner_cut_m``
        (default a quarter of the margin), so it stays well clear of the zone it turns
        around.

        Raises:
            RouteRequestError: altitude not > 0, corner cut not > 0.
        """
        alt = _number("alt_rel_m", alt_rel_m, low=0.0, inclusive=False)
        cut = (
            self.margin_m / 4.0
            if max_corner_cut_m is None
            else _number("max_corner_cut_m", max_corner_cut_m, low=0.0, inclusive=False)
        )
        pts = _dedupe(self.points)
        legs = [inverse(a, b) for a, b in itertools.pairwise(pts)]
        items = []
        for i, p in enumerate(pts):
            before = legs[i - 1] if i > 0 else None
            after = legs[i] if i < len(legs) else None
            items.append(
                MissionItem.at(
                    MavCmd.NAV_WAYPOINT,
                    p.lat_deg,
                    p.lon_deg,
                    alt_rel_m=alt,
                    params=(0.0, _acceptance_radius_m(before, after, cut), 0.0, math.nan),
                )
            )
        return Mission(tuple(items), home)


def _acceptance_radius_m(
    before: tuple[float, float, float] | None,
    after: tuple[float, float, float] | None,
    max_cut_m: float,
) -> float:
    """Radius so that a turn of ``θ`` cuts at most ``max_cut_m`` (``r·sin θ``), and at most
    half of each adjacent leg (same rule as :mod:`flight_plans.patterns`)."""
    limit = max_cut_m
    if before is not None and after is not None:
        arrival = (before[1] + 180.0) % 360.0
        turn = abs((after[0] - arrival + 180.0) % 360.0 - 180.0)
        if turn < 90.0:
            s = math.sin(math.radians(turn))
            limit = max_cut_m / s if s > 1e-12 else math.inf
    halves = [leg[2] / 2.0 for leg in (before, after) if leg is not None]
    radius = min(limit, *halves) if halves else limit
    return max(radius, 0.1) if math.isfinite(radius) else max_cut_m


def _dedupe(points: Sequence[GeoPoint]) -> list[GeoPoint]:
    out: list[GeoPoint] = []
    for p in points:
        if not out or distance_m(out[-1], p) > 0.01:
            out.append(p)
    return out


# -- which zones count ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Filter:
    t0: datetime | None
    t1: datetime | None
    alt_rel_m: float | None
    launch_alt_amsl_m: float | None
    authorisations: Mapping[str, str]

    def active(self, z: Zone) -> bool:
        return self.t0 is None or z.active_during(self.t0, self.t1)

    def _limit(self, alt: Altitude | None, unbounded: float) -> float | None:
        if alt is None:
            return unbounded
        if alt.datum is AltDatum.AMSL:
            if self.launch_alt_amsl_m is None:
                return None
            return alt.value_m - self.launch_alt_amsl_m
        return alt.value_m  # above launch; terrain is flat at the launch elevation

    def in_band(self, z: Zone) -> bool:
        """The zone's vertical band holds the transit altitude (or may: unknown datum)."""
        if self.alt_rel_m is None:
            return True
        lo = self._limit(z.vertical.floor, -math.inf)
        hi = self._limit(z.vertical.ceiling, math.inf)
        if lo is None or hi is None:
            return True
        return lo <= self.alt_rel_m <= hi

    def blocks(self, z: Zone) -> bool:
        if z.kind is not ZoneKind.EXCLUSION:
            return False
        if z.restriction is Restriction.REQ_AUTHORISATION:
            if z.identifier in self.authorisations:
                return False
        elif z.restriction is not Restriction.PROHIBITED:
            return False
        return self.active(z) and self.in_band(z)

    def bounds_area(self, z: Zone) -> bool:
        return z.kind is ZoneKind.INCLUSION and self.active(z) and self.in_band(z)


def _envelope(z: Zone) -> tuple[float, float, float, float]:
    if isinstance(z.shape, GeoCircle):
        c = z.shape.center
        return pad_box(c.lon_deg, c.lat_deg, c.lon_deg, c.lat_deg, z.shape.radius_m * 1.01 + 1.0)
    assert isinstance(z.shape, GeoPolygon)
    lons = [p.lon_deg for p in z.shape.exterior]
    lats = [p.lat_deg for p in z.shape.exterior]
    return min(lons), min(lats), max(lons), max(lats)


def _operating_area(
    index: ZoneIndex,
    f: _Filter,
    legs: list[tuple[GeoPoint, GeoPoint, float]],
    corridor_m: float,
) -> list[int] | None:
    """Inclusion zones that can matter: those near the corridor and every one that overlaps
    their envelope, transitively (``None`` when no inclusion zone is in force)."""
    if not any(z.kind is ZoneKind.INCLUSION and f.active(z) for z in index.zones):
        return None
    found = {i for i in index.near_segments(legs, corridor_m) if f.bounds_area(index.zones[i])}
    while found:
        boxes = [_envelope(index.zones[i]) for i in found]
        total = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        more = {i for i in index.query_boxes([total]) if f.bounds_area(index.zones[i])} - found
        if not more:
            break
        found |= more
    return sorted(found)


# -- the route ------------------------------------------------------------------------------------


def route(
    start: GeoPoint,
    goal: GeoPoint,
    zones: Sequence[Zone] | ZoneIndex,
    *,
    margin_m: float = DEFAULT_MARGIN_M,
    at: datetime | None = None,
    until: datetime | None = None,
    alt_rel_m: float | None = None,
    launch_alt_amsl_m: float | None = None,
    authorisations: Mapping[str, str] = _NO_AUTHORISATIONS,
    standoff: bool = True,
) -> Route:
    """The shortest legal transit path from ``start`` to ``goal``.

    Args:
        start: where the transit begins (usually the launch point).
        goal: where it should end.
        zones: the zones, or a prebuilt :class:`ZoneIndex` (reuse one for many routes).
        margin_m: horizontal distance kept from blocking zones and from the edge of the
            operating area, metres (>= 2).
        at: the flight time (aware). Zones not in force at ``at`` (or at any time up to
            ``until``, when given) are ignored. ``None``: every zone counts.
        until: end of the flight window (aware, after ``at``).
        alt_rel_m: transit altitude above launch. When given, only zones whose vertical
            band holds it block (AGL limits read as above launch: flat terrain); zones
            with AMSL limits block at every altitude unless ``launch_alt_amsl_m`` is known.
            ``None``: every zone blocks whatever its band.
        launch_alt_amsl_m: the launch point's altitude above mean sea level.
        authorisations: zone identifier → authorisation reference; a zone requiring
            authorisation whose identifier is here does not block.
        standoff: when the goal is inside (or within the margin of) a blocking zone,
            end at the nearest legal point instead of failing.

    Raises:
        RouteRequestError: a margin, altitude or time argument is invalid, or the ends
            are too far apart for one local frame.
        NoRouteError: the start is inside a blocking zone or outside the operating area,
            an end is enclosed by zones, or the goal is in a zone and ``standoff`` is off.
            ``blocking`` names the zones.
        AirspaceError: the checker rejects the computed route (a bug).
    """
    margin = _number("margin_m", margin_m, low=MIN_MARGIN_M)
    alt = None if alt_rel_m is None else _number("alt_rel_m", alt_rel_m, low=0.0, inclusive=False)
    launch_alt = (
        None
        if launch_alt_amsl_m is None
        else _number("launch_alt_amsl_m", launch_alt_amsl_m, low=-math.inf)
    )
    if not isinstance(start, GeoPoint) or not isinstance(goal, GeoPoint):
        raise RouteRequestError("start/goal", "must be GeoPoint values")
    for name, t in (("at", at), ("until", until)):
        if t is not None and t.tzinfo is None:
            raise RouteRequestError(name, "must carry a time zone (e.g. UTC)")
    if until is not None and (at is None or until < at):
        raise RouteRequestError("until", "needs 'at' and must not be before it")
    direct = distance_m(start, goal)
    if direct > MAX_ROUTE_M:
        raise RouteRequestError(
            "goal",
            f"is {direct / 1000:.0f} km away; routes are planned up to {MAX_ROUTE_M / 1000:.0f} km",
        )
    index = zones if isinstance(zones, ZoneIndex) else ZoneIndex(zones)
    f = _Filter(at, until or at, alt, launch_alt, MappingProxyType(dict(authorisations)))
    r = _plan(index, f, start, goal, direct, margin, standoff)
    extra = _verify(r, index, f, start)
    return replace(r, notes=(*r.notes, *extra)) if extra else r


def _pieces(points: Sequence[GeoPoint], step_m: float) -> list[tuple[GeoPoint, GeoPoint, float]]:
    """The path's legs cut into geodesic pieces of at most ``step_m``.

    The index pads one lon/lat box per piece: short pieces keep the boxes close to a long
    diagonal leg instead of covering its whole bounding box.
    """
    out: list[tuple[GeoPoint, GeoPoint, float]] = []
    for a, b in itertools.pairwise(points):
        d = distance_m(a, b)
        n = max(1, math.ceil(d / step_m))
        mids = (
            [
                GeoPoint(la, lo)
                for lo, la in WGS84.npts(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg, n - 1)
            ]
            if n > 1
            else []
        )
        ends = [a, *mids, b]
        out += [(p, q, d / n) for p, q in itertools.pairwise(ends)]
    return out


def _frame(start: GeoPoint, goal: GeoPoint) -> LocalFrame:
    c = mean_point([start, goal])
    # a rounded centre lets nearby requests share projections (frame and zone caches)
    return LocalFrame.at(round(c.lat_deg, 3), round(c.lon_deg, 3))


def _allowance_m(r_m: float, direct_m: float) -> float:
    """Extra growth, metres, for a zone ``r_m`` from the frame's centre.

    Covers the frame's scale error there (lengths off by ``max_scale_error``) and how far
    a geodesic leg passing there bows away from its straight chord in the frame (about
    ``r·L²/(8R²)`` for a leg of length ``L``, bounded by ``direct_m + 2r``).
    """
    r = max(r_m, 1.0)
    leg = direct_m + 2.0 * r
    bow = r * leg * leg / (8.0 * EARTH_MEAN_RADIUS_M**2)
    return 0.05 + 2.0 * r * LocalFrame.max_scale_error(r) + bow


def _plan(
    index: ZoneIndex,
    f: _Filter,
    start: GeoPoint,
    goal: GeoPoint,
    direct: float,
    margin: float,
    standoff: bool,
) -> Route:
    frame = _frame(start, goal)
    s_xy, g_xy = frame.to_local(start), frame.to_local(goal)
    corridor = max(MIN_CORRIDOR_M, 4.0 * margin)
    corridor_legs = _pieces([start, goal], corridor)
    area_idx = _operating_area(index, f, corridor_legs, corridor)
    considered = {
        i for i in index.near_segments(corridor_legs, corridor) if f.blocks(index.zones[i])
    }
    shapes: dict[int, ZoneShape] = {}

    def shape(i: int) -> ZoneShape:
        if i not in shapes:
            lz = index.local([i], frame)[0]
            if lz.center_xy is not None:
                cx, cy = lz.center_xy
                extent = math.hypot(abs(cx) + lz.radius_m, abs(cy) + lz.radius_m)
            else:
                x0, y0, x1, y1 = polygon_of(lz).bounds
                extent = max(math.hypot(x, y) for x in (x0, x1) for y in (y0, y1))
            shapes[i] = obstacle(lz, margin + _allowance_m(extent, direct))
        return shapes[i]

    area = None
    if area_idx is not None:
        area = [ZoneShape(lz) for lz in index.local(area_idx, frame)]
    for _ in range(MAX_ROUNDS):
        space = FreeSpace(
            [shape(i) for i in sorted(considered)],
            area,
            margin_m=margin,
            allowance_m=_allowance_m(direct, direct),
            ends=[s_xy, g_xy],
        )
        try:
            plan = space.plan(s_xy, g_xy, standoff=standoff)
        except Incomplete as inc:
            x0, y0, x1, y1 = inc.bounds
            corners = frame.to_geo_many([(x0, y0), (x0, y1), (x1, y0), (x1, y1)])
            lons = [p.lon_deg for p in corners]
            lats = [p.lat_deg for p in corners]
            box = pad_box(min(lons), min(lats), max(lons), max(lats), margin)
            more = {i for i in index.query_boxes([box]) if f.blocks(index.zones[i])} - considered
            if not more:
                raise inc.error from None
            considered |= more
            continue
        points = _to_geo(frame, plan, start, goal)
        legs = _pieces(points, corridor)
        near = (
            index.near_segments(legs, margin + CHECK_PAD_M + 1.0)
            if legs
            else index.near_point(start, margin + CHECK_PAD_M + 1.0)
        )
        if all(i in considered or not f.blocks(index.zones[i]) for i in near):
            return _route(index, f, frame, plan, points, direct, margin)
        wider = index.near_segments(legs, corridor) if legs else near
        considered |= {i for i in [*near, *wider] if f.blocks(index.zones[i])}
    raise AirspaceError(f"routing did not settle after {MAX_ROUNDS} rounds (a bug)")


def _to_geo(frame: LocalFrame, plan: Plan, start: GeoPoint, goal: GeoPoint) -> list[GeoPoint]:
    pts = frame.to_geo_many(plan.path)
    pts[0] = start
    if plan.standoff is None:
        pts[-1] = goal
    return _dedupe(pts)


def _route(
    index: ZoneIndex,
    f: _Filter,
    frame: LocalFrame,
    plan: Plan,
    points: list[GeoPoint],
    direct: float,
    margin: float,
) -> Route:
    length = path_length_m(points)
    notes = list(plan.notes)
    if plan.skirted and length > direct + 1.0:
        labels = ", ".join(dict.fromkeys(s.zone.label for s in plan.skirted))
        notes.append(
            f"route keeps {margin:.0f} m clear of {labels}: {length:.0f} m instead of "
            f"{direct:.0f} m direct (+{100.0 * (length / direct - 1.0):.0f} %)"
            if direct > 0
            else f"route keeps {margin:.0f} m clear of {labels}"
        )
    notes += _crossings(index, f, frame, points)
    return Route(
        points=tuple(points),
        length_m=length,
        direct_length_m=direct,
        goal_reached=plan.standoff is None,
        standoff_from=None if plan.standoff is None else plan.standoff.zone.label,
        notes=tuple(notes),
        margin_m=margin,
    )


def _crossings(
    index: ZoneIndex, f: _Filter, frame: LocalFrame, points: list[GeoPoint]
) -> list[str]:
    """Notes for the zones the route enters legally: authorised ones and conditional ones."""
    if len(points) < 2:
        return []
    near = [
        i
        for i in index.near_segments(_pieces(points, MIN_CORRIDOR_M), 1.0)
        if index.zones[i].kind is ZoneKind.EXCLUSION
        and index.zones[i].restriction in (Restriction.REQ_AUTHORISATION, Restriction.CONDITIONAL)
        and f.active(index.zones[i])
        and f.in_band(index.zones[i])
    ]
    if not near:
        return []
    line = LineString(frame.to_local_many(points))
    out: list[str] = []
    for lz in index.local(near, frame):
        if not ZoneShape(lz).outline.intersects(line):
            continue
        z = lz.zone
        if z.restriction is Restriction.CONDITIONAL:
            out.append(f"crosses conditional zone {z.label}: {z.message or 'conditions apply'}")
        else:
            out.append(f"crosses {z.label} under authorisation {f.authorisations[z.identifier]}")
    return list(dict.fromkeys(out))


def _verify(r: Route, index: ZoneIndex, f: _Filter, start: GeoPoint) -> list[str]:
    """Run the airspace checker on the route; any horizontal violation is a routing bug.

    Only the legs between the route's own waypoints count: the take-off climb at the start
    is the caller's to plan (a zone below the transit altitude over the start is not the
    route's concern), and vertical limits of the operating area depend on the altitude
    the caller picks. Those findings become notes instead.
    """
    home = HomePosition(start.lat_deg, start.lon_deg, f.launch_alt_amsl_m or 0.0)
    mission = r.to_mission(alt_rel_m=f.alt_rel_m or VERIFY_ALT_REL_M, home=home)
    report = check(
        mission,
        index,
        at=f.t0,
        until=f.t1 if f.t0 is not None else None,
        rules=Rules(
            ceiling_agl_m=None, max_distance_from_launch_m=None, min_transit_alt_rel_m=None
        ),
        authorisations=dict(f.authorisations),
        launch=home,
    )
    bad = [
        v
        for v in report.violations
        if v.kind in _CHECKED_KINDS
        and (v.leg_number or 0) >= 1
        and not (v.kind is ViolationKind.OUTSIDE_OPERATING_AREA and v.inside_m is None)
    ]
    if bad:
        raise AirspaceError(
            "the computed route fails the airspace check (a routing bug): "
            + "; ".join(v.message for v in bad)
        )
    return [f"at the start, {v.message}" for v in report.violations if v.leg_number == 0]
