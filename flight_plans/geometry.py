"""WGS84 polygons and circles, validated, with their local planar (shapely) form.

Shapely is planar: a :class:`GeoPolygon` is always projected into a
:class:`~flight_plans.geodesy.LocalFrame` before any area, buffer or intersection work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shapely.geometry import Polygon as ShapelyPolygon
from shapely.validation import explain_validity

from flight_plans._validate import positive
from flight_plans.errors import InvalidPolygonError
from flight_plans.geodesy import WGS84, GeoPoint, LocalFrame

MIN_AREA_M2 = 0.01
"""Polygons smaller than this are degenerate (collinear or repeated vertices)."""


def mean_point(points: Sequence[GeoPoint]) -> GeoPoint:
    """The normalised mean of ``points`` as unit vectors (spherical; fine as a frame centre)."""
    x = y = z = 0.0
    for p in points:
        la, lo = math.radians(p.lat_deg), math.radians(p.lon_deg)
        x += math.cos(la) * math.cos(lo)
        y += math.cos(la) * math.sin(lo)
        z += math.sin(la)
    if math.hypot(x, y, z) < 1e-12:
        return points[0]
    return GeoPoint(math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x)))


def _unwrapped(ring: Sequence[GeoPoint]) -> list[tuple[float, float]]:
    lons = [p.lon_deg for p in ring]
    if max(lons) - min(lons) > 180.0:
        lons = [lo + 360.0 if lo < 0 else lo for lo in lons]
    return [(lo, p.lat_deg) for lo, p in zip(lons, ring, strict=True)]


def _ring_area_m2(ring: Sequence[GeoPoint]) -> float:
    area, _ = WGS84.polygon_area_perimeter([p.lon_deg for p in ring], [p.lat_deg for p in ring])
    return abs(float(area))


def _ring(
    points: Iterable[GeoPoint | tuple[float, float]], field: str, index: int | None
) -> tuple[GeoPoint, ...]:
    ring: list[GeoPoint] = []
    for p in points:
        ring.append(p if isinstance(p, GeoPoint) else GeoPoint(p[0], p[1]))
    if len(ring) >= 2 and ring[0] == ring[-1]:
        ring.pop()  # accept explicitly closed rings, store them open
    if len({(p.lat_deg, p.lon_deg) for p in ring}) < 3:
        raise InvalidPolygonError(field, "needs at least 3 distinct vertices", item_index=index)
    return tuple(ring)


@dataclass(frozen=True, slots=True)
class GeoPolygon:
    """A simple polygon on WGS84: an open exterior ring and optional holes.

    Vertices may be given as :class:`GeoPoint` or ``(lat_deg, lon_deg)`` tuples; a closing
    vertex equal to the first is dropped.

    Raises:
        InvalidPolygonError: fewer than 3 distinct vertices, zero area, or a ring that
            crosses itself or its holes.
        InvalidCoordinateError: a vertex is out of range or not finite.
    """

    exterior: tuple[GeoPoint, ...]
    holes: tuple[tuple[GeoPoint, ...], ...] = ()
    index: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        ext = _ring(self.exterior, "polygon", self.index)
        holes = tuple(_ring(h, f"polygon.holes[{k}]", self.index) for k, h in enumerate(self.holes))
        object.__setattr__(self, "exterior", ext)
        object.__setattr__(self, "holes", holes)
        # Edges are straight in longitude/latitude (the GeoJSON convention), so simplicity is
        # decided in that plane; longitudes are unwrapped for rings across the antimeridian.
        shape = ShapelyPolygon(_unwrapped(ext), [_unwrapped(h) for h in holes])
        if not shape.is_valid:
            raise InvalidPolygonError(
                "polygon",
                f"not a simple polygon ({explain_validity(shape)})",
                item_index=self.index,
            )
        if self.area_m2() < MIN_AREA_M2:
            raise InvalidPolygonError(
                "polygon", f"is degenerate (area below {MIN_AREA_M2} m²)", item_index=self.index
            )

    @classmethod
    def from_lat_lon(
        cls, points: Sequence[tuple[float, float]], *, index: int | None = None
    ) -> GeoPolygon:
        """Polygon from ``(lat_deg, lon_deg)`` pairs."""
        return cls(tuple(GeoPoint(la, lo) for la, lo in points), index=index)

    def centroid_hint(self) -> GeoPoint:
        """Mean direction of the exterior vertices: a good centre for a :class:`LocalFrame`.

        Averaged as unit vectors, so a polygon across the antimeridian gets a centre
        near ±180°, not near 0°.
        """
        return mean_point(self.exterior)

    def frame(self) -> LocalFrame:
        """A local frame centred on the polygon."""
        return LocalFrame(self.centroid_hint())

    def to_local(self, frame: LocalFrame) -> ShapelyPolygon:
        """The polygon as a shapely polygon in ``frame`` metres."""
        return ShapelyPolygon(
            frame.to_local_many(self.exterior), [frame.to_local_many(h) for h in self.holes]
        )

    def area_m2(self) -> float:
        """Geodesic area in square metres (exterior minus holes)."""
        return _ring_area_m2(self.exterior) - sum(_ring_area_m2(h) for h in self.holes)

    def contains(self, p: GeoPoint) -> bool:
        """True if ``p`` lies inside (or on the border of) the polygon."""
        from shapely.geometry import Point

        frame = self.frame()
        return bool(self.to_local(frame).covers(Point(frame.to_local(p))))


@dataclass(frozen=True, slots=True)
class GeoCircle:
    """A circle on WGS84: centre and radius in metres (geodesic)."""

    center: GeoPoint
    radius_m: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "radius_m", positive("radius_m", self.radius_m))
