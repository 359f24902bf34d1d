"""Geodesy against published reference values, and local-frame properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight_plans.errors import InvalidCoordinateError, InvalidValueError
from flight_plans.geodesy import (
    GeoPoint,
    LocalFrame,
    bearing_deg,
    destination,
    distance_m,
    inverse,
    path_length_m,
)


def dms(d: int, m: int, s: float) -> float:
    sign = -1.0 if d < 0 else 1.0
    return sign * (abs(d) + m / 60 + s / 3600)


# Geoscience Australia / Vincenty (1975) worked example on the GRS80/WGS84 ellipsoid:
# Flinders Peak to Buninyong, 54 972.271 m, azimuth 306°52'05.37", reverse 127°10'25.07".
FLINDERS = GeoPoint(dms(-37, 57, 3.72030), dms(144, 25, 29.52440))
BUNINYONG = GeoPoint(dms(-37, 39, 10.15610), dms(143, 55, 35.38390))


def test_inverse_matches_flinders_peak_buninyong_reference() -> None:
    fwd, back, dist = inverse(FLINDERS, BUNINYONG)
    assert dist == pytest.approx(54_972.271, abs=0.001)
    assert fwd == pytest.approx(dms(306, 52, 5.37), abs=0.01 / 3600)
    assert back == pytest.approx(dms(127, 10, 25.07), abs=0.01 / 3600)


def test_direct_matches_flinders_peak_buninyong_reference() -> None:
    p = destination(FLINDERS, dms(306, 52, 5.37), 54_972.271)
    assert distance_m(p, BUNINYONG) < 0.005


@pytest.mark.parametrize(
    ("a", "b", "expected_m", "tol_m"),
    [
        # one degree of longitude on the equator: a·π/180 with a = 6 378 137 m
        (GeoPoint(0, 0), GeoPoint(0, 1), 6_378_137 * math.pi / 180, 1e-6),
        # WGS84 meridian quadrant (equator to pole): 10 001 965.729 m
        (GeoPoint(0, 0), GeoPoint(90, 0), 10_001_965.729, 0.001),
        (GeoPoint(47.0, 8.0), GeoPoint(47.0, 8.0), 0.0, 0.0),
    ],
)
def test_distance_reference_values(
    a: GeoPoint, b: GeoPoint, expected_m: float, tol_m: float
) -> None:
    assert distance_m(a, b) == pytest.approx(expected_m, abs=tol_m)


def test_bearing_is_normalised_to_0_360() -> None:
    assert bearing_deg(GeoPoint(0, 0), GeoPoint(0, -1)) == pytest.approx(270.0)
    assert bearing_deg(GeoPoint(0, 0), GeoPoint(1, 0)) == pytest.approx(0.0)


def test_destination_wraps_across_the_antimeridian() -> None:
    p = destination(GeoPoint(0.0, 179.9995), 90.0, 200.0)
    assert -180.0 <= p.lon_deg < -179.99
    assert distance_m(GeoPoint(0.0, 179.9995), p) == pytest.approx(200.0, abs=1e-6)


def test_path_length_sums_segments() -> None:
    pts = [GeoPoint(0, 0), GeoPoint(0, 1), GeoPoint(1, 1)]
    assert path_length_m(pts) == pytest.approx(
        distance_m(pts[0], pts[1]) + distance_m(pts[1], pts[2]), rel=1e-9
    )
    assert path_length_m(pts[:1]) == 0.0


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(91.0, 0.0), (-90.0001, 0.0), (0.0, 180.5), (0.0, -181.0), (math.nan, 0.0), (0.0, math.inf)],
)
def test_geopoint_refuses_bad_coordinates(lat: float, lon: float) -> None:
    with pytest.raises(InvalidCoordinateError) as ei:
        GeoPoint(lat, lon)
    assert ei.value.field in {"lat_deg", "lon_deg"}


def test_destination_refuses_nan_distance() -> None:
    with pytest.raises(InvalidValueError, match="distance_m"):
        destination(GeoPoint(0, 0), 0.0, math.nan)


lat = st.floats(min_value=-80, max_value=80)
lon = st.floats(min_value=-179.9, max_value=179.9)


@settings(max_examples=60, deadline=None)
@given(lat, lon, st.floats(0, 360), st.floats(1, 20_000))
def test_local_frame_distances_from_the_centre_are_geodesic(
    la: float, lo: float, az: float, d: float
) -> None:
    """AEQD: the planar distance from the centre equals the geodesic distance (mm)."""
    c = GeoPoint(la, lo)
    p = destination(c, az, d)
    x, y = LocalFrame(c).to_local(p)
    assert math.hypot(x, y) == pytest.approx(d, abs=1e-3)
    # and azimuths from the centre are preserved: east = d·sin(az), north = d·cos(az)
    assert x == pytest.approx(d * math.sin(math.radians(az)), abs=1e-3)
    assert y == pytest.approx(d * math.cos(math.radians(az)), abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(lat, lon, st.floats(-20_000, 20_000), st.floats(-20_000, 20_000))
def test_local_frame_round_trip(la: float, lo: float, x: float, y: float) -> None:
    f = LocalFrame.at(la, lo)
    p = f.to_geo(x, y)
    x2, y2 = f.to_local(p)
    # PROJ's azimuthal projection snaps points within 1e-10 rad of the centre to it (about
    # 0.64 mm on the ground; y = 61 µm came back 0): compare at 1 mm, which no flight plan
    # can tell apart
    assert (x2, y2) == (pytest.approx(x, abs=1e-3), pytest.approx(y, abs=1e-3))


@settings(max_examples=40, deadline=None)
@given(lat, lon, st.floats(0, 360), st.floats(0, 20_000), st.floats(0, 360), st.floats(0, 10_000))
def test_local_frame_segment_error_is_within_the_stated_bound(
    la: float, lo: float, az1: float, d1: float, az2: float, d2: float
) -> None:
    """A segment within 20 km of the centre is measured with less than 1 m error."""
    c = GeoPoint(la, lo)
    a = destination(c, az1, d1)
    b = destination(a, az2, d2)
    frame = LocalFrame(c)
    (xa, ya), (xb, yb) = frame.to_local_many([a, b])
    planar = math.hypot(xb - xa, yb - ya)
    true = distance_m(a, b)
    reach = max(d1, distance_m(c, b))
    assert abs(planar - true) <= true * LocalFrame.max_scale_error(reach) + 1e-3
    if reach <= 20_000 and true <= 10_000:
        assert abs(planar - true) < 1.0


def test_to_many_and_single_agree() -> None:
    f = LocalFrame.at(47.4, 8.5)
    pts = [GeoPoint(47.41, 8.52), GeoPoint(47.39, 8.47)]
    assert f.to_local_many(pts) == [f.to_local(p) for p in pts]
    assert f.to_geo_many(f.to_local_many(pts))[1].lat_deg == pytest.approx(47.39, abs=1e-12)
    assert f.to_local_many([]) == [] and f.to_geo_many([]) == []
