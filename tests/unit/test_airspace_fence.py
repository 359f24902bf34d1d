"""The fence uploaded with a mission: which zones go in, conservative simplification, and
consistency with the checker (invariant 3)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon as ShPolygon

from flight_plans.errors import InvalidPolygonError
from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum, HomePosition, MavCmd, MavFrame, Mission, MissionItem
from flight_plans.plan import Fence
from mission_control.airspace.check import Rules, check
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.fence import (
    REACH_MARGIN_M,
    FenceBuild,
    FenceMethod,
    LeftOutReason,
    fence_for,
)
from mission_control.airspace.index import ZoneIndex
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
AT = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
R = LeftOutReason


def wp(x: float, y: float, alt: float) -> MissionItem:
    p = F.to_geo(x, y)
    return MissionItem.at(MavCmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=alt)


def mission(*points: tuple[float, float], alt: float = 50.0) -> Mission:
    """Take off to ``alt``, fly the points (local metres), return to launch (at 60 m)."""
    tk = MissionItem.at(MavCmd.NAV_TAKEOFF, HOME.lat_deg, HOME.lon_deg, alt_rel_m=alt)
    rtl = MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH, MavFrame.MISSION)
    return Mission((tk, *(wp(x, y, alt) for x, y in points), rtl), HOME)


L_PATH = mission((0, 1000), (1000, 1000))
"""North 1 km, east 1 km, straight back: flies 50 m, returns at 60 m."""


def ring(cx: float, cy: float, half: float) -> tuple[GeoPoint, ...]:
    return tuple(
        F.to_geo_many(
            [
                (cx - half, cy - half),
                (cx + half, cy - half),
                (cx + half, cy + half),
                (cx - half, cy + half),
            ]
        )
    )


def square(cx: float, cy: float, half: float, hole: float = 0.0) -> GeoPolygon:
    return GeoPolygon(ring(cx, cy, half), (ring(cx, cy, hole),) if hole else ())


def rel(v: float) -> Altitude:
    return Altitude(v, AltDatum.REL_HOME)


def star(cx: float, cy: float, radii: list[float]) -> GeoPolygon:
    n = len(radii)
    xy = [
        (cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
        for k, r in enumerate(radii)
    ]
    return GeoPolygon(tuple(F.to_geo_many(xy)))


def as_checked(shape: GeoPolygon, frame: LocalFrame) -> ShPolygon:
    """The polygon in metres with its edges densified, as the checker projects zones."""
    g = ZoneIndex([Zone("x", shape)]).local([0], frame)[0].polygon
    assert isinstance(g, ShPolygon)
    return g


def labels(build: FenceBuild) -> list[str]:
    return [f.zone.label for f in build.included]


ZONES = [
    Zone("near", square(500, 1300, 100)),
    Zone("far", square(20_000, 20_000, 100)),
    Zone("above", square(500, 700, 100), vertical=VerticalLimits(rel(100), None)),
    Zone("conditional", square(-300, 500, 100), restriction=Restriction.CONDITIONAL),
    Zone("info", square(-300, 900, 100), restriction=Restriction.NO_RESTRICTION),
    Zone(
        "past",
        square(300, 500, 100),
        schedule=Schedule((Period(AT - timedelta(days=3), AT - timedelta(days=2)),)),
    ),
    Zone("authorised", square(1300, 500, 100), restriction=Restriction.REQ_AUTHORISATION),
    Zone("unauthorised", square(1300, 800, 100), restriction=Restriction.REQ_AUTHORISATION),
    Zone("disc", GeoCircle(F.to_geo(1200, 1200), 100.0)),
    Zone("area", square(0, 0, 3500), kind=ZoneKind.INCLUSION),
]


def test_exactly_the_blocking_reachable_zones_go_in() -> None:
    """Near → in; far, above the flight, conditional, information-only, not in force and
    authorised → out, each with its reason; the operating area becomes an inclusion."""
    assert check(L_PATH, ZONES, at=AT, authorisations={"authorised": "A-17"}).ok
    build = fence_for(L_PATH, ZONES, at=AT, authorisations={"authorised": "A-17"})
    assert labels(build) == ["area", "near", "unauthorised", "disc"]
    assert build.reasons() == {
        "far": R.BEYOND_REACH,
        "above": R.ABOVE_FLIGHT,
        "conditional": R.CONDITIONAL,
        "info": R.NO_RESTRICTION,
        "past": R.NOT_IN_FORCE,
        "authorised": R.AUTHORISED,
    }
    fence = build.fence
    assert [p.inclusion for p in fence.polygons] == [True, False, False]
    assert fence.polygons[1].polygon == ZONES[0].shape  # exact when it fits
    assert (fence.inclusion_count, fence.exclusion_count, build.vertex_count) == (1, 3, 13)
    assert build.alt_band_rel_m == (50.0, 60.0)
    assert "A-17" in next(o.detail for o in build.left_out if o.reason is R.AUTHORISED)
    assert Fence.from_items(fence.to_items()) == fence  # what the vehicle gets back


def test_without_the_authorisation_the_zone_is_fenced() -> None:
    build = fence_for(L_PATH, ZONES, at=AT)
    assert "authorised" in labels(build)


def test_the_mission_passes_the_checker_against_its_own_fence() -> None:
    """Consistency: the shapes the autopilot enforces never stop the mission they were built
    for, and they are the zones the checker blocks on (same labels, same window)."""
    build = fence_for(L_PATH, ZONES, at=AT)
    report = check(L_PATH, build.to_zones(), at=AT)
    assert report.ok, report.violations
    assert build.window == check(L_PATH, ZONES, at=AT).window
    # the fence's exclusions do forbid the zones: a mission straight through one fails
    through = mission((500, 1300))
    assert not check(through, build.to_zones(), at=AT).ok


def test_a_circle_stays_a_circle() -> None:
    build = fence_for(L_PATH, ZONES, at=AT)
    (fc,) = build.fence.circles
    assert fc.circle == GeoCircle(F.to_geo(1200, 1200), 100.0)  # same centre, same radius
    assert not fc.inclusion
    assert build.included[-1].method is FenceMethod.CIRCLE and build.included[-1].vertices == 1


@pytest.mark.parametrize(
    ("band", "reason"),
    [
        (VerticalLimits(rel(100), None), R.ABOVE_FLIGHT),  # floor over the 60 m RTL altitude
        (
            VerticalLimits(Altitude(400 + 61, AltDatum.AMSL), None),
            R.ABOVE_FLIGHT,
        ),  # 61 m above launch
        (VerticalLimits(None, rel(20)), R.BELOW_FLIGHT),  # ceiling under the 50 m cruise
        (VerticalLimits(None, Altitude(25, AltDatum.TERRAIN)), R.BELOW_FLIGHT),
        (VerticalLimits(rel(60), None), None),  # touches the highest altitude flown
        (VerticalLimits(None, rel(50)), None),  # touches the lowest cruise altitude
        (VerticalLimits(rel(55), rel(58)), None),
    ],
)
def test_a_zone_the_flight_stays_above_or_below_is_not_fenced(
    band: VerticalLimits, reason: R | None
) -> None:
    """A fence polygon forbids its whole column: a zone entirely above the highest altitude
    flown or below the lowest cruise altitude would forbid legal flight near it."""
    zone = Zone("Z", square(500, 1300, 100), vertical=band)
    build = fence_for(L_PATH, [zone], at=AT)
    assert build.reasons() == ({"Z": reason} if reason else {})
    assert labels(build) == ([] if reason else ["Z"])


def test_a_zone_the_path_flies_under_is_left_out() -> None:
    """The path crosses the column below the floor: legal, so the fence must not cover it."""
    under = Zone("under", square(500, 1000, 100), vertical=VerticalLimits(rel(55), None))
    assert check(L_PATH, [under], at=AT).ok
    build = fence_for(L_PATH, [under], at=AT)
    assert build.reasons() == {"under": R.PATH_IN_COLUMN}
    assert check(L_PATH, [under], at=AT, rules=Rules()).ok


def test_a_hole_the_path_enters_leaves_the_zone_out_else_the_outer_ring_is_fenced() -> None:
    donut_home = Zone("donut-home", square(0, 0, 4000, hole=3000))  # the mission flies in its hole
    donut_far = Zone("donut-far", square(-1500, 1000, 300, hole=100))
    assert check(L_PATH, [donut_home, donut_far], at=AT).ok
    build = fence_for(L_PATH, [donut_home, donut_far], at=AT)
    assert build.reasons() == {"donut-home": R.PATH_IN_HOLE}
    (fenced,) = build.included
    assert fenced.method is FenceMethod.OUTER_RING
    assert fenced.shape == GeoPolygon(donut_far.shape.exterior)  # type: ignore[union-attr]
    assert check(L_PATH, build.to_zones(), at=AT).ok


def test_reach_defaults_to_the_mission_extent_plus_a_margin() -> None:
    build = fence_for(L_PATH, ZONES, at=AT)
    assert build.reach_m == pytest.approx(math.hypot(1000, 1000) + REACH_MARGIN_M, abs=0.5)
    near = fence_for(L_PATH, ZONES, at=AT, reach_m=150.0)  # "near" is 200 m from the path
    assert near.reasons()["near"] is R.BEYOND_REACH
    assert labels(near) == ["area"]


def test_an_operating_area_the_path_leaves_is_not_fenced() -> None:
    """Never stricter than the zones: a partial operating area would stop the mission."""
    small = Zone("small-area", square(0, 0, 600), kind=ZoneKind.INCLUSION)
    build = fence_for(L_PATH, [small, ZONES[0]], at=AT)
    assert build.reasons() == {"small-area": R.PATH_OUTSIDE_AREA}
    assert labels(build) == ["near"]


def test_over_budget_keeps_the_zones_nearest_the_path() -> None:
    """Squares cannot be simplified below 4 vertices: the farthest go, reported."""
    zones = [Zone(f"d{d}", square(500, 1000 + d, 50)) for d in (900, 300, 700, 500, 150)]
    build = fence_for(L_PATH, zones, at=AT, max_vertices=9)
    assert labels(build) == ["d150", "d300"]
    assert build.vertex_count == 8
    assert build.reasons() == {f"d{d}": R.VERTEX_BUDGET for d in (500, 700, 900)}


def test_a_zone_set_as_an_index_gives_the_same_fence() -> None:
    assert fence_for(L_PATH, ZoneIndex(ZONES), at=AT) == fence_for(L_PATH, ZONES, at=AT)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"at": datetime(2026, 5, 2, 12)}, "time zone"),
        ({"at": AT, "max_vertices": -1}, "max_vertices"),
        ({"at": AT, "reach_m": math.nan}, "reach_m"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AirspaceError, match=message):
        fence_for(L_PATH, ZONES, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(AirspaceError, match="home"):
        fence_for(L_PATH.with_home(None), ZONES, at=AT)


# -- simplification ----------------------------------------------------------------------------

BLOBS = st.tuples(
    st.floats(-2500, 3500),
    st.floats(-2500, 3500),
    st.lists(st.floats(50, 400), min_size=12, max_size=80),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(BLOBS, min_size=1, max_size=6),
    st.integers(4, 160),
    st.lists(st.floats(2000, 2600), min_size=60, max_size=200),
)
def test_simplification_only_grows_exclusions_only_shrinks_the_area_and_fits(
    blobs: list[tuple[float, float, list[float]]], budget: int, area_radii: list[float]
) -> None:
    """Random star-shaped zones and a jagged operating area around the mission: the fence
    takes at most ``max_vertices`` items, every exclusion shape contains its zone, the
    inclusion shape lies inside its zone, and the mission still passes against the fence."""
    zones = []
    for k, (x, y, radii) in enumerate(blobs):
        try:
            zones.append(Zone(f"b{k}", star(x, y, radii)))
        except InvalidPolygonError:
            continue
    zones.append(Zone("area", star(500, 500, area_radii), kind=ZoneKind.INCLUSION))
    build = fence_for(L_PATH, zones, at=AT, max_vertices=budget)
    assert build.vertex_count <= budget
    for f in build.included:
        assert isinstance(f.shape, GeoPolygon) and isinstance(f.zone.shape, GeoPolygon)
        frame = LocalFrame(f.zone.shape.centroid_hint())
        fenced, zone = as_checked(f.shape, frame), as_checked(f.zone.shape, frame)
        if f.inclusion:
            assert zone.covers(fenced)
        else:
            assert fenced.covers(zone)
        assert (f.method is FenceMethod.EXACT) == (f.shape == f.zone.shape)
    left = {o.reason for o in build.left_out}
    assert left <= {R.VERTEX_BUDGET, R.PATH_IN_COLUMN, R.BEYOND_REACH}
    assert check(L_PATH, build.to_zones(), at=AT).ok


def test_a_detailed_zone_is_simplified_not_dropped() -> None:
    radii = [200 + 60 * (k % 2) for k in range(200)]  # a 200-vertex saw-tooth
    zone = Zone("saw", star(500, 1700, radii))
    build = fence_for(L_PATH, [zone], at=AT, max_vertices=24)
    (f,) = build.included
    assert f.method in (FenceMethod.SIMPLIFIED, FenceMethod.CONVEX_HULL, FenceMethod.RECTANGLE)
    assert 3 <= f.vertices <= 24
    assert 0 < f.offset_m < 100
    frame = LocalFrame(F.to_geo(500, 1700))
    assert as_checked(f.shape, frame).covers(as_checked(zone.shape, frame))  # type: ignore[arg-type]


def test_a_loiter_circle_counts_as_path() -> None:
    """The orbit's disc passes under the zone (legal): left out. Moved 300 m clear: fenced."""
    centre = F.to_geo(500, 1500)
    loiter = MissionItem.at(
        MavCmd.NAV_LOITER_TIME, centre.lat_deg, centre.lon_deg, alt_rel_m=50, params=(60, 0, 150, 0)
    )
    orbit = Mission((L_PATH.items[0], loiter, L_PATH.items[-1]), HOME)
    band = VerticalLimits(rel(55), None)
    under = Zone("under-orbit", square(500, 1700, 100), vertical=band)  # 50 m into the disc
    clear = Zone("clear", square(500, 2000, 100), vertical=band)
    assert check(orbit, [under, clear], at=AT).ok
    build = fence_for(orbit, [under, clear], at=AT)
    assert build.reasons() == {"under-orbit": R.PATH_IN_COLUMN}
    assert labels(build) == ["clear"]
    assert check(orbit, build.to_zones(), at=AT).ok
