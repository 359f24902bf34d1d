"""Camera ground footprints and guessed camera views (mission_control.video.footprint)."""

from __future__ import annotations

import math

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from flight_plans.geodesy import GeoPoint, LocalFrame, destination, inverse
from mission_control.video.errors import VideoSettingsError
from mission_control.video.footprint import (
    RANGE_SEGMENTS,
    estimate_view,
    ground_footprint,
)
from mission_control.video.frames import CameraView

HOME = GeoPoint(47.397743, 8.545594)
SLACK = 1.0 / math.cos(math.pi / RANGE_SEGMENTS)  # the range polygon circumscribes the circle


def view(**kw: float) -> CameraView:
    args = {
        "lat_deg": HOME.lat_deg,
        "lon_deg": HOME.lon_deg,
        "alt_agl_m": 100.0,
        "heading_deg": 0.0,
        "pitch_deg": -90.0,
        "hfov_deg": 90.0,
        "vfov_deg": 90.0,
    }
    args.update(kw)
    return CameraView(**args)


def along_across(points: list[GeoPoint], heading_deg: float) -> list[tuple[float, float]]:
    """Each point's (ahead, right) metres from HOME, from geodesic distance and azimuth."""
    out = []
    for p in points:
        az, _, d = inverse(HOME, p)
        rel = math.radians(az - heading_deg)
        out.append((d * math.cos(rel), d * math.sin(rel)))
    return out


def test_nadir_camera_at_100_m_with_90_degree_fov_sees_a_200_m_square() -> None:
    fp = ground_footprint(view(), max_range_m=500.0)
    x0, y0, x1, y1 = fp.polygon.bounds
    assert (x0, y0, x1, y1) == pytest.approx((-100.0, -100.0, 100.0, 100.0), abs=1e-6)
    geo = fp.to_geo()
    assert geo is not None
    # the same on the ellipsoid: geodesic distances between neighbouring corners
    ring = geo.exterior
    sides = [inverse(ring[k], ring[(k + 1) % 4])[2] for k in range(4)]
    assert sides == pytest.approx([200.0] * 4, abs=0.01)
    assert geo.area_m2() == pytest.approx(40_000.0, rel=1e-4)


def test_nadir_footprint_with_a_16_9_camera_is_a_rectangle_across_the_heading() -> None:
    v = estimate_view(HOME.lat_deg, HOME.lon_deg, 60.0, 0.0, default_pitch_deg=-90.0)
    fp = ground_footprint(v, max_range_m=500.0)
    x0, y0, x1, y1 = fp.polygon.bounds
    half_w = 60.0 * math.tan(math.radians(40.0))
    half_h = 60.0 * math.tan(math.radians(v.vfov_deg / 2))
    assert (x0, x1) == pytest.approx((-half_w, half_w))
    assert (y0, y1) == pytest.approx((-half_h, half_h))
    assert half_w / half_h == pytest.approx(16 / 9)


def test_camera_pitched_45_down_sees_a_trapezoid_ahead_along_the_heading() -> None:
    h, hfov, vfov, heading = 100.0, 90.0, 60.0, 30.0
    fp = ground_footprint(
        view(alt_agl_m=h, pitch_deg=-45.0, hfov_deg=hfov, vfov_deg=vfov, heading_deg=heading),
        max_range_m=2_000.0,
    )
    geo = fp.to_geo()
    assert geo is not None and len(geo.exterior) == 4
    pts = sorted(along_across(list(geo.exterior), heading))
    th, t_v, t_h = math.radians(-45.0), math.tan(math.radians(vfov / 2)), 1.0
    near = h / math.tan(math.radians(45 + vfov / 2))  # 26.79 m
    far = h / math.tan(math.radians(45 - vfov / 2))  # 373.21 m
    near_half = h * t_h / (-math.sin(th) + t_v * math.cos(th))  # 89.66 m
    far_half = h * t_h / (-math.sin(th) - t_v * math.cos(th))  # 334.61 m
    expected = [(near, -near_half), (near, near_half), (far, -far_half), (far, far_half)]
    for (a, c), (ea, ec) in zip(pts, expected, strict=True):
        assert a == pytest.approx(ea, abs=0.01)
        assert c == pytest.approx(ec, abs=0.01)
    assert near == pytest.approx(26.79, abs=0.01) and far == pytest.approx(373.21, abs=0.01)


def test_camera_looking_at_the_horizon_is_cut_at_max_range() -> None:
    h, vfov = 50.0, 40.0
    fp = ground_footprint(
        view(alt_agl_m=h, pitch_deg=0.0, heading_deg=90.0, hfov_deg=80.0, vfov_deg=vfov),
        max_range_m=800.0,
    )
    assert 800.0 <= fp.reach_m() <= 800.0 * SLACK + 1e-6
    x0, _, x1, _ = fp.polygon.bounds
    assert x0 == pytest.approx(h / math.tan(math.radians(vfov / 2)))  # nearest ground seen
    assert x1 == pytest.approx(800.0 * SLACK)
    assert fp.polygon.contains(Point(790.0, 0.0))  # far out along the heading (east)
    assert fp.polygon.contains(Point(780.0 * math.cos(0.6), 780.0 * math.sin(0.6)))
    assert not fp.polygon.contains(Point(0.0, 100.0))


def test_camera_pitched_above_the_horizon_is_taken_as_looking_at_it() -> None:
    up = ground_footprint(view(pitch_deg=35.0, vfov_deg=60.0), max_range_m=600.0)
    level = ground_footprint(view(pitch_deg=0.0, vfov_deg=60.0), max_range_m=600.0)
    assert not up.is_empty
    assert up.polygon.equals(level.polygon)


def test_ground_only_beyond_max_range_gives_an_empty_footprint() -> None:
    fp = ground_footprint(view(alt_agl_m=1_000.0, pitch_deg=0.0, vfov_deg=10.0), max_range_m=500.0)
    assert fp.is_empty and fp.reach_m() == 0.0 and fp.to_geo() is None


def test_camera_on_the_ground_still_has_a_small_footprint() -> None:
    fp = ground_footprint(view(alt_agl_m=-3.0), max_range_m=500.0)
    assert fp.polygon.area == pytest.approx(1.0)  # held at 0.5 m: 1 m x 1 m


@pytest.mark.parametrize("heading", [0.0, 17.0, 90.0, 200.5, 359.0, -45.0])
def test_heading_rotates_the_footprint_clockwise(heading: float) -> None:
    base = ground_footprint(view(pitch_deg=-60.0, vfov_deg=50.0), max_range_m=5_000.0)
    turned = ground_footprint(
        view(pitch_deg=-60.0, vfov_deg=50.0, heading_deg=heading), max_range_m=5_000.0
    )
    expected = shapely.affinity.rotate(base.polygon, -heading, origin=(0.0, 0.0))
    assert turned.polygon.symmetric_difference(expected).area < 1e-6 * expected.area


def test_footprint_in_another_frame_is_the_same_ground() -> None:
    v = view(pitch_deg=-50.0, heading_deg=120.0, vfov_deg=60.0)
    own = ground_footprint(v, max_range_m=700.0)
    far_frame = LocalFrame(destination(HOME, 300.0, 1_500.0))
    moved = ground_footprint(v, max_range_m=700.0, frame=far_frame)
    assert moved.frame == far_frame
    assert own.frame == LocalFrame(GeoPoint(v.lat_deg, v.lon_deg))
    a, b = own.to_geo(), moved.to_geo()
    assert a is not None and b is not None
    for p, q in zip(a.exterior, b.exterior, strict=True):
        assert inverse(p, q)[2] < 0.005
    assert moved.reach_m() > 1_000.0  # distances from the other frame's centre


@settings(max_examples=150, deadline=None)
@given(
    alt=st.floats(1.0, 3_000.0),
    heading=st.floats(-720.0, 720.0),
    pitch=st.floats(-90.0, 90.0),
    hfov=st.floats(5.0, 170.0),
    vfov=st.floats(5.0, 170.0),
    rng=st.floats(10.0, 20_000.0),
)
def test_footprint_is_a_valid_convex_polygon_within_range_around_the_aim_point(
    alt: float, heading: float, pitch: float, hfov: float, vfov: float, rng: float
) -> None:
    v = view(alt_agl_m=alt, heading_deg=heading, pitch_deg=pitch, hfov_deg=hfov, vfov_deg=vfov)
    fp = ground_footprint(v, max_range_m=rng)
    assert fp.reach_m() <= rng * SLACK * (1 + 1e-9)
    if fp.is_empty:
        return
    assert fp.polygon.is_valid
    assert fp.polygon.convex_hull.area == pytest.approx(fp.polygon.area, rel=1e-9, abs=1e-6)
    # where the centre of the image meets the ground (if it does, within range)
    th = math.radians(min(pitch, 0.0))
    if th < -1e-3:
        d = alt / math.tan(-th)
        if d < 0.99 * rng:
            psi = math.radians(heading)
            aim = Point(d * math.sin(psi), d * math.cos(psi))
            assert fp.polygon.buffer(1e-6 * (1 + d)).contains(aim)


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("alt_agl_m", {"alt_agl_m": math.nan}),
        ("pitch_deg", {"pitch_deg": -91.0}),
        ("heading_deg", {"heading_deg": math.inf}),
        ("hfov_deg", {"hfov_deg": 0.0}),
        ("lat_deg", {"lat_deg": 91.0}),
    ],
)
def test_camera_view_refuses_bad_values_naming_the_field(field: str, kw: dict[str, float]) -> None:
    with pytest.raises(VideoSettingsError) as e:
        view(**kw)
    assert e.value.field == field


@pytest.mark.parametrize("rng", [0.0, -5.0, math.nan, math.inf, 60_000.0])
def test_max_range_must_be_a_positive_number(rng: float) -> None:
    with pytest.raises(VideoSettingsError) as e:
        ground_footprint(view(), max_range_m=rng)
    assert e.value.field == "max_range_m"


def test_estimated_view_without_roi_uses_heading_and_default_pitch() -> None:
    v = estimate_view(HOME.lat_deg, HOME.lon_deg, 80.0, 370.0)
    assert (v.heading_deg, v.pitch_deg, v.hfov_deg) == pytest.approx((10.0, -45.0, 80.0))
    assert v.vfov_deg == pytest.approx(
        2 * math.degrees(math.atan(math.tan(math.radians(40)) * 9 / 16))
    )
    v2 = estimate_view(
        HOME.lat_deg, HOME.lon_deg, 80.0, 0.0, default_pitch_deg=-20.0, hfov_deg=60.0, aspect=4 / 3
    )
    assert v2.pitch_deg == -20.0
    assert v2.vfov_deg == pytest.approx(
        2 * math.degrees(math.atan(math.tan(math.radians(30)) * 3 / 4))
    )


def test_estimated_view_aims_at_the_roi() -> None:
    incident = destination(HOME, 250.0, 400.0)
    v = estimate_view(
        HOME.lat_deg, HOME.lon_deg, 100.0, 0.0, roi=(incident.lat_deg, incident.lon_deg, 0.0)
    )
    assert v.heading_deg == pytest.approx(250.0, abs=1e-6)
    assert v.pitch_deg == pytest.approx(-math.degrees(math.atan2(100.0, 400.0)), abs=1e-6)
    # the ROI is where the centre of the image meets the ground, so it is in the footprint
    fp = ground_footprint(v, max_range_m=1_000.0)
    assert fp.polygon.contains(Point(fp.frame.to_local(incident)))


def test_estimated_view_straight_above_the_roi_looks_down() -> None:
    v = estimate_view(
        HOME.lat_deg, HOME.lon_deg, 60.0, 123.0, roi=(HOME.lat_deg, HOME.lon_deg, 0.0)
    )
    assert v.pitch_deg == -90.0 and v.heading_deg == 123.0


@pytest.mark.parametrize(
    ("field", "args", "kw"),
    [
        ("lat_deg", (math.nan, 8.0, 50.0, 0.0), {}),
        ("alt_agl_m", (47.0, 8.0, math.inf, 0.0), {}),
        ("heading_deg", (47.0, 8.0, 50.0, math.nan), {}),
        ("aspect", (47.0, 8.0, 50.0, 0.0), {"aspect": 0.0}),
        ("hfov_deg", (47.0, 8.0, 50.0, 0.0), {"hfov_deg": 180.0}),
        ("default_pitch_deg", (47.0, 8.0, 50.0, 0.0), {"default_pitch_deg": -100.0}),
        ("roi.lat_deg", (47.0, 8.0, 50.0, 0.0), {"roi": (95.0, 8.0, 0.0)}),
        ("roi.alt_agl_m", (47.0, 8.0, 50.0, 0.0), {"roi": (47.0, 8.0, math.nan)}),
    ],
)
def test_estimate_view_refuses_bad_values_naming_the_field(
    field: str, args: tuple[float, float, float, float], kw: dict[str, object]
) -> None:
    with pytest.raises(VideoSettingsError) as e:
        estimate_view(*args, **kw)  # type: ignore[arg-type]
    assert e.value.field == field
