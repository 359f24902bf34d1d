"""QGroundControl .plan import/export: lossless round trips, complex items, refusals."""

from __future__ import annotations

import copy
import filecmp
import json
import math
from pathlib import Path
from typing import Any

import pytest

from flight_plans import qgc
from flight_plans.errors import (
    FlightPlanError,
    InvalidCoordinateError,
    InvalidPolygonError,
    InvalidValueError,
    PlanCommandError,
    PlanCoordinateError,
    PlanFormatError,
    PlanPolygonError,
    PlanValueError,
    UnknownCommandError,
    UnsupportedItemError,
)
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, MavFrame, Mission, MissionItem
from flight_plans.plan import Fence, FenceCircle, FencePolygon, Plan, RallyPoint

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
QGC_DIR = DATA / "qgc"
SHARED_QGC = Path(__file__).parents[2].parent / "shared" / "fixtures" / "qgc"
"""The project's shared fixtures; the tests read the copies in tests/data/qgc."""
FIXTURES = sorted(QGC_DIR.glob("*.plan"))
SURVEY = DATA / "survey_transect.plan"
PX4 = QGC_DIR / "PX4SITL-PX4-MultiRotor.plan"
ARDUPILOT = QGC_DIR / "ArduPilotSITL-ArduCopter.plan"
FENCE_ONLY = QGC_DIR / "ce_geofence_home_base.plan"
SQUARE = QGC_DIR / "simple_square.plan"


def same_json(a: Any, b: Any) -> bool:
    """Semantic JSON equality: numbers by exact value (30 == 30.0), booleans never equal to
    numbers, null only to null, objects by keys, arrays element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return False


def raw(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def load_doc(doc: object, source: str = "bad.plan") -> Plan:
    return qgc.loads_plan(json.dumps(doc), source=source)


def test_comparator_is_strict() -> None:
    """The round-trip comparator itself: 30 == 30.0 but true != 1 and null != 0."""
    assert same_json({"a": [30, None]}, {"a": [30.0, None]})
    assert not same_json(True, 1)
    assert not same_json(None, 0)
    assert not same_json({"a": 1}, {"a": 1, "b": 2})
    assert not same_json(47.3977421, 47.397742)


# -- fixtures: lossless round trips --------------------------------------------------------


def test_fixture_copies_are_the_shared_fixtures() -> None:
    """tests/data/qgc holds unmodified copies of the shared QGroundControl fixtures."""
    assert [p.name for p in FIXTURES] == [
        "ArduPilotSITL-ArduCopter.plan",
        "PX4SITL-PX4-MultiRotor.plan",
        "ce_geofence_home_base.plan",
        "simple_square.plan",
    ]
    sources = (QGC_DIR / "SOURCES.md").read_text(encoding="utf-8")
    # every copy has the byte count its SOURCES.md row records for the upstream file
    for p in FIXTURES:
        row = next(line for line in sources.splitlines() if line.startswith(f"| {p.name} |"))
        recorded = int(row.split("|")[5])
        assert p.stat().st_size == recorded, p.name
    # and, where the shared fixtures sit beside the checkout (CI), is byte-identical to them
    if SHARED_QGC.is_dir():
        for p in [*FIXTURES, QGC_DIR / "SOURCES.md"]:
            assert filecmp.cmp(p, SHARED_QGC / p.name, shallow=False), p.name


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_round_trips_losslessly(path: Path) -> None:
    """load → dump → json.loads equals the original document (exact floats, nulls kept)."""
    plan = qgc.load_plan(path)
    out = json.loads(qgc.dumps_plan(plan))
    assert same_json(out, raw(path))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_round_trips_through_mavlink(path: Path) -> None:
    """Plan.mission → MISSION_ITEM_INT → Mission gives equal items."""
    mission = qgc.load_plan(path).mission
    again = Mission.from_mavlink(mission.to_mavlink(), home=mission.home)
    assert again.items == mission.items
    assert again == mission


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_reloading_an_export_gives_an_equal_plan(path: Path) -> None:
    plan = qgc.load_plan(path)
    again = qgc.loads_plan(qgc.dumps_plan(plan))
    assert again == plan
    assert again.mission.items == plan.mission.items


def test_px4_fixture_values() -> None:
    plan = qgc.load_plan(PX4)
    assert len(plan.mission) == 11
    assert plan.mission.home == HomePosition(47.397, 8.5455, 488.056)
    assert (plan.firmware_type, plan.vehicle_type) == (12, 2)
    assert (plan.cruise_speed_m_s, plan.hover_speed_m_s) == (15.0, 5.0)
    takeoff = plan.mission.items[0]
    assert takeoff.command == MavCmd.NAV_TAKEOFF
    assert takeoff.frame == MavFrame.GLOBAL_RELATIVE_ALT
    assert (takeoff.lat_deg, takeoff.lon_deg, takeoff.alt_m) == (47.3996949, 8.5455, 30.0)
    assert math.isnan(takeoff.param4)  # null in the file
    speed = plan.mission.items[2]
    assert speed.command == MavCmd.DO_CHANGE_SPEED
    assert speed.frame == MavFrame.MISSION
    assert speed.params == (1.0, 10.0, -1.0, 0.0, 0.0, 0.0, 0.0)
    amsl = plan.mission.items[3]
    assert (amsl.frame, amsl.alt_m) == (MavFrame.GLOBAL, 638.056)
    assert plan.mission.items[4].command == MavCmd.DO_SET_ROI_LOCATION
    assert not plan.fence
    assert plan.rally_points == ()


def test_calc_above_terrain_items_are_terrain_frame_in_the_model() -> None:
    """AltitudeMode 3 / frame 0 / param7 null means "Altitude m above terrain"."""
    plan = qgc.load_plan(PX4)
    for index, alt in ((5, 80.0), (7, 40.0)):
        item = plan.mission.items[index]
        assert item.frame == MavFrame.GLOBAL_TERRAIN_ALT
        assert item.alt_m == alt
    details = qgc.qgc_extras(plan).items[5]
    assert details is not None
    assert (details.frame, details.do_jump_id) == (0, 6)
    assert math.isnan(details.param7)
    assert details.altitude is not None
    assert details.altitude.mode == qgc.AltitudeMode.CALC_ABOVE_TERRAIN
    assert details.altitude.altitude_m == 80.0
    assert math.isnan(details.altitude.amsl_alt_above_terrain_m)


def test_calc_above_terrain_export_restores_frame_0_and_param7() -> None:
    out = json.loads(qgc.dumps_plan(qgc.load_plan(PX4)))["mission"]["items"][5]
    assert out["frame"] == 0
    assert out["params"][6] is None
    assert (out["AltitudeMode"], out["Altitude"], out["AMSLAltAboveTerrain"]) == (3, 80, None)


def test_calc_above_terrain_keeps_a_computed_amsl_param7() -> None:
    doc = raw(PX4)
    item = doc["mission"]["items"][5]
    item["params"][6] = 560.5
    item["AMSLAltAboveTerrain"] = 560.5
    plan = load_doc(doc)
    assert plan.mission.items[5].frame == MavFrame.GLOBAL_TERRAIN_ALT
    assert plan.mission.items[5].alt_m == 80.0
    assert same_json(json.loads(qgc.dumps_plan(plan)), doc)


def test_ardupilot_commands_the_planner_never_generates_pass_through() -> None:
    """SPLINE_WAYPOINT (82) and DO_SET_ROI (201) keep command, frame and params."""
    plan = qgc.load_plan(ARDUPILOT)
    assert plan.firmware_type == 3
    roi, spline = plan.mission.items[4], plan.mission.items[8]
    assert int(roi.command) == 201
    assert roi.params == (0.0, 0.0, 0.0, 0.0, -35.3902103, 149.1982764, 0.0)
    assert int(spline.command) == 82
    assert spline.params == (0.0, 0.0, 0.0, 0.0, -35.363261, 149.1321836, 70.0)
    terrain = plan.mission.items[7]
    assert (terrain.frame, terrain.alt_m) == (MavFrame.GLOBAL_TERRAIN_ALT, 50.0)
    out = json.loads(qgc.dumps_plan(plan))["mission"]["items"]
    assert [i["command"] for i in out] == [i["command"] for i in raw(ARDUPILOT)["mission"]["items"]]
    assert out[7]["frame"] == 10 and out[7]["AltitudeMode"] == 4


def test_fence_only_fixture() -> None:
    plan = qgc.load_plan(FENCE_ONLY)
    assert len(plan.mission) == 0
    assert plan.mission.home == HomePosition(38.75084010396389, -77.49721463637287, 30.0)
    inc, exc = plan.fence.polygons
    assert (inc.inclusion, exc.inclusion) == (True, False)
    assert inc.polygon.exterior[0] == GeoPoint(38.7507608625056, -77.49735908548331)
    assert len(inc.polygon.exterior) == len(exc.polygon.exterior) == 4
    assert plan.fence.inclusion_count == plan.fence.exclusion_count == 1
    out = json.loads(qgc.dumps_plan(plan))
    assert out["rallyPoints"] == {"points": [], "version": 1}  # kept while empty
    assert out["mission"]["globalPlanAltitudeMode"] == 1


# -- export ------------------------------------------------------------------------------------


def built_plan() -> Plan:
    home = HomePosition(47.397742, 8.545594, 488.0)
    items = (
        MissionItem.at(MavCmd.NAV_TAKEOFF, 47.3978, 8.5456, alt_rel_m=20),
        MissionItem.at(MavCmd.NAV_WAYPOINT, 47.3988, 8.5466, alt_amsl_m=530.5),
        MissionItem.do(MavCmd.DO_CHANGE_SPEED, 1, 7.5, -1),
        MissionItem.at(MavCmd.NAV_WAYPOINT, 47.3968, 8.5446, alt_agl_m=35),
        MissionItem(
            MavCmd.NAV_WAYPOINT,
            MavFrame.GLOBAL_RELATIVE_ALT_INT,
            0,
            0,
            0,
            math.nan,
            47.3970,
            8.5450,
            25,
        ),
        MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH),
    )
    square = GeoPolygon.from_lat_lon([(47.39, 8.53), (47.40, 8.53), (47.40, 8.56), (47.39, 8.56)])
    fence = Fence(
        (FencePolygon(square, inclusion=True),),
        (FenceCircle(GeoCircle(GeoPoint(47.398, 8.546), 50.0), inclusion=False),),
    )
    return Plan(
        Mission(items, home),
        fence,
        (RallyPoint(47.3972, 8.5449, 30.0),),
        cruise_speed_m_s=12.5,
        hover_speed_m_s=4.0,
    )


def test_export_has_every_key_qgroundcontrol_requires() -> None:
    """PlanMasterController/MissionController/GeoFenceController/RallyPointController keys."""
    doc = json.loads(qgc.dumps_plan(built_plan()))
    assert (doc["fileType"], doc["groundStation"], doc["version"]) == ("Plan", "QGroundControl", 1)
    mission = doc["mission"]
    assert mission["version"] == 2
    assert {
        "firmwareType",
        "plannedHomePosition",
        "items",
        "vehicleType",
        "cruiseSpeed",
        "hoverSpeed",
        "globalPlanAltitudeMode",
    } <= mission.keys()
    assert mission["plannedHomePosition"] == [47.397742, 8.545594, 488]
    assert (mission["cruiseSpeed"], mission["hoverSpeed"]) == (12.5, 4)
    assert mission["globalPlanAltitudeMode"] == 0  # items use several datums: mixed
    fence = doc["geoFence"]
    assert fence["version"] == 2
    assert fence["polygons"][0]["version"] == 1 and fence["polygons"][0]["inclusion"] is True
    assert fence["polygons"][0]["polygon"][0] == [47.39, 8.53]
    assert fence["circles"] == [
        {"version": 1, "inclusion": False, "circle": {"center": [47.398, 8.546], "radius": 50}}
    ]
    assert doc["rallyPoints"] == {"version": 2, "points": [[47.3972, 8.5449, 30]]}
    for item in mission["items"]:
        assert {"type", "command", "frame", "params", "autoContinue", "doJumpId"} <= item.keys()
        assert item["type"] == "SimpleItem" and len(item["params"]) == 7


def test_export_derives_qgc_details_from_the_frame() -> None:
    items = json.loads(qgc.dumps_plan(built_plan()))["mission"]["items"]
    assert [i["doJumpId"] for i in items] == [1, 2, 3, 4, 5, 6]
    assert [i.get("AltitudeMode") for i in items] == [1, 2, None, 4, 1, None]
    assert [i.get("Altitude") for i in items] == [20, 530.5, None, 35, 25, None]
    assert items[0]["AMSLAltAboveTerrain"] is None
    assert "AltitudeMode" not in items[2] and "Altitude" not in items[2]  # frame 2
    assert items[2]["params"] == [1, 7.5, -1, 0, 0, 0, 0]
    assert items[4]["params"][3] is None  # NaN → null
    assert items[4]["frame"] == 6  # the INT frame is kept
    assert items[0]["params"] == [0, 0, 0, 0, 47.3978, 8.5456, 20]


def test_a_built_plan_round_trips_through_the_file_format() -> None:
    plan = built_plan()
    again = qgc.loads_plan(qgc.dumps_plan(plan))
    assert again == plan
    assert again.fence == plan.fence
    assert again.rally_points == plan.rally_points


def test_whole_floats_are_written_as_integers_and_nan_as_null() -> None:
    text = qgc.dumps_plan(built_plan())
    assert "NaN" not in text and "20.0" not in text
    assert '"radius": 50' in text


def test_details_of_an_edited_item_are_not_reused() -> None:
    """Changing an item drops its stored QGC details; the others are still written back."""
    plan = qgc.load_plan(PX4)
    items = list(plan.mission.items)
    old = items[5]
    items[5] = MissionItem(old.command, MavFrame.GLOBAL_TERRAIN_ALT, *old.params[:6], 95.0)
    edited = Plan(Mission(tuple(items), plan.mission.home), extras=plan.extras, firmware_type=12)
    out = json.loads(qgc.dumps_plan(edited))["mission"]["items"]
    assert out[5]["frame"] == 10 and out[5]["AltitudeMode"] == 4 and out[5]["Altitude"] == 95
    assert out[5]["params"][6] == 95
    assert out[7]["frame"] == 0 and out[7]["AltitudeMode"] == 3  # untouched item: as in file
    assert [i["doJumpId"] for i in out] == list(range(1, 12))


def test_unknown_keys_are_kept() -> None:
    doc = raw(SQUARE)
    doc["myTool"] = {"note": "kept"}
    doc["mission"]["planner"] = "x"
    doc["mission"]["items"][1]["autoSampleEnabled"] = True
    doc["geoFence"]["breachReturn"] = [47.39, 8.54, 30]
    doc["geoFence"]["polygons"] = [
        {
            "fenceAction": 2,
            "inclusion": True,
            "polygon": [[47.39, 8.53], [47.40, 8.53], [47.40, 8.56], [47.39, 8.53]],
            "version": 1,
        }
    ]
    doc["geoFence"]["circles"] = [
        {
            "circle": {"center": [47.398, 8.546], "radius": 120.5, "style": "dashed"},
            "inclusion": True,
            "note": "kept",
            "version": 1,
        }
    ]
    doc["rallyPoints"]["extra"] = 1
    plan = load_doc(doc)
    assert len(plan.fence.polygons[0].polygon.exterior) == 3  # closing vertex dropped ...
    assert same_json(json.loads(qgc.dumps_plan(plan)), doc)  # ... and written back


def test_version_1_rally_points_are_written_as_version_2() -> None:
    """QGroundControl ignores version 1 rally data, so points are never written as version 1."""
    doc = raw(FENCE_ONLY)
    doc["rallyPoints"]["points"] = [[38.7507, -77.4972, 25]]
    plan = load_doc(doc)
    assert plan.rally_points == (RallyPoint(38.7507, -77.4972, 25.0),)
    assert json.loads(qgc.dumps_plan(plan))["rallyPoints"] == {
        "points": [[38.7507, -77.4972, 25]],
        "version": 2,
    }


def test_home_of_nulls_is_no_home() -> None:
    doc = raw(SQUARE)
    doc["mission"]["plannedHomePosition"] = [None, None, None]
    plan = load_doc(doc)
    assert plan.mission.home is None
    assert same_json(json.loads(qgc.dumps_plan(plan)), doc)


def test_home_with_unknown_altitude_keeps_its_null() -> None:
    doc = raw(SQUARE)
    doc["mission"]["plannedHomePosition"][2] = None
    plan = load_doc(doc)
    assert plan.mission.home == HomePosition(47.397742, 8.545594, 0.0)
    assert same_json(json.loads(qgc.dumps_plan(plan)), doc)


def test_fence_polygon_with_holes_cannot_be_exported() -> None:
    outer = [(47.39, 8.53), (47.40, 8.53), (47.40, 8.56), (47.39, 8.56)]
    hole = [(47.394, 8.54), (47.396, 8.54), (47.396, 8.545)]
    polygon = GeoPolygon(tuple(GeoPoint(*p) for p in outer), (tuple(GeoPoint(*p) for p in hole),))
    plan = Plan(fence=Fence((FencePolygon(polygon),)))
    with pytest.raises(UnsupportedItemError) as info:
        qgc.dumps_plan(plan)
    assert info.value.path == "geoFence.polygons[0]"


def test_dump_plan_writes_a_file_load_plan_reads(tmp_path: Path) -> None:
    out = tmp_path / "out.plan"
    qgc.dump_plan(built_plan(), out)
    assert out.read_text(encoding="utf-8").endswith("}\n")
    assert qgc.load_plan(out) == built_plan()


# -- DO_JUMP -----------------------------------------------------------------------------------


def jump_doc(target_jump_id: float) -> dict[str, Any]:
    doc = raw(SQUARE)
    doc["mission"]["items"].append(
        {
            "autoContinue": True,
            "command": 177,
            "doJumpId": 6,
            "frame": 2,
            "params": [target_jump_id, 3, 0, 0, 0, 0, 0],
            "type": "SimpleItem",
        }
    )
    return doc


def test_do_jump_targets_are_item_indices_in_the_model() -> None:
    """In the file DO_JUMP param1 is a doJumpId; in the model, an index into the items."""
    doc = jump_doc(2)
    plan = load_doc(doc)
    assert plan.mission.items[5].param1 == 1.0  # doJumpId 2 is the item at index 1
    assert same_json(json.loads(qgc.dumps_plan(plan)), doc)


def test_do_jump_to_no_item_is_refused() -> None:
    with pytest.raises(PlanValueError) as info:
        load_doc(jump_doc(42))
    assert info.value.path == "mission.items[5].params[0]"
    assert info.value.item_index == 5


def test_do_jump_to_a_missing_index_cannot_be_exported() -> None:
    plan = Plan(Mission((MissionItem.do(177, 9, 1),)))
    with pytest.raises(InvalidValueError):
        qgc.dumps_plan(plan)


# -- complex items -----------------------------------------------------------------------------


def test_survey_is_flattened_into_its_embedded_items() -> None:
    plan = qgc.load_plan(SURVEY)
    items = plan.mission.items
    assert len(items) == 14
    assert items[0].command == MavCmd.NAV_TAKEOFF
    assert items[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH
    assert [int(i.command) for i in items[1:13]] == [16, 16, 206, 16, 206, 16] * 2
    assert items[3].params == (25.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    assert all(i.frame == MavFrame.GLOBAL_RELATIVE_ALT and i.alt_m == 50 for i in items[1:3])
    assert qgc.qgc_extras(plan).complex_items == (qgc.QgcComplexSource(1, "survey", 1, 12),)
    assert plan.fence.circles[0].inclusion and plan.fence.circles[0].circle.radius_m == 400
    assert not plan.fence.polygons[0].inclusion
    assert plan.rally_points == (RallyPoint(47.3972, 8.5449, 30.0),)


def test_exported_survey_is_plain_simple_items() -> None:
    plan = qgc.load_plan(SURVEY)
    doc = json.loads(qgc.dumps_plan(plan))
    items = doc["mission"]["items"]
    assert len(items) == 14
    assert {i["type"] for i in items} == {"SimpleItem"}
    assert [i["doJumpId"] for i in items] == list(range(1, 15))
    assert items[1]["AltitudeMode"] == 1 and items[1]["Altitude"] == 50
    again = qgc.loads_plan(json.dumps(doc))
    assert again.mission == plan.mission
    assert again.fence == plan.fence


def test_corridor_scan_is_flattened_too() -> None:
    doc = raw(SURVEY)
    doc["mission"]["items"][1]["complexItemType"] = "CorridorScan"
    plan = load_doc(doc)
    assert len(plan.mission) == 14
    assert qgc.qgc_extras(plan).complex_items[0].complex_item_type == "CorridorScan"


@pytest.mark.parametrize(
    ("complex_type", "words"),
    [
        ("StructureScan", "stores no MAVLink items"),
        ("fwLandingPattern", "not supported"),
        ("vtolLandingPattern", "not supported"),
    ],
)
def test_complex_items_without_embedded_items_are_refused(complex_type: str, words: str) -> None:
    doc = raw(SURVEY)
    doc["mission"]["items"][1] = {"type": "ComplexItem", "complexItemType": complex_type}
    with pytest.raises(UnsupportedItemError) as info:
        load_doc(doc)
    msg = str(info.value)
    assert "item 1" in msg and complex_type in msg and words in msg
    assert info.value.path == "mission.items[1].complexItemType"
    assert info.value.source == "bad.plan"


def test_old_survey_without_transect_items_is_refused() -> None:
    doc = raw(SURVEY)
    del doc["mission"]["items"][1]["TransectStyleComplexItem"]
    doc["mission"]["items"][1]["version"] = 3
    with pytest.raises(UnsupportedItemError) as info:
        load_doc(doc)
    assert "item 1" in str(info.value) and "survey" in str(info.value)


def test_unknown_item_type_is_refused() -> None:
    doc = raw(SQUARE)
    doc["mission"]["items"][2]["type"] = "MagicItem"
    with pytest.raises(UnsupportedItemError) as info:
        load_doc(doc)
    assert "item 2" in str(info.value) and "MagicItem" in str(info.value)
    assert info.value.path == "mission.items[2].type"


def test_bad_value_inside_a_survey_names_the_embedded_item() -> None:
    doc = raw(SURVEY)
    doc["mission"]["items"][1]["TransectStyleComplexItem"]["Items"][4]["command"] = 64000
    with pytest.raises(PlanCommandError) as info:
        load_doc(doc)
    assert info.value.path == "mission.items[1].TransectStyleComplexItem.Items[4].command"
    assert info.value.item_index == 1


# -- refusals ----------------------------------------------------------------------------------


def test_malformed_json_is_refused_with_its_position() -> None:
    with pytest.raises(PlanFormatError) as info:
        qgc.loads_plan('{"fileType": "Plan",, }', source="bad.plan")
    assert "line 1 column" in str(info.value)
    assert info.value.source == "bad.plan"
    assert str(info.value).startswith("bad.plan: ")


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.99])
def test_truncated_file_is_refused(fraction: float) -> None:
    text = PX4.read_text(encoding="utf-8")
    with pytest.raises(PlanFormatError, match="truncated") as info:
        qgc.loads_plan(text[: int(len(text) * fraction)], source="cut.plan")
    assert info.value.source == "cut.plan"


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_tokens_are_refused_where_they_are(token: str) -> None:
    text = SQUARE.read_text(encoding="utf-8").replace("47.398742, 8.546594", f"{token}, 8.546594")
    with pytest.raises(PlanFormatError) as info:
        qgc.loads_plan(text, source="bad.plan")
    assert info.value.path == "mission.items[1].params[4]"
    assert token in str(info.value)


def test_load_plan_names_the_file_and_refuses_non_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "bin.plan"
    bad.write_bytes(b"\xff\xfe{}")
    with pytest.raises(PlanFormatError) as info:
        qgc.load_plan(bad)
    assert info.value.source == str(bad)
    missing = tmp_path / "wrong.plan"
    missing.write_text('{"fileType": "Mission", "version": 1}', encoding="utf-8")
    with pytest.raises(PlanFormatError) as info:
        qgc.load_plan(missing)
    assert str(missing) in str(info.value)


DELETE = object()
"""Marks a refusal case that removes the element instead of setting it."""


def _edit(doc: dict[str, Any], path: str, value: object) -> None:
    """Set (or delete) the element at ``path``, written as in the errors (``a.b[2].c``)."""
    parts: list[str | int] = [
        int(p) if p.isdigit() else p for p in path.replace("[", ".").replace("]", "").split(".")
    ]
    node: Any = doc
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def case(
    name: str, fixture: Path, path: str, value: object, error: type[Exception], at: str = ""
) -> Any:
    """Edit ``path`` of ``fixture`` to ``value``: refused with ``error`` at ``at`` (or ``path``)."""
    return pytest.param(fixture, path, value, error, at or path, id=name)


BOWTIE = [[47.39, 8.53], [47.40, 8.56], [47.40, 8.53], [47.39, 8.56]]
ITEM = "mission.items[1]"

REFUSALS = [
    case("wrong fileType", SQUARE, "fileType", "Mission", PlanFormatError),
    case("fileType missing", SQUARE, "fileType", DELETE, PlanFormatError),
    case("wrong plan version", SQUARE, "version", 2, PlanFormatError),
    case("missing mission", SQUARE, "mission", DELETE, PlanFormatError),
    case("missing items", SQUARE, "mission.items", DELETE, PlanFormatError),
    case("items not an array", SQUARE, "mission.items", {}, PlanFormatError),
    case("missing firmwareType", SQUARE, "mission.firmwareType", DELETE, PlanFormatError),
    case("missing home", SQUARE, "mission.plannedHomePosition", DELETE, PlanFormatError),
    case("home of 2 values", SQUARE, "mission.plannedHomePosition", [47.3, 8.5], PlanFormatError),
    case("home latitude", SQUARE, "mission.plannedHomePosition[0]", 91, PlanCoordinateError),
    case("mission version 3", SQUARE, "mission.version", 3, PlanFormatError),
    case("item not an object", SQUARE, ITEM, 16, PlanFormatError),
    case("item type missing", SQUARE, f"{ITEM}.type", DELETE, PlanFormatError),
    case("params of 6", SQUARE, f"{ITEM}.params", [0, 0, 0, 0, 47.3, 8.5], PlanFormatError),
    case("params of 8", SQUARE, f"{ITEM}.params", [0] * 8, PlanFormatError),
    case("params not an array", SQUARE, f"{ITEM}.params", "0,0,0", PlanFormatError),
    case("params missing", SQUARE, f"{ITEM}.params", DELETE, PlanFormatError),
    case("latitude > 90", PX4, "mission.items[3].params[4]", 95.0, PlanCoordinateError),
    case("latitude < -90", SQUARE, "mission.items[0].params[4]", -90.5, PlanCoordinateError),
    case("longitude > 180", SQUARE, "mission.items[2].params[5]", 180.01, PlanCoordinateError),
    case("longitude < -180", PX4, "mission.items[4].params[5]", -200, PlanCoordinateError),
    case("null latitude", SQUARE, "mission.items[4].params[4]", None, PlanCoordinateError),
    case("null altitude", SQUARE, "mission.items[4].params[6]", None, PlanValueError),
    case("unknown command", SQUARE, "mission.items[3].command", 99999, PlanCommandError),
    case("unknown frame", SQUARE, "mission.items[3].frame", 99, PlanValueError),
    case("string param", SQUARE, f"{ITEM}.params[0]", "abc", PlanValueError),
    case("boolean param", SQUARE, f"{ITEM}.params[2]", True, PlanValueError),
    case("object param", SQUARE, f"{ITEM}.params[1]", {}, PlanValueError),
    case("string command", SQUARE, f"{ITEM}.command", "16", PlanValueError),
    case("fractional command", SQUARE, f"{ITEM}.command", 16.5, PlanValueError),
    case("numeric autoContinue", SQUARE, f"{ITEM}.autoContinue", 1, PlanFormatError),
    case("string doJumpId", SQUARE, f"{ITEM}.doJumpId", "2", PlanValueError),
    case("string AltitudeMode", SQUARE, f"{ITEM}.AltitudeMode", "rel", PlanValueError),
    case("AltitudeMode without Altitude", SQUARE, f"{ITEM}.Altitude", DELETE, PlanFormatError),
    case("mode 3 without Altitude", PX4, "mission.items[5].Altitude", None, PlanValueError),
    case("string cruiseSpeed", SQUARE, "mission.cruiseSpeed", "fast", PlanValueError),
    case("negative hoverSpeed", SQUARE, "mission.hoverSpeed", -1, PlanValueError),
    case("string firmwareType", SQUARE, "mission.firmwareType", "PX4", PlanValueError),
    case(
        "fence of 2 vertices",
        FENCE_ONLY,
        "geoFence.polygons[1].polygon",
        BOWTIE[:2],
        PlanPolygonError,
    ),
    case(
        "self-intersecting fence",
        FENCE_ONLY,
        "geoFence.polygons[0].polygon",
        BOWTIE,
        PlanPolygonError,
    ),
    case(
        "fence vertex latitude",
        FENCE_ONLY,
        "geoFence.polygons[0].polygon[2][0]",
        100,
        PlanCoordinateError,
    ),
    case(
        "fence vertex of 3 values",
        FENCE_ONLY,
        "geoFence.polygons[0].polygon[2]",
        [38.7, -77.4, 1],
        PlanFormatError,
    ),
    case(
        "fence vertex not a number",
        FENCE_ONLY,
        "geoFence.polygons[0].polygon[1][1]",
        "-77.4",
        PlanValueError,
    ),
    case(
        "fence inclusion missing",
        FENCE_ONLY,
        "geoFence.polygons[0].inclusion",
        DELETE,
        PlanFormatError,
    ),
    case("fence shape version 2", FENCE_ONLY, "geoFence.polygons[0].version", 2, PlanFormatError),
    case("geoFence version 1", FENCE_ONLY, "geoFence.version", 1, PlanFormatError),
    case("circle radius 0", SURVEY, "geoFence.circles[0].circle.radius", 0, PlanValueError),
    case("circle centre", SURVEY, "geoFence.circles[0].circle.center[1]", 190, PlanCoordinateError),
    case("rally latitude", SURVEY, "rallyPoints.points[0][0]", -91, PlanCoordinateError),
    case("rally altitude null", SURVEY, "rallyPoints.points[0][2]", None, PlanValueError),
    case("rally version 3", SURVEY, "rallyPoints.version", 3, PlanFormatError),
    case(
        "survey Items not an array",
        SURVEY,
        "mission.items[1].TransectStyleComplexItem.Items",
        None,
        PlanFormatError,
    ),
]


@pytest.mark.parametrize(("fixture", "path", "value", "error", "at"), REFUSALS)
def test_bad_input_is_refused_with_path_and_source(
    fixture: Path, path: str, value: object, error: type[Exception], at: str
) -> None:
    """Each refusal has its specific type, the JSON path of the culprit and the source."""
    doc = raw(fixture)
    _edit(doc, path, value)
    with pytest.raises(error) as info:
        load_doc(doc, source="bad.plan")
    exc = info.value
    assert isinstance(exc, PlanFormatError)
    assert isinstance(exc, FlightPlanError)
    assert exc.path == at
    assert exc.source == "bad.plan"
    assert str(exc).startswith(f"bad.plan: {at}: ")


def test_located_errors_are_also_the_specific_value_errors() -> None:
    doc = raw(PX4)
    doc["mission"]["items"][3]["params"][4] = 95.0
    with pytest.raises(InvalidCoordinateError) as coord:
        load_doc(doc)
    assert coord.value.item_index == 3 and coord.value.field == "lat_deg"
    doc = raw(SQUARE)
    doc["mission"]["items"][2]["command"] = 99999
    with pytest.raises(UnknownCommandError) as cmd:
        load_doc(doc)
    assert cmd.value.command == 99999 and cmd.value.item_index == 2
    assert "item 2" in str(cmd.value)
    doc = raw(FENCE_ONLY)
    doc["geoFence"]["polygons"][1]["polygon"] = BOWTIE
    with pytest.raises(InvalidPolygonError) as poly:
        load_doc(doc)
    assert poly.value.item_index == 1 and "fence polygon 1" in str(poly.value)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PlanFormatError, match="expected an object, got an array") as info:
        qgc.loads_plan("[]", source="bad.plan")
    assert (info.value.path, info.value.source) == ("", "bad.plan")


def test_loading_does_not_change_the_input_document() -> None:
    doc = raw(PX4)
    before = copy.deepcopy(doc)
    qgc.plan_from_qgc_json(doc)
    assert doc == before
