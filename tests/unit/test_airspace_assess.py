"""Runtime assessment: inside / nearest boundary / seconds to breach."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight_plans.geodesy import LocalFrame
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum, HomePosition
from mission_control.airspace.assess import Assessor, assess
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.zones import (
    Altitude,
    Period,
    Restriction,
    Schedule,
    VerticalLimits,
    Zone,
    ZoneKind,
)

HOME = HomePosition(47.0, 8.0, 400.0)
F = LocalFrame(HOME.point)
AT = datetime(2026, 5, 2, 12, tzinfo=UTC)


def square(cx: float, cy: float, half: float) -> GeoPolygon:
    ring = [
        (cx - half, cy - half),
        (cx + half, cy - half),
        (cx + half, cy + half),
        (cx - half, cy + half),
    ]
    return GeoPolygon(tuple(F.to_geo_many(ring)))


NFZ = Zone("NFZ", square(0, 1000, 100), name="hospital")


def run(
    x: float, y: float, alt: float, vel: tuple[float, float, float], zones: list[Zone], **kw: object
):  # type: ignore[no-untyped-def]
    return assess(F.to_geo(x, y), alt, vel, zones, launch=HOME, at=AT, **kw)  # type: ignore[arg-type]


def test_time_to_breach_heading_for_a_zone() -> None:
    a = run(0, 800, 50, (10.0, 0.0, 0.0), [NFZ])  # 100 m short of the edge at 10 m/s north
    assert a.inside == ()
    assert a.seconds_to_breach == pytest.approx(10.0, abs=0.05)
    assert a.breach_zone is not None and "hospital" in a.breach_zone
    assert a.nearest_boundary_m == pytest.approx(100.0, abs=0.1)
    assert not a.in_breach


def test_inside_a_zone_is_a_breach_now() -> None:
    a = run(0, 1000, 50, (0.0, 0.0, 0.0), [NFZ])
    assert a.inside == (NFZ.label,)
    assert a.seconds_to_breach == 0.0
    assert a.in_breach


def test_moving_away_or_too_slow_predicts_no_breach() -> None:
    assert run(0, 800, 50, (-10.0, 0.0, 0.0), [NFZ]).seconds_to_breach is None
    assert run(0, 800, 50, (2.0, 0.0, 0.0), [NFZ], lookahead_s=30).seconds_to_breach is None  # 60 m


def test_climbing_into_a_zone_floor_from_below() -> None:
    z = Zone(
        "HIGH", square(0, 1000, 100), vertical=VerticalLimits(Altitude(60, AltDatum.REL_HOME), None)
    )
    assert run(0, 1000, 50, (0.0, 0.0, 0.0), [z]).seconds_to_breach is None  # hovering below it
    a = run(0, 1000, 50, (0.0, 0.0, -2.0), [z])  # climbing 2 m/s (NED: down negative)
    assert a.seconds_to_breach == pytest.approx(5.0, abs=1e-6)
    assert a.inside == ()


def test_circle_zone_and_nearest_boundary() -> None:
    c = Zone("C", GeoCircle(F.to_geo(500, 0), 100.0))
    a = run(300, 0, 50, (0.0, 10.0, 0.0), [c])  # 100 m west of its edge, flying east
    assert a.seconds_to_breach == pytest.approx(10.0, abs=0.05)  # circumscribed: never late
    assert a.nearest_boundary_m == pytest.approx(100.0, abs=0.5)


def test_leaving_the_operating_area() -> None:
    area = Zone("AREA", GeoCircle(HOME.point, 200.0), kind=ZoneKind.INCLUSION)
    a = run(0, 0, 50, (10.0, 0.0, 0.0), [area])
    assert a.seconds_to_breach == pytest.approx(20.0, abs=0.1)
    assert a.breach_zone == "operating area"
    out = run(0, 300, 50, (0.0, 0.0, 0.0), [area])
    assert out.outside_operating_area
    assert out.in_breach


def test_authorised_and_inactive_zones_do_not_count() -> None:
    auth = Zone("PARK", square(0, 1000, 100), restriction=Restriction.REQ_AUTHORISATION)
    assert run(0, 1000, 50, (0, 0, 0), [auth]).in_breach
    assert not run(0, 1000, 50, (0, 0, 0), [auth], authorisations={"PARK": "ok-17"}).in_breach
    later = Zone(
        "LATER",
        square(0, 1000, 100),
        schedule=Schedule((Period(start=datetime(2027, 1, 1, tzinfo=UTC)),)),
    )
    assert not run(0, 1000, 50, (0, 0, 0), [later]).in_breach


def test_bad_input_is_refused() -> None:
    a = Assessor([NFZ], launch=HOME, at=AT)
    with pytest.raises(AirspaceError, match="finite"):
        a.assess_many(np.array([math.nan]), np.array([8.0]), np.array([50.0]), np.zeros((1, 3)))
    with pytest.raises(AirspaceError, match="lengths"):
        a.assess_many(np.array([47.0, 47.0]), np.array([8.0]), np.array([50.0]), np.zeros((1, 3)))
    with pytest.raises(AirspaceError, match="latitude"):
        a.assess_many(np.array([95.0]), np.array([8.0]), np.array([50.0]), np.zeros((1, 3)))
    with pytest.raises(AirspaceError, match="lookahead"):
        a.assess(F.to_geo(0, 0), 50, (0, 0, 0), lookahead_s=-1)
    with pytest.raises(AirspaceError, match="time zone"):
        Assessor([NFZ], launch=HOME, at=datetime(2026, 1, 1))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-2000, 2000),
            st.floats(-2000, 2000),
            st.floats(0, 150),
            st.floats(-15, 15),
            st.floats(-15, 15),
            st.floats(-3, 3),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_batch_and_single_calls_agree(rows: list[tuple[float, ...]]) -> None:
    zones = [
        NFZ,
        Zone("C", GeoCircle(F.to_geo(-600, -400), 250.0)),
        Zone("S", square(900, -900, 300)),
    ]
    a = Assessor(zones, launch=HOME, at=AT)
    geo = [F.to_geo(r[0], r[1]) for r in rows]
    batch = a.assess_many(
        np.array([g.lat_deg for g in geo]),
        np.array([g.lon_deg for g in geo]),
        np.array([r[2] for r in rows]),
        np.array([r[3:] for r in rows]),
    )
    singles = [a.assess(g, r[2], (r[3], r[4], r[5])) for g, r in zip(geo, rows, strict=True)]
    assert batch == singles
    for g, r, res in zip(geo, rows, batch, strict=True):
        # a position inside a zone's horizontal shape is reported inside (these zones span all altitudes)
        x, y = F.to_local(g)
        in_square = abs(x) <= 100 and abs(y - 1000) <= 100
        if in_square and min(abs(abs(x) - 100), abs(abs(y - 1000) - 100)) > 1.0:
            assert NFZ.label in res.inside
        del r


def test_a_denormal_speed_does_not_hide_a_breach() -> None:
    """Regression (found by Hypothesis): a vehicle 2 m inside a zone, with a velocity of
    1e-44 m/s, was reported outside because its look-ahead track degenerated."""
    a = Assessor([NFZ], launch=HOME, at=AT)
    g = F.to_geo(0.0, 902.0)
    assert NFZ.label in a.assess(g, 0.0, (0.0, 1.1828345107627058e-44, 0.0)).inside
    assert NFZ.label in a.assess(g, 0.0, (0.0, 0.0, 0.0)).inside
