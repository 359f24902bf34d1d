"""GeoJSON export (RFC 7946: lon/lat, closed counter-clockwise rings) and polygon import."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LinearRing

from flight_plans import geojson, qgc
from flight_plans.errors import (
    InvalidValueError,
    PlanCoordinateError,
    PlanFormatError,
    PlanPolygonError,
)
from flight_plans.geodesy import GeoPoint, LocalFrame, distance_m
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, Mission, MissionItem
from flight_plans.plan import Fence, FenceCircle, Plan, RallyPoint

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
PX4 = DATA / "qgc" / "PX4SITL-PX4-MultiRotor.plan"
FENCE_ONLY = DATA / "qgc" / "ce_geofence_home_base.plan"
SURVEY = DATA / "survey_transect.plan"


def kinds(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in doc["features"] if f["properties"]["kind"] == kind]


def ccw(ring: list[list[float]]) -> bool:
    """Winding of a [lon, lat] ring, judged in a local metric frame around its first vertex."""
    frame = LocalFrame.at(ring[0][1], ring[0][0])
    return bool(LinearRing([frame.to_local(GeoPoint(lat, lon)) for lon, lat in ring]).is_ccw)


# -- mission -----------------------------------------------------------------------------------


def test_mission_is_a_feature_collection_in_lon_lat_order() -> None:
    plan = qgc.load_plan(PX4)
    doc = geojson.mission_to_geojson(plan.mission)
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    (line,) = kinds(doc, "flight_path")
    assert line["type"] == "Feature"
    assert line["geometry"]["type"] == "LineString"
    coords = line["geometry"]["coordinates"]
    home = plan.mission.home
    assert home is not None
    assert coords[0] == [home.lon_deg, home.lat_deg]  # starts at home, lon first
    first = plan.mission.items[0]
    assert coords[1] == [first.lon_deg, first.lat_deg]
    nav = plan.mission.nav_items()
    assert len(coords) == 1 + len(nav)  # ends with LAND, not RTL: no return leg
    assert line["properties"]["item_indices"] == [None, *(i for i, _ in nav)]
    assert line["properties"]["returns_home"] is False


def test_one_point_per_positioned_item_with_its_properties() -> None:
    plan = qgc.load_plan(PX4)
    points = kinds(geojson.mission_to_geojson(plan.mission), "mission_item")
    positioned = [i for i, it in enumerate(plan.mission.items) if it.position is not None]
    assert [p["properties"]["index"] for p in points] == positioned
    by_index = {p["properties"]["index"]: p for p in points}
    takeoff = by_index[0]
    assert takeoff["geometry"] == {"type": "Point", "coordinates": [8.5455, 47.3996949]}
    assert takeoff["properties"] == {
        "kind": "mission_item",
        "index": 0,
        "command": 22,
        "command_name": "NAV_TAKEOFF",
        "alt_m": 30.0,
        "alt_datum": "rel",
        "nav": True,
    }
    assert by_index[3]["properties"]["alt_datum"] == "amsl"
    assert by_index[5]["properties"]["alt_datum"] == "agl"  # calc-above-terrain item
    assert by_index[5]["properties"]["alt_m"] == 80.0
    roi = by_index[4]["properties"]
    assert (roi["command_name"], roi["nav"]) == ("DO_SET_ROI_LOCATION", False)
    assert 2 not in by_index  # DO_CHANGE_SPEED has no position
    (home,) = kinds(geojson.mission_to_geojson(plan.mission), "home")
    assert home["properties"]["alt_amsl_m"] == 488.056


def test_mission_ending_with_rtl_returns_home() -> None:
    plan = qgc.load_plan(SURVEY)
    (line,) = kinds(geojson.mission_to_geojson(plan.mission), "flight_path")
    coords = line["geometry"]["coordinates"]
    home = [8.545594, 47.397742]
    assert coords[0] == home and coords[-1] == home
    assert line["properties"]["returns_home"] is True


def test_mission_without_home_or_path() -> None:
    assert geojson.mission_to_geojson(Mission()) == {"type": "FeatureCollection", "features": []}
    one = Mission((MissionItem.at(MavCmd.NAV_WAYPOINT, 47.0, 8.0, alt_rel_m=20),))
    doc = geojson.mission_to_geojson(one)
    assert kinds(doc, "flight_path") == []  # a LineString needs two positions
    assert len(kinds(doc, "mission_item")) == 1
    with_home = one.with_home(HomePosition(47.001, 8.0, 400.0))
    assert len(kinds(geojson.mission_to_geojson(with_home), "flight_path")) == 1


# -- fence and rally ---------------------------------------------------------------------------


def test_fence_polygons_are_closed_and_counter_clockwise() -> None:
    plan = qgc.load_plan(FENCE_ONLY)
    polys = kinds(geojson.plan_to_geojson(plan), "fence_polygon")
    assert [p["properties"]["inclusion"] for p in polys] == [True, False]
    for feature, fp in zip(polys, plan.fence.polygons, strict=True):
        assert feature["geometry"]["type"] == "Polygon"
        (ring,) = feature["geometry"]["coordinates"]
        assert ring[0] == ring[-1]
        assert len(ring) == len(fp.polygon.exterior) + 1
        assert ccw(ring)
        assert {tuple(c) for c in ring} == {(v.lon_deg, v.lat_deg) for v in fp.polygon.exterior}


@pytest.mark.parametrize("reverse", [False, True])
def test_winding_follows_the_right_hand_rule_whatever_the_input(reverse: bool) -> None:
    outer = [(47.39, 8.53), (47.40, 8.53), (47.40, 8.56), (47.39, 8.56)]
    hole = [(47.394, 8.54), (47.396, 8.54), (47.396, 8.545)]
    if reverse:
        outer, hole = outer[::-1], hole[::-1]
    polygon = GeoPolygon(tuple(GeoPoint(*p) for p in outer), (tuple(GeoPoint(*p) for p in hole),))
    exterior, interior = geojson.polygon_geometry(polygon)["coordinates"]
    assert ccw(exterior)
    assert not ccw(interior)
    assert exterior[0] == exterior[-1] and interior[0] == interior[-1]


def circle_plan() -> Plan:
    return Plan(
        Mission(home=HomePosition(47.397742, 8.545594, 488.0)),
        Fence(circles=(FenceCircle(GeoCircle(GeoPoint(47.3985, 8.545), 400.0), inclusion=False),)),
        (RallyPoint(47.3972, 8.5449, 30.0),),
    )


def test_fence_circle_primary_form_is_a_geodesic_polygon() -> None:
    (circle,) = kinds(geojson.plan_to_geojson(circle_plan(), circle_segments=32), "fence_circle")
    props = circle["properties"]
    assert props == {
        "kind": "fence_circle",
        "index": 0,
        "inclusion": False,
        "radius_m": 400.0,
        "center": [8.545, 47.3985],
        "form": "polygon",
    }
    (ring,) = circle["geometry"]["coordinates"]
    assert len(ring) == 33 and ring[0] == ring[-1]
    assert ccw(ring)
    center = GeoPoint(47.3985, 8.545)
    for lon, lat in ring:
        assert distance_m(center, GeoPoint(lat, lon)) == pytest.approx(400.0, abs=1e-6)


def test_fence_circle_as_point_or_both() -> None:
    (point,) = kinds(geojson.plan_to_geojson(circle_plan(), circles="point"), "fence_circle")
    assert point["geometry"] == {"type": "Point", "coordinates": [8.545, 47.3985]}
    assert point["properties"]["radius_m"] == 400.0 and point["properties"]["form"] == "point"
    both = kinds(geojson.plan_to_geojson(circle_plan(), circles="both"), "fence_circle")
    assert [f["properties"]["form"] for f in both] == ["polygon", "point"]
    with pytest.raises(InvalidValueError):
        geojson.plan_to_geojson(circle_plan(), circles="ellipse")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        geojson.plan_to_geojson(circle_plan(), circle_segments=2)


def test_rally_points_and_home() -> None:
    doc = geojson.plan_to_geojson(circle_plan())
    (rally,) = kinds(doc, "rally_point")
    assert rally["geometry"]["coordinates"] == [8.5449, 47.3972]
    assert rally["properties"] == {"kind": "rally_point", "index": 0, "alt_rel_m": 30.0}
    assert len(kinds(doc, "home")) == 1


def test_survey_plan_has_every_kind() -> None:
    doc = geojson.plan_to_geojson(qgc.load_plan(SURVEY))
    assert {f["properties"]["kind"] for f in doc["features"]} == {
        "flight_path",
        "mission_item",
        "home",
        "fence_polygon",
        "fence_circle",
        "rally_point",
    }


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-80, 80),
    lon=st.floats(-179, 179),
    radius_m=st.floats(1.0, 50_000.0),
    segments=st.integers(3, 90),
)
def test_circle_ring_is_ccw_and_on_the_circle(
    lat: float, lon: float, radius_m: float, segments: int
) -> None:
    circle = GeoCircle(GeoPoint(lat, lon), radius_m)
    ring = geojson.circle_ring(circle, segments=segments)
    assert len(ring) == segments
    for p in ring:
        assert math.isclose(distance_m(circle.center, p), radius_m, rel_tol=1e-9, abs_tol=1e-6)
    frame = LocalFrame(circle.center)
    assert LinearRing(frame.to_local_many(ring)).is_ccw


# -- text --------------------------------------------------------------------------------------


def test_dumps_geojson_is_json_and_refuses_nan() -> None:
    doc = geojson.plan_to_geojson(qgc.load_plan(SURVEY))
    text = geojson.dumps_geojson(doc)
    assert not text.endswith("\n")
    assert json.loads(text) == doc
    assert "NaN" not in text
    with pytest.raises(ValueError, match="not JSON compliant"):
        geojson.dumps_geojson({"type": "Feature", "properties": {"x": math.nan}})


# -- polygon import ----------------------------------------------------------------------------

SQUARE_RING = [[8.53, 47.39], [8.56, 47.39], [8.56, 47.40], [8.53, 47.40], [8.53, 47.39]]


@pytest.mark.parametrize(
    "doc",
    [
        {"type": "Polygon", "coordinates": [SQUARE_RING]},
        {"type": "MultiPolygon", "coordinates": [[SQUARE_RING]]},
        {
            "type": "Feature",
            "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [SQUARE_RING]},
        },
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "Point", "coordinates": [8.5, 47.3]},
                },
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "Polygon", "coordinates": [SQUARE_RING]},
                },
            ],
        },
    ],
    ids=["polygon", "multipolygon", "feature", "collection"],
)
def test_loads_polygon_reads_lon_lat(doc: dict[str, Any]) -> None:
    polygon = geojson.loads_polygon(json.dumps(doc))
    assert polygon.exterior == tuple(GeoPoint(lat, lon) for lon, lat in SQUARE_RING[:-1])


def test_exported_fence_polygon_reads_back() -> None:
    plan = qgc.load_plan(FENCE_ONLY)
    feature = kinds(geojson.plan_to_geojson(plan), "fence_polygon")[0]
    polygon = geojson.loads_polygon(json.dumps(feature))
    assert set(polygon.exterior) == set(plan.fence.polygons[0].polygon.exterior)


def test_load_polygon_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "area.geojson"
    f.write_text(json.dumps({"type": "Polygon", "coordinates": [SQUARE_RING]}), encoding="utf-8")
    assert len(geojson.load_polygon(f).exterior) == 4


@pytest.mark.parametrize(
    ("doc", "error", "path"),
    [
        ({"type": "Point", "coordinates": [8.5, 47.3]}, PlanFormatError, "type"),
        ({"type": "Polygon", "coordinates": [SQUARE_RING[:2]]}, PlanPolygonError, "coordinates"),
        (
            {"type": "Polygon", "coordinates": [[[8.5, 95.0], *SQUARE_RING[1:]]]},
            PlanCoordinateError,
            "coordinates[0][0][1]",
        ),
        (
            {"type": "Polygon", "coordinates": [[[8.5], *SQUARE_RING[1:]]]},
            PlanFormatError,
            "coordinates[0][0]",
        ),
        (
            {"type": "FeatureCollection", "features": []},
            PlanFormatError,
            "features",
        ),
        ({"type": "Feature", "properties": {}}, PlanFormatError, "geometry"),
    ],
    ids=["not a polygon", "too few vertices", "latitude", "short position", "empty", "no geometry"],
)
def test_loads_polygon_refusals(doc: dict[str, Any], error: type[Exception], path: str) -> None:
    with pytest.raises(error) as info:
        geojson.loads_polygon(json.dumps(doc), source="area.geojson")
    assert isinstance(info.value, PlanFormatError)
    assert info.value.path == path
    assert info.value.source == "area.geojson"


def test_loads_polygon_refuses_bad_json() -> None:
    with pytest.raises(PlanFormatError, match="not valid JSON"):
        geojson.loads_polygon('{"type": "Polygon", ', source="area.geojson")
