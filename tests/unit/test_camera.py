"""Camera model: footprint, ground sampling distance, line spacing and trigger distance."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight_plans.camera import CameraModel, Footprint, overlap
from flight_plans.errors import FlightPlanError, InvalidValueError

# A 1" 20 MP camera (13.2 x 8.8 mm sensor, 8.8 mm lens, 5472 x 3648 px).
ONE_INCH = CameraModel(13.2, 8.8, 8.8, 5472, 3648)


@pytest.mark.parametrize(
    ("camera", "height_m", "across_m", "along_m", "gsd_cm_px"),
    [
        # across = h * 13.2 / 8.8, along = h * 8.8 / 8.8, gsd = 100 h * 13.2 / (8.8 * 5472)
        (ONE_INCH, 100.0, 150.0, 100.0, 2.7412280701754386),
        (ONE_INCH, 50.0, 75.0, 50.0, 1.3706140350877193),
        # portrait: the image height lies across the track
        (CameraModel(13.2, 8.8, 8.8, 5472, 3648, landscape=False), 100.0, 100.0, 150.0, 2.7412),
        # round numbers: 10 x 5 mm sensor, 5 mm lens, 4000 x 2000 px
        (CameraModel(10.0, 5.0, 5.0, 4000, 2000), 50.0, 100.0, 50.0, 2.5),
    ],
)
def test_footprint_and_gsd_reference_values(
    camera: CameraModel, height_m: float, across_m: float, along_m: float, gsd_cm_px: float
) -> None:
    """Footprint and GSD match hand-computed pinhole values."""
    fp = camera.footprint(height_m)
    assert fp.across_track_m == pytest.approx(across_m, rel=1e-12)
    assert fp.along_track_m == pytest.approx(along_m, rel=1e-12)
    assert camera.gsd_cm_px(height_m) == pytest.approx(gsd_cm_px, rel=1e-4)


def test_gsd_uses_the_coarser_pixel_axis() -> None:
    """With non-square pixels the reported GSD is the worse of the two axes."""
    cam = CameraModel(10.0, 10.0, 10.0, 1000, 500)  # 10 µm x 20 µm pixels
    assert cam.gsd_cm_px(100.0) == pytest.approx(100.0 * 100.0 * 0.02 / 10.0)


def test_spacing_and_trigger_distance() -> None:
    """Line spacing = across * (1 - side); trigger distance = along * (1 - front)."""
    assert ONE_INCH.line_spacing_m(100.0, 0.7) == pytest.approx(45.0)
    assert ONE_INCH.trigger_distance_m(100.0, 0.8) == pytest.approx(20.0)
    assert ONE_INCH.line_spacing_m(100.0, 0.0) == pytest.approx(150.0)


@settings(max_examples=50, deadline=None)
@given(gsd=st.floats(0.1, 20.0))
def test_height_for_gsd_inverts_gsd(gsd: float) -> None:
    """height_for_gsd_m is the inverse of gsd_cm_px."""
    h = ONE_INCH.height_for_gsd_m(gsd)
    assert ONE_INCH.gsd_cm_px(h) == pytest.approx(gsd, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sensor_width_mm": 0.0}, "sensor_width_mm"),
        ({"sensor_height_mm": -1.0}, "sensor_height_mm"),
        ({"focal_length_mm": math.nan}, "focal_length_mm"),
        ({"focal_length_mm": math.inf}, "focal_length_mm"),
        ({"image_width_px": 0}, "image_width_px"),
        ({"image_height_px": 12.5}, "image_height_px"),
        ({"image_width_px": True}, "image_width_px"),
        ({"landscape": 1}, "landscape"),
    ],
)
def test_invalid_camera_is_refused(kwargs: dict[str, object], field: str) -> None:
    """Each bad camera parameter raises InvalidValueError naming it."""
    args: dict[str, object] = {
        "sensor_width_mm": 13.2,
        "sensor_height_mm": 8.8,
        "focal_length_mm": 8.8,
        "image_width_px": 5472,
        "image_height_px": 3648,
    }
    args.update(kwargs)
    with pytest.raises(InvalidValueError) as exc:
        CameraModel(**args)  # type: ignore[arg-type]
    assert exc.value.field == field
    assert isinstance(exc.value, FlightPlanError)


@pytest.mark.parametrize("value", [1.0, -0.01, 1.5, math.nan, math.inf])
def test_overlap_outside_unit_interval_is_refused(value: float) -> None:
    """Overlaps must lie in [0, 1)."""
    with pytest.raises(InvalidValueError) as exc:
        ONE_INCH.line_spacing_m(100.0, value)
    assert exc.value.field == "side_overlap"
    with pytest.raises(InvalidValueError):
        overlap("front_overlap", value)


@pytest.mark.parametrize("height", [0.0, -10.0, math.nan])
def test_non_positive_height_is_refused(height: float) -> None:
    """A footprint needs a positive height above ground."""
    with pytest.raises(InvalidValueError) as exc:
        ONE_INCH.footprint(height)
    assert exc.value.field == "height_m"


def test_footprint_refuses_non_positive_sizes() -> None:
    """Footprint is a validated value type too."""
    with pytest.raises(InvalidValueError):
        Footprint(across_track_m=0.0, along_track_m=1.0)
