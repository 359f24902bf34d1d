"""Mission items: validation, datums, and the exact MISSION_ITEM_INT round trip."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight_plans.errors import InvalidCoordinateError, InvalidValueError, UnknownCommandError
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import (
    INT32_MAX,
    AltDatum,
    HomePosition,
    MavCmd,
    MavFrame,
    Mission,
    MissionItem,
    MissionItemInt,
    MissionType,
    command_name,
)
from flight_plans.plan import Fence, FenceCircle, FencePolygon, RallyPoint


def f32(x: float) -> float:
    """Round a float to float32, as it travels on the wire."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


REQUIRED = {
    "NAV_WAYPOINT": 16,
    "NAV_LOITER_UNLIM": 17,
    "NAV_LOITER_TURNS": 18,
    "NAV_LOITER_TIME": 19,
    "NAV_RETURN_TO_LAUNCH": 20,
    "NAV_LAND": 21,
    "NAV_TAKEOFF": 22,
    "DO_CHANGE_SPEED": 178,
    "DO_SET_ROI_LOCATION": 195,
    "DO_SET_ROI_NONE": 197,
    "DO_GIMBAL_MANAGER_PITCHYAW": 1000,
    "IMAGE_START_CAPTURE": 2000,
    "VIDEO_START_CAPTURE": 2500,
    "NAV_FENCE_RETURN_POINT": 5000,
    "NAV_FENCE_POLYGON_VERTEX_INCLUSION": 5001,
    "NAV_FENCE_POLYGON_VERTEX_EXCLUSION": 5002,
    "NAV_FENCE_CIRCLE_INCLUSION": 5003,
    "NAV_FENCE_CIRCLE_EXCLUSION": 5004,
    "NAV_RALLY_POINT": 5100,
}


@pytest.mark.parametrize(("name", "number"), REQUIRED.items())
def test_mav_cmd_numbers_match_mavlink(name: str, number: int) -> None:
    assert MavCmd[name] == number
    assert command_name(number) == name


def test_frames_carry_their_datum() -> None:
    assert MissionItem(16, MavFrame.GLOBAL_RELATIVE_ALT).alt_datum is AltDatum.REL_HOME
    assert MissionItem(16, MavFrame.GLOBAL_INT).alt_datum is AltDatum.AMSL
    assert MissionItem(16, MavFrame.GLOBAL_TERRAIN_ALT).alt_datum is AltDatum.TERRAIN
    assert MissionItem(178, MavFrame.MISSION).alt_datum is None


def test_at_builds_the_frame_from_the_named_datum() -> None:
    it = MissionItem.at(MavCmd.NAV_WAYPOINT, 47.1, 8.5, alt_amsl_m=520.0)
    assert it.frame is MavFrame.GLOBAL and it.alt_m == 520.0 and it.is_nav
    with pytest.raises(InvalidValueError, match="exactly one"):
        MissionItem.at(16, 47.1, 8.5, alt_rel_m=1.0, alt_amsl_m=2.0)
    with pytest.raises(InvalidValueError, match="exactly one"):
        MissionItem.at(16, 47.1, 8.5)


def test_valid_mavlink_commands_the_planner_never_generates_pass_through() -> None:
    spline = MissionItem(82, MavFrame.GLOBAL_RELATIVE_ALT, lat_deg=-35.3, lon_deg=149.1, alt_m=70)
    roi = MissionItem(201, MavFrame.GLOBAL_RELATIVE_ALT, lat_deg=-35.39, lon_deg=149.19)
    assert spline.command == 82
    assert spline.name == "NAV_SPLINE_WAYPOINT"
    assert MissionItem.from_mavlink(spline.to_mavlink(0)) == spline
    assert MissionItem.from_mavlink(roi.to_mavlink(0)) == roi


@pytest.mark.parametrize("command", [0, 15, 12345, 65535, -1])
def test_undefined_command_numbers_are_refused(command: int) -> None:
    with pytest.raises(UnknownCommandError) as ei:
        MissionItem(command, index=4)
    assert ei.value.command == command and ei.value.item_index == 4
    assert "item 4" in str(ei.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lat_deg": 90.5}, "lat_deg"),
        ({"lat_deg": math.nan}, "lat_deg"),
        ({"lon_deg": -180.5}, "lon_deg"),
        ({"lon_deg": math.inf}, "lon_deg"),
        ({"alt_m": math.nan}, "alt_m"),
        ({"param1": math.inf}, "param1"),
        ({"frame": 99}, "frame"),
        ({"mission_type": 7}, "mission_type"),
    ],
)
def test_bad_item_fields_are_named(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidValueError) as ei:
        MissionItem(16, **kwargs, index=2)  # type: ignore[arg-type]
    assert ei.value.field == field and ei.value.item_index == 2


def test_coordinate_errors_are_coordinate_errors() -> None:
    with pytest.raises(InvalidCoordinateError):
        MissionItem(16, lat_deg=-91)


def test_nan_params_mean_unset_and_compare_equal() -> None:
    a = MissionItem(22, param4=math.nan, lat_deg=47.0, lon_deg=8.0, alt_m=20)
    b = MissionItem(22, param4=math.nan, lat_deg=47.0, lon_deg=8.0, alt_m=20)
    assert a == b and hash(a) == hash(b)
    assert a != MissionItem(22, param4=0.0, lat_deg=47.0, lon_deg=8.0, alt_m=20)


def test_global_items_use_deg_e7_integers() -> None:
    m = MissionItem(16, lat_deg=47.3977419, lon_deg=-8.5455938, alt_m=25.5).to_mavlink(3)
    assert (m.seq, m.x, m.y, m.z) == (3, 473977419, -85455938, 25.5)
    assert m.frame == 3 and m.mission_type == 0 and m.autocontinue == 1


def test_non_positional_params_travel_as_raw_integers() -> None:
    m = MissionItem.do(MavCmd.DO_SET_ROI_NONE, 0, 0, 0, 0, 5, math.nan).to_mavlink(0)
    assert (m.x, m.y) == (5, INT32_MAX)
    back = MissionItem.from_mavlink(m)
    assert back.lat_deg == 5.0 and math.isnan(back.lon_deg)
    with pytest.raises(InvalidValueError, match="int32"):
        MissionItem.do(MavCmd.DO_SET_ROI_NONE, 0, 0, 0, 0, 1.5).to_mavlink(0)


def test_local_frames_scale_by_1e4() -> None:
    m = MissionItem(16, MavFrame.LOCAL_NED, lat_deg=12.5, lon_deg=-3.25).to_mavlink(0)
    assert (m.x, m.y) == (125000, -32500)
    assert MissionItem.from_mavlink(m).lat_deg == 12.5


wire_float = st.floats(width=32, allow_infinity=False)
deg_e7_lat = st.integers(-900_000_000, 900_000_000)
deg_e7_lon = st.integers(-1_800_000_000, 1_800_000_000)
global_frames = st.sampled_from([0, 3, 5, 6, 10, 11])
commands = st.sampled_from([16, 17, 18, 19, 21, 22, 82, 195, 201, 5100])


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 65535),
    global_frames,
    commands,
    st.integers(0, 1),
    wire_float,
    wire_float,
    wire_float,
    wire_float,
    deg_e7_lat,
    deg_e7_lon,
    st.floats(width=32, min_value=-1000, max_value=10_000),
    st.sampled_from([0, 1, 2]),
)
def test_mission_item_int_round_trip_is_exact(
    seq: int,
    frame: int,
    cmd: int,
    autocontinue: int,
    p1: float,
    p2: float,
    p3: float,
    p4: float,
    x: int,
    y: int,
    z: float,
    mtype: int,
) -> None:
    """MISSION_ITEM_INT → MissionItem → MISSION_ITEM_INT returns identical fields."""
    m = MissionItemInt(seq, frame, cmd, 0, autocontinue, p1, p2, p3, p4, x, y, z, mtype)
    back = MissionItem.from_mavlink(m).to_mavlink(seq)
    for name in ("param1", "param2", "param3", "param4"):
        a, b = getattr(m, name), getattr(back, name)
        assert (math.isnan(a) and math.isnan(b)) or (a == b and f32(b) == b)
    assert (back.seq, back.frame, back.command, back.x, back.y, back.z) == (
        seq,
        frame,
        cmd,
        x,
        y,
        z,
    )
    assert (back.autocontinue, back.mission_type) == (autocontinue, mtype)


def test_mission_from_mavlink_requires_ordered_sequence() -> None:
    items = [MissionItem(16, lat_deg=1, lon_deg=1, alt_m=10).to_mavlink(s) for s in (0, 2)]
    with pytest.raises(InvalidValueError, match="seq"):
        Mission.from_mavlink(items)


def test_mission_round_trip_and_queries() -> None:
    home = HomePosition(47.397742, 8.545594, 488.0)
    m = Mission(
        (
            MissionItem.at(22, 47.397742, 8.545594, alt_rel_m=20, params=(0, 0, 0, math.nan)),
            MissionItem.do(178, 1, 8, -1),
            MissionItem.at(16, 47.398742, 8.546594, alt_rel_m=20),
            MissionItem(20, MavFrame.MISSION),
        ),
        home,
    )
    assert Mission.from_mavlink(m.to_mavlink(), home=home) == m
    assert m.commands == (16, 20, 22, 178)
    assert [i for i, _ in m.nav_items()] == [0, 2]
    assert (m + Mission()).home == home and len(m + m) == 8


def test_mission_refuses_fence_items() -> None:
    with pytest.raises(InvalidValueError, match="mission_type"):
        Mission((MissionItem(5001, MavFrame.GLOBAL, 4, mission_type=MissionType.FENCE),))


def test_fence_to_mavlink_and_back() -> None:
    poly = GeoPolygon.from_lat_lon([(47.0, 8.0), (47.0, 8.01), (47.01, 8.01), (47.01, 8.0)])
    fence = Fence(
        (FencePolygon(poly, inclusion=True),),
        (FenceCircle(GeoCircle(GeoPoint(47.005, 8.005), 150.0), inclusion=False),),
    )
    items = fence.to_items()
    assert [int(i.command) for i in items] == [5001] * 4 + [5004]
    assert {i.param1 for i in items[:4]} == {4.0} and items[4].param1 == 150.0
    assert all(i.mission_type is MissionType.FENCE for i in items)
    assert Fence.from_items(items) == fence
    assert (fence.inclusion_count, fence.exclusion_count) == (1, 1)


def test_fence_from_items_refuses_short_vertex_run() -> None:
    items = Fence((FencePolygon(GeoPolygon.from_lat_lon([(0, 0), (0, 1), (1, 1)])),)).to_items()
    with pytest.raises(InvalidValueError, match="vertex count"):
        Fence.from_items(items[:2])


def test_rally_point_item() -> None:
    it = RallyPoint(47.1, 8.1, 30).to_item()
    assert (int(it.command), it.frame, it.mission_type) == (5100, MavFrame.GLOBAL_RELATIVE_ALT, 2)
    with pytest.raises(InvalidCoordinateError):
        RallyPoint(47.1, 181, 30)


@pytest.mark.parametrize(
    "points",
    [
        [(0, 0), (1, 1), (0, 1), (1, 0)],  # bow tie: self-intersecting
        [(0, 0), (0, 1)],  # too few
        [(0, 0), (0, 1), (0, 2)],  # collinear: zero area
        [],
    ],
)
def test_invalid_polygons_are_refused(points: list[tuple[float, float]]) -> None:
    from flight_plans.errors import InvalidPolygonError

    with pytest.raises(InvalidPolygonError):
        GeoPolygon.from_lat_lon(points)


def test_polygon_area_and_contains() -> None:
    # a 0.01° square at the equator is ~1113 m × 1106 m
    sq = GeoPolygon.from_lat_lon([(0, 0), (0, 0.01), (0.01, 0.01), (0.01, 0)])
    assert sq.area_m2() == pytest.approx(1113.19 * 1105.74, rel=2e-3)
    assert sq.contains(GeoPoint(0.005, 0.005)) and not sq.contains(GeoPoint(0.02, 0.005))


def test_polygon_across_the_antimeridian_is_measured_in_a_frame_near_it() -> None:
    """A 0.01°-square straddling ±180° has the same area as one at 0° and contains its centre."""
    across = GeoPolygon.from_lat_lon(
        [(0, 179.995), (0, -179.995), (0.01, -179.995), (0.01, 179.995)]
    )
    at_zero = GeoPolygon.from_lat_lon([(0, -0.005), (0, 0.005), (0.01, 0.005), (0.01, -0.005)])
    assert abs(across.centroid_hint().lon_deg) > 179.9
    assert across.area_m2() == pytest.approx(at_zero.area_m2(), rel=1e-6)
    assert across.contains(GeoPoint(0.005, 180.0))
