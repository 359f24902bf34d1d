"""A whole flight plan: mission, geofence and rally points, as the vehicle holds them.

This is the format-neutral form of what QGroundControl saves in a ``.plan`` file and what
MAVLink's mission protocol uploads as three lists (mission, fence, rally).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flight_plans._validate import finite, non_negative
from flight_plans.errors import InvalidValueError
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import (
    MavCmd,
    MavFrame,
    Mission,
    MissionItem,
    MissionItemInt,
    MissionType,
)


@dataclass(frozen=True, slots=True)
class FencePolygon:
    """A geofence polygon: the vehicle must stay inside (inclusion) or outside (exclusion)."""

    polygon: GeoPolygon
    inclusion: bool = True


@dataclass(frozen=True, slots=True)
class FenceCircle:
    """A geofence circle: the vehicle must stay inside (inclusion) or outside (exclusion)."""

    circle: GeoCircle
    inclusion: bool = True


@dataclass(frozen=True, slots=True)
class Fence:
    """A geofence made of polygons and circles."""

    polygons: tuple[FencePolygon, ...] = ()
    circles: tuple[FenceCircle, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "polygons", tuple(self.polygons))
        object.__setattr__(self, "circles", tuple(self.circles))

    @property
    def inclusion_count(self) -> int:
        """Number of inclusion polygons and circles."""
        return sum(p.inclusion for p in self.polygons) + sum(c.inclusion for c in self.circles)

    @property
    def exclusion_count(self) -> int:
        """Number of exclusion polygons and circles."""
        return sum(not p.inclusion for p in self.polygons) + sum(
            not c.inclusion for c in self.circles
        )

    def __bool__(self) -> bool:
        return bool(self.polygons or self.circles)

    def to_items(self) -> list[MissionItem]:
        """The fence as MAVLink fence items (``MAV_MISSION_TYPE_FENCE``).

        Polygons become runs of ``NAV_FENCE_POLYGON_VERTEX_INCLUSION/EXCLUSION`` items whose
        param1 is the vertex count; circles ``NAV_FENCE_CIRCLE_*`` with param1 = radius (m).
        """
        out: list[MissionItem] = []
        for fp in self.polygons:
            cmd = (
                MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
                if fp.inclusion
                else MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
            )
            n = len(fp.polygon.exterior)
            for v in fp.polygon.exterior:
                out.append(
                    MissionItem(
                        cmd,
                        MavFrame.GLOBAL,
                        float(n),
                        0.0,
                        0.0,
                        0.0,
                        v.lat_deg,
                        v.lon_deg,
                        0.0,
                        mission_type=MissionType.FENCE,
                    )
                )
        for fc in self.circles:
            cmd = (
                MavCmd.NAV_FENCE_CIRCLE_INCLUSION
                if fc.inclusion
                else MavCmd.NAV_FENCE_CIRCLE_EXCLUSION
            )
            c = fc.circle
            out.append(
                MissionItem(
                    cmd,
                    MavFrame.GLOBAL,
                    c.radius_m,
                    0.0,
                    0.0,
                    0.0,
                    c.center.lat_deg,
                    c.center.lon_deg,
                    0.0,
                    mission_type=MissionType.FENCE,
                )
            )
        return out

    def to_mavlink(self) -> list[MissionItemInt]:
        """The fence as ``MISSION_ITEM_INT`` fields, seq 0..n-1."""
        return [it.to_mavlink(seq) for seq, it in enumerate(self.to_items())]

    @classmethod
    def from_items(cls, items: Iterable[MissionItem]) -> Fence:
        """Rebuild a fence from MAVLink fence items (inverse of :meth:`to_items`).

        Raises:
            InvalidValueError: a vertex run is shorter than its declared count, or an item
                is not a fence command.
        """
        polygons: list[FencePolygon] = []
        circles: list[FenceCircle] = []
        run: list[MissionItem] = []
        seq = list(items)
        i = 0
        while i < len(seq):
            it = seq[i]
            if it.command in (
                MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
            ):
                n = int(it.param1)
                run = seq[i : i + n]
                if n < 3 or len(run) < n or any(r.command != it.command for r in run):
                    raise InvalidValueError(
                        "param1",
                        it.param1,
                        "polygon vertex count does not match the items",
                        item_index=i,
                    )
                polygons.append(
                    FencePolygon(
                        GeoPolygon(tuple(GeoPoint(r.lat_deg, r.lon_deg) for r in run), index=i),
                        inclusion=it.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                    )
                )
                i += n
            elif it.command in (
                MavCmd.NAV_FENCE_CIRCLE_INCLUSION,
                MavCmd.NAV_FENCE_CIRCLE_EXCLUSION,
            ):
                circles.append(
                    FenceCircle(
                        GeoCircle(GeoPoint(it.lat_deg, it.lon_deg), it.param1),
                        inclusion=it.command == MavCmd.NAV_FENCE_CIRCLE_INCLUSION,
                    )
                )
                i += 1
            elif it.command == MavCmd.NAV_FENCE_RETURN_POINT:
                i += 1  # a return point carries no area; ignored here
            else:
                raise InvalidValueError(
                    "command", int(it.command), "not a fence command", item_index=i
                )
        return cls(tuple(polygons), tuple(circles))


@dataclass(frozen=True, slots=True)
class RallyPoint:
    """A safe place to return to instead of home; altitude relative to home."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float

    def __post_init__(self) -> None:
        p = GeoPoint(self.lat_deg, self.lon_deg)  # validates
        object.__setattr__(self, "lat_deg", p.lat_deg)
        object.__setattr__(self, "lon_deg", p.lon_deg)
        object.__setattr__(self, "alt_rel_m", finite("alt_rel_m", self.alt_rel_m))

    def to_item(self) -> MissionItem:
        """The rally point as a ``NAV_RALLY_POINT`` item (``MAV_MISSION_TYPE_RALLY``)."""
        return MissionItem(
            MavCmd.NAV_RALLY_POINT,
            MavFrame.GLOBAL_RELATIVE_ALT,
            0.0,
            0.0,
            0.0,
            0.0,
            self.lat_deg,
            self.lon_deg,
            self.alt_rel_m,
            mission_type=MissionType.RALLY,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """Mission + fence + rally points + vehicle speeds, as a ground station saves them.

    Attributes:
        mission: the mission items and the planned home position.
        fence: geofence polygons and circles.
        rally_points: alternative return points.
        cruise_speed_m_s: fixed-wing / forward-flight speed the planner assumes.
        hover_speed_m_s: multicopter speed the planner assumes.
        firmware_type: MAVLink ``MAV_AUTOPILOT`` of the target (12 = PX4, 3 = ArduPilot).
        vehicle_type: MAVLink ``MAV_TYPE`` (2 = quadrotor).
        extras: format-specific details kept for a lossless round trip (opaque here).
    """

    mission: Mission = field(default_factory=Mission)
    fence: Fence = field(default_factory=Fence)
    rally_points: tuple[RallyPoint, ...] = ()
    cruise_speed_m_s: float = 15.0
    hover_speed_m_s: float = 5.0
    firmware_type: int = 12
    vehicle_type: int = 2
    extras: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rally_points", tuple(self.rally_points))
        object.__setattr__(
            self, "cruise_speed_m_s", non_negative("cruiseSpeed", self.cruise_speed_m_s)
        )
        object.__setattr__(
            self, "hover_speed_m_s", non_negative("hoverSpeed", self.hover_speed_m_s)
        )

    def rally_to_mavlink(self) -> list[MissionItemInt]:
        """Rally points as ``MISSION_ITEM_INT`` fields, seq 0..n-1."""
        return [rp.to_item().to_mavlink(seq) for seq, rp in enumerate(self.rally_points)]
