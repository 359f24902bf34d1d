"""The operating area: when inclusion zones exist, the whole path must stay inside them."""

from __future__ import annotations

import math

import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from flight_plans.geodesy import LocalFrame
from mission_control.airspace.index import LocalZone
from mission_control.airspace.path import LoiterCircle, PathPoint
from mission_control.airspace.rules import CheckContext
from mission_control.airspace.violations import Violation, ViolationKind, describe_leg


def depth_m(lz: LocalZone, xy: tuple[float, float]) -> float:
    """How far inside the (unpadded) zone a point is (0 if outside)."""
    if lz.center_xy is not None:
        return max(0.0, lz.radius_m - math.hypot(xy[0] - lz.center_xy[0], xy[1] - lz.center_xy[1]))
    assert lz.polygon is not None
    pt = Point(xy)
    return float(lz.polygon.boundary.distance(pt)) if lz.polygon.covers(pt) else 0.0


def lerp(p0: tuple[float, float], p1: tuple[float, float], t: float) -> tuple[float, float]:
    """The point at fraction ``t`` of the segment ``p0 → p1``."""
    return p0[0] + (p1[0] - p0[0]) * t, p0[1] + (p1[1] - p0[1]) * t


def operating_area(local: list[LocalZone], pad_m: float) -> BaseGeometry:
    """The union of the inclusion zones, shrunk by ``pad_m`` after merging.

    Merging first keeps adjacent operating areas seamless (shrinking each one first would
    open a gap along their shared edge). Circles enter as inscribed 64-gons, inside the
    true circle.
    """
    shapes = []
    for lz in local:
        if lz.center_xy is not None:
            shapes.append(Point(lz.center_xy).buffer(lz.radius_m, quad_segs=16))
        else:
            assert lz.polygon is not None
            shapes.append(lz.polygon)
    area = shapely.union_all(shapes)
    return area.buffer(-pad_m, join_style="mitre") if pad_m > 0 else area


def check_inclusion_leg(
    ctx: CheckContext,
    frame: LocalFrame,
    local: list[LocalZone],
    area: BaseGeometry,
    n: int,
    a: PathPoint,
    b: PathPoint,
    p0: tuple[float, float],
    p1: tuple[float, float],
) -> None:
    """The leg ``a → b`` (at ``p0 → p1`` in ``frame``) stays inside ``area`` and its bands."""
    geom: BaseGeometry = LineString([p0, p1]) if p0 != p1 else Point(p0)
    outside = geom.difference(area)
    if (not outside.is_empty and outside.length > 1e-6) or (
        isinstance(geom, Point) and not area.covers(geom)
    ):
        far = max(
            (
                area.distance(Point(c))
                for g in getattr(outside, "geoms", [outside])
                for c in g.coords
            ),
            default=0.0,
        )
        first = outside.representative_point() if not outside.is_empty else geom
        ctx.add(
            Violation(
                kind=ViolationKind.OUTSIDE_OPERATING_AREA,
                message=(
                    f"{describe_leg(a, b)} leaves the operating area, up to {far:.0f} m outside it"
                ),
                suggestion="keep the path inside the operating area (inclusion zones)",
                item_index=b.item_index,
                leg=(a.item_index, b.item_index),
                inside_m=far,
                location=frame.to_geo(*first.coords[0]),
                leg_number=n,
            )
        )
        return
    _check_inclusion_band(ctx, frame, local, n, a, b, p0, p1)


def _check_inclusion_band(
    ctx: CheckContext,
    frame: LocalFrame,
    local: list[LocalZone],
    n: int,
    a: PathPoint,
    b: PathPoint,
    p0: tuple[float, float],
    p1: tuple[float, float],
) -> None:
    """Inside the operating area the altitude must fit the band of a zone it is in (sampled)."""
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    k = max(1, math.ceil(length / 25.0))
    for j in range(k + 1):
        t = j / k
        xy = lerp(p0, p1, t)
        alt = a.alt_rel_m + (b.alt_rel_m - a.alt_rel_m) * t
        where = frame.to_geo(*xy)
        containing = [lz for lz in local if depth_m(lz, xy) > 0 or _on_zone(lz, xy)]
        if not containing:
            continue
        if any(
            ctx.band_rel(lz.zone.vertical.floor, where, floor=True)
            <= alt
            <= ctx.band_rel(lz.zone.vertical.ceiling, where, floor=False)
            for lz in containing
        ):
            continue
        ctx.add(
            Violation(
                kind=ViolationKind.OUTSIDE_OPERATING_AREA,
                message=(
                    f"{describe_leg(a, b)} is at {alt:.0f} m above launch, outside the vertical "
                    f"limits of the operating area there"
                ),
                suggestion="fly within the operating area's floor and ceiling",
                item_index=b.item_index,
                leg=(a.item_index, b.item_index),
                location=where,
                leg_number=n,
            )
        )
        return


def _on_zone(lz: LocalZone, xy: tuple[float, float]) -> bool:
    if lz.polygon is not None:
        return bool(lz.polygon.covers(Point(xy)))
    assert lz.center_xy is not None
    return math.hypot(xy[0] - lz.center_xy[0], xy[1] - lz.center_xy[1]) <= lz.radius_m


def check_inclusion_circle(
    ctx: CheckContext, frame: LocalFrame, local: list[LocalZone], c: object
) -> None:

    assert isinstance(c, LoiterCircle)
    area = operating_area(local, ctx.rules.pad_m)
    disk = Point(frame.to_local(c.center)).buffer(c.radius_m * 1.01 + 0.5, quad_segs=32)
    if area.covers(disk):
        return
    pt = PathPoint(c.center, c.alt_rel_m, c.item_index, "mission")
    ctx.add(
        Violation(
            kind=ViolationKind.OUTSIDE_OPERATING_AREA,
            message=(
                f"the loiter circle of item {c.item_index} ({c.radius_m:.0f} m) "
                "leaves the operating area"
            ),
            suggestion="reduce the loiter radius or move the point inside the operating area",
            item_index=c.item_index,
            leg=(pt.item_index, pt.item_index),
            location=c.center,
        )
    )
