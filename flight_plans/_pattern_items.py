"""Mission-item builders and checks shared by the pattern modules (internal).

Every positional item here is in ``MAV_FRAME_GLOBAL_RELATIVE_ALT``: its altitude is metres
above home, stated by the ``alt_rel_m`` name.
"""

from __future__ import annotations

import math

from flight_plans._validate import finite, in_range, positive
from flight_plans.errors import InvalidValueError
from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import MavCmd, MissionItem

GIMBAL_NADIR_DEG = -90.0
"""MAVLink gimbal pitch pointing straight down (negative = below the horizon)."""


def altitude(field: str, value: float) -> float:
    """A pattern altitude above home: finite and strictly positive."""
    return positive(field, value)


def count(field: str, value: int) -> int:
    """A whole number of legs / rounds / laps, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(field, value, "must be an integer")
    if value < 1:
        raise InvalidValueError(field, value, "must be >= 1")
    return value


def gimbal_pitch(field: str, value: float) -> float:
    """A gimbal pitch in degrees, within ``[-90, 90]`` (negative = down)."""
    return in_range(field, value, -90.0, 90.0)


def depression_pitch_deg(height_m: float, horizontal_m: float) -> float:
    """Gimbal pitch (degrees, negative down) that looks at a point ``height_m`` below and
    ``horizontal_m`` away; straight down when ``horizontal_m`` is 0."""
    return -math.degrees(math.atan2(height_m, horizontal_m))


def waypoint(
    p: GeoPoint, alt_rel_m: float, *, acceptance_radius_m: float = 0.0, hold_s: float = 0.0
) -> MissionItem:
    """``NAV_WAYPOINT``: param1 hold (s), param2 acceptance radius (m), param3 pass radius
    (0: fly through), param4 yaw (NaN: the autopilot's heading mode, or the active ROI)."""
    return MissionItem.at(
        MavCmd.NAV_WAYPOINT,
        p.lat_deg,
        p.lon_deg,
        alt_rel_m=alt_rel_m,
        params=(hold_s, acceptance_radius_m, 0.0, math.nan),
    )


def roi_location(p: GeoPoint, alt_rel_m: float) -> MissionItem:
    """``DO_SET_ROI_LOCATION`` for all gimbals (param1 = 0): vehicle and camera face ``p``."""
    return MissionItem.at(MavCmd.DO_SET_ROI_LOCATION, p.lat_deg, p.lon_deg, alt_rel_m=alt_rel_m)


def roi_none() -> MissionItem:
    """``DO_SET_ROI_NONE`` for all gimbals: heading returns to the autopilot's mode."""
    return MissionItem.do(MavCmd.DO_SET_ROI_NONE, 0.0)


def gimbal_pitch_yaw(pitch_deg: float, yaw_deg: float = math.nan) -> MissionItem:
    """``DO_GIMBAL_MANAGER_PITCHYAW``: pitch/yaw in degrees (yaw relative to the vehicle,
    NaN = keep), rates NaN (unused), flags 0, gimbal device id 0 (all)."""
    return MissionItem.do(
        MavCmd.DO_GIMBAL_MANAGER_PITCHYAW,
        pitch_deg,
        yaw_deg,
        math.nan,
        math.nan,
        0.0,
        0.0,
        0.0,
    )


def change_speed(speed_m_s: float) -> MissionItem:
    """``DO_CHANGE_SPEED``: param1 1 = ground speed, param2 m/s, param3 -1 = throttle unchanged."""
    return MissionItem.do(MavCmd.DO_CHANGE_SPEED, 1.0, speed_m_s, -1.0, 0.0)


def polygon_frame(polygon: GeoPolygon) -> LocalFrame:
    """A :class:`LocalFrame` centred on the middle of the polygon's extent.

    Found by projecting from the first vertex rather than averaging degrees, so it is also
    right for polygons that straddle the antimeridian.
    """
    first = LocalFrame(polygon.exterior[0])
    xy = first.to_local_many(polygon.exterior)
    xs = [x for x, _ in xy]
    ys = [y for _, y in xy]
    return LocalFrame(first.to_geo((min(xs) + max(xs)) / 2.0, (min(ys) + max(ys)) / 2.0))


def bearing(field: str, value: float) -> float:
    """A finite bearing in degrees, normalised to ``[0, 360)``."""
    return finite(field, value) % 360.0
