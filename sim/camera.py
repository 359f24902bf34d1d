"""Synthetic camera of the simulated drones: a pinhole camera over a flat procedural city.

Pure rendering — NumPy and OpenCV drawing only, no I/O, no clock: the caller passes the
frame number and the wall-clock time to burn in. The ground (:mod:`sim.camera_scene`) is
a set of polygons in scene metres; each frame they are mapped to pixels by the
ground-to-image homography of the pose (:mod:`sim.camera_model`) and filled with
``cv2.fillPoly`` (:mod:`sim.camera_draw`), so the cost does not depend on the size of the
world. Every frame carries a human-readable overlay (UTC clock with milliseconds, frame
counter, label, position) and a machine-readable stamp (:mod:`sim.camera_stamp`) that
survives H.264 and JPEG compression, for measuring latency and freshness downstream.

Conventions: scene metres x east, y north; heading 0 = north, clockwise; gimbal pitch
-90 = straight down, 0 = horizon; the gimbal is stabilised (no roll), so the horizon is
always a horizontal image line. Pixel ``(u, v)``: u right, v down, centre of the top-left
pixel at (0, 0).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from sim.camera_draw import draw_ground, draw_marker
from sim.camera_model import CameraPose, CameraSpec, View, check_number, project_to_image, view_of
from sim.camera_scene import ASPHALT, PALETTE_BGR, Scene
from sim.camera_stamp import Stamp, decode_stamp, draw_stamp, stamp_box
from sim.errors import SimConfigError

__all__ = [
    "CameraPose",
    "CameraSpec",
    "Scene",
    "Stamp",
    "View",
    "decode_stamp",
    "project_to_image",
    "render",
    "stamp_region",
    "view_of",
]

Image = NDArray[np.uint8]

SKY_BGR: Final = (235, 206, 160)
HAZE_BGR: Final = (200, 196, 188)


def _draw_overlay(
    image: Image, pose: CameraPose, spec: CameraSpec, frame_no: int, wall_time_s: float, label: str
) -> None:
    scale = spec.width_px / 640.0
    utc = datetime.fromtimestamp(wall_time_s, UTC)
    lines = [
        f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d} UTC",
        f"#{frame_no:06d}  {label}".rstrip(),
        f"{pose.lat_deg:.6f} {pose.lon_deg:.6f}  alt {pose.alt_rel_m:.1f} m",
        f"hdg {pose.heading_deg % 360:03.0f}  gimbal {pose.gimbal_pitch_deg:+.0f} "
        f"{pose.gimbal_yaw_deg:+.0f}",
    ]
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.42 * scale, max(1, round(scale))
    step = round(17 * scale)
    width = max(cv2.getTextSize(t, font, size, thick)[0][0] for t in lines)
    cv2.rectangle(image, (0, 0), (width + round(12 * scale), step * len(lines) + round(8 * scale)),
                  (24, 24, 24), -1)  # fmt: skip
    for n, text in enumerate(lines):
        org = (round(6 * scale), step * (n + 1))
        cv2.putText(image, text, org, font, size, (255, 255, 255), thick, cv2.LINE_AA)
    # a crosshair at the optical axis
    cu, cv = spec.width_px // 2, spec.height_px // 2
    arm = round(10 * scale)
    cv2.line(image, (cu - arm, cv), (cu + arm, cv), (255, 255, 255), thick)
    cv2.line(image, (cu, cv - arm), (cu, cv + arm), (255, 255, 255), thick)


def _fill_rows(image: Image, top: int, bottom: int, colour: tuple[int, int, int]) -> None:
    if bottom > top:
        cv2.rectangle(image, (0, top), (image.shape[1] - 1, bottom - 1), colour, -1)


def render(
    scene: Scene,
    pose: CameraPose,
    spec: CameraSpec,
    *,
    frame_no: int,
    wall_time_s: float,
    label: str = "",
) -> Image:
    """Render one frame of the simulated camera.

    Args:
        scene: the ground to look at.
        pose: position and attitude of the camera.
        spec: image size and field of view.
        frame_no: frame counter to burn in (>= 0; the stamp keeps it modulo 2**32).
        wall_time_s: wall-clock capture time, Unix epoch seconds (UTC), burnt in as text
            with milliseconds and into the stamp read by :func:`decode_stamp`.
        label: a short caption such as ``"sys 3"``.

    Returns:
        A new ``(height_px, width_px, 3)`` uint8 BGR image.

    Raises:
        SimConfigError: ``frame_no`` or ``wall_time_s`` is negative or not finite.
    """
    if isinstance(frame_no, bool) or not isinstance(frame_no, int) or frame_no < 0:
        raise SimConfigError("frame_no", frame_no, "must be an integer >= 0")
    wall_time_s = check_number("wall_time_s", wall_time_s, 0.0)
    view = view_of(scene, pose, spec)
    h, w = spec.height_px, spec.width_px
    image = np.empty((h, w, 3), np.uint8)
    horizon = min(h, max(0, math.ceil(view.horizon_v_px)))
    far = min(h, max(horizon, math.ceil(view.far_v_px)))
    # cv2 fills: NumPy broadcasting of a 3-byte colour over a frame costs ~1.5 ms
    _fill_rows(image, 0, horizon, SKY_BGR)
    _fill_rows(image, horizon, h, PALETTE_BGR[ASPHALT])
    draw_ground(image, scene, view, spec)
    _fill_rows(image, horizon, far, HAZE_BGR)
    draw_marker(image, scene, view)
    _draw_overlay(image, pose, spec, frame_no, wall_time_s, label)
    draw_stamp(image, frame_no, round(wall_time_s * 1000.0))
    return image


def stamp_region(spec: CameraSpec) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of the machine-readable stamp in frames of ``spec``."""
    return stamp_box(spec.width_px, spec.height_px)
