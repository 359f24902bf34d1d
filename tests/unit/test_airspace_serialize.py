"""Zones stored as plain GeoJSON features: exact round trips, RFC 7946 output, refusals."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LinearRing

from flight_plans.errors import InvalidPolygonError
from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum
from mission_control.airspace.errors import ZoneError, ZoneFileError
from mission_control.airspace.loaders import load_zones, loads_zones
from mission_control.airspace.serialize import (
    describe_schedule,
    feature_collection_to_zones,
    feature_to_zone,
    zone_summary,
    zone_to_feature,
    zones_to_feature_collection,
)
from mission_control.airspace.zones import (
    Altitude,
    Period,
    Restriction,
    Schedule,
    VerticalLimits,
    WeeklyWindow,
    Zone,
    ZoneKind,
)

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
ED269 = DATA / "airspace" / "uas_standards-test_eurocae_ed269.json"
ED318 = DATA / "airspace" / "ED-318-Example_Collection.json"
QGC_FENCE = DATA / "qgc" / "ce_geofence_home_base.plan"
QGC_CIRCLE = DATA / "survey_transect.plan"

Json = dict[str, Any]


def via_json(doc: object) -> Any:
    """What the database hands back: the document through strict JSON text."""
    return json.loads(json.dumps(doc, allow_nan=False))


def square(lon: float, lat: float, d: float) -> list[list[float]]:
    return [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]


# -- generated zones ---------------------------------------------------------------------------

TZS = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
)
MOMENTS = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=TZS)


@st.composite
def star(draw: st.DrawFn, frame: LocalFrame, r_min: float, r_max: float) -> list[GeoPoint]:
    """A star-shaped ring around the frame's origin, in either orientation."""
    n = draw(st.integers(3, 9))
    jitter = draw(st.lists(st.floats(0.0, 0.4), min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(r_min, r_max), min_size=n, max_size=n))
    angles = [2 * math.pi * (k + j) / n for k, j in enumerate(jitter)]
    xy = [(r * math.cos(a), r * math.sin(a)) for r, a in zip(radii, angles, strict=True)]
    if draw(st.booleans()):
        xy.reverse()
    return frame.to_geo_many(xy)


@st.composite
def shapes(draw: st.DrawFn) -> GeoPolygon | GeoCircle:
    lat = draw(st.floats(-80.0, 80.0))
    lon = draw(st.floats(-180.0, 180.0) | st.sampled_from([179.99, -179.99]))  # antimeridian
    if draw(st.booleans()):
        return GeoCircle(GeoPoint(lat, lon), draw(st.floats(0.5, 100_000.0)))
    frame = LocalFrame.at(lat, lon)
    exterior = draw(star(frame, 2_000.0, 5_000.0))
    holes = [draw(star(frame, 20.0, 60.0))] if draw(st.booleans()) else []
    try:
        return GeoPolygon(tuple(exterior), tuple(tuple(h) for h in holes))
    except InvalidPolygonError:
        assume(False)
        raise


ALTITUDES = st.builds(Altitude, st.floats(-500.0, 20_000.0), st.sampled_from(list(AltDatum)))


@st.composite
def limits(draw: st.DrawFn) -> VerticalLimits:
    floor, ceiling = draw(st.none() | ALTITUDES), draw(st.none() | ALTITUDES)
    if floor and ceiling and floor.datum == ceiling.datum and floor.value_m > ceiling.value_m:
        floor, ceiling = ceiling, floor
    return VerticalLimits(floor, ceiling)


WINDOWS = st.builds(
    WeeklyWindow, st.frozensets(st.integers(0, 6), min_size=1), st.times(), st.times()
)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    start, end = draw(st.none() | MOMENTS), draw(st.none() | MOMENTS)
    if start and end and end < start:
        start, end = end, start
    windows = tuple(draw(st.lists(WINDOWS, max_size=2)))
    assume(start or end or windows)  # an unbounded period reads back as "permanent"
    return Period(start, end, windows)


TEXT = st.text(max_size=12)
IDENTS = st.text(min_size=1, max_size=12).filter(str.strip)


@st.composite
def zones(draw: st.DrawFn, idents: st.SearchStrategy[str] = IDENTS) -> Zone:
    return Zone(
        draw(idents),
        draw(shapes()),
        kind=draw(st.sampled_from(list(ZoneKind))),
        vertical=draw(limits()),
        restriction=draw(st.sampled_from(list(Restriction))),
        schedule=Schedule(tuple(draw(st.lists(periods(), max_size=3)))),
        name=draw(TEXT),
        reason=tuple(draw(st.lists(TEXT, max_size=3))),
        message=draw(TEXT),
        authority=draw(TEXT),
        source=draw(TEXT),
        part=draw(st.integers(0, 40)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zones())
def test_feature_round_trip_is_exact(zone: Zone) -> None:
    """Every field, through strict JSON text: identifier verbatim, part, source, ring order."""
    assert feature_to_zone(via_json(zone_to_feature(zone))) == zone


def reversed_ring(ring: tuple[GeoPoint, ...]) -> tuple[GeoPoint, ...]:
    return (ring[0], *ring[:0:-1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(zones(IDENTS.map(str.strip)), min_size=1, max_size=3))
def test_the_documented_loader_reads_the_same_zones(zs: list[Zone]) -> None:
    """loads_zones on the collection text: equal but for the extensions (part, source, and
    the vertex order of rings written reversed for the right-hand rule)."""
    doc = zones_to_feature_collection(zs)
    result = loads_zones(json.dumps(doc, allow_nan=False))
    assert result.format == "geojson"
    assert len(result.zones) == len(zs)
    for k, (got, z, f) in enumerate(zip(result.zones, zs, doc["features"], strict=True)):
        shape = z.shape
        flipped = f["properties"].get("reversed_rings", [])
        if isinstance(shape, GeoPolygon):
            rings = [shape.exterior, *shape.holes]
            rings = [reversed_ring(r) if i in flipped else r for i, r in enumerate(rings)]
            shape = GeoPolygon(rings[0], tuple(rings[1:]))
        assert got == replace(z, shape=shape, part=0, source=f"features[{k}]")


# -- the real files ----------------------------------------------------------------------------


def geojson_fixture() -> str:
    """A plain GeoJSON zone file in the documented form (no such file is published)."""
    outer, hole = square(8.50, 47.30, 0.04), square(8.51, 47.31, 0.01)[::-1]
    props: Json = {
        "identifier": "ZRH-NFZ",
        "restriction": "req_authorization",
        "lower_limit_altitude": 0,
        "lower_limit_unit": "ft",
        "lower_limit_alt_ref": "SFC",
        "upper_limit_altitude": 1500,
        "upper_limit_unit": "FT",
        "upper_limit_alt_ref": "amsl",
        "reason": "AIR_TRAFFIC",
        "authority": ["Skyguide", "FOCA"],
        "start": "2026-05-01T08:00:00+02:00",
        "end": "2026-05-01T18:00:00Z",
    }
    circle: Json = {
        "name": "stadium",
        "kind": "inclusion",
        "radius_m": 350.5,
        "floor_m": 10,
        "floor_ref": "AGL",
    }
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "MultiPolygon",
                        "coordinates": [[outer, hole], [square(8.6, 47.3, 0.01)]],
                    },
                    "properties": props,
                },
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [8.55, 47.38]},
                    "properties": circle,
                },
            ],
        }
    )


@pytest.mark.parametrize(
    "load",
    [
        lambda: load_zones(ED269),
        lambda: load_zones(ED318),
        lambda: load_zones(QGC_FENCE),
        lambda: load_zones(QGC_CIRCLE),
        lambda: loads_zones(geojson_fixture(), source="zrh.geojson"),
    ],
    ids=["ed269", "ed318", "qgc-polygons", "qgc-circle", "geojson"],
)
def test_fixture_zones_survive_storage(load: Any) -> None:
    """load → serialise → JSON → load again gives the very same zones."""
    zs = load().zones
    assert len(zs) >= 2
    assert feature_collection_to_zones(via_json(zones_to_feature_collection(zs))) == zs
    assert [feature_to_zone(via_json(zone_to_feature(z))) for z in zs] == list(zs)


def test_fixture_details_that_need_the_extensions_are_kept() -> None:
    """ED-269 layers are parts 0..2 of one identifier; schedules and sources survive."""
    zs = load_zones(ED269).zones
    reichenbach = [z for z in zs if z.identifier == "Flugplatz Reichenbach"]
    back = [feature_to_zone(via_json(zone_to_feature(z))) for z in reichenbach]
    assert [z.part for z in back] == [0, 1, 2]
    assert back[2].source.endswith("#features[1].geometry[2]")
    montreux = feature_to_zone(via_json(zone_to_feature(zs[0])))
    assert not montreux.active_during(datetime(2022, 7, 4, 18, 0, tzinfo=UTC))  # a Monday
    assert montreux.active_during(datetime(2022, 7, 2, 18, 0, tzinfo=UTC))  # a Saturday


def test_output_is_rfc7946() -> None:
    """[lon, lat] positions, closed rings, exterior counter-clockwise and holes clockwise —
    even when the zone's own rings turn the other way — and circles as Point + radius_m."""
    frame = LocalFrame.at(47.0, 8.0)
    cw = tuple(frame.to_geo_many([(0, 0), (0, 1000), (1000, 1000), (1000, 0)]))
    ccw_hole = tuple(frame.to_geo_many([(400, 400), (600, 400), (600, 600), (400, 600)]))
    feature = zone_to_feature(Zone("Z", GeoPolygon(cw, (ccw_hole,))))
    outer, hole = feature["geometry"]["coordinates"]  # type: ignore[index]
    assert outer[0] == outer[-1] == [cw[0].lon_deg, cw[0].lat_deg]
    assert hole[0] == hole[-1]
    assert LinearRing(outer).is_ccw and not LinearRing(hole).is_ccw
    assert feature["properties"]["reversed_rings"] == [0, 1]  # type: ignore[index]
    circle = zone_to_feature(Zone("C", GeoCircle(GeoPoint(47.5, 8.25), 120.0)))
    assert circle["geometry"] == {"type": "Point", "coordinates": [8.25, 47.5]}
    assert circle["properties"]["radius_m"] == 120.0  # type: ignore[index]
    assert "reversed_rings" not in circle["properties"]  # type: ignore[operator]


def test_hand_written_features_read_as_the_loader_reads_them() -> None:
    """The documented property form (long-form limits in ft, lower-case codes, start/end)."""
    features = json.loads(geojson_fixture())["features"]
    features[0]["geometry"] = {
        "type": "Polygon",
        "coordinates": features[0]["geometry"]["coordinates"][0],
    }
    for f in features:
        (expected,) = loads_zones(json.dumps(f), source="api").zones
        assert feature_to_zone(f, source="api") == replace(expected, source="api")
    z = feature_to_zone(features[0])
    assert z.vertical.ceiling == Altitude(1500 * 0.3048, AltDatum.AMSL)
    assert z.restriction is Restriction.REQ_AUTHORISATION
    assert z.schedule == Schedule(
        (Period(datetime(2026, 5, 1, 6, tzinfo=UTC), datetime(2026, 5, 1, 18, tzinfo=UTC)),)
    )
    assert z.authority == "Skyguide; FOCA"
    assert (z.part, z.source) == (0, "")


def poison(obj: object, name: str, value: object) -> None:
    """Put a value the constructors refuse into a frozen object (as a bug elsewhere could)."""
    object.__setattr__(obj, name, value)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda z: poison(z.vertical.ceiling, "value_m", math.nan), "properties.ceiling_m"),
        (lambda z: poison(z.vertical.floor, "value_m", math.inf), "properties.floor_m"),
        (lambda z: poison(z.shape, "radius_m", math.nan), "properties.radius_m"),
        (lambda z: poison(z.shape.center, "lat_deg", -math.inf), "geometry.coordinates[1]"),
    ],
)
def test_non_finite_numbers_are_refused_when_writing(edit: Any, field: str) -> None:
    z = Zone(
        "Z",
        GeoCircle(GeoPoint(47.0, 8.0), 100.0),
        vertical=VerticalLimits(Altitude(0, AltDatum.TERRAIN), Altitude(120, AltDatum.TERRAIN)),
    )
    edit(z)
    with pytest.raises(ZoneError, match="not a finite number") as info:
        zone_to_feature(z)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda p, g: p.update(floor_m=math.nan), "properties.floor_m", "not a finite number"),
        (lambda p, g: p.update(radius_m=math.inf), "properties.radius_m", "not a finite number"),
        (
            lambda p, g: g.update(coordinates=[8.0, math.nan]),
            "geometry.coordinates[1]",
            "not a finite number",
        ),
        (lambda p, g: p.update(part=-1), "properties.part", "whole number"),
        (lambda p, g: p.update(part=True), "properties.part", "whole number"),
        (lambda p, g: p.update(source=3), "properties.source", "expected a string"),
        (
            lambda p, g: p.update(floor_ref="QNH"),
            "properties.floor_ref",
            "unknown altitude reference",
        ),
        (lambda p, g: g.update(type="MultiPoint"), "geometry.type", "one Polygon or Point"),
    ],
)
def test_bad_features_are_refused_naming_the_property(edit: Any, field: str, message: str) -> None:
    f = zone_to_feature(
        Zone(
            "Z",
            GeoCircle(GeoPoint(47.0, 8.0), 100.0),
            vertical=VerticalLimits(Altitude(5, AltDatum.TERRAIN)),
        )
    )
    edit(f["properties"], f["geometry"])
    with pytest.raises(ZoneError, match=message) as info:
        feature_to_zone(f)
    assert info.value.field == field


def test_reversed_rings_must_name_rings() -> None:
    f = zone_to_feature(Zone("Z", GeoPolygon.from_lat_lon([(47, 8), (47, 8.01), (47.01, 8.01)])))
    f["properties"]["reversed_rings"] = [0, 1]  # type: ignore[index]
    with pytest.raises(ZoneError, match="not the index of a ring") as info:
        feature_to_zone(f)
    assert info.value.field == "properties.reversed_rings[1]"


def test_a_band_the_loader_would_refuse_is_refused_when_writing() -> None:
    """Never store what cannot be read back: a floor above the ceiling of the same datum."""
    band = VerticalLimits(Altitude(200, AltDatum.AMSL), Altitude(100, AltDatum.AMSL))
    with pytest.raises(ZoneError, match="above ceiling"):
        zone_to_feature(Zone("Z", GeoCircle(GeoPoint(47.0, 8.0), 100.0), vertical=band))


def test_a_bad_feature_in_a_collection_names_its_index_and_identifier() -> None:
    doc = zones_to_feature_collection([Zone(n, GeoCircle(GeoPoint(47.0, 8.0), 10.0)) for n in "AB"])
    doc["features"][1]["properties"]["radius_m"] = -1  # type: ignore[index]
    with pytest.raises(ZoneFileError, match="radius must be > 0") as info:
        feature_collection_to_zones(doc, source="db")
    assert (info.value.index, info.value.identifier, info.value.source) == (1, "B", "db")
    with pytest.raises(ZoneFileError, match="FeatureCollection"):
        feature_collection_to_zones({"type": "Feature"})


# -- REST summary ------------------------------------------------------------------------------


def test_summary_of_the_montreux_zone() -> None:
    zs = load_zones(ED269).zones
    s = zone_summary(zs[0])
    assert s["id"] == "Montreux Concert Area"
    assert (s["kind"], s["restriction"], s["radius_m"]) == ("exclusion", "prohibited", 3000.0)
    assert s["floor"] == {"value_m": 0.0, "value_ft": 0.0, "datum": "AGL", "text": "0 m AGL"}
    assert s["ceiling"]["text"] == "6259 m AMSL" and s["ceiling"]["value_ft"] == 20534.8  # type: ignore[index]
    assert s["schedule"]["text"] == (  # type: ignore[index]
        "from 2022-06-15 09:00Z until 2023-06-15 09:00Z Sat, Sun 17:00–23:59:59 UTC"
    )
    assert s["geometry"] == {"type": "Point", "coordinates": [6.913146, 46.430758]}
    assert s["reason"] == ["OTHER", "Concert Area"]
    assert s["source"].endswith("#features[0].geometry[0]")  # type: ignore[union-attr]
    json.dumps(s, allow_nan=False)


def test_summary_of_a_later_part_and_an_unbounded_band() -> None:
    (z,) = [
        z for z in load_zones(ED269).zones if z.identifier == "Lausanne Airport" and z.part == 2
    ]
    s = zone_summary(replace(z, vertical=VerticalLimits()))
    assert (s["id"], s["identifier"], s["part"]) == ("Lausanne Airport#2", "Lausanne Airport", 2)
    assert s["floor"]["text"] == "surface" and s["ceiling"]["text"] == "unlimited"  # type: ignore[index]
    assert s["ceiling"]["value_m"] is None  # type: ignore[index]
    assert s["geometry"]["type"] == "Polygon" and s["radius_m"] is None  # type: ignore[index]
    assert s["schedule"] == {"permanent": True, "text": "permanent", "periods": []}


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (Schedule(), "permanent"),
        (
            Schedule((Period(datetime(2026, 5, 1, 8, tzinfo=timezone(timedelta(hours=2)))),)),
            "from 2026-05-01 06:00Z",
        ),
        (
            Schedule((Period(windows=(WeeklyWindow(frozenset(range(7)), time(22), time(6)),)),)),
            "daily 22:00–06:00 UTC",
        ),
        (
            Schedule(
                (
                    Period(end=datetime(2026, 1, 1, tzinfo=UTC)),
                    Period(windows=(WeeklyWindow(frozenset({0, 4})),)),
                )
            ),
            "until 2026-01-01 00:00Z; Mon, Fri 00:00–24:00 UTC",
        ),
    ],
)
def test_schedules_in_words(schedule: Schedule, text: str) -> None:
    assert describe_schedule(schedule) == text
