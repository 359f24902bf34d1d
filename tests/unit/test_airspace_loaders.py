"""Zone file loaders: GeoJSON, QGroundControl fences, EUROCAE ED-269 and ED-318; refusals."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight_plans.errors import FlightPlanError
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum
from mission_control.airspace.errors import ZoneError, ZoneFileError
from mission_control.airspace.loaders import (
    LoadResult,
    load_zone_files,
    load_zones,
    loads_zones,
)
from mission_control.airspace.zones import (
    Altitude,
    Restriction,
    VerticalLimits,
    Zone,
    ZoneKind,
)

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
AIRSPACE = DATA / "airspace"
ED269 = AIRSPACE / "uas_standards-test_eurocae_ed269.json"
ED318 = AIRSPACE / "ED-318-Example_Collection.json"
FENCE_PLAN = DATA / "qgc" / "ce_geofence_home_base.plan"

Json = dict[str, Any]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def polygon(z: Zone) -> GeoPolygon:
    assert isinstance(z.shape, GeoPolygon)
    return z.shape


def circle(z: Zone) -> GeoCircle:
    assert isinstance(z.shape, GeoCircle)
    return z.shape


def agl(m: float) -> Altitude:
    return Altitude(m, AltDatum.TERRAIN)


def amsl(m: float) -> Altitude:
    return Altitude(m, AltDatum.AMSL)


def by_id(result: LoadResult, identifier: str) -> list[Zone]:
    return [z for z in result.zones if z.identifier == identifier]


def square(lon: float = 8.54, lat: float = 47.39, d: float = 0.01) -> list[list[float]]:
    """A closed [lon, lat] ring, counter-clockwise."""
    return [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]


def feature(geometry: Json | None = None, **props: Any) -> Json:
    geom = geometry if geometry is not None else {"type": "Polygon", "coordinates": [square()]}
    return {"type": "Feature", "geometry": geom, "properties": props}


def collection(*features: Json) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


# -- fixture copies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "blob"),
    [
        (ED269, "3eb9dd43273bef4a210624cbfae2dd939f3671a4"),
        (ED318, "f656c8eb51cacc1c0a2b0ba2a1598b6f41a78a99"),
    ],
    ids=["ed269", "ed318"],
)
def test_fixture_copies_are_the_recorded_git_blobs(path: Path, blob: str) -> None:
    """The copies are byte for byte the upstream files named in SOURCES.md."""
    data = path.read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob
    assert blob in (AIRSPACE / "SOURCES.md").read_text(encoding="utf-8")


# -- ED-269 ------------------------------------------------------------------------------------


def test_ed269_fixture_loads_every_volume_as_a_part() -> None:
    """6 zones with 10 geometry volumes → 10 zones, numbered by part, in file order."""
    r = load_zones(ED269)
    assert (r.format, r.axis_order, r.skipped) == ("ed269", "lonlat", ())
    assert [(z.identifier, z.part) for z in r.zones] == [
        ("Montreux Concert Area", 0),
        ("Flugplatz Reichenbach", 0),
        ("Flugplatz Reichenbach", 1),
        ("Flugplatz Reichenbach", 2),
        ("Lausanne Airport", 0),
        ("Lausanne Airport", 1),
        ("Lausanne Airport", 2),
        ("MONTREUX Wildlife Preserve", 0),
        ("Gantrisch Nature Park", 0),
        ("Gantrisch Nature Park", 0),
    ]
    assert all(z.kind is ZoneKind.EXCLUSION for z in r.zones)
    assert r.zones[5].source == f"{ED269}#features[2].geometry[1]"


def test_ed269_montreux_circle_limits_and_details() -> None:
    """Circle centre [lon, lat] and radius, 0 m AGL to 6259 m AMSL, texts and authority."""
    (z,) = by_id(load_zones(ED269), "Montreux Concert Area")
    c = circle(z)
    assert c.center == GeoPoint(46.430758, 6.913146)
    assert c.radius_m == 3000.0
    assert z.vertical == VerticalLimits(agl(0.0), amsl(6259.0))
    assert z.restriction is Restriction.PROHIBITED
    assert z.name == "Sample protected area active during evening"
    assert z.reason == ("OTHER", "Concert Area")
    assert z.message == "Concert area - prohibited flights during active times"
    assert z.authority == "Local Canton"


@pytest.mark.parametrize(
    ("at", "active"),
    [
        (utc(2022, 7, 2, 18), True),  # Saturday evening
        (utc(2022, 7, 3, 23, 30), True),  # Sunday late
        (utc(2022, 7, 4, 18), False),  # Monday
        (utc(2022, 7, 2, 12), False),  # Saturday noon
        (utc(2022, 6, 11, 18), False),  # Saturday before 2022-06-15
        (utc(2023, 7, 1, 18), False),  # Saturday after 2023-06-15
    ],
)
def test_ed269_montreux_schedule(at: datetime, active: bool) -> None:
    """SAT/SUN 17:00–23:59:59Z between 2022-06-15 and 2023-06-15 (fractional seconds read)."""
    (z,) = by_id(load_zones(ED269), "Montreux Concert Area")
    assert z.active_during(at) is active


def test_ed269_reichenbach_layers_and_bounded_period() -> None:
    """Three concentric circles with rising floors, in force 2022-06-15..2023-06-15 all day."""
    zones = by_id(load_zones(ED269), "Flugplatz Reichenbach")
    assert [circle(z).radius_m for z in zones] == [1000.0, 2500.0, 3500.0]
    assert {circle(z).center for z in zones} == {GeoPoint(46.612893, 7.67807)}
    assert [z.vertical for z in zones] == [
        VerticalLimits(agl(0.0), agl(120.0)),
        VerticalLimits(agl(50.0), agl(120.0)),
        VerticalLimits(agl(100.0), agl(120.0)),
    ]
    assert zones[0].active_during(utc(2022, 7, 4, 3))
    assert not zones[0].active_during(utc(2023, 6, 15, 9, 1))


def test_ed269_lausanne_repeated_first_vertex_still_loads() -> None:
    """Layers 1 and 2 repeat their first vertex: dropped, leaving a valid triangle."""
    zones = by_id(load_zones(ED269), "Lausanne Airport")
    assert [len(polygon(z).exterior) for z in zones] == [4, 3, 3]
    assert polygon(zones[1]).exterior == (
        GeoPoint(46.531941, 6.596603),
        GeoPoint(46.55945, 6.637458),
        GeoPoint(46.55945, 6.596603),
    )
    assert [z.vertical.floor for z in zones] == [agl(0.0), agl(30.0), agl(60.0)]
    assert all(z.schedule.permanent for z in zones)
    assert zones[0].reason == ("AIR_TRAFFIC", "OTHER", "Lausanne Airport Operational Restrictions")


def test_ed269_gantrisch_feet_and_restrictions() -> None:
    """250 ft AGL → 76.2 m AGL; the NO_RESTRICTION version is loaded as such."""
    zones = by_id(load_zones(ED269), "Gantrisch Nature Park")
    assert [z.restriction for z in zones] == [
        Restriction.NO_RESTRICTION,
        Restriction.REQ_AUTHORISATION,
    ]
    for z in zones:
        assert z.vertical.floor == agl(0.0)
        assert z.vertical.ceiling is not None
        assert z.vertical.ceiling.datum is AltDatum.TERRAIN
        assert z.vertical.ceiling.value_m == pytest.approx(76.2, abs=1e-9)
        assert len(polygon(z).exterior) == 5


# -- ED-318 ------------------------------------------------------------------------------------


def test_ed318_fixture_collection_and_circle() -> None:
    """GeometryCollection members → parts with their own layers; Point + Circle extent."""
    r = load_zones(ED318)
    assert (r.format, r.axis_order, r.skipped) == ("ed318", "lonlat", ())
    assert [(z.identifier, z.part) for z in r.zones] == [
        ("NFZ6547", 0),
        ("NFZ6547", 1),
        ("ABC1234", 0),
    ]
    lfpg0, lfpg1, abc = r.zones
    assert lfpg0.name == lfpg1.name == "LFPG-2"
    assert lfpg0.restriction is Restriction.REQ_AUTHORISATION  # REQ_AUTHORIZATION in the file
    assert polygon(lfpg0).exterior[0] == GeoPoint(49.029301, 2.585866)
    assert lfpg0.vertical == VerticalLimits(agl(50.0), agl(150.0))
    assert lfpg1.vertical == VerticalLimits(agl(0.0), agl(50.0))
    assert lfpg0.reason == ("AIR_TRAFFIC", "OTHER", "Flying Whales - part 2")
    assert lfpg0.authority == "LFPG-UASZoneManager"

    assert circle(abc).center == GeoPoint(50.122901, 2.636866)
    assert circle(abc).radius_m == 3500.0
    assert abc.vertical == VerticalLimits(agl(50.0), agl(150.0))
    assert abc.restriction is Restriction.PROHIBITED
    assert abc.name == "Fictitious circle"
    assert abc.reason == ("POPULATION", "NATURE", "Castle and nature reserve")  # en over fr
    assert abc.schedule.permanent


@pytest.mark.parametrize(
    ("at", "active"),
    [
        (utc(2019, 6, 5, 16, 30), True),  # any day 16:00–17:00Z
        (utc(2019, 6, 5, 11), False),  # Wednesday 11:00
        (utc(2019, 6, 9, 11), True),  # Sunday 10:00–12:00Z
        (utc(2020, 6, 5, 16, 30), False),  # after 2019-12-31T15:59:59Z
    ],
)
def test_ed318_limited_applicability(at: datetime, active: bool) -> None:
    """limitedApplicability with two weekly windows within a year."""
    zone = load_zones(ED318).zones[0]
    assert zone.active_during(at) is active


def test_ed318_single_feature_and_collection_layer_default() -> None:
    """A lone ED-318 Feature is detected; members without a layer use the collection's."""
    doc = json.loads(ED318.read_text(encoding="utf-8"))
    f = doc["features"][0]
    for m in f["geometry"]["geometries"]:
        del m["layer"]
    f["geometry"]["layer"] = {
        "upper": 400,
        "upperReference": "AMSL",
        "lower": 1,
        "lowerReference": "AMSL",
        "uom": "ft",
    }
    r = loads_zones(json.dumps(f))
    assert r.format == "ed318"
    assert [z.vertical for z in r.zones] == [VerticalLimits(amsl(0.3048), amsl(121.92))] * 2


# -- QGroundControl ----------------------------------------------------------------------------


def test_qgc_fence_becomes_inclusion_and_exclusion_zones() -> None:
    """The geofence-only plan: one inclusion and one exclusion polygon, no limits, permanent."""
    r = load_zones(FENCE_PLAN, axis_order="lonlat")  # ignored: .plan is [lat, lon]
    assert (r.format, r.axis_order) == ("qgc", "latlon")
    assert [(z.identifier, z.kind) for z in r.zones] == [
        ("fence-polygon-0", ZoneKind.INCLUSION),
        ("fence-polygon-1", ZoneKind.EXCLUSION),
    ]
    inc = r.zones[0]
    assert polygon(inc).exterior[0] == GeoPoint(38.7507608625056, -77.49735908548331)
    assert inc.vertical == VerticalLimits()
    assert inc.schedule.permanent
    assert r.zones[1].source == f"{FENCE_PLAN}#geoFence.polygons[1]"


def test_qgc_circles_are_loaded() -> None:
    plan = json.loads(FENCE_PLAN.read_text(encoding="utf-8"))
    plan["geoFence"]["circles"] = [
        {"circle": {"center": [38.75, -77.497], "radius": 120}, "inclusion": False, "version": 1}
    ]
    r = loads_zones(json.dumps(plan))
    (c,) = [z for z in r.zones if z.identifier == "fence-circle-0"]
    assert circle(c) == GeoCircle(GeoPoint(38.75, -77.497), 120.0)
    assert c.kind is ZoneKind.EXCLUSION


def test_qgc_errors_are_wrapped_with_their_cause() -> None:
    plan = json.loads(FENCE_PLAN.read_text(encoding="utf-8"))
    plan["geoFence"]["polygons"][0]["polygon"] = [[38.75, -77.49], [38.76, -77.49]]
    with pytest.raises(ZoneFileError, match=r"^f\.plan: not a valid \.plan: ") as info:
        loads_zones(json.dumps(plan), source="f.plan")
    assert isinstance(info.value.__cause__, FlightPlanError)
    assert "geoFence.polygons[0]" in str(info.value)


def test_qgc_plan_without_fence_is_refused() -> None:
    plan = json.loads(FENCE_PLAN.read_text(encoding="utf-8"))
    plan["geoFence"]["polygons"] = []
    with pytest.raises(ZoneFileError, match="no geofence"):
        loads_zones(json.dumps(plan), source="f.plan")


# -- plain GeoJSON -----------------------------------------------------------------------------


def test_geojson_multipolygon_with_hole_in_feet() -> None:
    """One zone per polygon (same identifier, parts 0..1), the hole kept, ft converted."""
    outer = square(8.50, 47.30, 0.04)
    hole = square(8.51, 47.31, 0.01)[::-1]
    text = collection(
        feature(
            {"type": "MultiPolygon", "coordinates": [[outer, hole], [square(8.60, 47.30)]]},
            identifier="ZRH-NFZ",
            name="Zurich test",
            restriction="req_authorization",
            lower_limit_altitude=0,
            lower_limit_unit="ft",
            lower_limit_alt_ref="SFC",
            upper_limit_altitude=1500,
            upper_limit_unit="FT",
            upper_limit_alt_ref="amsl",
            reason=["AIR_TRAFFIC"],
            message="call the tower",
            authority="Skyguide",
        )
    )
    r = loads_zones(text, source="z.geojson")
    assert (r.format, r.axis_order) == ("geojson", "lonlat")
    a, b = r.zones
    assert (a.identifier, a.part, b.identifier, b.part) == ("ZRH-NFZ", 0, "ZRH-NFZ", 1)
    assert len(polygon(a).holes) == 1 and polygon(b).holes == ()
    assert not polygon(a).contains(GeoPoint(47.315, 8.515))  # in the hole
    assert polygon(a).contains(GeoPoint(47.335, 8.535))
    assert a.vertical.floor == agl(0.0)
    assert a.vertical.ceiling is not None
    assert a.vertical.ceiling.value_m == pytest.approx(457.2)
    assert a.vertical.ceiling.datum is AltDatum.AMSL
    assert a.restriction is Restriction.REQ_AUTHORISATION
    assert (a.name, a.reason, a.message, a.authority) == (
        "Zurich test",
        ("AIR_TRAFFIC",),
        "call the tower",
        "Skyguide",
    )
    assert a.source == "z.geojson#features[0]"


def test_geojson_point_circle_short_limits_and_kinds() -> None:
    """Point + radius_m, floor_m/ceiling_m with references, kind/zone_type, default_kind."""
    text = collection(
        feature(
            {"type": "Point", "coordinates": [8.55, 47.40]},
            id="hospital",
            radius_m=250,
            floor_m=10,
            floor_ref="REL",
            ceiling_m=120,
            ceiling_ref="AGL",
        ),
        feature(kind="Inclusion", name="ops area"),
        feature(zone_type="inclusion"),
        feature(zone_type="AIRPORT", upper_limit_altitude=25, upper_limit_unit="FL"),
        feature(floor_m=500, floor_ref="WGS84", radius=3),
    )
    r = loads_zones(text, default_kind=ZoneKind.INCLUSION)
    hospital, ops, typed, airport, wgs = r.zones
    assert circle(hospital) == GeoCircle(GeoPoint(47.40, 8.55), 250.0)
    assert hospital.identifier == "hospital"
    assert hospital.vertical == VerticalLimits(Altitude(10.0, AltDatum.REL_HOME), agl(120.0))
    assert hospital.kind is ZoneKind.INCLUSION  # default_kind
    assert (ops.identifier, ops.name, ops.kind) == ("ops area", "ops area", ZoneKind.INCLUSION)
    assert typed.kind is ZoneKind.INCLUSION
    assert airport.kind is ZoneKind.INCLUSION  # free-text zone_type → default_kind
    assert airport.vertical == VerticalLimits(None, amsl(25 * 100 * 0.3048))
    assert wgs.vertical == VerticalLimits(amsl(500.0), None)  # ellipsoid height taken as AMSL
    assert [z.identifier for z in r.zones][2:] == ["feature-2", "feature-3", "feature-4"]


def test_geojson_identifier_fallbacks_and_bare_documents() -> None:
    """identifier > id > name > feature id > feature-<index>; Feature and geometry alone."""
    f = feature(name="N")
    f["id"] = 17
    text = collection(feature(identifier="I", id="x", name="N"), feature(id="D"), f, feature())
    assert [z.identifier for z in loads_zones(text).zones] == ["I", "D", "N", "feature-3"]
    single = feature(identifier="solo")
    assert loads_zones(json.dumps(single)).zones[0].identifier == "solo"
    bare = {"type": "Polygon", "coordinates": [square()]}
    (z,) = loads_zones(json.dumps(bare), source="b.json").zones
    assert (z.identifier, z.restriction, z.kind) == (
        "feature-0",
        Restriction.PROHIBITED,
        ZoneKind.EXCLUSION,
    )
    assert z.source == "b.json#geometry"


def test_geojson_schedules() -> None:
    """start/end make one period; an ED-269-style applicability list is read as in ED-269."""
    text = collection(
        feature(start="2024-05-01T08:00:00+02:00", end="2024-05-01T20:00:00Z"),
        feature(
            applicability=[
                {"schedule": [{"day": "MON", "startTime": "08:00Z", "endTime": "10:00:00Z"}]}
            ]
        ),
        feature(applicability=[{"permanent": "YES"}]),
    )
    event, weekly, permanent = loads_zones(text).zones
    assert event.active_during(utc(2024, 5, 1, 6))
    assert not event.active_during(utc(2024, 5, 1, 5, 59))
    assert weekly.active_during(utc(2024, 5, 6, 9)) and not weekly.active_during(utc(2024, 5, 7, 9))
    assert permanent.schedule.permanent


def test_geometry_collections_and_ed318_multipolygon_become_parts() -> None:
    """GeoJSON GeometryCollection members and ED-318 MultiPolygon polygons are parts."""
    gc = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Polygon", "coordinates": [square()]},
            {"type": "Point", "coordinates": [8.7, 47.5]},
        ],
    }
    r = loads_zones(json.dumps(feature(gc, identifier="gc", radius_m=40)))
    assert [(z.identifier, z.part, type(z.shape)) for z in r.zones] == [
        ("gc", 0, GeoPolygon),
        ("gc", 1, GeoCircle),
    ]
    layer = {"upper": 120, "upperReference": "AGL", "uom": "m"}
    mp = {"type": "MultiPolygon", "coordinates": [[square()], [square(9.0)]], "layer": layer}
    r = loads_zones(collection(feature(mp, identifier="E318", type="CONDITIONAL")))
    assert r.format == "ed318"
    assert [(z.part, z.restriction, z.vertical) for z in r.zones] == [
        (0, Restriction.CONDITIONAL, VerticalLimits(None, agl(120.0))),
        (1, Restriction.CONDITIONAL, VerticalLimits(None, agl(120.0))),
    ]


# -- axis order --------------------------------------------------------------------------------


def swap_positions(value: Any, in_position: bool = False) -> Any:
    """A copy with every position under ``coordinates``/``center`` written [lat, lon]."""
    if isinstance(value, dict):
        return {k: swap_positions(v, k in ("coordinates", "center")) for k, v in value.items()}
    if isinstance(value, list):
        if in_position and len(value) >= 2 and all(isinstance(v, int | float) for v in value):
            return [value[1], value[0], *value[2:]]
        return [swap_positions(v, in_position) for v in value]
    return value


def shapes_and_limits(r: LoadResult) -> list[tuple[object, ...]]:
    return [(z.identifier, z.part, z.shape, z.vertical, z.schedule) for z in r.zones]


@pytest.mark.parametrize("path", [ED269, ED318], ids=["ed269", "ed318"])
def test_swapped_fixture_loads_the_same_zones_with_latlon(path: Path, tmp_path: Path) -> None:
    """Swiss/French positions are plausible both ways: auto keeps [lon, lat] (RFC 7946);
    forcing "latlon" on the swapped copy gives the original zones."""
    swapped = tmp_path / path.name
    swapped.write_text(json.dumps(swap_positions(json.loads(path.read_text("utf-8")))), "utf-8")
    original = load_zones(path)
    forced = load_zones(swapped, axis_order="latlon")
    assert forced.axis_order == "latlon"
    assert shapes_and_limits(forced) == shapes_and_limits(original)
    auto = load_zones(swapped)
    assert auto.axis_order == "lonlat"
    assert shapes_and_limits(auto) != shapes_and_limits(original)


def test_auto_detects_latlon_when_a_longitude_is_beyond_90() -> None:
    """One Tokyo position written [lat, lon] is impossible as [lon, lat]: the whole file flips."""
    tokyo = swap_positions({"coordinates": [square(139.70, 35.68)]})["coordinates"]
    text = collection(
        feature({"type": "Polygon", "coordinates": tokyo}, identifier="tokyo"),
        feature({"type": "Point", "coordinates": [35.60, 139.78]}, radius_m=50),
    )
    r = loads_zones(text)
    assert r.axis_order == "latlon"
    assert polygon(r.zones[0]).exterior[0] == GeoPoint(35.68, 139.70)
    assert circle(r.zones[1]).center == GeoPoint(35.60, 139.78)
    with pytest.raises(ZoneFileError, match=r"feature 0 \(tokyo\).*latitude 139\.7 is outside"):
        loads_zones(text, axis_order="lonlat")


@settings(max_examples=40, deadline=None)
@given(
    lon=st.floats(91.0, 179.0) | st.floats(-179.0, -91.0),
    lat=st.floats(-60.0, 60.0),
)
def test_auto_axis_order_undoes_a_swap_whenever_it_can(lon: float, lat: float) -> None:
    """Property: with a longitude beyond ±90°, a swapped file loads as the original."""
    doc = json.loads(collection(feature({"type": "Polygon", "coordinates": [square(lon, lat)]})))
    original = loads_zones(json.dumps(doc))
    swapped = loads_zones(json.dumps(swap_positions(doc)))
    assert (original.axis_order, swapped.axis_order) == ("lonlat", "latlon")
    assert swapped.zones[0].shape == original.zones[0].shape


# -- refusals: one bad feature -----------------------------------------------------------------


BOWTIE = [[8.50, 47.30], [8.51, 47.31], [8.51, 47.30], [8.50, 47.31], [8.50, 47.30]]
LIMIT: Json = {"upper_limit_altitude": 100, "upper_limit_unit": "m", "upper_limit_alt_ref": "AGL"}

BAD_FEATURES: list[tuple[str, Json, str]] = [
    ("unknown unit", feature(**{**LIMIT, "upper_limit_unit": "furlong"}),
     r"properties\.upper_limit_unit: unknown altitude unit 'furlong'"),
    ("unknown datum", feature(**{**LIMIT, "upper_limit_alt_ref": "QNH"}),
     r"properties\.upper_limit_alt_ref: unknown altitude reference 'QNH'"),
    ("missing datum", feature(upper_limit_altitude=100, upper_limit_unit="m"),
     r"properties\.upper_limit_alt_ref: is required"),
    ("missing unit", feature(upper_limit_altitude=100, upper_limit_alt_ref="AGL"),
     r"properties\.upper_limit_unit: is required"),
    ("unknown short datum", feature(ceiling_m=50, ceiling_ref="QFE"),
     r"properties\.ceiling_ref: unknown altitude reference"),
    ("floor above ceiling", feature(floor_m=100, floor_ref="AGL", ceiling_m=50, ceiling_ref="AGL"),
     r"lower limit 100 m is above upper limit 50 m"),
    ("both limit forms", feature(**LIMIT, floor_m=0, floor_ref="AGL"), r"not both"),
    ("self-intersecting", feature({"type": "Polygon", "coordinates": [BOWTIE]}),
     r"geometry\.coordinates: invalid polygon: .*not a simple polygon"),
    ("two vertices", feature({"type": "Polygon", "coordinates": [[[8.5, 47.3], [8.6, 47.3], [8.5, 47.3]]]}),
     r"3 distinct vertices"),
    ("latitude out of range", feature({"type": "Point", "coordinates": [8.5, 200.0]}, radius_m=5),
     r"geometry\.coordinates: latitude 200 is outside ±90°"),
    ("longitude out of range", feature({"type": "Polygon", "coordinates": [[[200.0, 47.3], [8.6, 47.3], [8.6, 47.4]]]}),
     r"geometry\.coordinates\[0\]\[0\]: longitude 200 is outside ±180°"),
    ("non-numeric coordinate", feature({"type": "Point", "coordinates": ["8.5", 47.3]}, radius_m=5),
     r"geometry\.coordinates\[0\]: expected a number, got a string"),
    ("short position", feature({"type": "Point", "coordinates": [8.5]}, radius_m=5),
     r"a position needs 2 numbers"),
    ("missing geometry", {"type": "Feature", "geometry": None, "properties": {"identifier": "BAD"}},
     r"geometry: is missing"),
    ("unsupported geometry", feature({"type": "LineString", "coordinates": [[8.5, 47.3], [8.6, 47.3]]}),
     r"unsupported geometry 'LineString'"),
    ("point without radius", feature({"type": "Point", "coordinates": [8.5, 47.3]}),
     r"properties\.radius_m: a Point zone needs a radius"),
    ("negative radius", feature({"type": "Point", "coordinates": [8.5, 47.3]}, radius_m=-1),
     r"properties\.radius_m: radius must be > 0 m"),
    ("unknown restriction", feature(restriction="MAYBE"), r"properties\.restriction: unknown restriction"),
    ("unknown kind", feature(kind="sideways"), r"properties\.kind: expected exclusion or inclusion"),
    ("naive start", feature(start="2024-01-01T00:00:00"), r"properties\.start: .* has no time zone"),
    ("end before start", feature(start="2024-01-02T00:00:00Z", end="2024-01-01T00:00:00Z"),
     r"properties\.end: ends .* before it starts"),
    ("non-UTC schedule time", feature(applicability=[{"schedule": [{"day": ["MON"], "startTime": "08:00+02:00"}]}]),
     r"applicability\[0\]\.schedule\[0\]\.startTime: .* must be UTC"),
    ("solar event", feature(applicability=[{"schedule": [{"day": ["MON"], "startEvent": "SUNRISE"}]}]),
     r"schedule\[0\]\.startEvent: sunrise/sunset events are not supported"),
    ("unknown day", feature(applicability=[{"schedule": [{"day": ["FUNDAY"]}]}]),
     r"schedule\[0\]\.day: unknown day 'FUNDAY'"),
    ("properties not an object", {"type": "Feature", "geometry": None, "properties": ["BAD"]},
     r"properties: expected an object"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "bad", "message"), BAD_FEATURES, ids=[c[0] for c in BAD_FEATURES])
def test_bad_feature_rejects_the_file_naming_index_and_identifier(
    case: str, bad: Json, message: str
) -> None:
    """The error names the file, the feature's index and identifier, and the bad field."""
    bad = copy.deepcopy(bad)
    if isinstance(bad.get("properties"), dict):
        bad["properties"].setdefault("identifier", "BAD")
    text = collection(feature(identifier="good"), bad)
    with pytest.raises(ZoneFileError) as info:
        loads_zones(text, source="zones.geojson")
    err = info.value
    expected_id = "" if case == "properties not an object" else "BAD"
    assert (err.source, err.index, err.identifier) == ("zones.geojson", 1, expected_id)
    prefix = "zones.geojson: feature 1" + (" (BAD)" if expected_id else "")
    assert str(err).startswith(prefix + ": ")
    assert re.search(message, str(err)), str(err)
    assert isinstance(err.__cause__, ZoneError | FlightPlanError)


def test_skip_invalid_reports_every_skip_and_loads_the_rest() -> None:
    bad_unit = feature(identifier="u", **{**LIMIT, "upper_limit_unit": "yd"})
    bowtie = feature({"type": "Polygon", "coordinates": [BOWTIE]})
    text = collection(feature(identifier="a"), bad_unit, feature(identifier="b"), bowtie, "oops")  # type: ignore[arg-type]
    r = loads_zones(text, source="s.json", skip_invalid=True)
    assert [z.identifier for z in r.zones] == ["a", "b"]
    assert [(e.index, e.identifier) for e in r.skipped] == [(1, "u"), (3, ""), (4, "")]
    assert "upper_limit_unit" in str(r.skipped[0])
    assert "not a simple polygon" in str(r.skipped[1])
    assert "feature: expected an object, got a string" in str(r.skipped[2])
    assert all(isinstance(e.__cause__, ZoneError) for e in r.skipped)
    with pytest.raises(ZoneFileError, match=r"s\.json: feature 1 \(u\)"):
        loads_zones(text, source="s.json")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["features"][2]["geometry"][1].update(uomDimensions="YD"),
         r"feature 2 \(Lausanne Airport\): geometry\[1\]\.uomDimensions: unknown altitude unit"),
        (lambda d: d["features"][0]["geometry"][0].update(upperVerticalReference="QNH"),
         r"feature 0 \(Montreux Concert Area\): geometry\[0\]\.upperVerticalReference"),
        (lambda d: d["features"][0]["geometry"][0]["horizontalProjection"].update(type="Ellipse"),
         r"horizontalProjection\.type: unsupported projection 'Ellipse'"),
        (lambda d: d["features"][0]["geometry"][0]["horizontalProjection"].update(radius=0),
         r"horizontalProjection\.radius: radius must be > 0 m"),
        (lambda d: d["features"][1].update(geometry=[]), r"feature 1 \(Flugplatz Reichenbach\): geometry: is empty"),
        (lambda d: d["features"][3].update(restriction="FORBIDDEN"), r"feature 3 .*restriction: unknown restriction"),
        (lambda d: d["features"][0]["applicability"][0].update(permanent="MAYBE"), r"applicability\[0\]\.permanent"),
        (lambda d: d["features"][0]["applicability"][0].update(startDateTime="2022-13-01T00:00Z"),
         r"startDateTime: '2022-13-01T00:00Z' is not an ISO 8601 date-time"),
    ],
)  # fmt: skip
def test_ed269_bad_volume_rejects_the_file_or_is_skipped(edit: Any, message: str) -> None:
    doc = json.loads(ED269.read_text(encoding="utf-8"))
    edit(doc)
    with pytest.raises(ZoneFileError, match=message):
        loads_zones(json.dumps(doc), source="ed269.json")
    r = loads_zones(json.dumps(doc), source="ed269.json", skip_invalid=True)
    (skip,) = r.skipped
    assert skip.index is not None
    assert len(r.zones) == 10 - [1, 3, 3, 1, 1, 1][skip.index]  # volumes per zone


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f["geometry"].update(extent={"subType": "Ellipse"}), r"geometry\.extent\.subType"),
        (lambda f: f["geometry"].pop("extent"), r"geometry\.extent: a Point zone needs an extent"),
        (lambda f: f["geometry"]["layer"].update(uom="furlong"), r"geometry\.layer\.uom: unknown altitude unit"),
        (lambda f: f["geometry"]["layer"].update(lowerReference="QFE"), r"geometry\.layer\.lowerReference"),
        (lambda f: f["properties"].update(type="MAYBE"), r"properties\.type: unknown restriction"),
        (lambda f: f["properties"].update(name=[{"lang": "en"}]), r"properties\.name\[0\]\.text: expected a string"),
    ],
)  # fmt: skip
def test_ed318_bad_feature_names_the_field(edit: Any, message: str) -> None:
    doc = json.loads(ED318.read_text(encoding="utf-8"))
    edit(doc["features"][1])
    with pytest.raises(ZoneFileError, match=r"feature 1 \(ABC1234\): " + message):
        loads_zones(json.dumps(doc), source="ed318.json")


# -- refusals: the file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^x\.json: the file is empty$"),
        ("  \n", r"the file is empty"),
        ('{"type": "FeatureCollection", "features": [', r"not valid JSON: .* line 1"),
        ("{'type': 'Polygon'}", r"not valid JSON"),
        ('{"type": "Point", "coordinates": [NaN, 47.0]}', r"NaN is not a JSON number"),
        ('{"type": "Point", "coordinates": [-Infinity, 47.0]}', r"-Infinity is not a JSON number"),
        ('{"type": "Point", "coordinates": [1e999, 47.0]}', r"1e999 is not a JSON number"),
        ("[1, 2]", r"expected a JSON object, got an array"),
        ('{"type": "Topology"}', r"not a recognised zone file: not a GeoJSON object"),
        ('{"type": "FeatureCollection"}', r"needs a 'features' array"),
        ('{"type": "FeatureCollection", "features": []}', r"holds no zones"),
        ('{"features": []}', r"holds no zones"),
    ],
)
def test_file_level_problems_always_raise(text: str, message: str) -> None:
    for skip in (False, True):
        with pytest.raises(ZoneFileError, match=message) as info:
            loads_zones(text, source="x.json", skip_invalid=skip)
        assert info.value.index is None
        assert info.value.source == "x.json"


def test_unreadable_and_non_utf8_files_name_the_source(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.geojson"
    latin1.write_bytes('{"name": "Zürich"}'.encode("latin-1"))
    with pytest.raises(ZoneFileError, match=r"latin1\.geojson: not UTF-8 text \(byte 11\)"):
        load_zones(latin1)
    with pytest.raises(ZoneFileError, match=r"missing\.json: cannot read the file") as info:
        load_zones(tmp_path / "missing.json")
    assert isinstance(info.value.__cause__, OSError)


def test_bom_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "bom.geojson"
    p.write_bytes(b"\xef\xbb\xbf" + collection(feature(identifier="bom")).encode())
    assert load_zones(p).zones[0].identifier == "bom"
    assert loads_zones("\ufeff" + collection(feature())).zones[0].identifier == "feature-0"


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ZoneFileError, match="unknown format 'kml'"):
        loads_zones(collection(feature()), format="kml")
    with pytest.raises(ZoneFileError, match="unknown axis order 'xy'"):
        loads_zones(collection(feature()), axis_order="xy")


def test_forced_format_reads_the_file_that_way() -> None:
    """format="geojson" on the ED-318 file refuses its list-valued name; ed269 needs features."""
    with pytest.raises(ZoneFileError, match=r"properties\.name: expected a string"):
        load_zones(ED318, format="geojson")
    with pytest.raises(ZoneFileError, match="needs a 'features' array"):
        loads_zones(json.dumps({"type": "Polygon", "coordinates": [square()]}), format="ed269")
    assert load_zones(ED269, format="ed269").format == "ed269"


# -- several files -----------------------------------------------------------------------------


def test_load_zone_files_concatenates_in_order() -> None:
    r = load_zone_files([ED269, ED318, FENCE_PLAN])
    assert len(r.zones) == 10 + 3 + 2
    assert [z.identifier for z in r.zones][9:11] == ["Gantrisch Nature Park", "NFZ6547"]
    assert (r.format, r.axis_order, r.skipped) == ("mixed", "mixed", ())
    same = load_zone_files([ED269, ED269])
    assert (same.format, same.axis_order, len(same.zones)) == ("ed269", "lonlat", 20)


def test_load_zone_files_rejects_all_when_one_file_is_bad(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(collection(feature(identifier="x", restriction="MAYBE")), "utf-8")
    with pytest.raises(ZoneFileError, match=r"bad\.json: feature 0 \(x\)"):
        load_zone_files([ED269, bad])
    r = load_zone_files([ED269, bad], skip_invalid=True)
    assert len(r.zones) == 10
    assert [(e.source, e.index) for e in r.skipped] == [(str(bad), 0)]
    with pytest.raises(ZoneFileError, match="no zone files given"):
        load_zone_files([])
