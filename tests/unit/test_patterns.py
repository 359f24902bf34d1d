"""Mission patterns: orbit, hover, expanding square, sector search, perimeter, take-off/RTL.

The photo survey has its own file (test_survey.py).
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPoint, Point
from shapely.geometry import Polygon as ShapelyPolygon

from flight_plans.errors import FlightPlanError, InvalidValueError
from flight_plans.geodesy import (
    WGS84,
    GeoPoint,
    LocalFrame,
    bearing_deg,
    destination,
    distance_m,
    inverse,
    path_length_m,
)
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, MavFrame, Mission, MissionItem
from flight_plans.patterns import (
    MIN_ORBIT_POINTS,
    expanding_square,
    hover,
    orbit,
    orbit_points_per_turn,
    perimeter,
    sector_search,
    with_takeoff_and_rtl,
)

# -- helpers -----------------------------------------------------------------------------------


def waypoints(m: Mission) -> list[MissionItem]:
    return [it for it in m if it.command == MavCmd.NAV_WAYPOINT]


def wp_points(m: Mission) -> list[GeoPoint]:
    return [GeoPoint(it.lat_deg, it.lon_deg) for it in waypoints(m)]


def turn_deg(a: GeoPoint, b: GeoPoint, c: GeoPoint) -> float:
    """Signed course change at ``b`` (right positive), in (-180, 180]: departure azimuth of
    b->c minus arrival azimuth of a->b."""
    _, back, _ = inverse(a, b)
    arrival = (back + 180.0) % 360.0
    return (bearing_deg(b, c) - arrival + 180.0) % 360.0 - 180.0


def ccw_delta(a: float, b: float) -> float:
    """(b - a) mod 360 in [0, 360)."""
    return (b - a) % 360.0


def angle_diff(a: float, b: float) -> float:
    """Smallest absolute difference between two angles in degrees."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def assert_round_trips_through_mavlink(m: Mission) -> None:
    """The fragment is uploadable: every item fits MISSION_ITEM_INT and reads back the same
    (positions to the degE7 quantum)."""
    back = Mission.from_mavlink(m.to_mavlink())
    assert [(int(a.command), a.frame) for a in back] == [(int(b.command), b.frame) for b in m]
    for a, b in zip(back, m, strict=True):
        assert a.alt_m == b.alt_m
        assert a.lat_deg == pytest.approx(b.lat_deg, abs=1e-7, nan_ok=True)
        assert a.lon_deg == pytest.approx(b.lon_deg, abs=1e-7, nan_ok=True)


latitudes = st.one_of(st.floats(-75.0, 75.0), st.sampled_from([70.0, -70.0, 0.0]))
longitudes = st.one_of(st.floats(-180.0, 180.0), st.floats(179.9, 180.0), st.floats(-180.0, -179.9))
points = st.builds(GeoPoint, latitudes, longitudes)

CENTER = GeoPoint(47.3769, 8.5417)


# -- orbit -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("radius_m", "error_m", "expected"),
    [
        (100.0, 1.0, 23),  # 100 (1 - cos(pi/22)) = 1.018 > 1; pi/23 gives 0.932
        (1000.0, 1.0, 71),
        (2000.0, 0.5, 141),
        (50.0, 10.0, MIN_ORBIT_POINTS),  # tolerance so loose the minimum rules
        (20.0, 30.0, MIN_ORBIT_POINTS),
    ],
)
def test_orbit_points_per_turn_reference(radius_m: float, error_m: float, expected: int) -> None:
    """Points per turn is the smallest n (>= 8) whose chord sagitta is within tolerance."""
    assert orbit_points_per_turn(radius_m, error_m) == expected


@settings(max_examples=200, deadline=None)
@given(radius=st.floats(20.0, 2000.0), error=st.floats(0.05, 5.0))
def test_orbit_points_per_turn_is_minimal(radius: float, error: float) -> None:
    """n meets the sagitta bound and n - 1 would not (unless n is the minimum)."""
    n = orbit_points_per_turn(radius, error)
    assert radius * (1 - math.cos(math.pi / n)) <= error * (1 + 1e-12)
    if n > MIN_ORBIT_POINTS:
        assert radius * (1 - math.cos(math.pi / (n - 1))) > error


def test_orbit_item_sequence_reference() -> None:
    """ROI on the centre at ground level, gimbal at the depression angle, entry waypoint,
    speed, waypoints on the circle, ROI off — all positional items relative to home."""
    m = orbit(CENTER, radius_m=100.0, alt_rel_m=40.0, turns=1, speed_m_s=6.0)
    cmds = [int(it.command) for it in m]
    assert cmds[:4] == [195, 1000, 16, 178]
    assert cmds[4:-1] == [16] * 23
    assert cmds[-1] == 197
    roi, gimbal, _entry, speed = m.items[:4]
    assert roi.frame is MavFrame.GLOBAL_RELATIVE_ALT
    assert (roi.lat_deg, roi.lon_deg, roi.alt_m) == (CENTER.lat_deg, CENTER.lon_deg, 0.0)
    assert gimbal.param1 == pytest.approx(-math.degrees(math.atan(40.0 / 100.0)))
    assert math.isnan(gimbal.param2) and math.isnan(gimbal.param3) and math.isnan(gimbal.param4)
    assert (gimbal.lat_deg, gimbal.lon_deg, gimbal.alt_m) == (0.0, 0.0, 0.0)  # flags, -, device
    assert (speed.param1, speed.param2, speed.param3) == (1.0, 6.0, -1.0)
    assert m.items[-1].frame is MavFrame.MISSION
    for it in waypoints(m):
        assert it.frame is MavFrame.GLOBAL_RELATIVE_ALT
        assert it.alt_m == 40.0
    # one full turn: 23 steps from the entry point back to it; entry due north by default
    pts = wp_points(m)
    assert len(pts) == 24
    assert distance_m(pts[0], pts[-1]) < 1e-6
    assert angle_diff(bearing_deg(CENTER, pts[0]), 0.0) < 1e-6
    assert_round_trips_through_mavlink(m)


def test_orbit_gimbal_pitch_given_and_roi_altitude() -> None:
    """An explicit pitch is used as is; the default accounts for the ROI altitude."""
    m = orbit(CENTER, radius_m=50.0, alt_rel_m=60.0, turns=1, gimbal_pitch_deg=-45.0)
    assert m.items[1].param1 == -45.0
    m = orbit(CENTER, radius_m=50.0, alt_rel_m=60.0, turns=1, roi_alt_rel_m=10.0)
    assert m.items[0].alt_m == 10.0
    assert m.items[1].param1 == pytest.approx(-45.0)


@settings(max_examples=60, deadline=None)
@given(
    center=points,
    radius=st.floats(20.0, 2000.0),
    error=st.floats(0.2, 5.0),
    turns=st.floats(0.3, 2.5),
    clockwise=st.booleans(),
)
def test_orbit_waypoints_on_circle_chords_within_tolerance_and_direction(
    center: GeoPoint, radius: float, error: float, turns: float, clockwise: bool
) -> None:
    """Every waypoint is radius_m from the centre (geodesic), every chord's midpoint within
    max_chord_error_m of the circle, bearings step the same way by 360/n, at least the
    requested number of turns are flown."""
    m = orbit(
        center,
        radius_m=radius,
        alt_rel_m=50.0,
        turns=turns,
        clockwise=clockwise,
        max_chord_error_m=error,
    )
    pts = wp_points(m)
    n = orbit_points_per_turn(radius, error)
    for p in pts:
        assert abs(distance_m(center, p) - radius) < 0.5
        assert abs(distance_m(center, p) - radius) < 1e-3  # geodesic placement is exact
    for a, b in itertools.pairwise(pts):
        az, _, d = WGS84.inv(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg)
        mlon, mlat, _ = WGS84.fwd(a.lon_deg, a.lat_deg, az, d / 2.0)
        mid_r = distance_m(center, GeoPoint(mlat, ((mlon + 180.0) % 360.0) - 180.0))
        assert radius - error - 1e-3 <= mid_r <= radius + 1e-6
    bearings = [bearing_deg(center, p) for p in pts]
    step = 360.0 / n
    for b0, b1 in itertools.pairwise(bearings):
        delta = ccw_delta(b0, b1) if clockwise else ccw_delta(b1, b0)
        assert delta == pytest.approx(step, abs=1e-6)
    swept = step * (len(pts) - 1)
    assert turns * 360.0 - 1e-6 <= swept < turns * 360.0 + step + 1e-6
    # acceptance radius keeps the corner cut (a * sin(turn)) within the tolerance
    turn = math.radians(step)
    chord = 2 * radius * math.sin(math.pi / n)
    for it in waypoints(m):
        assert 0.0 < it.param2 <= chord / 2 + 1e-6
        assert it.param2 * math.sin(turn) <= error * (1 + 1e-6)


def test_orbit_counter_clockwise_mirrors_clockwise() -> None:
    """The second waypoint of a counter-clockwise orbit is the mirror image (west of north)."""
    cw = wp_points(orbit(CENTER, radius_m=200.0, alt_rel_m=40.0, turns=1))
    ccw = wp_points(orbit(CENTER, radius_m=200.0, alt_rel_m=40.0, turns=1, clockwise=False))
    assert bearing_deg(CENTER, cw[1]) == pytest.approx(360.0 / len(cw[1:]), abs=1e-6)
    assert bearing_deg(CENTER, ccw[1]) == pytest.approx(360.0 - 360.0 / len(ccw[1:]), abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(entry_bearing=st.floats(0.0, 359.9), entry_dist=st.floats(300.0, 5000.0))
def test_orbit_starts_at_circle_point_nearest_entry(
    entry_bearing: float, entry_dist: float
) -> None:
    """The entry waypoint is the circle point nearest entry_from (on the radial towards it)."""
    entry = destination(CENTER, entry_bearing, entry_dist)
    m = orbit(CENTER, radius_m=150.0, alt_rel_m=40.0, turns=1, entry_from=entry)
    first = wp_points(m)[0]
    assert distance_m(first, entry) == pytest.approx(entry_dist - 150.0, abs=0.01)


def test_orbit_turns_from_time_on_station() -> None:
    """Time on station at speed gives the flown length; rounded up to the next waypoint."""
    r, v, t = 100.0, 5.0, 300.0
    m = orbit(CENTER, radius_m=r, alt_rel_m=40.0, time_on_station_s=t, speed_m_s=v)
    pts = wp_points(m)
    n = orbit_points_per_turn(r, 1.0)
    chord = 2 * r * math.sin(math.pi / n)
    flown_m = path_length_m(pts)  # geodesic, from the entry point round the circle
    assert t * v - 0.01 <= flown_m < t * v + chord + 0.01
    # 1500 m on a 100 m circle is about 2.4 turns: more than two turns of waypoints
    assert len(pts) - 1 > 2 * n


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"radius_m": 0.0, "turns": 1}, "radius_m"),
        ({"radius_m": -5.0, "turns": 1}, "radius_m"),
        ({"radius_m": math.nan, "turns": 1}, "radius_m"),
        ({"radius_m": math.inf, "turns": 1}, "radius_m"),
        ({"turns": 0}, "turns"),
        ({"turns": -1.0}, "turns"),
        ({"turns": math.nan}, "turns"),
        ({}, "turns"),  # neither turns nor time
        ({"turns": 1, "time_on_station_s": 60.0}, "turns"),  # both
        ({"time_on_station_s": 0.0}, "time_on_station_s"),
        ({"time_on_station_s": math.inf}, "time_on_station_s"),
        ({"turns": 1, "alt_rel_m": 0.0}, "alt_rel_m"),
        ({"turns": 1, "alt_rel_m": -10.0}, "alt_rel_m"),
        ({"turns": 1, "speed_m_s": 0.0}, "speed_m_s"),
        ({"turns": 1, "max_chord_error_m": 0.0}, "max_chord_error_m"),
        ({"turns": 1, "gimbal_pitch_deg": -120.0}, "gimbal_pitch_deg"),
        ({"turns": 1, "roi_alt_rel_m": math.nan}, "roi_alt_rel_m"),
    ],
)
def test_orbit_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad orbit input raises a typed error naming the field."""
    args: dict[str, object] = {"radius_m": 100.0, "alt_rel_m": 40.0}
    args.update(kwargs)
    with pytest.raises(InvalidValueError) as exc:
        orbit(CENTER, **args)  # type: ignore[arg-type]
    assert exc.value.field == field


# -- hover ---------------------------------------------------------------------------------------


def test_hover_unlimited_over_the_point_looks_straight_down() -> None:
    """No time: NAV_LOITER_UNLIM over the point, ROI on it, gimbal -90°."""
    m = hover(CENTER, alt_rel_m=50.0)
    assert [int(it.command) for it in m] == [195, 1000, 17, 197]
    loiter = m.items[2]
    assert (loiter.lat_deg, loiter.lon_deg, loiter.alt_m) == (CENTER.lat_deg, CENTER.lon_deg, 50.0)
    assert loiter.frame is MavFrame.GLOBAL_RELATIVE_ALT
    assert loiter.param3 == 0.0 and math.isnan(loiter.param4)
    assert m.items[1].param1 == pytest.approx(-90.0)
    assert_round_trips_through_mavlink(m)


def test_hover_stand_off_south_with_time() -> None:
    """80 m south of a fire for 120 s: NAV_LOITER_TIME at the offset, camera on the fire."""
    m = hover(CENTER, alt_rel_m=60.0, time_s=120.0, offset_m=80.0, offset_bearing_deg=180.0)
    roi, gimbal, loiter, _ = m.items
    assert int(loiter.command) == 19 and loiter.param1 == 120.0
    station = GeoPoint(loiter.lat_deg, loiter.lon_deg)
    assert distance_m(CENTER, station) == pytest.approx(80.0, abs=1e-6)
    assert bearing_deg(CENTER, station) == pytest.approx(180.0, abs=1e-6)
    assert station.lat_deg < CENTER.lat_deg
    assert (roi.lat_deg, roi.lon_deg) == (CENTER.lat_deg, CENTER.lon_deg)
    assert gimbal.param1 == pytest.approx(-math.degrees(math.atan(60.0 / 80.0)))


def test_hover_without_roi() -> None:
    """roi=False: only the loiter, unless a gimbal pitch is asked for."""
    assert [int(it.command) for it in hover(CENTER, alt_rel_m=30.0, roi=False)] == [17]
    m = hover(CENTER, alt_rel_m=30.0, roi=False, gimbal_pitch_deg=-30.0)
    assert [int(it.command) for it in m] == [1000, 17]
    assert m.items[0].param1 == -30.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alt_rel_m": 0.0}, "alt_rel_m"),
        ({"alt_rel_m": math.nan}, "alt_rel_m"),
        ({"time_s": 0.0}, "time_s"),
        ({"time_s": -3.0}, "time_s"),
        ({"offset_m": -1.0}, "offset_m"),
        ({"offset_m": math.inf}, "offset_m"),
        ({"offset_bearing_deg": math.nan}, "offset_bearing_deg"),
        ({"gimbal_pitch_deg": 95.0}, "gimbal_pitch_deg"),
    ],
)
def test_hover_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad hover input raises a typed error naming the field."""
    args: dict[str, object] = {"alt_rel_m": 40.0}
    args.update(kwargs)
    with pytest.raises(InvalidValueError) as exc:
        hover(CENTER, **args)  # type: ignore[arg-type]
    assert exc.value.field == field


# -- expanding square ----------------------------------------------------------------------------


def test_expanding_square_reference_in_local_frame() -> None:
    """Clockwise from north with S = 100 m: N 100, E 100, S 200, W 200, N 300 (local metres)."""
    m = expanding_square(CENTER, track_spacing_m=100.0, legs=5, alt_rel_m=50.0)
    frame = LocalFrame(CENTER)
    got = frame.to_local_many(wp_points(m))
    expected = [(0, 0), (0, 100), (100, 100), (100, -100), (-100, -100), (-100, 200)]
    assert len(got) == len(expected)
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        assert x == pytest.approx(ex, abs=0.05) and y == pytest.approx(ey, abs=0.05)
    assert_round_trips_through_mavlink(m)


def test_expanding_square_counter_clockwise_turns_left() -> None:
    """Counter-clockwise from east: E 100, N 100, W 200, S 200."""
    m = expanding_square(
        CENTER,
        track_spacing_m=100.0,
        legs=4,
        alt_rel_m=50.0,
        first_bearing_deg=90.0,
        clockwise=False,
    )
    got = LocalFrame(CENTER).to_local_many(wp_points(m))
    expected = [(0, 0), (100, 0), (100, 100), (-100, 100), (-100, -100)]
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        assert x == pytest.approx(ex, abs=0.05) and y == pytest.approx(ey, abs=0.05)


@settings(max_examples=60, deadline=None)
@given(
    datum=points,
    spacing=st.floats(10.0, 500.0),
    legs=st.integers(1, 20),
    first=st.floats(0.0, 360.0),
    clockwise=st.booleans(),
)
def test_expanding_square_legs_and_turns(
    datum: GeoPoint, spacing: float, legs: int, first: float, clockwise: bool
) -> None:
    """Leg lengths S, S, 2S, 2S, ... within 0.01 m; every turn 90° (right if clockwise)
    within 0.01°; the first leg leaves the datum on first_bearing_deg."""
    pts = wp_points(
        expanding_square(
            datum,
            track_spacing_m=spacing,
            legs=legs,
            alt_rel_m=40.0,
            first_bearing_deg=first,
            clockwise=clockwise,
        )
    )
    assert len(pts) == legs + 1
    assert distance_m(pts[0], datum) < 1e-6
    for k, (a, b) in enumerate(itertools.pairwise(pts), start=1):
        assert distance_m(a, b) == pytest.approx(math.ceil(k / 2) * spacing, abs=0.01)
    assert angle_diff(first, bearing_deg(pts[0], pts[1])) < 1e-6
    expected_turn = 90.0 if clockwise else -90.0
    for a, b, c in zip(pts, pts[1:], pts[2:], strict=False):
        assert turn_deg(a, b, c) == pytest.approx(expected_turn, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"track_spacing_m": 0.0}, "track_spacing_m"),
        ({"track_spacing_m": -10.0}, "track_spacing_m"),
        ({"track_spacing_m": math.nan}, "track_spacing_m"),
        ({"legs": 0}, "legs"),
        ({"legs": -2}, "legs"),
        ({"legs": 2.5}, "legs"),
        ({"legs": True}, "legs"),
        ({"alt_rel_m": 0.0}, "alt_rel_m"),
        ({"first_bearing_deg": math.inf}, "first_bearing_deg"),
    ],
)
def test_expanding_square_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad expanding-square input raises a typed error naming the field."""
    args: dict[str, object] = {"track_spacing_m": 50.0, "legs": 8, "alt_rel_m": 40.0}
    args.update(kwargs)
    with pytest.raises(InvalidValueError) as exc:
        expanding_square(CENTER, **args)  # type: ignore[arg-type]
    assert exc.value.field == field


# -- sector search ---------------------------------------------------------------------------


def _radials(datum: GeoPoint, pts: list[GeoPoint]) -> list[float | None]:
    return [
        None if distance_m(datum, p) < 1e-6 else round(bearing_deg(datum, p), 6) % 360 for p in pts
    ]


def test_sector_search_reference_sequence() -> None:
    """IAMSAR VS from north, clockwise: datum, 0°, 60°, datum, 240°, 300°, datum, 120°,
    180°, datum — three triangles, the six outer points 60° apart."""
    m = sector_search(CENTER, radius_m=500.0, alt_rel_m=40.0)
    pts = wp_points(m)
    assert _radials(CENTER, pts) == [None, 0.0, 60.0, None, 240.0, 300.0, None, 120.0, 180.0, None]
    assert_round_trips_through_mavlink(m)


def test_sector_search_counter_clockwise_and_second_round() -> None:
    """Counter-clockwise mirrors the bearings; round two is rotated 30° the same way."""
    pts = wp_points(
        sector_search(
            CENTER,
            radius_m=500.0,
            alt_rel_m=40.0,
            first_bearing_deg=90.0,
            clockwise=False,
            rounds=2,
        )
    )
    assert len(pts) == 19
    assert _radials(CENTER, pts) == [
        None, 90.0, 30.0, None, 210.0, 150.0, None, 330.0, 270.0, None,
        60.0, 0.0, None, 180.0, 120.0, None, 300.0, 240.0, None,
    ]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    datum=points,
    radius=st.floats(50.0, 5000.0),
    first=st.floats(0.0, 360.0),
    rounds=st.integers(1, 3),
    clockwise=st.booleans(),
)
def test_sector_search_legs_and_turns(
    datum: GeoPoint, radius: float, first: float, rounds: int, clockwise: bool
) -> None:
    """Every leg is radius_m long (0.01 m); turns at outer vertices are 120° (right if
    clockwise), straight through the datum inside a round; it starts and ends at the datum."""
    pts = wp_points(
        sector_search(
            datum,
            radius_m=radius,
            alt_rel_m=40.0,
            first_bearing_deg=first,
            rounds=rounds,
            clockwise=clockwise,
        )
    )
    assert len(pts) == 9 * rounds + 1
    assert distance_m(pts[0], datum) < 1e-6 and distance_m(pts[-1], datum) < 1e-6
    for a, b in itertools.pairwise(pts):
        assert distance_m(a, b) == pytest.approx(radius, abs=0.01)
    sign = 1.0 if clockwise else -1.0
    for i in range(1, len(pts) - 1):
        t = turn_deg(pts[i - 1], pts[i], pts[i + 1])
        if distance_m(pts[i], datum) > 1e-6:
            assert t == pytest.approx(sign * 120.0, abs=0.01)
        elif i % 9 != 0:  # passing the datum within a round: straight on
            assert t == pytest.approx(0.0, abs=0.01)
        else:  # between rounds: 30° further round
            assert t == pytest.approx(sign * 30.0, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"radius_m": 0.0}, "radius_m"),
        ({"radius_m": -1.0}, "radius_m"),
        ({"radius_m": math.nan}, "radius_m"),
        ({"rounds": 0}, "rounds"),
        ({"rounds": 1.5}, "rounds"),
        ({"alt_rel_m": -1.0}, "alt_rel_m"),
        ({"first_bearing_deg": math.nan}, "first_bearing_deg"),
    ],
)
def test_sector_search_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad sector-search input raises a typed error naming the field."""
    args: dict[str, object] = {"radius_m": 300.0, "alt_rel_m": 40.0}
    args.update(kwargs)
    with pytest.raises(InvalidValueError) as exc:
        sector_search(CENTER, **args)  # type: ignore[arg-type]
    assert exc.value.field == field


# -- perimeter -------------------------------------------------------------------------------


def _polygon_from_local(origin: GeoPoint, xy: list[tuple[float, float]]) -> GeoPolygon:
    return GeoPolygon(tuple(LocalFrame(origin).to_geo_many(xy)))


L_SHAPE = [(0.0, 0.0), (300.0, 0.0), (300.0, 100.0), (100.0, 100.0), (100.0, 300.0), (0.0, 300.0)]


@st.composite
def convex_polygons(draw: st.DrawFn) -> tuple[GeoPoint, list[tuple[float, float]]]:
    origin = draw(st.builds(GeoPoint, st.floats(-70.0, 70.0), st.floats(-179.0, 179.0)))
    size = draw(st.floats(50.0, 1000.0))
    raw = draw(
        st.lists(st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0)), min_size=3, max_size=12)
    )
    hull = MultiPoint([(x * size, y * size) for x, y in raw]).convex_hull
    if hull.geom_type != "Polygon" or hull.area < 0.05 * size * size:
        hull = ShapelyPolygon([(-size, -size), (size, -size), (0.0, size)])
    return origin, [(float(x), float(y)) for x, y in list(hull.exterior.coords)[:-1]]


def _perimeter_checks(polygon: GeoPolygon, m: Mission, offset: float, deviation: float) -> None:
    frame = LocalFrame(polygon.centroid_hint())
    shape = ShapelyPolygon(frame.to_local_many(polygon.exterior))
    pts = frame.to_local_many(wp_points(m))
    assert pts[0] == pytest.approx(pts[-1], abs=1e-6)  # the loop is closed
    for x, y in pts:
        d = shape.distance(Point(x, y))
        assert d == pytest.approx(offset, abs=0.05 + 1e-5 * offset)
        assert not shape.contains(Point(x, y))
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        d = shape.distance(Point((x0 + x1) / 2, (y0 + y1) / 2))
        assert offset - deviation - 0.05 <= d <= offset + deviation + 0.05


@settings(max_examples=40, deadline=None)
@given(poly=convex_polygons(), offset=st.floats(5.0, 300.0), deviation=st.floats(0.2, 3.0))
def test_perimeter_vertices_at_offset_outside_polygon(
    poly: tuple[GeoPoint, list[tuple[float, float]]], offset: float, deviation: float
) -> None:
    """Every waypoint is offset_m outside the polygon; legs stay within the deviation."""
    polygon = _polygon_from_local(*poly)
    m = perimeter(polygon, offset_m=offset, alt_rel_m=40.0, max_deviation_m=deviation)
    _perimeter_checks(polygon, m, offset, deviation)


@pytest.mark.parametrize("offset", [10.0, 40.0, 120.0])
def test_perimeter_of_concave_polygon(offset: float) -> None:
    """An L-shaped site: the ring follows the inner corner at the offset too."""
    polygon = _polygon_from_local(CENTER, L_SHAPE)
    m = perimeter(polygon, offset_m=offset, alt_rel_m=40.0)
    _perimeter_checks(polygon, m, offset, 1.0)


def test_perimeter_structure_roi_laps_and_direction() -> None:
    """ROI on the centroid first, ROI off last, laps repeat the ring, clockwise by default."""
    polygon = _polygon_from_local(
        CENTER, [(-100.0, -50.0), (100.0, -50.0), (100.0, 50.0), (-100.0, 50.0)]
    )
    one = perimeter(polygon, offset_m=20.0, alt_rel_m=30.0)
    two = perimeter(polygon, offset_m=20.0, alt_rel_m=30.0, laps=2)
    assert int(one.items[0].command) == 195 and int(one.items[-1].command) == 197
    centroid = GeoPoint(one.items[0].lat_deg, one.items[0].lon_deg)
    assert distance_m(centroid, CENTER) < 0.01
    ring = wp_points(one)
    assert len(wp_points(two)) == 2 * (len(ring) - 1) + 1
    frame = LocalFrame(CENTER)
    xy = frame.to_local_many(ring)
    assert not ShapelyPolygon(xy).exterior.is_ccw
    ccw = frame.to_local_many(
        wp_points(perimeter(polygon, offset_m=20.0, alt_rel_m=30.0, clockwise=False))
    )
    assert ShapelyPolygon(ccw).exterior.is_ccw
    # default start: the northernmost vertex
    assert xy[0][1] == pytest.approx(max(y for _, y in xy))
    bare = perimeter(polygon, offset_m=20.0, alt_rel_m=30.0, roi_center=False)
    assert {int(it.command) for it in bare} == {16}
    assert_round_trips_through_mavlink(one)


def test_perimeter_starts_nearest_entry_and_zero_offset_flies_outline() -> None:
    """entry_from picks the start vertex; offset 0 flies the polygon's own vertices."""
    corners = [(-100.0, -50.0), (100.0, -50.0), (100.0, 50.0), (-100.0, 50.0)]
    polygon = _polygon_from_local(CENTER, corners)
    frame = LocalFrame(CENTER)
    entry = frame.to_geo(500.0, -400.0)
    m = perimeter(polygon, offset_m=0.0, alt_rel_m=30.0, entry_from=entry)
    xy = frame.to_local_many(wp_points(m))
    assert len(xy) == 5
    assert xy[0] == pytest.approx((100.0, -50.0), abs=0.01)
    assert {(round(x), round(y)) for x, y in xy} == {(round(x), round(y)) for x, y in corners}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"offset_m": -5.0}, "offset_m"),
        ({"offset_m": math.nan}, "offset_m"),
        ({"laps": 0}, "laps"),
        ({"alt_rel_m": 0.0}, "alt_rel_m"),
        ({"max_deviation_m": 0.0}, "max_deviation_m"),
    ],
)
def test_perimeter_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad perimeter input raises a typed error naming the field."""
    polygon = _polygon_from_local(CENTER, L_SHAPE)
    args: dict[str, object] = {"offset_m": 20.0, "alt_rel_m": 40.0}
    args.update(kwargs)
    with pytest.raises(InvalidValueError) as exc:
        perimeter(polygon, **args)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_invalid_polygon_is_refused_before_planning() -> None:
    """A self-intersecting polygon is refused with a FlightPlanError."""
    with pytest.raises(FlightPlanError):
        _polygon_from_local(CENTER, [(0.0, 0.0), (100.0, 100.0), (100.0, 0.0), (0.0, 100.0)])


# -- take-off and RTL ------------------------------------------------------------------------

HOME = HomePosition(47.3700, 8.5400, alt_amsl_m=410.0)


def test_with_takeoff_and_rtl_wraps_fragment() -> None:
    """Take-off at home, speed, the fragment unchanged, RTL; home set on the mission."""
    fragment = orbit(CENTER, radius_m=100.0, alt_rel_m=40.0, turns=1)
    m = with_takeoff_and_rtl(fragment, HOME, takeoff_alt_rel_m=30.0, speed_m_s=12.0)
    assert m.home == HOME
    takeoff, speed = m.items[:2]
    assert int(takeoff.command) == 22 and takeoff.frame is MavFrame.GLOBAL_RELATIVE_ALT
    assert (takeoff.lat_deg, takeoff.lon_deg, takeoff.alt_m) == (HOME.lat_deg, HOME.lon_deg, 30.0)
    assert takeoff.param1 == 0.0 and math.isnan(takeoff.param4)
    assert (int(speed.command), speed.param1, speed.param2, speed.param3) == (178, 1.0, 12.0, -1.0)
    assert m.items[2:-1] == fragment.items
    rtl = m.items[-1]
    assert int(rtl.command) == 20 and rtl.frame is MavFrame.MISSION
    assert rtl.params == (0.0,) * 7
    assert_round_trips_through_mavlink(m)


def test_with_takeoff_and_rtl_transit_altitude() -> None:
    """A transit altitude above take-off climbs over home, then transits to the first point."""
    fragment = expanding_square(CENTER, track_spacing_m=50.0, legs=4, alt_rel_m=40.0)
    m = with_takeoff_and_rtl(fragment, HOME, takeoff_alt_rel_m=20.0, transit_alt_rel_m=80.0)
    climb, transit = m.items[1:3]
    assert (climb.lat_deg, climb.lon_deg, climb.alt_m) == (HOME.lat_deg, HOME.lon_deg, 80.0)
    assert (transit.lat_deg, transit.lon_deg, transit.alt_m) == (
        CENTER.lat_deg,
        CENTER.lon_deg,
        80.0,
    )
    assert m.items[3:-1] == fragment.items
    low = with_takeoff_and_rtl(fragment, HOME, takeoff_alt_rel_m=50.0, transit_alt_rel_m=30.0)
    assert len(low) == len(fragment) + 3  # no climb waypoint over home


def test_with_takeoff_and_rtl_refuses_bad_fragments_and_values() -> None:
    """A fragment that already takes off, another home, or bad altitudes are refused."""
    full = with_takeoff_and_rtl(hover(CENTER, alt_rel_m=30.0), HOME, takeoff_alt_rel_m=20.0)
    with pytest.raises(InvalidValueError) as exc:
        with_takeoff_and_rtl(Mission(full.items), HOME, takeoff_alt_rel_m=20.0)
    assert exc.value.field == "fragment" and exc.value.item_index == 0
    other = HomePosition(0.0, 0.0)
    with pytest.raises(InvalidValueError) as exc:
        with_takeoff_and_rtl(Mission(home=other), HOME, takeoff_alt_rel_m=20.0)
    assert exc.value.field == "fragment.home"
    for kwargs, field in [
        ({"takeoff_alt_rel_m": 0.0}, "takeoff_alt_rel_m"),
        ({"takeoff_alt_rel_m": 20.0, "transit_alt_rel_m": -1.0}, "transit_alt_rel_m"),
        ({"takeoff_alt_rel_m": 20.0, "speed_m_s": 0.0}, "speed_m_s"),
    ]:
        with pytest.raises(InvalidValueError) as exc:
            with_takeoff_and_rtl(Mission(), HOME, **kwargs)  # type: ignore[arg-type]
        assert exc.value.field == field
