"""The service's video settings refuse what cannot work, at start-up, naming it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mission_control.config import Settings


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("video_sources", {2: "ftp://camera"}, "drone 2: url: 'ftp://camera': unknown scheme"),
        ("video_sources", {0: "rtp://127.0.0.1:5600"}, "drone id 0: must be a MAVLink system id"),
        ("video_sources", {3: "rtp://127.0.0.1:5601"}, "drone 3: port"),
        ("video_sources", {4: "  "}, "drone 4: the source must be a non-empty string"),
        ("video_tiers_px", (), "at least one tier"),
        ("video_tiers_px", (640, 640), "distinct"),
        ("video_tiers_px", (0, 8), "8: a tier is 0 (full size) or a width in 16..7680"),
        ("video_jpeg_quality", 0, "greater than or equal to 1"),
        ("video_jpeg_quality", 101, "less than or equal to 100"),
        ("video_default_pitch_deg", 10.0, "less than or equal to 0"),
        ("video_segment_s", 0.5, "greater than or equal to 1"),
        ("video_retention_days", float("nan"), "less than or equal to 36500"),  # NaN: refused
        ("sim_camera", "webcam", "'none', 'inproc' or 'rtp'"),
    ],
)
def test_bad_video_settings_are_refused_naming_the_setting(
    setting: str, value: Any, says: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{setting: value})
    error = refused.value.errors()[0]
    assert error["loc"][0] == setting
    assert says in str(refused.value)


def test_video_defaults_and_sources_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MC_VIDEO_SOURCES`` is a JSON object of drone id → source URL."""
    monkeypatch.setenv("MC_VIDEO_SOURCES", '{"2": "rtp://0.0.0.0:5600", "3": "sim"}')
    s = Settings()
    assert s.video_sources == {2: "rtp://0.0.0.0:5600", 3: "sim"}
    assert s.video_tiers_px == (0, 640, 320) and s.video_record and not s.video_privacy_faces
