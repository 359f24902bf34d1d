"""Transit routing around airspace zones: reference cases and a geodesic safety property.

The oracle never uses the router's geometry: routes are sampled every metre along the
geodesic, polygons are tested in longitude/latitude (point in polygon) and measured in each
zone's own local frame, circles by geodesic distance from their centre.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flight_plans.errors import InvalidCoordinateError
from flight_plans.geodesy import WGS84, GeoPoint, LocalFrame, distance_m, path_length_m
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum, HomePosition, MavCmd, MavFrame
from flight_plans.patterns import with_takeoff_and_rtl
from mission_control.airspace.check import Rules, check
from mission_control.airspace.errors import AirspaceError, NoRouteError
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.routing import MIN_MARGIN_M, Route, RouteRequestError, route
from mission_control.airspace.zones import (
    Altitude,
    Period,
    Restriction,
    Schedule,
    VerticalLimits,
    Zone,
    ZoneKind,
)

CENTER = GeoPoint(47.3977, 8.5456)
F = LocalFrame(CENTER)
START = F.to_geo(-1000.0, 0.0)
GOAL = F.to_geo(1000.0, 0.0)


# -- helpers -------------------------------------------------------------------------------------


def rect(x0: float, y0: float, x1: float, y1: float) -> GeoPolygon:
    return GeoPolygon(tuple(F.to_geo_many([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])))


def ring_xy(cx: float, cy: float, r: float, n: int = 12) -> list[tuple[float, float]]:
    return [
        (cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
        for k in range(n)
    ]


def circle(x: float, y: float, r: float) -> GeoCircle:
    return GeoCircle(F.to_geo(x, y), r)


def xy(route_: Route) -> list[tuple[float, float]]:
    return [F.to_local(p) for p in route_.points]


def samples(points: tuple[GeoPoint, ...], step_m: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step_m`` along the geodesic legs (ends included)."""
    lons = [points[0].lon_deg]
    lats = [points[0].lat_deg]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(distance_m(a, b) / step_m))
        if n > 1:
            for lo, la in WGS84.npts(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg, n - 1):
                lons.append(lo)
                lats.append(la)
        lons.append(b.lon_deg)
        lats.append(b.lat_deg)
    return np.asarray(lons), np.asarray(lats)


def clearance(zone: Zone, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Signed distance of each sample from the zone, metres (negative inside)."""
    if isinstance(zone.shape, GeoCircle):
        c = zone.shape.center
        _, _, d = WGS84.inv(
            np.full_like(lons, c.lon_deg), np.full_like(lats, c.lat_deg), lons, lats
        )
        return np.asarray(d) - zone.shape.radius_m
    shape = zone.shape
    lonlat = shapely.Polygon(
        [(p.lon_deg, p.lat_deg) for p in shape.exterior],
        [[(p.lon_deg, p.lat_deg) for p in h] for h in shape.holes],
    )
    inside = shapely.contains_xy(lonlat, lons, lats)
    frame = shape.frame()
    local = shape.to_local(frame)
    pts = frame.to_local_many(GeoPoint(la, lo) for lo, la in zip(lons, lats, strict=True))
    d = shapely.distance(local.boundary, shapely.points(np.asarray(pts)))
    return np.where(inside, -d, d)


def min_clearance(route_: Route, zones: list[Zone], *, skip_first_leg: bool = False) -> float:
    pts = route_.points[1:] if skip_first_leg else route_.points
    if len(pts) < 2:
        pts = (pts[0], pts[0])
    lons, lats = samples(pts)
    return min(float(clearance(z, lons, lats).min()) for z in zones)


def zone(ident: str, shape: GeoPolygon | GeoCircle, **kw: object) -> Zone:
    return Zone(ident, shape, **kw)  # type: ignore[arg-type]


# -- reference cases -------------------------------------------------------------------------------


def test_clear_line_is_direct() -> None:
    """With nothing in the way the route is the straight line, and says nothing."""
    r = route(START, GOAL, [zone("far", rect(-100, 500, 100, 700))])
    assert r.points == (START, GOAL)
    assert r.goal_reached and r.standoff_from is None and r.notes == ()
    assert r.length_m == pytest.approx(r.direct_length_m) == pytest.approx(2000.0, abs=0.01)


def test_square_between_ends_bends_around_the_near_side() -> None:
    """One square across the line: the route bends round its shorter (north) side, keeps the
    margin at every sampled point, and is shorter than the way round the far side."""
    z = zone("Z1", rect(-100, -150, 100, 100))
    r = route(START, GOAL, [z], margin_m=50.0)
    assert r.goal_reached
    assert min_clearance(r, [z]) >= 50.0 - 1.0
    assert max(y for _, y in xy(r)) == pytest.approx(150.0, abs=0.5)  # mitre corner 50 m out
    far_side = path_length_m([START, F.to_geo(-150, -200), F.to_geo(150, -200), GOAL])
    assert r.direct_length_m < r.length_m < far_side
    expected = 2 * math.hypot(850, 150) + 300
    assert r.length_m == pytest.approx(expected, abs=1.0)
    assert any("Z1" in n and "50 m clear" in n for n in r.notes)


def test_sequence_and_index_give_the_same_route() -> None:
    zones = [zone("Z1", rect(-100, -150, 100, 100))]
    assert route(START, GOAL, zones).points == route(START, GOAL, ZoneIndex(zones)).points


def test_two_overlapping_zones_are_passed_as_one() -> None:
    a = zone("A", rect(-300, -100, 0, 200))
    b = zone("B", rect(-50, -250, 250, 50))
    r = route(START, GOAL, [a, b], margin_m=30.0)
    assert min_clearance(r, [a, b]) >= 30.0 - 1.0
    assert r.length_m > r.direct_length_m


def test_no_squeezing_between_zones_closer_than_two_margins() -> None:
    """Two zones 60 m apart with a 50 m margin: the gap is closed, the route goes round."""
    north = zone("N", rect(-100, 30, 100, 400))
    south = zone("S", rect(-100, -400, 100, -30))
    r = route(START, GOAL, [north, south], margin_m=50.0)
    assert min_clearance(r, [north, south]) >= 49.0
    assert max(abs(y) for _, y in xy(r)) >= 400.0
    # with a 20 m margin the 60 m gap is open and the route is straight
    assert route(START, GOAL, [north, south], margin_m=20.0).points == (START, GOAL)


def test_circle_zone_route_hugs_the_grown_circle() -> None:
    """Around a circle the route is within 1 % of the analytic tangent–arc–tangent path."""
    z = zone("C", circle(0, 0, 200))
    r = route(START, GOAL, [z], margin_m=50.0)
    assert min_clearance(r, [z]) >= 49.0
    big_r, d = 250.0, 1000.0
    analytic = 2 * math.sqrt(d * d - big_r * big_r) + big_r * (math.pi - 2 * math.acos(big_r / d))
    assert analytic <= r.length_m <= analytic * 1.01


def test_zone_with_a_hole_is_passed_around_not_through() -> None:
    """A ring-shaped zone: the route goes round the outside; a start in the hole is enclosed."""
    outer = ring_xy(0, 0, 400)
    hole = ring_xy(0, 0, 250)
    z = zone("RING", GeoPolygon(tuple(F.to_geo_many(outer)), (tuple(F.to_geo_many(hole)),)))
    r = route(START, GOAL, [z], margin_m=40.0)
    assert min_clearance(r, [z]) >= 39.0
    assert max(abs(y) for _, y in xy(r)) > 400.0
    with pytest.raises(NoRouteError, match="start is enclosed by RING") as e:
        route(F.to_geo(0, 0), GOAL, [z], margin_m=40.0)
    assert e.value.blocking == ("RING",)
    # inside the hole, start and goal see each other
    inner = route(F.to_geo(-100, 0), F.to_geo(100, 0), [z], margin_m=40.0)
    assert len(inner.points) == 2


def test_inclusion_area_forces_a_detour() -> None:
    """An L-shaped operating area: the route turns its inner corner and stays inside by the
    margin."""
    ell = [(-1200, -200), (200, -200), (200, 1200), (-200, 1200), (-200, 200), (-1200, 200)]
    area = zone("OPS", GeoPolygon(tuple(F.to_geo_many(ell))), kind=ZoneKind.INCLUSION)
    start, goal = F.to_geo(-1000, 0), F.to_geo(0, 1000)
    r = route(start, goal, [area], margin_m=40.0)
    lons, lats = samples(r.points)
    assert float((-clearance(area, lons, lats)).min()) >= 39.0  # inside, 39 m from the edge
    assert r.length_m > r.direct_length_m + 50.0
    with pytest.raises(NoRouteError, match="goal is outside the operating area") as e:
        route(start, F.to_geo(1000, 1000), [area], margin_m=40.0)
    assert e.value.blocking == ("OPS",)
    with pytest.raises(NoRouteError, match="start is outside"):
        route(F.to_geo(1000, 1000), goal, [area], margin_m=40.0)
    with pytest.raises(NoRouteError, match="on the edge of"):
        route(F.to_geo(-1200, 0), goal, [area], margin_m=40.0)


def test_inclusion_and_exclusion_together() -> None:
    area = zone("OPS", rect(-1500, -400, 1500, 400), kind=ZoneKind.INCLUSION)
    block = zone("NFZ", rect(-100, -250, 100, 250))
    r = route(START, GOAL, [area, block], margin_m=50.0)
    assert min_clearance(r, [block]) >= 49.0
    lons, lats = samples(r.points)
    assert float((-clearance(area, lons, lats)).min()) >= 49.0


def test_goal_inside_zone_ends_at_nearest_standoff_point() -> None:
    """Goal inside a no-fly zone: the route ends ~margin outside it, at the nearest such point."""
    z = zone("Z1", rect(-100, -150, 100, 100), name="stadium")
    goal = F.to_geo(0, 0)
    r = route(START, goal, [z], margin_m=50.0)
    assert not r.goal_reached
    assert r.standoff_from == z.label
    end = r.points[-1]
    assert F.to_local(end) == pytest.approx((0.0, 150.0), abs=0.5)
    lons, lats = samples((end, end))
    assert float(clearance(z, lons, lats)[0]) == pytest.approx(50.0, abs=1.0)
    assert distance_m(end, goal) == pytest.approx(150.0, abs=0.5)
    assert min_clearance(r, [z]) >= 49.0
    assert any(
        n.startswith(f"goal is inside no-fly zone {z.label}") and "150 m from the goal" in n
        for n in r.notes
    )
    with pytest.raises(NoRouteError, match="goal is inside no-fly zone"):
        route(START, goal, [z], margin_m=50.0, standoff=False)


def test_goal_within_margin_is_a_standoff_too() -> None:
    z = zone("Z1", rect(-100, -100, 100, 100))
    r = route(START, F.to_geo(0, 120), [z], margin_m=50.0)
    assert not r.goal_reached and r.standoff_from == "Z1"
    assert F.to_local(r.points[-1])[1] == pytest.approx(150.0, abs=0.5)
    assert any("inside the 50 m margin" in n for n in r.notes)


def test_start_inside_zone_is_an_error_naming_it() -> None:
    z = zone("HOSP", rect(-1100, -100, -900, 100))
    with pytest.raises(NoRouteError, match="start is inside no-fly zone HOSP") as e:
        route(START, GOAL, [z])
    assert e.value.blocking == ("HOSP",)


def test_start_within_margin_first_leaves_it() -> None:
    """A dock 20 m from a zone: the first leg moves straight out of the margin."""
    z = zone("Z", rect(-1100, 20, -900, 300))
    r = route(START, GOAL, [z], margin_m=50.0)
    assert r.points[0] == START
    assert F.to_local(r.points[1]) == pytest.approx((-1000.0, -30.0), abs=0.5)
    assert min_clearance(r, [z], skip_first_leg=True) >= 49.0
    assert min_clearance(r, [z]) >= 19.0
    assert any(n.startswith("start is 20 m from no-fly zone Z") for n in r.notes)


def test_goal_enclosed_by_a_ring_of_zones_names_them() -> None:
    ring = [zone(f"R{k}", circle(*p, 120)) for k, p in enumerate(ring_xy(600, 0, 300, 8))]
    with pytest.raises(NoRouteError, match="goal is enclosed by") as e:
        route(START, F.to_geo(600, 0), ring, margin_m=30.0)
    assert set(e.value.blocking) == {f"R{k}" for k in range(8)}
    # and the same ring around the start
    with pytest.raises(NoRouteError, match="start is enclosed by") as e2:
        route(F.to_geo(600, 0), START, ring, margin_m=30.0)
    assert set(e2.value.blocking) == {f"R{k}" for k in range(8)}


def test_goal_in_zone_inside_a_ring_cannot_be_stood_off() -> None:
    ring = [zone(f"R{k}", circle(*p, 120)) for k, p in enumerate(ring_xy(600, 0, 400, 10))]
    core = zone("CORE", circle(600, 0, 60))
    with pytest.raises(NoRouteError, match="ringed by") as e:
        route(START, F.to_geo(600, 0), [*ring, core], margin_m=30.0)
    assert "CORE" in e.value.blocking and "R0" in e.value.blocking


def test_zones_not_in_force_at_the_flight_time_are_ignored() -> None:
    period = Period(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 12, 31, tzinfo=UTC))
    z = zone("EVENT", rect(-100, -100, 100, 100), schedule=Schedule((period,)))
    before = route(START, GOAL, [z], at=datetime(2029, 6, 1, tzinfo=UTC))
    during = route(START, GOAL, [z], at=datetime(2030, 6, 1, tzinfo=UTC))
    anytime = route(START, GOAL, [z])
    assert before.points == (START, GOAL)
    assert during.length_m > during.direct_length_m
    assert anytime.points == during.points
    window = route(
        START,
        GOAL,
        [z],
        at=datetime(2029, 12, 31, 23, 50, tzinfo=UTC),
        until=datetime(2030, 1, 1, 0, 30, tzinfo=UTC),
    )
    assert window.length_m > window.direct_length_m


def test_authorised_zone_does_not_block_and_is_noted() -> None:
    z = zone("CTR", rect(-100, -100, 100, 100), restriction=Restriction.REQ_AUTHORISATION)
    assert route(START, GOAL, [z]).length_m > 2001.0
    r = route(START, GOAL, [z], authorisations={"CTR": "AUTH-42"})
    assert r.points == (START, GOAL)
    assert "crosses CTR under authorisation AUTH-42" in r.notes
    with pytest.raises(NoRouteError, match="zone requiring authorisation CTR"):
        route(F.to_geo(0, 0), GOAL, [z])


def test_conditional_and_unrestricted_zones_never_block() -> None:
    cond = zone(
        "C", rect(-100, -100, 100, 100), restriction=Restriction.CONDITIONAL, message="call ATC"
    )
    info = zone("I", rect(300, -100, 500, 100), restriction=Restriction.NO_RESTRICTION)
    r = route(START, GOAL, [cond, info])
    assert r.points == (START, GOAL)
    assert "crosses conditional zone C: call ATC" in r.notes


@pytest.mark.parametrize(
    ("vertical", "alt_rel_m", "launch_alt_amsl_m", "blocks"),
    [
        (VerticalLimits(None, Altitude(50, AltDatum.REL_HOME)), 80.0, None, False),
        (VerticalLimits(None, Altitude(50, AltDatum.REL_HOME)), 40.0, None, True),
        (VerticalLimits(None, Altitude(50, AltDatum.REL_HOME)), None, None, True),
        (VerticalLimits(Altitude(100, AltDatum.TERRAIN), None), 60.0, None, False),
        (VerticalLimits(Altitude(100, AltDatum.TERRAIN), None), 120.0, None, True),
        # AMSL limits: unknown launch altitude blocks at every altitude (conservative)
        (VerticalLimits(None, Altitude(450, AltDatum.AMSL)), 80.0, None, True),
        (VerticalLimits(None, Altitude(450, AltDatum.AMSL)), 80.0, 400.0, False),
        (VerticalLimits(None, Altitude(450, AltDatum.AMSL)), 40.0, 400.0, True),
    ],
)
def test_vertical_band_decides_whether_a_zone_blocks(
    vertical: VerticalLimits, alt_rel_m: float | None, launch_alt_amsl_m: float | None, blocks: bool
) -> None:
    z = zone("V", rect(-100, -100, 100, 100), vertical=vertical)
    r = route(START, GOAL, [z], alt_rel_m=alt_rel_m, launch_alt_amsl_m=launch_alt_amsl_m)
    assert (r.length_m > r.direct_length_m + 1.0) is blocks


def test_zone_beyond_the_first_corridor_is_still_avoided() -> None:
    """A 3 km wall forces a detour far outside the first corridor, where another zone sits
    on the detour: the route avoids both."""
    wall = zone("WALL", rect(-50, -3000, 50, 1500))
    tower = zone("TOWER", circle(-120, 1650, 60))
    r = route(START, GOAL, [wall, tower], margin_m=50.0)
    assert min_clearance(r, [wall, tower]) >= 49.0
    assert r.length_m > 2 * math.hypot(1000, 1550)


def test_route_mission_is_waypoints_at_transit_altitude_and_passes_the_checker() -> None:
    zones = [zone("Z1", rect(-100, -150, 100, 100)), zone("C", circle(500, 100, 80))]
    r = route(START, GOAL, zones, margin_m=30.0)
    home = HomePosition(START.lat_deg, START.lon_deg, 420.0)
    m = r.to_mission(alt_rel_m=70.0, home=home)
    assert m.home == home
    assert len(m) == len(r.points)
    assert {it.command for it in m} == {MavCmd.NAV_WAYPOINT}
    assert {it.frame for it in m} == {MavFrame.GLOBAL_RELATIVE_ALT}
    assert {it.alt_m for it in m} == {70.0}
    radii = [it.param2 for it in m]  # acceptance radius: corner cut at most margin / 4
    assert all(r_ > 0.0 for r_ in radii)
    assert radii[0] <= 7.5 and radii[-1] <= 7.5
    # out and back by routes, then RTL from above the start: the checker finds nothing
    back = route(GOAL, START, zones, margin_m=30.0).to_mission(alt_rel_m=70.0)
    full = with_takeoff_and_rtl(m + back, home, takeoff_alt_rel_m=30.0, transit_alt_rel_m=70.0)
    assert check(full, zones, rules=Rules(ceiling_agl_m=None)).ok
    # while the straight return does cross the zone
    rtl_only = with_takeoff_and_rtl(m, home, takeoff_alt_rel_m=30.0)
    assert not check(rtl_only, zones, rules=Rules(ceiling_agl_m=None)).ok
    with pytest.raises(RouteRequestError, match="alt_rel_m"):
        r.to_mission(alt_rel_m=0.0)


def test_start_equal_to_goal() -> None:
    r = route(START, START, [zone("Z1", rect(-100, -150, 100, 100))])
    assert r.points == (START,) and r.length_m == 0.0 and r.goal_reached
    assert len(r.to_mission(alt_rel_m=50.0)) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"margin_m": 1.0}, "margin_m"),
        ({"margin_m": math.nan}, "margin_m"),
        ({"margin_m": math.inf}, "margin_m"),
        ({"alt_rel_m": -5.0}, "alt_rel_m"),
        ({"launch_alt_amsl_m": math.nan}, "launch_alt_amsl_m"),
        ({"at": datetime(2030, 1, 1)}, "at"),
        ({"until": datetime(2030, 1, 1, tzinfo=UTC)}, "until"),
    ],
)
def test_invalid_arguments_raise_typed_errors(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RouteRequestError) as e:
        route(START, GOAL, [], **kwargs)  # type: ignore[arg-type]
    assert e.value.field == field
    assert isinstance(e.value, AirspaceError) and isinstance(e.value, ValueError)


def test_invalid_points_are_refused_by_geopoint() -> None:
    with pytest.raises(InvalidCoordinateError):
        GeoPoint(math.nan, 8.0)
    with pytest.raises(RouteRequestError, match="km away"):
        route(GeoPoint(0, 0), GeoPoint(10, 10), [])


def test_margin_at_the_minimum_is_accepted() -> None:
    z = zone("Z1", rect(-100, -150, 100, 100))
    r = route(START, GOAL, [z], margin_m=MIN_MARGIN_M)
    assert min_clearance(r, [z]) >= MIN_MARGIN_M - 1.0


# -- property ----------------------------------------------------------------------------------------


@st.composite
def shapes(draw: st.DrawFn) -> GeoPolygon | GeoCircle:
    cx = draw(st.floats(-1200, 1200))
    cy = draw(st.floats(-600, 600))
    size = draw(st.floats(50, 200))
    if draw(st.booleans()):
        return circle(cx, cy, size)
    n = draw(st.integers(3, 7))
    rot = draw(st.floats(0, 2 * math.pi))
    radii = draw(st.lists(st.floats(0.4, 1.0), min_size=n, max_size=n))
    pts = [
        (
            cx + size * k * math.cos(rot + 2 * math.pi * j / n),
            cy + size * k * math.sin(rot + 2 * math.pi * j / n),
        )
        for j, k in enumerate(radii)
    ]
    return GeoPolygon(tuple(F.to_geo_many(pts)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shapes_=st.lists(shapes(), min_size=1, max_size=7),
    ends=st.tuples(*[st.floats(-1500, 1500)] * 2, *[st.floats(-800, 800)] * 2),
    margin=st.floats(MIN_MARGIN_M, 80.0),
)
def test_routes_keep_the_margin_from_every_zone(
    shapes_: list[GeoPolygon | GeoCircle], ends: tuple[float, float, float, float], margin: float
) -> None:
    """Either no route, or every sampled point of it is at least margin − 1 m from every
    zone (the first leg, when the start lies inside the margin, at least 1 m), and it is no
    shorter than the straight line to where it ends."""
    x0, x1, y0, y1 = ends
    start, goal = F.to_geo(x0, y0), F.to_geo(x1, y1)
    assume(distance_m(start, goal) > 1.0)
    zones = [zone(f"Z{k}", s) for k, s in enumerate(shapes_)]
    try:
        r = route(start, goal, zones, margin_m=margin)
    except NoRouteError as e:
        blocking = e.blocking
        r = None
    if r is None:
        assert blocking and set(blocking) <= {z.identifier for z in zones}
        return
    assert r.points[0] == start
    assert r.length_m >= distance_m(start, r.points[-1]) - 1e-6
    assert r.goal_reached == (r.points[-1] == goal)
    assert not r.goal_reached or r.length_m >= r.direct_length_m - 1e-6
    assert r.goal_reached or r.standoff_from is not None
    escaped = any(n.startswith("start is") for n in r.notes)
    assert min_clearance(r, zones, skip_first_leg=escaped) >= margin - 1.0
    if escaped:
        assert min_clearance(r, zones) >= 1.0


def test_route_errors_list_a_few_zones_then_how_many_more() -> None:
    """A start boxed in by 100 zones must not produce a 5 kB reason for the pilot."""
    from types import SimpleNamespace

    from mission_control.airspace.free_space import _labels

    shapes = [SimpleNamespace(zone=SimpleNamespace(label=f"Z{i}")) for i in range(7)]
    assert _labels(shapes) == "Z0, Z1, Z2, Z3, Z4 and 2 more"  # type: ignore[arg-type]
    assert _labels(shapes[:2] * 3) == "Z0, Z1"  # type: ignore[arg-type]
    assert _labels([]) == "(none)"
