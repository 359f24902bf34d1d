"""Clearance from airspace zones around an incident, and where to centre a stand-off orbit.

Dispatch needs two geometric answers that routing does not give:

* is a disc (the orbit circle and everything inside it) or a straight leg at least the
  route margin away from every zone that blocks the flight, and inside the operating area
  by the same margin? (:meth:`ZoneClearance.disc_clear`, :meth:`ZoneClearance.segment_clear`)
* when the watched point is inside (or too near) a no-fly zone, where can a circle of a
  given radius be flown so that the camera still sees the point? (:func:`standoff_centre`)

The work happens in one :class:`~flight_plans.geodesy.LocalFrame` centred on the incident
(metres, exact radially), with zones projected by the shared
:class:`~mission_control.airspace.index.ZoneIndex`. The test is a *disc* rather than the
flown chords: chords lie inside the circle, so a clear disc means a clear orbit. Which
zones block follows the router: exclusion zones that are prohibited or need an
authorisation (dispatch carries none), in force at some time of the flight window, and
whose vertical band meets the altitudes flown near the incident. A zone limited in AMSL
counts at every altitude when the launch altitude is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from flight_plans.geodesy import GeoPoint, LocalFrame, distance_m
from flight_plans.mission import AltDatum
from mission_control.airspace.index import LocalZone, ZoneIndex
from mission_control.airspace.zones import Altitude, Restriction, Zone, ZoneKind

__all__ = ["CUSHION_M", "LEG_TOLERANCE_M", "OrbitCentre", "ZoneClearance", "standoff_centre"]

CUSHION_M = 1.0
"""Clearance an orbit's disc keeps beyond the margin (frame scale error, checker's pad)."""
LEG_TOLERANCE_M = 0.5
"""A straight leg may come this much inside the margin: route legs run along zones at
exactly the margin, and a leg joining the route there must not be refused for rounding."""

_BLOCKING = frozenset({Restriction.PROHIBITED, Restriction.REQ_AUTHORISATION})
_CIRCLE_SEGMENTS = 64
"""An inclusion circle is replaced by its inscribed polygon (smaller: errs on the safe side)."""

XY = tuple[float, float]


def _limit_rel_m(alt: Altitude | None, launch_alt_amsl_m: float | None, unbounded: float) -> float:
    if alt is None:
        return unbounded
    if alt.datum is AltDatum.AMSL:
        if launch_alt_amsl_m is None:
            return unbounded
        return alt.value_m - launch_alt_amsl_m
    return alt.value_m  # above launch or ground: flat terrain at the launch elevation


@dataclass(frozen=True, slots=True)
class OrbitCentre:
    """Where an orbit can be flown clear of the zones.

    Attributes:
        centre: the circle's centre (WGS84).
        radius_m: the circle's radius, metres.
        offset_m: distance from the watched point to ``centre``, metres (0: centred on it).
    """

    centre: GeoPoint
    radius_m: float
    offset_m: float


class ZoneClearance:
    """Distances from the zones that matter around one incident, for one flight.

    Args:
        index: the zones.
        incident: the watched point; the frame's centre.
        margin_m: distance to keep from blocking zones and the operating area's edge.
        t0, t1: the flight window (aware); zones in force at any time of it count.
        alt_lo_rel_m, alt_hi_rel_m: altitudes flown near the incident, above launch.
        launch_alt_amsl_m: the launch point's altitude (``None``: unknown).
    """

    def __init__(
        self,
        index: ZoneIndex,
        incident: GeoPoint,
        *,
        margin_m: float,
        t0: datetime,
        t1: datetime,
        alt_lo_rel_m: float,
        alt_hi_rel_m: float,
        launch_alt_amsl_m: float | None,
    ) -> None:
        self.index = index
        self.incident = incident
        self.frame = LocalFrame(incident)
        self.margin_m = margin_m
        self._t0, self._t1 = t0, t1
        self._band = (alt_lo_rel_m, alt_hi_rel_m)
        self._launch_alt = launch_alt_amsl_m
        self.has_area = any(
            z.kind is ZoneKind.INCLUSION and z.active_during(t0, t1) for z in index.zones
        )

    # -- which zones count ---------------------------------------------------------------------

    def _active_in_band(self, z: Zone) -> bool:
        if not z.active_during(self._t0, self._t1):
            return False
        lo = _limit_rel_m(z.vertical.floor, self._launch_alt, -math.inf)
        hi = _limit_rel_m(z.vertical.ceiling, self._launch_alt, math.inf)
        return lo <= self._band[1] and hi >= self._band[0]

    def _blocks(self, z: Zone) -> bool:
        return (
            z.kind is ZoneKind.EXCLUSION and z.restriction in _BLOCKING and self._active_in_band(z)
        )

    def _local(self, ids: list[int]) -> Iterator[LocalZone]:
        yield from self.index.local(ids, self.frame)

    # -- queries ---------------------------------------------------------------------------------

    def xy(self, p: GeoPoint) -> XY:
        """``p`` in the incident's frame (metres east, north)."""
        return self.frame.to_local(p)

    def geo(self, xy: XY) -> GeoPoint:
        """A frame point back on WGS84."""
        return self.frame.to_geo(*xy)

    def _exclusion_gap_m(self, geom: BaseGeometry, ids: list[int]) -> tuple[float, Zone | None]:
        """Smallest distance from ``geom`` to a blocking zone among ``ids`` (and that zone)."""
        best, which = math.inf, None
        for lz in self._local([i for i in ids if self._blocks(self.index.zones[i])]):
            if lz.center_xy is not None:
                gap = float(geom.distance(Point(lz.center_xy))) - lz.radius_m
            else:
                assert lz.polygon is not None
                gap = float(geom.distance(lz.polygon))
            if gap < best:
                best, which = gap, lz.zone
        return best, which

    def _inside_area(self, geom: BaseGeometry, ids: list[int], depth_m: float) -> bool:
        """``geom`` grown by ``depth_m`` lies inside the operating area (always, without one)."""
        if not self.has_area:
            return True
        shapes: list[BaseGeometry] = []
        for lz in self._local(ids):
            z = lz.zone
            if z.kind is not ZoneKind.INCLUSION or not self._active_in_band(z):
                continue
            if lz.center_xy is not None:
                shapes.append(
                    Point(lz.center_xy).buffer(lz.radius_m, quad_segs=_CIRCLE_SEGMENTS // 4)
                )
            else:
                assert lz.polygon is not None
                shapes.append(lz.polygon)
        if not shapes:
            return False
        return bool(shapely.union_all(shapes).covers(geom.buffer(depth_m, quad_segs=16)))

    def disc_conflict(self, centre_xy: XY, radius_m: float) -> str | None:
        """What the disc comes within the margin of (a zone's label, or the operating
        area's edge), or ``None`` when it is clear."""
        reach = radius_m + self.margin_m + CUSHION_M
        ids = self.index.near_point(self.geo(centre_xy), reach + 1.0)
        gap, zone = self._exclusion_gap_m(Point(centre_xy), ids)
        if zone is not None and gap - radius_m < self.margin_m + CUSHION_M:
            return zone.label
        disc = Point(centre_xy).buffer(radius_m, quad_segs=16) if radius_m > 0 else Point(centre_xy)
        inside = self._inside_area(disc, ids, self.margin_m + CUSHION_M)
        return None if inside else "the operating area's edge"

    def disc_clear(self, centre_xy: XY, radius_m: float) -> bool:
        """The disc keeps the margin from every blocking zone and from the area's edge."""
        return self.disc_conflict(centre_xy, radius_m) is None

    def segment_conflict(self, a: GeoPoint, b: GeoPoint) -> str | None:
        """What the straight leg ``a``→``b`` comes within the margin of (less
        :data:`LEG_TOLERANCE_M`), or ``None``."""
        length = distance_m(a, b)
        need = self.margin_m - LEG_TOLERANCE_M
        ids = self.index.near_segments([(a, b, length)], self.margin_m + 1.0)
        line = LineString([self.xy(a), self.xy(b)]) if length > 0.01 else Point(self.xy(a))
        gap, zone = self._exclusion_gap_m(line, ids)
        if zone is not None and gap < need:
            return zone.label
        return None if self._inside_area(line, ids, need) else "the operating area's edge"

    def segment_clear(self, a: GeoPoint, b: GeoPoint) -> bool:
        """The straight leg ``a``→``b`` keeps the margin from the zones and the area's edge."""
        return self.segment_conflict(a, b) is None

    def nearest_blocking(self, xy: XY, within_m: float) -> tuple[Zone, XY] | None:
        """The blocking zone nearest ``xy`` within ``within_m`` and its nearest point."""
        ids = self.index.near_point(self.geo(xy), within_m)
        best: tuple[float, Zone, XY] | None = None
        for lz in self._local([i for i in ids if self._blocks(self.index.zones[i])]):
            if lz.center_xy is not None:
                cx, cy = lz.center_xy
                d = math.hypot(xy[0] - cx, xy[1] - cy)
                k = lz.radius_m / d if d > 0 else 0.0
                near = (cx + (xy[0] - cx) * k, cy + (xy[1] - cy) * k)
                gap = max(d - lz.radius_m, 0.0)
            else:
                assert lz.polygon is not None
                p = nearest_points(lz.polygon, Point(xy))[0]
                near = (float(p.x), float(p.y))
                gap = float(lz.polygon.distance(Point(xy)))
            if gap <= within_m and (best is None or gap < best[0]):
                best = (gap, lz.zone, near)
        return None if best is None else (best[1], best[2])


def _unit(v: XY) -> XY | None:
    n = math.hypot(*v)
    return None if n < 1e-6 else (v[0] / n, v[1] / n)


def _rotated(u: XY, deg: float) -> XY:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return (u[0] * c - u[1] * s, u[0] * s + u[1] * c)


_TURNS_DEG = (0.0, 20.0, -20.0, 45.0, -45.0, 90.0, -90.0, 135.0, -135.0, 180.0)
_RADIUS_STEPS = (1.0, 0.75, 0.5)
_OFFSET_STEPS = (0.0, 0.25, 0.5, 1.0, 2.0)
"""Extra offsets of the centre, in radii, tried in turn."""


def standoff_centre(
    clearance: ZoneClearance,
    *,
    radius_m: float,
    min_radius_m: float,
    standoff_xy: XY | None,
    fallback_direction_xy: XY,
) -> OrbitCentre | None:
    """A centre and radius for an orbit that keeps the margin, as close to the incident
    as the search finds one.

    The orbit centred on the incident is kept when its disc is clear. Otherwise centres
    are tried along a direction away from the trouble — through ``standoff_xy`` (the
    route's stand-off point, in the incident's frame) when given, else away from the
    nearest blocking zone, else ``fallback_direction_xy`` — then turned up to 180° from
    it, pushed farther out, and with smaller radii down to ``min_radius_m``. With a
    stand-off point the circle starts just beyond it (it passes within ``CUSHION_M`` of
    the point the route reaches), so the vehicle arrives at its edge.

    Returns:
        The first clear candidate, or ``None`` if none keeps the margin.
    """
    m = clearance.margin_m
    if standoff_xy is None and clearance.disc_clear((0.0, 0.0), radius_m):
        return OrbitCentre(clearance.incident, radius_m, 0.0)
    base = 0.0
    u: XY | None = None
    if standoff_xy is not None:
        u = _unit(standoff_xy)
        base = math.hypot(*standoff_xy)
    if u is None:
        near = clearance.nearest_blocking((0.0, 0.0), radius_m + m + CUSHION_M)
        if near is not None:
            u = _unit((-near[1][0], -near[1][1]))
    u = u or _unit(fallback_direction_xy) or (0.0, 1.0)
    radii = sorted(
        {max(min_radius_m, radius_m * k) for k in _RADIUS_STEPS if radius_m * k >= min_radius_m}
        or {min_radius_m},
        reverse=True,
    )
    for r in radii:
        first = base + r + 2.0 * CUSHION_M if standoff_xy is not None else r * 0.5
        for extra in _OFFSET_STEPS:
            offset = first + extra * r
            for turn in _TURNS_DEG:
                d = _rotated(u, turn)
                c = (d[0] * offset, d[1] * offset)
                if clearance.disc_clear(c, r):
                    return OrbitCentre(clearance.geo(c), r, offset)
    return None
