"""The ground a camera sees: its footprint on flat ground, and a guessed view for real drones.

Pure geometry (numpy, shapely, :mod:`flight_plans.geodesy`); no OpenCV.

The footprint is the intersection of the camera's view pyramid (frustum) with flat ground
``alt_agl_m`` below the lens, limited to ``max_range_m`` of horizontal distance: the four
side planes of the frustum each cut the ground along a line, and the footprint is the disc
of radius ``max_range_m`` clipped by those four half-planes. It is computed in the
camera's own azimuthal equidistant frame (where distances and azimuths from the camera are
exact) and carried into any other :class:`~flight_plans.geodesy.LocalFrame` through the
geodesic direct problem, so it can be intersected there with zones projected into the
same frame.

Conservative for privacy (it may include ground the camera does not see, never the
reverse, within ``max_range_m``):

* rays at or above the horizon never reach flat ground; their footprint runs out to
  ``max_range_m`` (the range disc closes it), because raised ground or buildings there
  may be in view;
* a camera pitched above the horizon is treated as looking at the horizon (pitch 0);
* the range disc is a polygon circumscribing the circle;
* a lens below :data:`MIN_HEIGHT_M` is held at that height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
from shapely.geometry import Polygon as ShapelyPolygon

from flight_plans.geodesy import WGS84, GeoPoint, LocalFrame, inverse
from flight_plans.geometry import GeoPolygon
from mission_control.video.errors import VideoSettingsError
from mission_control.video.frames import CameraView

__all__ = [
    "DEFAULT_ASPECT",
    "DEFAULT_HFOV_DEG",
    "DEFAULT_PITCH_DEG",
    "MIN_HEIGHT_M",
    "GroundFootprint",
    "estimate_view",
    "ground_footprint",
]

MIN_HEIGHT_M: Final = 0.5
"""The lens is never taken to be lower than this above the ground."""
RANGE_SEGMENTS: Final = 64
"""Sides of the polygon that stands for the range circle (circumscribed)."""
MAX_RANGE_LIMIT_M: Final = 50_000.0
DEFAULT_PITCH_DEG: Final = -45.0
"""Gimbal pitch assumed for a real drone that reports none and has no point of interest."""
DEFAULT_HFOV_DEG: Final = 80.0
DEFAULT_ASPECT: Final = 16.0 / 9.0
NEAR_ROI_M: Final = 1.0
"""Closer than this horizontally to its point of interest, a camera is taken to look down."""


@dataclass(frozen=True, slots=True, eq=False)
class GroundFootprint:
    """The ground a camera sees within a horizontal range, in a local frame.

    Attributes:
        view: the camera.
        max_range_m: horizontal range limit used.
        frame: the frame of ``polygon``.
        polygon: convex shapely polygon in ``frame`` metres (x east, y north); empty when no
            flat ground within range is in view.
    """

    view: CameraView
    max_range_m: float
    frame: LocalFrame
    polygon: ShapelyPolygon

    @property
    def is_empty(self) -> bool:
        """True when no ground within range is in view."""
        return bool(self.polygon.is_empty)

    def reach_m(self) -> float:
        """Largest distance of the footprint from the frame's centre, metres (0 if empty)."""
        if self.polygon.is_empty:
            return 0.0
        xy = np.asarray(self.polygon.exterior.coords)
        return float(np.hypot(xy[:, 0], xy[:, 1]).max())

    def to_geo(self) -> GeoPolygon | None:
        """The footprint as a WGS84 polygon (None when empty)."""
        if self.polygon.is_empty:
            return None
        ring = self.frame.to_geo_many(list(self.polygon.exterior.coords)[:-1])
        return GeoPolygon(tuple(ring))


def _check_range(max_range_m: float) -> float:
    if (
        isinstance(max_range_m, bool)
        or not isinstance(max_range_m, int | float)
        or not math.isfinite(max_range_m)
        or not 0.0 < max_range_m <= MAX_RANGE_LIMIT_M
    ):
        raise VideoSettingsError(
            "max_range_m", f"{max_range_m!r} must be a number in (0, {MAX_RANGE_LIMIT_M:g}]"
        )
    return float(max_range_m)


def _half_planes(view: CameraView) -> list[tuple[float, float, float]]:
    """Rows ``(a, b, c)``: ground point ``(x, y)`` is in view iff ``a x + b y >= c`` for
    every row (camera-centred east/north metres)."""
    h = max(view.alt_agl_m, MIN_HEIGHT_M)
    psi = math.radians(view.heading_deg)
    th = math.radians(min(view.pitch_deg, 0.0))
    sp, cp, st, ct = math.sin(psi), math.cos(psi), math.sin(th), math.cos(th)
    fwd = (sp * ct, cp * ct, st)
    right = (cp, -sp, 0.0)
    up = (-sp * st, -cp * st, ct)  # right x fwd
    t_h = math.tan(math.radians(view.hfov_deg) / 2.0)
    t_v = math.tan(math.radians(view.vfov_deg) / 2.0)
    rows = []
    # inward normals n of the four side planes (a direction d is in view iff n . d >= 0);
    # a ground point p = (x, y, 0) seen from (0, 0, h): n . (x, y, -h) >= 0
    for t, side in ((t_h, right), (t_v, up)):
        for sign in (-1.0, 1.0):
            n = [t * f + sign * s for f, s in zip(fwd, side, strict=True)]
            rows.append((n[0], n[1], n[2] * h))
    return rows


def _clip(
    poly: list[tuple[float, float]], a: float, b: float, c: float
) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of convex ``poly`` where ``a x + b y >= c``."""
    out: list[tuple[float, float]] = []
    n = len(poly)
    for k in range(n):
        p, q = poly[k], poly[(k + 1) % n]
        sp, sq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
        if sp >= 0.0:
            out.append(p)
        if (sp >= 0.0) != (sq >= 0.0):
            t = sp / (sp - sq)
            out.append((p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t))
    return out


@lru_cache(maxsize=32)
def _range_polygon(max_range_m: float) -> tuple[tuple[float, float], ...]:
    r = max_range_m / math.cos(math.pi / RANGE_SEGMENTS)
    ang = np.linspace(0.0, 2.0 * math.pi, RANGE_SEGMENTS, endpoint=False)
    return tuple(zip((r * np.sin(ang)).tolist(), (r * np.cos(ang)).tolist(), strict=True))


def _into_frame(
    view: CameraView, xy: list[tuple[float, float]], frame: LocalFrame
) -> list[tuple[float, float]]:
    """Camera-centred AEQD metres -> ``frame`` metres (exact: azimuth/distance -> geodesic)."""
    pts = np.asarray(xy, dtype=float)
    az_deg = np.degrees(np.arctan2(pts[:, 0], pts[:, 1]))
    dist_m = np.hypot(pts[:, 0], pts[:, 1])
    n = len(pts)
    lons, lats, _ = WGS84.fwd(np.full(n, view.lon_deg), np.full(n, view.lat_deg), az_deg, dist_m)
    x, y = frame.to_local_arrays(np.asarray(lats), np.asarray(lons))
    return list(zip(np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True))


def ground_footprint(
    view: CameraView, *, max_range_m: float, frame: LocalFrame | None = None
) -> GroundFootprint:
    """The flat ground ``view`` sees within ``max_range_m`` horizontally (see module doc).

    Args:
        view: the camera; the ground is flat, ``view.alt_agl_m`` below the lens.
        max_range_m: horizontal range limit in metres, (0, 50 000]; rays that would reach
            the ground farther away, or never (at or above the horizon), are cut there.
        frame: frame of the result; default: centred on the camera.

    Raises:
        VideoSettingsError: ``max_range_m`` is not a number in range.
    """
    rng = _check_range(max_range_m)
    poly = list(_range_polygon(rng))
    for a, b, c in _half_planes(view):
        poly = _clip(poly, a, b, c)
        if len(poly) < 3:
            poly = []
            break
    own = LocalFrame.at(view.lat_deg, view.lon_deg)
    if frame is None or frame == own:
        frame, xy = own, poly
    else:
        xy = _into_frame(view, poly, frame) if poly else []
    return GroundFootprint(view, rng, frame, ShapelyPolygon(xy) if xy else ShapelyPolygon())


def _number(name: str, v: object, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise VideoSettingsError(name, f"{v!r} must be a finite number")
    if not lo <= v <= hi:
        raise VideoSettingsError(name, f"{v!r} must be in [{lo:g}, {hi:g}]")
    return float(v)


def estimate_view(
    lat_deg: float,
    lon_deg: float,
    alt_agl_m: float,
    heading_deg: float,
    *,
    roi: tuple[float, float, float] | None = None,
    default_pitch_deg: float = DEFAULT_PITCH_DEG,
    hfov_deg: float = DEFAULT_HFOV_DEG,
    aspect: float = DEFAULT_ASPECT,
) -> CameraView:
    """A best guess of where a drone's camera looks, for drones that report no gimbal attitude.

    Args:
        lat_deg, lon_deg, alt_agl_m: the drone (height above the ground below it).
        heading_deg: the drone's heading, degrees clockwise from north.
        roi: ``(lat_deg, lon_deg, alt_agl_m)`` of the point the camera is aimed at (e.g. the
            incident an overwatch orbit circles), or None. With one, the camera looks at it
            (geodesic bearing, pitch from the height difference over the distance; straight
            down within :data:`NEAR_ROI_M`); without, along ``heading_deg`` at
            ``default_pitch_deg``.
        default_pitch_deg: -90 = down, 0 = horizon.
        hfov_deg: horizontal field of view.
        aspect: image width / height; the vertical field of view follows from it.

    Raises:
        VideoSettingsError: a value is not finite or out of range (names the field).
    """
    lat = _number("lat_deg", lat_deg, -90.0, 90.0)
    lon = _number("lon_deg", lon_deg, -180.0, 180.0)
    alt = _number("alt_agl_m", alt_agl_m)
    hfov = _number("hfov_deg", hfov_deg, 1.0, 179.0)
    asp = _number("aspect", aspect, 0.1, 10.0)
    vfov = math.degrees(2.0 * math.atan(math.tan(math.radians(hfov) / 2.0) / asp))
    heading = _number("heading_deg", heading_deg) % 360.0
    pitch = _number("default_pitch_deg", default_pitch_deg, -90.0, 90.0)
    if roi is not None:
        if len(roi) != 3:
            raise VideoSettingsError("roi", f"{roi!r} must be (lat_deg, lon_deg, alt_agl_m)")
        target = GeoPoint(
            _number("roi.lat_deg", roi[0], -90.0, 90.0),
            _number("roi.lon_deg", roi[1], -180.0, 180.0),
        )
        rise_m = _number("roi.alt_agl_m", roi[2]) - alt
        az, _, dist = inverse(GeoPoint(lat, lon), target)
        if dist < NEAR_ROI_M:
            pitch = -90.0 if rise_m <= 0 else 90.0
        else:
            heading = az
            pitch = math.degrees(math.atan2(rise_m, dist))
    return CameraView(
        lat_deg=lat,
        lon_deg=lon,
        alt_agl_m=alt,
        heading_deg=heading,
        pitch_deg=max(-90.0, min(90.0, pitch)),
        hfov_deg=hfov,
        vfov_deg=vfov,
    )
