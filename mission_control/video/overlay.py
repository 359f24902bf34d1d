"""The burned-in caption of relayed video: which drone, when, where.

A dark, translucent box in the top-left corner with two lines, e.g.::

    DRONE 3  2026-11-21 08:03:51.123 UTC
    47.397743, 8.545594  alt 60.0 m rel (548.0 m AMSL)  hdg 045

The text scales with the image width; on narrow images (320 px) a line that does not fit
wraps at its double-space separators, so the font never gets too small to read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import cv2
import numpy as np

from mission_control.video.errors import VideoSettingsError
from mission_control.video.frames import Image

__all__ = ["OverlayInfo", "caption_lines", "draw_overlay", "overlay_height_px"]

FONT: Final = cv2.FONT_HERSHEY_SIMPLEX
MIN_SCALE: Final = 0.36
"""Smallest font scale (cap height ≈ 8 px): still legible on a 320 px wide image."""
SCALE_PER_PX: Final = 0.55 / 1280.0
"""Font scale per pixel of image width (0.55 at 1280 px)."""
SEPARATOR: Final = "  "
TEXT_BGR: Final = (255, 255, 255)
SHADE: Final = 0.35
"""Brightness kept under the box."""


def _opt_number(name: str, v: float | None, lo: float, hi: float) -> None:
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise VideoSettingsError(name, f"{v!r} must be a finite number or None")
    if not lo <= v <= hi:
        raise VideoSettingsError(name, f"{v!r} must be in [{lo:g}, {hi:g}]")


@dataclass(frozen=True, slots=True)
class OverlayInfo:
    """What the caption says.

    Attributes:
        drone_id: MAVLink system id.
        capture_unix_s: capture time, Unix seconds (shown in UTC, milliseconds).
        lat_deg, lon_deg: WGS84 position; None (either) shows "position unknown".
        alt_rel_m: height above home; None omits the altitude.
        alt_amsl_m: height above mean sea level, shown in brackets when known.
        heading_deg: degrees clockwise from north, when known.
        mission_id: the mission being flown, when any.

    Raises:
        VideoSettingsError: a value is not finite or out of range (names the field).
    """

    drone_id: int
    capture_unix_s: float
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_rel_m: float | None = None
    alt_amsl_m: float | None = None
    heading_deg: float | None = None
    mission_id: str | None = None

    def __post_init__(self) -> None:
        d = self.drone_id
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 2**32 - 1:
            raise VideoSettingsError("drone_id", f"{d!r} must be an integer in [0, 2^32)")
        t = self.capture_unix_s
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise VideoSettingsError("capture_unix_s", f"{t!r} must be a finite number")
        if not 0.0 <= t < 253_402_300_800.0:  # year 10000
            raise VideoSettingsError("capture_unix_s", f"{t!r} is not a plausible time")
        _opt_number("lat_deg", self.lat_deg, -90.0, 90.0)
        _opt_number("lon_deg", self.lon_deg, -180.0, 180.0)
        _opt_number("alt_rel_m", self.alt_rel_m, -100_000.0, 100_000.0)
        _opt_number("alt_amsl_m", self.alt_amsl_m, -100_000.0, 100_000.0)
        _opt_number("heading_deg", self.heading_deg, -720.0, 720.0)
        if self.mission_id is not None and not isinstance(self.mission_id, str):
            raise VideoSettingsError("mission_id", f"{self.mission_id!r} must be text or None")


def _utc_ms(unix_s: float) -> str:
    ms_total = round(unix_s * 1000.0)
    s, ms = divmod(ms_total, 1000)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{ms:03d} UTC"


def caption_lines(info: OverlayInfo) -> list[list[str]]:
    """The caption as lines of segments (a line shows its segments joined by two spaces)."""
    first = [f"DRONE {info.drone_id}"]
    if info.mission_id:
        first.append(f"MISSION {info.mission_id[:24]}")
    first.append(_utc_ms(info.capture_unix_s))
    second: list[str] = []
    if info.lat_deg is None or info.lon_deg is None:
        second.append("position unknown")
    else:
        second.append(f"{info.lat_deg:.6f}, {info.lon_deg:.6f}")
    if info.alt_rel_m is not None:
        alt = f"alt {info.alt_rel_m:.1f} m rel"
        if info.alt_amsl_m is not None:
            alt += f" ({info.alt_amsl_m:.1f} m AMSL)"
        second.append(alt)
    elif info.alt_amsl_m is not None:
        second.append(f"alt {info.alt_amsl_m:.1f} m AMSL")
    if info.heading_deg is not None:
        second.append(f"hdg {round(info.heading_deg) % 360:03d}")
    return [first, second]


def _layout(width_px: int, info: OverlayInfo) -> tuple[float, int, list[str]]:
    """Font scale, thickness and the wrapped lines for an image ``width_px`` wide."""
    scale = max(MIN_SCALE, width_px * SCALE_PER_PX)
    thick = 1 if scale < 0.8 else 2
    room = width_px - 2 * _pad(scale)
    out: list[str] = []
    for segments in caption_lines(info):
        line = ""
        for seg in segments:
            trial = f"{line}{SEPARATOR}{seg}" if line else seg
            if line and cv2.getTextSize(trial, FONT, scale, thick)[0][0] > room:
                out.append(line)
                line = seg
            else:
                line = trial
        out.append(line)
    return scale, thick, out


def _pad(scale: float) -> int:
    return max(3, round(12 * scale))


def overlay_height_px(width_px: int, info: OverlayInfo) -> int:
    """Height of the caption box drawn on an image ``width_px`` wide."""
    scale, thick, lines = _layout(width_px, info)
    _, line_h = _line_metrics(scale, thick)
    return 2 * _pad(scale) + line_h * len(lines) - (line_h - _cap_h(scale, thick))


def _cap_h(scale: float, thick: int) -> int:
    (_, h), base = cv2.getTextSize("Hg", FONT, scale, thick)
    return int(h + base)


def _line_metrics(scale: float, thick: int) -> tuple[int, int]:
    (_, h), base = cv2.getTextSize("Hg", FONT, scale, thick)
    return int(h), int(h + base + max(2, round(h * 0.45)))


def draw_overlay(image: Image, info: OverlayInfo) -> None:
    """Burn the caption of ``info`` into the top-right corner of ``image``, in place.

    Top right: cameras (the simulated one included) put their own on-screen display in
    the top-left corner, and their machine-readable stamps at the bottom.

    Only the caption box (at most the full width, :func:`overlay_height_px` high, capped
    at the image height) changes.

    Raises:
        VideoSettingsError: ``image`` is not a writable ``(H, W, 3)`` uint8 array.
    """
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        raise VideoSettingsError("image", "must be an (H, W, 3) uint8 BGR array")
    if not image.flags.writeable:
        raise VideoSettingsError("image", "is read-only: draw on a copy")
    h, w = image.shape[:2]
    scale, thick, lines = _layout(w, info)
    pad = _pad(scale)
    text_h, line_h = _line_metrics(scale, thick)
    box_w = max(cv2.getTextSize(t, FONT, scale, thick)[0][0] for t in lines) + 2 * pad
    box_h = overlay_height_px(w, info)
    box = image[: min(h, box_h), max(0, w - box_w) :]
    cv2.addWeighted(box, SHADE, box, 0.0, 0.0, dst=box)
    y = pad + text_h
    for text in lines:
        if y - text_h >= box.shape[0]:
            break
        cv2.putText(box, text, (pad, y), FONT, scale, TEXT_BGR, thick, cv2.LINE_AA)
        y += line_h
