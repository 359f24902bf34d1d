"""The burned-in video caption (mission_control.video.overlay)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from mission_control.video.errors import VideoSettingsError
from mission_control.video.overlay import (
    MIN_SCALE,
    OverlayInfo,
    caption_lines,
    draw_overlay,
    overlay_height_px,
)
from tests.video_images import noise_image

T = datetime(2026, 11, 21, 8, 3, 51, 123_000, tzinfo=UTC).timestamp()
INFO = OverlayInfo(
    drone_id=3,
    capture_unix_s=T,
    lat_deg=47.397743,
    lon_deg=8.545594,
    alt_rel_m=60.0,
    alt_amsl_m=548.0,
    heading_deg=45.0,
)


def joined(info: OverlayInfo) -> list[str]:
    return ["  ".join(segments) for segments in caption_lines(info)]


def test_caption_reads_drone_time_position_altitude_heading() -> None:
    assert joined(INFO) == [
        "DRONE 3  2026-11-21 08:03:51.123 UTC",
        "47.397743, 8.545594  alt 60.0 m rel (548.0 m AMSL)  hdg 045",
    ]


def test_caption_without_position_says_so_and_omits_unknowns() -> None:
    info = OverlayInfo(drone_id=12, capture_unix_s=T)
    assert joined(info) == ["DRONE 12  2026-11-21 08:03:51.123 UTC", "position unknown"]
    half = OverlayInfo(12, T, lat_deg=47.0, alt_rel_m=12.34, mission_id="M-7")
    assert joined(half) == [
        "DRONE 12  MISSION M-7  2026-11-21 08:03:51.123 UTC",
        "position unknown  alt 12.3 m rel",
    ]


@pytest.mark.parametrize(
    ("t", "heading", "clock", "hdg"),
    [
        (T + 0.8769, 359.6, "08:03:52.000", "hdg 000"),
        (T - 0.1234, -90.0, "08:03:51.000", "hdg 270"),
        (T + 0.0004, 4.4, "08:03:51.123", "hdg 004"),
    ],
)
def test_time_rounds_to_milliseconds_and_heading_to_whole_degrees(
    t: float, heading: float, clock: str, hdg: str
) -> None:
    first, second = joined(OverlayInfo(1, t, heading_deg=heading))
    assert clock in first
    assert second.endswith(hdg)


@pytest.mark.parametrize(("w", "h"), [(320, 180), (640, 360), (1280, 720), (1920, 1080)])
def test_overlay_draws_in_the_top_band_only(w: int, h: int) -> None:
    before = noise_image(w, h)
    image = before.copy()
    draw_overlay(image, INFO)
    band = overlay_height_px(w, INFO)
    assert 0 < band < h // 3
    changed = np.any(image != before, axis=2)
    assert not changed[band:].any()
    assert changed[:band].mean() > 0.3  # the box is shaded
    # white text on the box
    assert (image[:band].min(axis=2) > 230).sum() > 100


def test_caption_stays_legible_at_320_px_by_wrapping() -> None:
    image = np.zeros((180, 320, 3), np.uint8)
    draw_overlay(image, INFO)
    rows = np.nonzero((image.max(axis=2) > 200).any(axis=1))[0]
    # three lines of text: 8 px capitals or more, within the image
    (_, cap), _ = cv2.getTextSize("H", cv2.FONT_HERSHEY_SIMPLEX, MIN_SCALE, 1)
    assert cap >= 7
    runs = np.split(rows, np.nonzero(np.diff(rows) > 1)[0] + 1)
    assert len(runs) == 3
    assert all(len(r) >= cap - 2 >= 7 for r in runs)  # bright core of anti-aliased glyphs
    cols = np.nonzero((image.max(axis=2) > 200).any(axis=0))[0]
    assert cols.max() < 320 - 2


def test_caption_scales_with_width() -> None:
    assert overlay_height_px(1920, INFO) > 1.5 * overlay_height_px(640, INFO)


def test_draw_overlay_refuses_read_only_or_non_bgr_images() -> None:
    ro = np.zeros((100, 200, 3), np.uint8)
    ro.flags.writeable = False
    with pytest.raises(VideoSettingsError) as e:
        draw_overlay(ro, INFO)
    assert e.value.field == "image"
    with pytest.raises(VideoSettingsError):
        draw_overlay(np.zeros((100, 200), np.uint8), INFO)


def test_tiny_images_are_not_overrun() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    draw_overlay(image, INFO)  # clipped to the image, no error
    assert image.any()


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("drone_id", {"drone_id": -1}),
        ("drone_id", {"drone_id": True}),
        ("capture_unix_s", {"capture_unix_s": math.nan}),
        ("lat_deg", {"lat_deg": 91.0}),
        ("lon_deg", {"lon_deg": math.inf}),
        ("alt_rel_m", {"alt_rel_m": math.nan}),
        ("heading_deg", {"heading_deg": math.nan}),
        ("mission_id", {"mission_id": 5}),
    ],
)
def test_overlay_info_refuses_bad_values_naming_the_field(
    field: str, kw: dict[str, object]
) -> None:
    args: dict[str, object] = {"drone_id": 1, "capture_unix_s": T, **kw}
    with pytest.raises(VideoSettingsError) as e:
        OverlayInfo(**args)  # type: ignore[arg-type]
    assert e.value.field == field
