"""A spatial index over zones: find the zones near a path without looking at all of them.

Two stages keep the checker's cost proportional to the zones near the path:

1. **Candidates**, in longitude/latitude: a shapely ``STRtree`` over every zone's
   lon/lat envelope, queried with a box around each leg padded (in metres, converted with
   the geodesic direct problem) for the leg's bulge and the search margin. This stage may
   return extra zones but never misses one.
2. **Exact geometry**, in metres: candidate zones are projected into the caller's
   :class:`~flight_plans.geodesy.LocalFrame` (cached per frame) — polygons as shapely
   polygons, circles as centre + radius.

Zone polygon edges are straight in longitude/latitude (the GeoJSON convention, RFC 7946
§3.1.1); edges longer than :data:`DENSIFY_DEG` are subdivided before projection so the
projected edge follows the source edge to within centimetres.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

from flight_plans.geodesy import EARTH_MEAN_RADIUS_M, GeoPoint, LocalFrame, destination
from flight_plans.geometry import GeoCircle, GeoPolygon
from mission_control.airspace.zones import Zone

DENSIFY_DEG = 0.002
"""Longest zone edge (in degrees) projected as one straight segment (≈ 220 m)."""


@dataclass(frozen=True, slots=True)
class LocalZone:
    """A zone's horizontal shape in a local frame (metres).

    Exactly one of ``polygon`` or (``center_xy``, ``radius_m``) is set.
    """

    index: int
    zone: Zone
    polygon: BaseGeometry | None
    center_xy: tuple[float, float] | None
    radius_m: float


def _ring_lonlat(ring: Sequence[GeoPoint]) -> list[tuple[float, float]]:
    pts = [(p.lon_deg, p.lat_deg) for p in ring]
    pts.append(pts[0])
    out: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        n = max(1, math.ceil(max(abs(x1 - x0), abs(y1 - y0)) / DENSIFY_DEG))
        for k in range(n):
            t = k / n
            out.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    return out


def _circle_envelope(c: GeoCircle) -> tuple[float, float, float, float]:
    # the extreme latitudes/longitudes of a small geodesic circle are within a hair of
    # the points due N/S/E/W; 0.5 % of extra radius makes the envelope certainly enclose it
    r = c.radius_m * 1.005 + 1.0
    pts = [destination(c.center, az, r) for az in (0.0, 90.0, 180.0, 270.0)]
    lons = [p.lon_deg for p in pts]
    lats = [p.lat_deg for p in pts]
    return min(lons), min(lats), max(lons), max(lats)


def pad_box(
    lon0: float, lat0: float, lon1: float, lat1: float, pad_m: float
) -> tuple[float, float, float, float]:
    """Grow a lon/lat box by at least ``pad_m`` metres on every side (geodesic)."""
    sw = GeoPoint(max(-90.0, min(lat0, lat1)), max(-180.0, min(lon0, lon1)))
    ne = GeoPoint(min(90.0, max(lat0, lat1)), min(180.0, max(lon0, lon1)))
    # the west/east shift is largest in degrees at the latitude nearest a pole
    lat_far = sw if abs(sw.lat_deg) > abs(ne.lat_deg) else ne
    south = destination(sw, 180.0, pad_m).lat_deg
    north = destination(ne, 0.0, pad_m).lat_deg
    dlon = abs(destination(GeoPoint(lat_far.lat_deg, 0.0), 90.0, pad_m).lon_deg) * 1.01
    return sw.lon_deg - dlon, south, ne.lon_deg + dlon, north


def leg_pad_m(a: GeoPoint, b: GeoPoint, length_m: float) -> float:
    """How far a geodesic leg can stray from the straight lon/lat line between its ends.

    The bulge of a geodesic over a rhumb/plate-carrée chord is about ``L²·|tan φ| / (8R)``;
    this returns twice that plus a metre, a safe bound for the envelope query.
    """
    lat = max(abs(a.lat_deg), abs(b.lat_deg))
    tan = math.tan(math.radians(min(lat, 89.0)))
    return 2.0 * length_m**2 * tan / (8.0 * EARTH_MEAN_RADIUS_M) + 1.0


class ZoneIndex:
    """Zones with a lon/lat ``STRtree`` and a per-frame cache of projected shapes."""

    def __init__(self, zones: Iterable[Zone], *, cache_size: int = 50_000) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._rings: list[tuple[list[tuple[float, float]], list[list[tuple[float, float]]]]] = []
        boxes = []
        for z in self.zones:
            if isinstance(z.shape, GeoPolygon):
                ext = _ring_lonlat(z.shape.exterior)
                holes = [_ring_lonlat(h) for h in z.shape.holes]
                self._rings.append((ext, holes))
                xs = [p[0] for p in ext]
                ys = [p[1] for p in ext]
                boxes.append(shapely.box(min(xs), min(ys), max(xs), max(ys)))
            else:
                self._rings.append(([], []))
                boxes.append(shapely.box(*_circle_envelope(z.shape)))
        self._tree = shapely.STRtree(boxes)
        self._cache: OrderedDict[tuple[float, float, int], LocalZone] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        return len(self.zones)

    def query_boxes(self, boxes: Sequence[tuple[float, float, float, float]]) -> list[int]:
        """Indices of zones whose envelope meets any of the lon/lat ``boxes`` (sorted)."""
        if not boxes or not self.zones:
            return []
        geoms = shapely.box(*np.asarray(boxes, dtype=float).T)
        hits = self._tree.query(geoms)
        return sorted({int(i) for i in np.unique(hits[1])})

    def near_segments(
        self, segments: Sequence[tuple[GeoPoint, GeoPoint, float]], margin_m: float = 0.0
    ) -> list[int]:
        """Zones that may come within ``margin_m`` of any ``(a, b, length_m)`` geodesic leg."""
        boxes = [
            pad_box(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg, margin_m + leg_pad_m(a, b, length))
            for a, b, length in segments
        ]
        return self.query_boxes(boxes)

    def near_point(self, p: GeoPoint, radius_m: float) -> list[int]:
        """Zones that may come within ``radius_m`` of ``p``."""
        return self.query_boxes([pad_box(p.lon_deg, p.lat_deg, p.lon_deg, p.lat_deg, radius_m)])

    def local(self, indices: Iterable[int], frame: LocalFrame) -> list[LocalZone]:
        """The zones at ``indices`` projected into ``frame`` (cached)."""
        key0 = (frame.origin.lat_deg, frame.origin.lon_deg)
        out: list[LocalZone] = []
        for i in indices:
            key = (*key0, i)
            hit = self._cache.get(key)
            if hit is None:
                hit = self._project(i, frame)
                self._cache[key] = hit
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            out.append(hit)
        return out

    def _project(self, i: int, frame: LocalFrame) -> LocalZone:
        z = self.zones[i]
        if isinstance(z.shape, GeoCircle):
            return LocalZone(i, z, None, frame.to_local(z.shape.center), z.shape.radius_m)
        ext, holes = self._rings[i]
        poly = ShapelyPolygon(_to_local(frame, ext), [_to_local(frame, h) for h in holes])
        if not poly.is_valid:  # projection of a valid lon/lat polygon is valid; be safe
            poly = shapely.make_valid(poly)
        shapely.prepare(poly)
        return LocalZone(i, z, poly, None, 0.0)


def _to_local(frame: LocalFrame, ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return frame.to_local_many(GeoPoint(lat, lon) for lon, lat in ring)
