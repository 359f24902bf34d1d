"""The geofence uploaded with a mission, built from the zones it was checked against.

Invariant 3: the fence on the vehicle matches the zones the mission was checked against, so
the autopilot enforces them on board too (defence in depth). :func:`fence_for` takes the
same inputs as :func:`~mission_control.airspace.check.check` and the same time window, and
returns a :class:`~flight_plans.plan.Fence` plus what went in and what was left out, and why.

What goes in:

* **exclusion zones that would block the mission** as the checker decides: prohibited, or
  requiring an authorisation the mission does not carry — not conditional (a warning only)
  nor information-only zones — in force at some time of the flight window;
* **inclusion zones** (the operating area) in force, as inclusion shapes. Their holes are
  dropped (a larger operating area never forbids legal flight) and so are their bands;
* only zones within ``reach_m`` of the path: zones far away need not go on board.

Why some blocking zones stay out. A PX4 fence polygon or circle is 2-D: it forbids its
whole column from the ground up, while a zone has a floor and a ceiling. A zone whose floor
is above the highest altitude the mission flies, or whose ceiling is below its lowest
cruise altitude (the lowest altitude at which it moves horizontally), is one it passes
under or over: fencing it would forbid legal flight, so it is left out. For the same reason
a zone whose column the path crosses (over, under or — when the check fails — through it)
or comes within the checker's pad of is left out, and so is a zone with a hole the path
enters (a fence polygon has no holes; when the path keeps out of the holes the outer ring
is fenced). The checker still covers every one of them in 3-D.

Vertex budget: fences live in small on-board memory, so the total of polygon vertices plus
circles is kept within ``max_vertices``. Polygons are simplified in a
:class:`~flight_plans.geodesy.LocalFrame`, the one with the most vertices first, each with
growing tolerance: an exclusion polygon is buffered out by the tolerance then simplified,
so it may only *grow* (convex hull and minimum rectangle are the last resorts); an
inclusion polygon may only *shrink*. Each result is checked (containment of the zone's
densified edges, as the checker projects them) and must stay clear of the path; circles
stay circles. When that is not enough the zones nearest the path are kept and the rest
reported left out.

Finally the fence's shapes, as 2-D zones, are run through the checker with the mission: a
shape the path would breach is dropped, so the fence never stops the mission it was built for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from flight_plans.errors import InvalidPolygonError
from flight_plans.geodesy import LocalFrame, distance_m
from flight_plans.geometry import GeoCircle, GeoPolygon, mean_point
from flight_plans.mission import HomePosition, Mission
from flight_plans.plan import Fence, FenceCircle, FencePolygon
from mission_control.airspace.check import _window, check
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.path import FlightPath, flight_path
from mission_control.airspace.rules import CheckContext, Rules
from mission_control.airspace.terrain import FlatTerrain, TerrainProvider
from mission_control.airspace.violations import ViolationKind
from mission_control.airspace.zones import Restriction, Zone, ZoneKind

__all__ = ["FenceBuild", "FenceMethod", "FencedZone", "LeftOut", "LeftOutReason", "fence_for"]

REACH_MARGIN_M = 500.0
"""Default reach: the mission's extent (farthest point from launch) plus this margin."""
CLEARANCE_M = 0.5
"""Room kept between the path and an exclusion shape beyond the checker's pad."""
TOLERANCES_M = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
"""Simplification tolerances tried in turn until the fence fits its vertex budget."""


class LeftOutReason(StrEnum):
    """Why a zone is not in the fence."""

    CONDITIONAL = "conditional"
    NO_RESTRICTION = "no_restriction"
    AUTHORISED = "authorised"
    NOT_IN_FORCE = "not_in_force"
    BEYOND_REACH = "beyond_reach"
    ABOVE_FLIGHT = "above_flight"
    BELOW_FLIGHT = "below_flight"
    PATH_IN_COLUMN = "path_in_column"
    PATH_IN_HOLE = "path_in_hole"
    PATH_OUTSIDE_AREA = "path_outside_area"
    VERTEX_BUDGET = "vertex_budget"


class FenceMethod(StrEnum):
    """How a zone's shape became a fence shape."""

    EXACT = "exact"
    CIRCLE = "circle"
    OUTER_RING = "outer_ring"
    """A polygon's holes dropped (exclusion: the path keeps out of them)."""
    SIMPLIFIED = "simplified"
    CONVEX_HULL = "convex_hull"
    RECTANGLE = "rectangle"


@dataclass(frozen=True, slots=True)
class FencedZone:
    """A zone that went into the fence.

    Attributes:
        zone: the zone.
        shape: the fence shape made of it.
        method: how.
        offset_m: largest distance between the fence shape's edge and the zone's (0: exact).
        distance_m: distance from the mission's path, metres.
    """

    zone: Zone
    shape: GeoPolygon | GeoCircle
    method: FenceMethod
    offset_m: float
    distance_m: float

    @property
    def inclusion(self) -> bool:
        """True for an operating-area shape."""
        return self.zone.kind is ZoneKind.INCLUSION

    @property
    def vertices(self) -> int:
        """Fence items it takes (a circle takes one)."""
        return 1 if isinstance(self.shape, GeoCircle) else len(self.shape.exterior)


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A zone that is not in the fence, and why (``detail`` in words)."""

    zone: Zone
    reason: LeftOutReason
    detail: str


@dataclass(frozen=True, slots=True)
class FenceBuild:
    """A fence and its bookkeeping.

    Attributes:
        fence: what goes to the vehicle: inclusion shapes first, then exclusions, nearest
            to the path first.
        included: one entry per fence shape, polygons (in ``fence.polygons`` order) then
            circles.
        left_out: every other zone of the set, with the reason.
        window: the time window zones were evaluated for (as the checker's).
        reach_m: zones farther than this from the path were not considered.
        alt_band_rel_m: lowest cruise and highest altitude flown, metres above launch.
    """

    fence: Fence
    included: tuple[FencedZone, ...]
    left_out: tuple[LeftOut, ...]
    window: tuple[datetime, datetime]
    reach_m: float
    alt_band_rel_m: tuple[float, float]

    @property
    def vertex_count(self) -> int:
        """Fence items uploaded: polygon vertices plus circles."""
        return len(self.fence.to_items())

    def reasons(self) -> dict[str, LeftOutReason]:
        """Zone label → why it was left out."""
        return {o.zone.label: o.reason for o in self.left_out}

    def to_zones(self) -> tuple[Zone, ...]:
        """The fence's shapes as 2-D zones (as a ``.plan`` geofence loads), named after their
        source zones: what the autopilot will enforce, for checking a mission against it."""
        polys = [f for f in self.included if isinstance(f.shape, GeoPolygon)]
        circles = [f for f in self.included if isinstance(f.shape, GeoCircle)]
        return tuple(
            Zone(f"fence-{kind}-{i}", f.shape, kind=f.zone.kind, name=f.zone.label)
            for kind, group in (("polygon", polys), ("circle", circles))
            for i, f in enumerate(group)
        )


@dataclass(slots=True)
class _Candidate:
    index: int
    zone: Zone
    outer: BaseGeometry  # the fenceable area in the build frame (holes dropped)
    distance_m: float
    fenced: FencedZone
    local: BaseGeometry  # the fence shape in the build frame, as the checker sees it
    on_path: bool = False  # an inclusion shape the path is in: kept all together


@dataclass(frozen=True, slots=True)
class _Footprint:
    frame: LocalFrame
    geom: BaseGeometry
    extent_m: float
    lowest_cruise_m: float
    highest_m: float


def _footprint(path: FlightPath) -> _Footprint:
    """The path's horizontal footprint in a frame centred on it, and its altitude band."""
    pts = [p.point for p in path.points] + [c.center for c in path.circles]
    frame = LocalFrame(mean_point(pts))
    xy = frame.to_local_many(p.point for p in path.points)
    parts: list[BaseGeometry] = [LineString(xy) if len(set(xy)) > 1 else Point(xy[0])]
    parts += [  # the loiter disc as the checker draws it
        Point(frame.to_local(c.center)).buffer(c.radius_m * 1.01 + 0.5, quad_segs=32)
        for c in path.circles
    ]
    extent = max(
        [distance_m(path.launch, p.point) for p in path.points]
        + [distance_m(path.launch, c.center) + c.radius_m for c in path.circles]
    )
    alts = [p.alt_rel_m for p in path.points] + [c.alt_rel_m for c in path.circles]
    moving = [c.alt_rel_m for c in path.circles] + [
        p.alt_rel_m
        for a, b in itertools.pairwise(path.points)
        if a.point != b.point
        for p in (a, b)
    ]
    hi = max(alts)
    return _Footprint(frame, shapely.union_all(parts), extent, min(moving, default=hi), hi)


def _outer(g: BaseGeometry) -> BaseGeometry:
    if isinstance(g, Polygon):
        return Polygon(g.exterior)
    return shapely.union_all([Polygon(p.exterior) for p in getattr(g, "geoms", []) if p.area])


def _screen(z: Zone, auths: Mapping[str, str], t0: datetime, t1: datetime) -> LeftOut | None:
    """Left out whatever the geometry: not blocking, or not in force."""
    if z.kind is ZoneKind.EXCLUSION:
        if z.restriction is Restriction.CONDITIONAL:
            return LeftOut(z, LeftOutReason.CONDITIONAL, "conditional zone: a warning only")
        if z.restriction is Restriction.NO_RESTRICTION:
            return LeftOut(z, LeftOutReason.NO_RESTRICTION, "information only")
        if z.restriction is Restriction.REQ_AUTHORISATION and z.identifier in auths:
            ref = auths[z.identifier]
            return LeftOut(z, LeftOutReason.AUTHORISED, f"authorisation {ref!r} attached")
    if not z.active_during(t0, t1):
        return LeftOut(
            z,
            LeftOutReason.NOT_IN_FORCE,
            f"not in force between {t0:%Y-%m-%d %H:%M} and {t1:%Y-%m-%d %H:%M} UTC",
        )
    return None


def _vertical(ctx: CheckContext, z: Zone, fp: _Footprint) -> LeftOut | None:
    """Left out when its band misses the altitudes flown (sampled at its vertices)."""
    shape = z.shape
    at = [shape.center] if isinstance(shape, GeoCircle) else list(shape.exterior)
    at = at[:: max(1, len(at) // 32)]
    floor = min(ctx.band_rel(z.vertical.floor, p, floor=True) for p in at)
    ceiling = max(ctx.band_rel(z.vertical.ceiling, p, floor=False) for p in at)
    if floor > fp.highest_m:
        detail = f"floor {floor:.0f} m above launch, over the {fp.highest_m:.0f} m flown"
        return LeftOut(z, LeftOutReason.ABOVE_FLIGHT, detail)
    if ceiling < fp.lowest_cruise_m:
        detail = (
            f"ceiling {ceiling:.0f} m above launch, under the {fp.lowest_cruise_m:.0f} m cruise"
        )
        return LeftOut(z, LeftOutReason.BELOW_FLIGHT, detail)
    return None


def _as_checked(shape: GeoPolygon, frame: LocalFrame) -> BaseGeometry:
    """``shape`` in ``frame`` with its lon/lat-straight edges densified, as the checker sees it."""
    g = ZoneIndex([Zone("fence", shape)]).local([0], frame)[0].polygon
    assert g is not None
    return g


def _offset_m(outer: BaseGeometry, inner: BaseGeometry) -> float:
    """How far ``outer``'s edge strays from ``inner`` at most (sampled every 10 m)."""
    edge = shapely.segmentize(outer.exterior, 10.0)
    return float(shapely.distance(inner, shapely.points(shapely.get_coordinates(edge))).max())


def _reshape(
    c: _Candidate, step: float | FenceMethod, fp: _Footprint, keep_clear_m: float
) -> tuple[FencedZone, BaseGeometry] | None:
    """``c`` simplified one way (a tolerance in metres, hull or rectangle), or ``None``."""
    grow = c.zone.kind is ZoneKind.EXCLUSION
    slack = 0.5
    for _attempt in range(2):
        if isinstance(step, FenceMethod):
            base = c.outer.buffer(slack, quad_segs=2)
            g = base.convex_hull if step is FenceMethod.CONVEX_HULL else base.oriented_envelope
            method = step
        else:
            # offset by the tolerance, then simplify by it: the result stays on the offset
            # side. Round joins of 2 chords per quadrant sag by < 8 %, hence the 1.1.
            d = step * 1.1 + slack
            g = c.outer.buffer(d if grow else -d, quad_segs=2)
            if isinstance(g, MultiPolygon):  # erosion closed a narrow neck: keep the largest
                g = max(g.geoms, key=lambda part: part.area)
            g = g.simplify(step, preserve_topology=True)
            method = FenceMethod.SIMPLIFIED
        if not isinstance(g, Polygon) or g.is_empty:
            return None
        try:
            shape = GeoPolygon(tuple(fp.frame.to_geo_many(g.exterior.coords[:-1])))
        except InvalidPolygonError:
            return None
        q = _as_checked(shape, fp.frame)
        inner, outer = (c.outer, q) if grow else (q, c.outer)
        if outer.covers(inner):
            if grow and q.distance(fp.geom) <= keep_clear_m:
                return None
            return FencedZone(c.zone, shape, method, _offset_m(outer, inner), c.distance_m), q
        # lon/lat-straight edges bow away from the frame's straight ones: make room for it
        stray = shapely.points(shapely.get_coordinates(inner.difference(outer)))
        slack += 2.0 * float(shapely.distance(outer, stray).max(initial=0.0)) + 0.1
    return None


def _candidate(
    i: int, index: ZoneIndex, ctx: CheckContext, fp: _Footprint, reach_m: float
) -> _Candidate | LeftOut:
    z = index.zones[i]
    (lz,) = index.local([i], fp.frame)
    if lz.center_xy is not None:
        # 64-gons as the checker draws circles: circumscribed for an exclusion (it may
        # only grow), inscribed for the operating area (it may only shrink)
        grow = 1.0 / math.cos(math.pi / 64) if z.kind is ZoneKind.EXCLUSION else 1.0
        outer: BaseGeometry = Point(lz.center_xy).buffer(lz.radius_m * grow, quad_segs=16)
        dist = float(outer.distance(fp.geom))
    else:
        assert lz.polygon is not None
        outer = _outer(lz.polygon)
        dist = float(outer.distance(fp.geom))
    if dist > reach_m:
        detail = f"{dist:.0f} m from the path, beyond the {reach_m:.0f} m reach"
        return LeftOut(z, LeftOutReason.BEYOND_REACH, detail)
    on_path = False
    if z.kind is ZoneKind.EXCLUSION:
        left = _vertical(ctx, z, fp)
        if left is not None:
            return left
        holes = [Polygon(h) for h in getattr(lz.polygon, "interiors", [])]
        if any(h.intersects(fp.geom) for h in holes):
            detail = "the path enters one of its holes, and fence polygons have no holes"
            return LeftOut(z, LeftOutReason.PATH_IN_HOLE, detail)
        if dist <= ctx.rules.pad_m + CLEARANCE_M:
            detail = "the path crosses its column (over, under or through it): a 2-D fence there "
            detail += "would stop the mission"
            return LeftOut(z, LeftOutReason.PATH_IN_COLUMN, detail)
    else:
        on_path = bool(outer.intersects(fp.geom))
    shape = z.shape
    if isinstance(shape, GeoCircle):
        fenced = FencedZone(z, shape, FenceMethod.CIRCLE, 0.0, dist)
    elif shape.holes:
        fenced = FencedZone(z, GeoPolygon(shape.exterior), FenceMethod.OUTER_RING, 0.0, dist)
    else:
        fenced = FencedZone(z, shape, FenceMethod.EXACT, 0.0, dist)
    return _Candidate(i, z, outer, dist, fenced, outer, on_path)


def _near(index: ZoneIndex, path: FlightPath, reach_m: float) -> set[int]:
    """Zones that may lie within ``reach_m`` of the path (the index's envelope query)."""
    pairs = itertools.pairwise(path.points)
    segs = [(a.point, b.point, distance_m(a.point, b.point)) for a, b in pairs]
    found = set(index.near_segments(segs, margin_m=reach_m)) if segs else set()
    for c in path.circles:
        found.update(index.near_point(c.center, c.radius_m + reach_m))
    found.update(index.near_point(path.launch, reach_m))
    return found


def _operating_area(
    cands: list[_Candidate], fp: _Footprint, keep_clear_m: float
) -> tuple[list[_Candidate], list[LeftOut]]:
    """Inclusion shapes only when the whole path is inside them (else none: never stricter
    than the zones)."""
    incl = [c for c in cands if c.zone.kind is ZoneKind.INCLUSION]
    if not incl or _covers_path([c.local for c in incl], fp, keep_clear_m):
        return cands, []
    detail = "the path is not inside the operating area (the check fails)"
    return (
        [c for c in cands if c.zone.kind is ZoneKind.EXCLUSION],
        [LeftOut(c.zone, LeftOutReason.PATH_OUTSIDE_AREA, detail) for c in incl],
    )


def _covers_path(shapes: list[BaseGeometry], fp: _Footprint, keep_clear_m: float) -> bool:
    return bool(shapely.union_all(shapes).buffer(-keep_clear_m).covers(fp.geom))


def _steps(c: _Candidate) -> list[float | FenceMethod]:
    """Simplification steps to try in turn: tolerances (metres), then for exclusions the
    convex hull and the minimum rectangle — tolerances that would grow the zone more than
    its rectangle does are skipped."""
    if c.zone.kind is ZoneKind.INCLUSION:
        return [*TOLERANCES_M]
    rect_offset = float(c.outer.oriented_envelope.hausdorff_distance(c.outer))
    tolerances: list[float | FenceMethod] = [t for t in TOLERANCES_M if t < rect_offset]
    return [*tolerances, FenceMethod.CONVEX_HULL, FenceMethod.RECTANGLE]


def _fit(
    cands: list[_Candidate], fp: _Footprint, keep_clear_m: float, budget: int
) -> tuple[list[_Candidate], list[LeftOut]]:
    """Simplify polygons, then drop zones, until the fence takes at most ``budget`` items.

    The polygon with the most vertices (the farthest of equals) moves to its next step —
    growing tolerance, then convex hull, then rectangle — so one intricate zone does not
    coarsen all the others."""

    def total() -> int:
        return sum(c.fenced.vertices for c in cands)

    group = [c for c in cands if c.on_path]
    steps = {c.index: _steps(c) for c in cands if isinstance(c.fenced.shape, GeoPolygon)}
    while total() > budget:
        live = [c for c in cands if steps.get(c.index)]
        if not live:
            break
        c = max(live, key=lambda c: (c.fenced.vertices, c.distance_m))
        got = _reshape(c, steps[c.index].pop(0), fp, keep_clear_m)
        if got is None or got[0].vertices >= c.fenced.vertices:
            continue
        others = [g.local for g in group if g is not c]
        if c.on_path and not _covers_path([*others, got[1]], fp, keep_clear_m):
            continue
        c.fenced, c.local = got
    # keep the zones nearest the path: off-path operating areas go first (dropping one only
    # makes the fence stricter), then the farthest exclusions, the path's operating area last
    off = [c for c in cands if c.zone.kind is ZoneKind.INCLUSION and not c.on_path]
    excl = [c for c in cands if c.zone.kind is ZoneKind.EXCLUSION]
    order = [[c] for c in sorted(off, key=lambda c: -c.distance_m)]
    order += [[c] for c in sorted(excl, key=lambda c: -c.distance_m)]
    order += [group] if group else []
    left: list[LeftOut] = []
    for batch in order:
        if total() <= budget:
            break
        detail = f"no room within {budget} fence vertices (zones nearer the path kept)"
        left += [LeftOut(c.zone, LeftOutReason.VERTEX_BUDGET, detail) for c in batch]
        cands = [c for c in cands if c not in batch]
    return cands, left


def _verified(
    cands: list[_Candidate],
    mission: Mission,
    home: HomePosition,
    terrain: TerrainProvider,
    rules: Rules,
    window: tuple[datetime, datetime],
) -> tuple[list[_Candidate], list[LeftOut]]:
    """Drop any shape the checker finds the path breaching when flown against the fence
    alone (2-D shapes, no operator rules): the fence must never stop its own mission."""
    only_shapes = Rules(ceiling_agl_m=None, rtl_alt_rel_m=rules.rtl_alt_rel_m, pad_m=rules.pad_m)
    left: list[LeftOut] = []
    for _ in range(3):
        if not cands:
            break
        zones = [Zone(f"fence-{k}", c.fenced.shape, kind=c.zone.kind) for k, c in enumerate(cands)]
        report = check(
            mission,
            zones,
            at=window[0],
            until=window[1],
            rules=only_shapes,
            launch=home,
            terrain=terrain,
        )
        hit = {int(v.zone_id.split("-")[1]) for v in report.violations if v.zone_id}
        if any(v.kind is ViolationKind.OUTSIDE_OPERATING_AREA for v in report.violations):
            hit |= {k for k, c in enumerate(cands) if c.zone.kind is ZoneKind.INCLUSION}
        if not hit:
            break
        detail = "the checker finds the path breaching the fence shape made of it"
        left += [LeftOut(cands[k].zone, LeftOutReason.PATH_IN_COLUMN, detail) for k in sorted(hit)]
        cands = [c for k, c in enumerate(cands) if k not in hit]
    return cands, left


def fence_for(
    mission: Mission,
    zones: Sequence[Zone] | ZoneIndex,
    *,
    at: datetime,
    until: datetime | None = None,
    authorisations: Mapping[str, str] | None = None,
    rules: Rules | None = None,
    launch: HomePosition | None = None,
    terrain: TerrainProvider | None = None,
    max_vertices: int = 256,
    reach_m: float | None = None,
) -> FenceBuild:
    """The fence to upload with ``mission``, from the zones it is checked against.

    Args:
        mission, zones, at, until, authorisations, rules, launch, terrain: exactly as given
            to :func:`~mission_control.airspace.check.check` (same window, same blocking
            rules, same launch point and terrain).
        max_vertices: most fence items (polygon vertices plus circles) the vehicle takes.
        reach_m: zones farther than this from the path (metres) stay off the vehicle;
            default the mission's extent (farthest point of its path from the launch
            point) plus :data:`REACH_MARGIN_M` — how far a vehicle could stray flying a
            distance the mission itself flies.

    Raises:
        AirspaceError: no launch point, naive times, ``max_vertices`` or ``reach_m`` not
            a number >= 0.
    """
    if isinstance(max_vertices, bool) or not isinstance(max_vertices, int) or max_vertices < 0:
        raise AirspaceError(f"max_vertices: must be a whole number >= 0, got {max_vertices!r}")
    if reach_m is not None and not (math.isfinite(reach_m) and reach_m >= 0):
        raise AirspaceError(f"reach_m: must be a finite number >= 0, got {reach_m!r}")
    rules = rules or Rules()
    auths = dict(authorisations or {})
    index = zones if isinstance(zones, ZoneIndex) else ZoneIndex(zones)
    home = launch or mission.home
    if home is None:
        raise AirspaceError("the mission has no home position: give the launch point")
    terrain = terrain or FlatTerrain(home.alt_amsl_m)
    window = _window(mission, at, until)
    path = flight_path(
        mission,
        launch=home.point,
        launch_alt_amsl_m=home.alt_amsl_m,
        terrain=terrain,
        rtl_alt_rel_m=rules.rtl_alt_rel_m,
    )
    fp = _footprint(path)
    reach = fp.extent_m + REACH_MARGIN_M if reach_m is None else float(reach_m)
    ctx = CheckContext(
        index=index,
        rules=rules,
        terrain=terrain,
        launch=home.point,
        launch_alt_amsl_m=home.alt_amsl_m,
        ground_launch_m=terrain.elevation_amsl_m([home.point])[0],
        authorisations=auths,
    )
    near = _near(index, path, reach)
    left: list[LeftOut] = []
    cands: list[_Candidate] = []
    for i, z in enumerate(index.zones):
        out = _screen(z, auths, *window)
        if out is None and i not in near:
            out = LeftOut(z, LeftOutReason.BEYOND_REACH, f"more than {reach:.0f} m from the path")
        got = _candidate(i, index, ctx, fp, reach) if out is None else out
        if isinstance(got, LeftOut):
            left.append(got)
        else:
            cands.append(got)
    keep_clear = rules.pad_m + CLEARANCE_M
    cands, dropped = _operating_area(cands, fp, keep_clear)
    left += dropped
    cands, dropped = _fit(cands, fp, keep_clear, max_vertices)
    left += dropped
    cands, dropped = _verified(cands, mission, home, terrain, rules, window)
    left += dropped
    cands.sort(key=lambda c: (c.zone.kind is ZoneKind.EXCLUSION, c.distance_m))
    polys = [c.fenced for c in cands if isinstance(c.fenced.shape, GeoPolygon)]
    circles = [c.fenced for c in cands if isinstance(c.fenced.shape, GeoCircle)]
    fence = Fence(
        tuple(FencePolygon(f.shape, f.inclusion) for f in polys),  # type: ignore[arg-type]
        tuple(FenceCircle(f.shape, f.inclusion) for f in circles),  # type: ignore[arg-type]
    )
    return FenceBuild(
        fence,
        (*polys, *circles),
        tuple(left),
        window,
        reach,
        (fp.lowest_cruise_m, fp.highest_m),
    )
