"""Geometry of the simulated camera: pose, sensor, and the ground-to-image homography.

A pinhole camera over flat ground. Scene metres: x east, y north, z up. Heading 0 = north,
clockwise; gimbal pitch -90 = straight down, 0 = horizon; the gimbal is stabilised (no
roll), so the horizon is always a horizontal image line. Pixel ``(u, v)``: u right,
v down, centre of the top-left pixel at (0, 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from flight_plans.geodesy import GeoPoint
from sim.camera_scene import Scene
from sim.errors import SimConfigError

FloatArray = NDArray[np.float64]

MIN_HEIGHT_M: Final = 0.5  # the lens never goes below this above the ground
NEAR_M: Final = 1.0  # polygons are clipped at this camera depth
FAR_SPACINGS: Final = 15.0  # ground beyond 15 road spacings (1.5 km) fades into haze
MAX_PX: Final = 1.0e7  # projected coordinates are clamped to this


def check_number(name: str, value: float, lo: float = -math.inf, hi: float = math.inf) -> float:
    """``value`` as a float if it is a finite number within ``[lo, hi]``.

    Raises:
        SimConfigError: naming ``name``, when it is not.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SimConfigError(name, value, "must be a number")
    v = float(value)
    if not math.isfinite(v):
        raise SimConfigError(name, value, "must be finite")
    if not lo <= v <= hi:
        raise SimConfigError(name, value, f"must be in [{lo:g}, {hi:g}]")
    return v


@dataclass(frozen=True, slots=True)
class CameraPose:
    """Where the camera is and where it looks.

    Attributes:
        lat_deg, lon_deg: WGS84 position of the vehicle.
        alt_rel_m: height above the (flat) ground at the take-off point.
        heading_deg: vehicle heading, 0 = north, clockwise.
        gimbal_pitch_deg: -90 = straight down, 0 = horizon.
        gimbal_yaw_deg: gimbal yaw relative to the vehicle heading, clockwise.

    Raises:
        SimConfigError: a value is not finite or out of range (names the field).
    """

    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    heading_deg: float
    gimbal_pitch_deg: float
    gimbal_yaw_deg: float = 0.0

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("lat_deg", -90.0, 90.0),
            ("lon_deg", -180.0, 180.0),
            ("alt_rel_m", -10_000.0, 50_000.0),
            ("heading_deg", -math.inf, math.inf),
            ("gimbal_pitch_deg", -90.0, 0.0),
            ("gimbal_yaw_deg", -math.inf, math.inf),
        ):
            object.__setattr__(self, name, check_number(name, getattr(self, name), lo, hi))

    @property
    def view_azimuth_deg(self) -> float:
        """Direction the camera looks, degrees clockwise from north, [0, 360)."""
        return (self.heading_deg + self.gimbal_yaw_deg) % 360.0


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """Image size (even numbers, for 4:2:0 video), horizontal field of view and frame rate.

    Raises:
        SimConfigError: a value is out of range.
    """

    width_px: int = 640
    height_px: int = 360
    hfov_deg: float = 80.0
    fps: float = 15.0

    def __post_init__(self) -> None:
        for name, lo, hi in (("width_px", 320, 3840), ("height_px", 180, 2160)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi or v % 2:
                raise SimConfigError(name, v, f"must be an even integer in [{lo}, {hi}]")
        object.__setattr__(self, "hfov_deg", check_number("hfov_deg", self.hfov_deg, 10.0, 150.0))
        object.__setattr__(self, "fps", check_number("fps", self.fps, 1.0, 60.0))

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (square pixels)."""
        return (self.width_px / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)


@dataclass(frozen=True, slots=True)
class View:
    """The projection of one pose: ground metres -> pixels.

    Attributes:
        homography: 3x3, maps homogeneous scene metres ``(x_east, y_north, 1)`` to pixels;
            the third output component is the camera depth in metres.
        horizon_v_px: image row of the horizon (may lie far outside the image).
        far_v_px: image row of the far limit; ground above it is haze.
        far_m: camera depth of the far limit.
        focal_px: focal length in pixels.
    """

    homography: FloatArray
    horizon_v_px: float
    far_v_px: float
    far_m: float
    focal_px: float


def _clamp_px(v: float) -> float:
    return max(-MAX_PX, min(MAX_PX, v))


def view_of(scene: Scene, pose: CameraPose, spec: CameraSpec) -> View:
    """Build the ground-to-image projection of ``pose`` over ``scene``.

    Below :data:`MIN_HEIGHT_M` (on the ground, or below the take-off point) the lens is
    held at that height; the far limit is 15 road spacings or 3x the height.
    """
    x_m, y_m = scene.to_local(pose.lat_deg, pose.lon_deg)
    h_m = max(pose.alt_rel_m, MIN_HEIGHT_M)
    psi = math.radians(pose.view_azimuth_deg)
    th = math.radians(pose.gimbal_pitch_deg)
    fwd = np.array([math.sin(psi) * math.cos(th), math.cos(psi) * math.cos(th), math.sin(th)])
    right = np.array([math.cos(psi), -math.sin(psi), 0.0])
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd])  # world (east, north, up) -> camera (right, down, fwd)
    ext = np.column_stack([rot[:, 0], rot[:, 1], -rot @ np.array([x_m, y_m, h_m])])
    f = spec.focal_px
    cu, cv = (spec.width_px - 1) / 2.0, (spec.height_px - 1) / 2.0
    k = np.array([[f, 0.0, cu], [0.0, f, cv], [0.0, 0.0, 1.0]])
    far_m = max(FAR_SPACINGS * scene.road_spacing_m, 3.0 * h_m)
    # ground depth along an image row v: h / (cos(th) (v - cv) / f - sin(th)); solve for rows
    cos_th = max(math.cos(th), 1e-12)
    horizon = cv + f * math.tan(th) if th > -math.pi / 2 + 1e-9 else -MAX_PX
    far_v = cv + f * (h_m / far_m + math.sin(th)) / cos_th
    return View(k @ ext, _clamp_px(horizon), _clamp_px(far_v), far_m, f)


def project_to_image(
    scene: Scene, pose: CameraPose, spec: CameraSpec, point: GeoPoint
) -> tuple[float, float] | None:
    """Pixel ``(u, v)`` of a ground point, or None if it is behind the camera.

    The result may lie outside the image: callers check the bounds they care about.
    """
    view = view_of(scene, pose, spec)
    x, y = scene.frame.to_local(point)
    p = view.homography @ np.array([x, y, 1.0])
    if p[2] <= NEAR_M:
        return None
    return float(p[0] / p[2]), float(p[1] / p[2])
