"""The on-board geofence: uploaded polygons and circles plus the distance/height limits.

Semantics follow PX4's ``Geofence``: the vehicle must be inside at least one inclusion
shape (when any exist) and inside no exclusion shape; ``GF_MAX_HOR_DIST`` limits the
distance from home and ``GF_MAX_VER_DIST`` the height above home (0 = no limit).
Shapes are projected once into the vehicle's local metric frame when a fence is uploaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from shapely.geometry import Point, Polygon
from shapely.prepared import PreparedGeometry, prep

from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.mission import MissionItemInt

_POLY_INCLUSION = 5001
_POLY_EXCLUSION = 5002
_CIRCLE_INCLUSION = 5003
_CIRCLE_EXCLUSION = 5004


class BreachType(IntEnum):
    """MAVLink ``FENCE_BREACH``."""

    NONE = 0
    MINALT = 1
    MAXALT = 2
    BOUNDARY = 3


@dataclass(frozen=True, slots=True)
class _Shape:
    inclusion: bool
    area: PreparedGeometry | None = None  # polygon
    cx_m: float = 0.0  # circle
    cy_m: float = 0.0
    radius_m: float = 0.0

    def contains(self, x_m: float, y_m: float) -> bool:
        if self.area is not None:
            return bool(self.area.contains(Point(x_m, y_m)))
        return math.hypot(x_m - self.cx_m, y_m - self.cy_m) <= self.radius_m


class OnboardFence:
    """The fence as the vehicle enforces it, in the vehicle's local frame."""

    def __init__(self, frame: LocalFrame, items: tuple[MissionItemInt, ...] = ()) -> None:
        self._frame = frame
        self._shapes: tuple[_Shape, ...] = ()
        self.load(items)

    @property
    def has_shapes(self) -> bool:
        return bool(self._shapes)

    def load(self, items: tuple[MissionItemInt, ...]) -> None:
        """Replace the shapes with those of ``items`` (a validated fence list)."""
        shapes: list[_Shape] = []
        i = 0
        while i < len(items):
            it = items[i]
            if it.command in (_POLY_INCLUSION, _POLY_EXCLUSION):
                n = max(int(it.param1), 1)
                ring = [self._local(v) for v in items[i : i + n]]
                i += n
                if len(ring) >= 3:
                    shapes.append(
                        _Shape(it.command == _POLY_INCLUSION, area=prep(Polygon(ring).buffer(0)))
                    )
                continue
            if it.command in (_CIRCLE_INCLUSION, _CIRCLE_EXCLUSION):
                cx, cy = self._local(it)
                shapes.append(
                    _Shape(it.command == _CIRCLE_INCLUSION, cx_m=cx, cy_m=cy, radius_m=it.param1)
                )
            i += 1
        self._shapes = tuple(shapes)

    def _local(self, it: MissionItemInt) -> tuple[float, float]:
        return self._frame.to_local(GeoPoint(it.x / 1e7, it.y / 1e7))

    def inside_shapes(self, x_m: float, y_m: float) -> bool:
        """Inside at least one inclusion (if any) and inside no exclusion."""
        had_inclusion = inside_inclusion = False
        for s in self._shapes:
            if s.inclusion:
                had_inclusion = True
                inside_inclusion = inside_inclusion or s.contains(x_m, y_m)
            elif s.contains(x_m, y_m):
                return False
        return inside_inclusion or not had_inclusion

    def breach(
        self,
        x_m: float,
        y_m: float,
        z_m: float,
        *,
        home_x_m: float,
        home_y_m: float,
        home_z_m: float,
        max_hor_dist_m: float,
        max_ver_dist_m: float,
    ) -> BreachType:
        """Which limit the position violates (NONE when inside everything)."""
        if max_ver_dist_m > 0 and z_m - home_z_m > max_ver_dist_m:
            return BreachType.MAXALT
        if max_hor_dist_m > 0 and math.hypot(x_m - home_x_m, y_m - home_y_m) > max_hor_dist_m:
            return BreachType.BOUNDARY
        if not self.inside_shapes(x_m, y_m):
            return BreachType.BOUNDARY
        return BreachType.NONE
