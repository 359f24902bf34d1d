"""The free airspace of one routing problem, in the metres of one local frame.

No-fly zones are grown by the margin, the operating area (union of inclusion zones) is
shrunk by it, and what is left splits into connected pieces. :meth:`FreeSpace.plan`
decides what a route between two points can be — straight to the goal, to a stand-off point
outside the zone the goal is in, or nothing (and then which zones are in the way) — and
finds the shortest path with :mod:`.visibility`.

Every approximation errs on the safe side: polygons are grown with mitre joins (the grown
polygon contains every point within the margin), circles become circumscribed polygons
when grown and inscribed ones when they bound the operating area, and distances carry an
allowance for the frame's scale error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from mission_control.airspace.errors import AirspaceError, NoRouteError
from mission_control.airspace.index import LocalZone
from mission_control.airspace.visibility import XY, VisibilityGraph
from mission_control.airspace.zones import Restriction, Zone

CHECK_PAD_M = 1.0
"""The airspace checker's pad around exclusion zones (``Rules.pad_m``)."""
START_CLEARANCE_M = CHECK_PAD_M + 0.5
"""A start closer than this to a no-fly zone counts as inside it."""
MITRE_LIMIT = 5.0
CIRCLE_TOLERANCE = 0.01
"""Largest overshoot of the polygon that stands for a grown circle, as a fraction of its
radius, kept within [:data:`MIN_CIRCLE_TOLERANCE_M`, :data:`MAX_CIRCLE_TOLERANCE_M`]: a
250 m circle becomes a 23-gon at most 2.5 m too big. Fewer corners, smaller graph."""
MIN_CIRCLE_TOLERANCE_M = 0.5
MAX_CIRCLE_TOLERANCE_M = 5.0
CHECKER_CIRCLE_SEGMENTS = 64
"""The checker shrinks an inclusion circle to an inscribed polygon of this many sides; the
router's operating area stays inside that polygon's inscribed circle."""


class Incomplete(Exception):
    """More zones must be looked at before this verdict is final (internal).

    Attributes:
        error: the verdict with the zones known so far.
        bounds: ``(minx, miny, maxx, maxy)`` in the frame: every zone there must be known.
    """

    def __init__(self, error: NoRouteError, bounds: tuple[float, float, float, float]) -> None:
        super().__init__(error.reason)
        self.error = error
        self.bounds = bounds


def _polygon_sides(radius_m: float, tolerance_m: float) -> int:
    """Sides of a regular polygon whose vertices stray at most ``tolerance_m`` from a circle."""
    if radius_m <= tolerance_m:
        return 8
    half = math.acos(radius_m / (radius_m + tolerance_m))
    return int(min(720, max(8, math.ceil(math.pi / half))))


def regular_polygon(center: XY, radius_m: float, sides: int) -> Polygon:
    """A regular polygon with vertices ``radius_m`` from ``center``."""
    a = np.arange(sides) * (2.0 * math.pi / sides)
    return Polygon(
        np.column_stack([center[0] + radius_m * np.cos(a), center[1] + radius_m * np.sin(a)])
    )


def circumscribed(center: XY, radius_m: float) -> Polygon:
    """A polygon that contains the circle and strays at most the circle tolerance."""
    tolerance_m = min(MAX_CIRCLE_TOLERANCE_M, CIRCLE_TOLERANCE * radius_m)
    n = _polygon_sides(radius_m, max(MIN_CIRCLE_TOLERANCE_M, tolerance_m))
    return regular_polygon(center, radius_m / math.cos(math.pi / n), n)


def inscribed(center: XY, radius_m: float) -> Polygon:
    """A polygon inside the circle, within :data:`MIN_CIRCLE_TOLERANCE_M` of it.

    (Only obstacle corners become graph nodes, so a fine outline costs nothing here.)
    """
    return regular_polygon(center, radius_m, _polygon_sides(radius_m, MIN_CIRCLE_TOLERANCE_M))


def polygon_of(lz: LocalZone) -> BaseGeometry:
    """The projected polygon of a polygon zone."""
    if lz.polygon is None:
        raise TypeError(f"zone {lz.zone.label} is a circle, not a polygon")
    return lz.polygon


@dataclass(frozen=True, slots=True)
class ZoneShape:
    """A zone in the frame: its true shape, and (for obstacles) the shape grown by the margin."""

    local: LocalZone
    grown: BaseGeometry = field(default_factory=Polygon)
    """Obstacles: the zone grown by the margin (empty for operating-area zones)."""
    outline: BaseGeometry = field(init=False)
    """The zone's horizontal shape (circles: circumscribed polygon, for adjacency tests)."""

    def __post_init__(self) -> None:
        lz = self.local
        if lz.center_xy is not None:
            object.__setattr__(self, "outline", circumscribed(lz.center_xy, lz.radius_m))
        else:
            object.__setattr__(self, "outline", polygon_of(lz))

    @property
    def zone(self) -> Zone:
        return self.local.zone

    def clearance_m(self, xy: XY) -> float:
        """Distance from ``xy`` to the zone (0 inside it), metres."""
        lz = self.local
        if lz.center_xy is not None:
            return max(
                0.0, math.hypot(xy[0] - lz.center_xy[0], xy[1] - lz.center_xy[1]) - lz.radius_m
            )
        return float(polygon_of(lz).distance(Point(xy)))


def obstacle(lz: LocalZone, grow_m: float) -> ZoneShape:
    """An exclusion zone grown by ``grow_m`` (mitre joins; circumscribed circle)."""
    if lz.center_xy is not None:
        grown = circumscribed(lz.center_xy, lz.radius_m + grow_m)
    else:
        grown = polygon_of(lz).buffer(grow_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
    return ZoneShape(lz, grown)


def zone_kind_text(zone: Zone) -> str:
    """``no-fly zone`` or ``zone requiring authorisation``, for messages."""
    if zone.restriction is Restriction.REQ_AUTHORISATION:
        return "zone requiring authorisation"
    return "no-fly zone"


def _ids(shapes: Sequence[ZoneShape]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.zone.identifier for s in shapes))


def _labels(shapes: Sequence[ZoneShape], most: int = 5) -> str:
    """Zone labels for a message: the first ``most``, then how many more (the full list is
    in the error's ``blocking``); "(none)" for an empty list."""
    labels = list(dict.fromkeys(s.zone.label for s in shapes))
    if not labels:
        return "(none)"
    shown = ", ".join(labels[:most])
    return shown if len(labels) <= most else f"{shown} and {len(labels) - most} more"


def _parts(geom: BaseGeometry) -> list[Polygon]:
    return [
        g
        for g in shapely.get_parts(geom)
        if isinstance(g, Polygon) and not g.is_empty and g.area > 1e-6
    ]


@dataclass(frozen=True, slots=True)
class Plan:
    """What :meth:`FreeSpace.plan` found: a path in the frame and how its ends relate to zones.

    Attributes:
        path: from the start to the goal or stand-off point (metres).
        escaped: the zone whose margin the start was inside (the first leg leaves it).
        standoff: the zone the goal is in (or within the margin of); ``None`` if reached.
        skirted: zones whose margin the path runs along.
        notes: sentences for the pilot.
    """

    path: list[XY]
    escaped: ZoneShape | None
    standoff: ZoneShape | None
    skirted: tuple[ZoneShape, ...]
    notes: tuple[str, ...]


class FreeSpace:
    """Free airspace for one problem: the allowed area minus the grown obstacles."""

    def __init__(
        self,
        obstacles: Sequence[ZoneShape],
        area: Sequence[ZoneShape] | None,
        *,
        margin_m: float,
        allowance_m: float,
        ends: Sequence[XY],
    ) -> None:
        self.obstacles = list(obstacles)
        self.area = list(area) if area is not None else None
        self.margin_m = margin_m
        grown = [o.grown for o in self.obstacles]
        self.blocked = shapely.union_all(grown) if grown else Polygon()
        if self.area is not None:
            self.area_true, self.allowed = self._operating_area(self.area, margin_m + allowance_m)
        else:
            pad = max(4.0 * margin_m, 200.0)
            x0, y0, x1, y1 = shapely.total_bounds([self.blocked, *(Point(p) for p in ends)])
            self.area_true = None
            self.allowed = box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        self.components = _parts(self.allowed.difference(self.blocked))
        self._outer = self.allowed.boundary

    @staticmethod
    def _operating_area(
        area: Sequence[ZoneShape], shrink_m: float
    ) -> tuple[BaseGeometry, BaseGeometry]:
        """The union of the inclusion zones, and that union shrunk by ``shrink_m``.

        A circle counts only as far as the checker's view of it reaches: the checker shrinks
        it by its pad to an inscribed polygon of :data:`CHECKER_CIRCLE_SEGMENTS` sides, so
        the circle used here is the one that, shrunk by the pad, fits in that polygon.
        """
        shapes: list[BaseGeometry] = []
        for s in area:
            lz = s.local
            if lz.center_xy is not None:
                r = lz.radius_m - CHECK_PAD_M
                r = r * math.cos(math.pi / CHECKER_CIRCLE_SEGMENTS) + CHECK_PAD_M - 0.01
                if r > 0.0:
                    shapes.append(inscribed(lz.center_xy, r))
            else:
                shapes.append(polygon_of(lz))
        true = shapely.union_all(shapes) if shapes else Polygon()
        shrunk = true.buffer(-shrink_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
        return true, shrunk

    # -- classification of the two ends ------------------------------------------------------

    def _in_area(self, xy: XY, *, depth_m: float = 0.0) -> bool:
        """Inside the operating area by at least ``depth_m`` (always, without one)."""
        if self.area_true is None:
            return True
        pt = Point(xy)
        if not self.area_true.covers(pt):
            return False
        return depth_m <= 0.0 or bool(self.area_true.boundary.distance(pt) >= depth_m)

    def _component_at(self, xy: XY) -> Polygon | None:
        pt = Point(xy)
        return next((c for c in self.components if c.covers(pt)), None)

    def _enclosers(self, comp: Polygon) -> tuple[list[ZoneShape], bool]:
        """Obstacles that bound ``comp`` and whether it reaches the outer limit."""
        ring = comp.exterior
        around = [o for o in self.obstacles if o.grown.distance(ring) < 1e-3]
        return around, bool(self._outer.distance(ring) < 1e-3)

    def _nearest_zone(self, xy: XY, shapes: Sequence[ZoneShape]) -> ZoneShape:
        return min(shapes, key=lambda s: s.clearance_m(xy))

    def plan(self, start: XY, goal: XY, *, standoff: bool) -> Plan:
        """The shortest legal path from ``start`` to ``goal`` (or to a stand-off point).

        Raises:
            NoRouteError: the start is inside a no-fly zone or outside the operating area,
                an end is enclosed, or the goal is unreachable and ``standoff`` is False.
            Incomplete: a verdict that zones not yet considered could change.
        """
        m = self.margin_m
        notes: list[str] = []
        for o in self.obstacles:
            if o.clearance_m(start) < START_CLEARANCE_M:
                raise NoRouteError(
                    f"start is inside {zone_kind_text(o.zone)} {o.zone.label}: "
                    "no legal route leaves it",
                    blocking=(o.zone.identifier,),
                )
        if not self._in_area(start, depth_m=START_CLEARANCE_M):
            raise NoRouteError(
                "start is outside (or on the edge of) the operating area "
                f"(inclusion zones {_labels(self.area or [])})",
                blocking=_ids(self.area or []),
            )
        if not self.components:
            raise NoRouteError(
                f"no airspace is left once zones are kept {m:.0f} m away",
                blocking=_ids(self.obstacles),
            )
        s, comp, escaped, note = self._leave_margin(start)
        if note:
            notes.append(note)
        target, stood_off, note = self._target(goal, comp, standoff=standoff)
        if note:
            notes.append(note)
        path = VisibilityGraph(comp).shortest_path(s, target)
        if path is None:  # both ends are in one connected piece: this cannot happen
            raise AirspaceError("no path found inside one piece of free airspace (a bug)")
        if escaped is not None:
            path = [start, *path]
        line = LineString(path) if len(path) > 1 else Point(path[0])
        skirted = tuple(o for o in self.obstacles if o.grown.distance(line) < 0.5)
        return Plan(path, escaped, stood_off, skirted, tuple(notes))

    def _leave_margin(self, start: XY) -> tuple[XY, Polygon, ZoneShape | None, str]:
        """Where the route really starts: ``start``, or the nearest free point when the start
        is inside the margin (the first leg then leaves it by the shortest way)."""
        comp = self._component_at(start)
        if comp is not None:
            return start, comp, None, ""
        free = shapely.union_all(self.components)
        p = nearest_points(free, Point(start))[0]
        s = (float(p.x), float(p.y))
        comp = min(self.components, key=lambda c: c.distance(p))
        leg = LineString([start, s])
        near = [o for o in self.obstacles if o.outline.distance(leg) < START_CLEARANCE_M]
        outside_area = self.area_true is not None and not self.area_true.buffer(
            -CHECK_PAD_M - 0.25, join_style="mitre"
        ).covers(leg)
        grown_in = [o for o in self.obstacles if o.grown.covers(Point(start))]
        by = self._nearest_zone(start, grown_in or self.area or self.obstacles)
        if near or outside_area:
            raise NoRouteError(
                f"start is within {self.margin_m:.0f} m of {_labels(near or [by])} and the "
                "shortest way out would cross a zone",
                blocking=_ids(near or [by]),
            )
        where = (
            f"{by.clearance_m(start):.0f} m from {zone_kind_text(by.zone)} {by.zone.label}"
            if grown_in
            else f"near the edge of the operating area {by.zone.label}"
        )
        note = (
            f"start is {where}, inside the {self.margin_m:.0f} m margin; "
            f"the route first moves {math.dist(start, s):.0f} m away from it"
        )
        return s, comp, by, note

    def _target(
        self, goal: XY, comp: Polygon, *, standoff: bool
    ) -> tuple[XY, ZoneShape | None, str]:
        m = self.margin_m
        if comp.covers(Point(goal)):
            return goal, None, ""
        enc_s, outer_s = self._enclosers(comp)
        other = self._component_at(goal)
        if other is not None:
            enc_g, outer_g = self._enclosers(other)
            if not outer_g and outer_s:
                raise NoRouteError(
                    f"goal is enclosed by {_labels(enc_g)}: no way in with a {m:.0f} m margin",
                    blocking=_ids(enc_g),
                )
            if not outer_s and outer_g:
                raise NoRouteError(
                    f"start is enclosed by {_labels(enc_s)}: no way out with a {m:.0f} m margin",
                    blocking=_ids(enc_s),
                )
            if not outer_s and not outer_g:
                raise NoRouteError(
                    f"start is enclosed by {_labels(enc_s)} and goal by {_labels(enc_g)}",
                    blocking=_ids([*enc_s, *enc_g]),
                )
            between = [o for o in enc_s if o in enc_g] or [*enc_s, *enc_g]
            raise NoRouteError(
                f"{_labels(between)} cut the operating area between start and goal",
                blocking=_ids(between),
            )
        if not self._in_area(goal):
            raise NoRouteError(
                f"goal is outside the operating area (inclusion zones {_labels(self.area or [])})",
                blocking=_ids(self.area or []),
            )
        inside = [o for o in self.obstacles if o.clearance_m(goal) == 0.0]
        grown_in = [o for o in self.obstacles if o.grown.covers(Point(goal))]
        if inside:
            zone = inside[0]
            where = f"inside {zone_kind_text(zone.zone)} {zone.zone.label}"
        elif grown_in:
            zone = self._nearest_zone(goal, grown_in)
            where = (
                f"{zone.clearance_m(goal):.0f} m from {zone_kind_text(zone.zone)} "
                f"{zone.zone.label}, inside the {m:.0f} m margin"
            )
        elif self.area:
            zone = self._nearest_zone(goal, self.area)
            where = f"within {m:.0f} m of the edge of the operating area {zone.zone.label}"
        else:  # numerically on the edge of the free space: treat as unreachable
            raise NoRouteError(
                "goal lies on the edge of the free airspace and cannot be reached",
                blocking=_ids(self.obstacles[:1]),
            )
        if not standoff:
            raise NoRouteError(f"goal is {where}", blocking=(zone.zone.identifier,))
        p = nearest_points(comp, Point(goal))[0]
        t = (float(p.x), float(p.y))
        approach = LineString([goal, t])
        pockets = [c for c in self.components if c is not comp and c.intersects(approach)]
        if pockets:
            if not outer_s:
                raise NoRouteError(
                    f"start is enclosed by {_labels(enc_s)}: no way out with a {m:.0f} m margin",
                    blocking=_ids(enc_s),
                )
            ring = [o for c in pockets for o in self._enclosers(c)[0]]
            err = NoRouteError(
                f"goal is {where}, and that zone is ringed by {_labels(ring)}: "
                "no stand-off point can be reached",
                blocking=_ids([zone, *ring]),
            )
            x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds([*pockets, approach]))
            raise Incomplete(err, (x0, y0, x1, y1))
        clear = zone.clearance_m(t)
        dist = math.dist(goal, t)
        note = (
            f"goal is {where}; route ends at the nearest legal point, "
            f"{clear:.0f} m outside it and {dist:.0f} m from the goal"
            if inside or grown_in
            else f"goal is {where}; route ends at the nearest legal point, "
            f"{dist:.0f} m from the goal"
        )
        return t, zone, note
