"""Whole-leg airspace checks: reference cases, rules, and a no-false-negative property."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, time

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point as ShPoint
from shapely.geometry import Polygon as ShPolygon

from flight_plans.geodesy import WGS84, GeoPoint, LocalFrame, destination, distance_m
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum, HomePosition, MavCmd, MavFrame, Mission, MissionItem
from mission_control.airspace.check import Rules, check
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.violations import ViolationKind
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

HOME = HomePosition(47.0, 8.0, 400.0)
F = LocalFrame(HOME.point)
AT = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)  # a Saturday


def xy(x: float, y: float) -> GeoPoint:
    return F.to_geo(x, y)


def wp(x: float, y: float, alt: float, cmd: int = MavCmd.NAV_WAYPOINT) -> MissionItem:
    p = xy(x, y)
    return MissionItem.at(cmd, p.lat_deg, p.lon_deg, alt_rel_m=alt)


def mission(*items: MissionItem, rtl: bool = False, takeoff_alt: float = 30.0) -> Mission:
    tk = MissionItem.at(MavCmd.NAV_TAKEOFF, HOME.lat_deg, HOME.lon_deg, alt_rel_m=takeoff_alt)
    tail = (MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH, MavFrame.MISSION),) if rtl else ()
    return Mission((tk, *items, *tail), HOME)


def square(cx: float, cy: float, half: float) -> GeoPolygon:
    return GeoPolygon(
        tuple(
            F.to_geo_many(
                [
                    (cx - half, cy - half),
                    (cx + half, cy - half),
                    (cx + half, cy + half),
                    (cx - half, cy + half),
                ]
            )
        )
    )


def zone(shape: GeoPolygon | GeoCircle, ident: str = "Z", **kw: object) -> Zone:
    return Zone(ident, shape, **kw)  # type: ignore[arg-type]


def rel(v: float) -> Altitude:
    return Altitude(v, AltDatum.REL_HOME)


def test_a_leg_crossing_a_zone_between_clear_waypoints_is_caught() -> None:
    """Both waypoints are outside the zone; only the leg between them crosses it."""
    m = mission(wp(0, 500, 50), wp(0, 1500, 50))
    z = zone(square(0, 1000, 100), "NFZ-1", name="stadium")
    report = check(m, [z], at=AT)
    assert not report.ok
    [v] = report.violations
    assert v.kind is ViolationKind.ZONE_INCURSION
    assert v.zone_id == "NFZ-1"
    assert v.leg == (1, 2)
    assert v.inside_m == pytest.approx(100.0, abs=1.5)  # the leg passes through the centre
    assert v.location is not None
    assert distance_m(v.location, xy(0, 899)) < 3.0  # the breach starts at the padded edge
    assert "leg 1→2" in v.message and "stadium" in v.message
    assert "route" in v.suggestion


def test_a_clear_mission_passes_and_reports_what_it_checked() -> None:
    m = mission(wp(0, 500, 50), wp(500, 500, 50), rtl=True)
    report = check(m, [zone(square(0, 1000, 100))], at=AT)
    assert report.ok
    assert report.violations == ()
    assert report.legs_checked >= 4
    assert report.error_bound_m == 1.0


def test_the_rtl_leg_home_is_checked() -> None:
    """Outbound goes around the zone; the straight return to launch crosses it."""
    m = mission(wp(-300, 0, 50), wp(-300, 2000, 50), wp(0, 2000, 50), rtl=True)
    report = check(m, [zone(square(0, 1000, 100))], at=AT)
    assert [v.leg for v in report.violations] == [(4, 4)]  # item 4 is the RTL
    assert "return to launch" in report.violations[0].message


@pytest.mark.parametrize(
    ("floor", "ceiling", "expect_clear"),
    [
        (rel(60), None, True),  # the leg climbs 20→100 m but is still below 60 m over the zone
        (None, rel(15), True),  # zone only up to 15 m: leg above it
        (rel(20), rel(40), False),  # the leg is at ~30 m over the zone
        (None, None, False),
    ],
)
def test_altitude_profile_along_the_leg(
    floor: Altitude | None, ceiling: Altitude | None, expect_clear: bool
) -> None:
    """Altitude is linear along the leg: 20 m at y=0 to 100 m at y=2000; zone at y≈250."""
    m = mission(wp(0, 0, 20), wp(0, 2000, 100), takeoff_alt=20)
    z = zone(square(0, 250, 50), vertical=VerticalLimits(floor, ceiling))
    assert check(m, [z], at=AT, rules=Rules(ceiling_agl_m=None)).ok is expect_clear


def test_a_climbing_leg_enters_a_zone_when_it_reaches_its_floor() -> None:
    m = mission(wp(0, 0, 20), wp(0, 2000, 100), takeoff_alt=20)
    z = zone(square(0, 1500, 300), vertical=VerticalLimits(rel(70), None))
    [v] = check(m, [z], at=AT).violations
    # altitude reaches 70 m at y = 1250 (20 + 80·y/2000): inside the zone from y = 1200
    assert v.location is not None
    assert F.to_local(v.location)[1] == pytest.approx(1250, abs=2)


def test_circle_zone_is_exact() -> None:
    z = zone(GeoCircle(xy(120, 1000), 100.0))
    assert check(mission(wp(0, 2000, 50)), [z], at=AT).ok  # passes 120 m from the centre
    z2 = zone(GeoCircle(xy(95, 1000), 100.0))
    assert not check(mission(wp(0, 2000, 50)), [z2], at=AT).ok


def test_polygon_holes_are_respected() -> None:
    outer = F.to_geo_many([(-500, 500), (500, 500), (500, 1500), (-500, 1500)])
    hole = F.to_geo_many([(-200, 800), (200, 800), (200, 1200), (-200, 1200)])
    ring = zone(GeoPolygon(tuple(outer), (tuple(hole),)))
    # hovering inside the hole: reached by a leg that crosses the ring → incursion
    assert not check(mission(wp(0, 1000, 50)), [ring], at=AT).ok
    # but a loiter wholly inside the hole, launched from inside, is fine
    inside_home = HomePosition(xy(0, 1000).lat_deg, xy(0, 1000).lon_deg, 400)
    m = Mission(
        (
            MissionItem.at(22, inside_home.lat_deg, inside_home.lon_deg, alt_rel_m=30),
            wp(100, 1100, 30),
        ),
        inside_home,
    )
    assert check(m, [ring], at=AT).ok


def test_loiter_circle_radius_is_checked() -> None:
    p = xy(0, 1000)
    loiter = MissionItem.at(
        MavCmd.NAV_LOITER_TIME, p.lat_deg, p.lon_deg, alt_rel_m=50, params=(60, 0, 150, 0)
    )
    z = zone(
        square(0, 1250, 50)
    )  # 200 m north of the loiter point, inside its 150 m circle? no: edge at 1200
    assert check(mission(loiter), [z], at=AT).ok
    z2 = zone(square(0, 1180, 50))  # edge at 1130: within the 150 m circle
    [v] = check(mission(loiter), [z2], at=AT).violations
    assert v.item_index == 1


def test_schedule_decides_whether_a_zone_applies() -> None:
    weekend_evening = Schedule(
        (Period(windows=(WeeklyWindow.from_names(["SAT", "SUN"], time(17, 0), time(23, 0)),)),)
    )
    z = zone(square(0, 1000, 100), schedule=weekend_evening)
    m = mission(wp(0, 2000, 50))
    assert check(m, [z], at=AT).ok  # Saturday noon
    assert not check(m, [z], at=AT.replace(hour=18)).ok  # Saturday 18:00
    # a flight starting 16:55 that lasts past 17:00 is caught by the time window
    assert not check(m, [z], at=AT.replace(hour=16, minute=58)).ok
    assert check(m, [z], at=AT.replace(day=4, hour=18)).ok  # Monday


def test_authorisation_and_conditional_zones() -> None:
    m = mission(wp(0, 2000, 50))
    auth = zone(square(0, 1000, 100), "NATURE-7", restriction=Restriction.REQ_AUTHORISATION)
    report = check(m, [auth], at=AT)
    assert [v.kind for v in report.violations] == [ViolationKind.AUTHORISATION_REQUIRED]
    assert check(m, [auth], at=AT, authorisations={"NATURE-7": "CH-2026-0042"}).ok
    cond = zone(square(0, 1000, 100), restriction=Restriction.CONDITIONAL, message="VLOS only")
    report = check(m, [cond], at=AT)
    assert report.ok
    assert [w.kind for w in report.warnings] == [ViolationKind.CONDITIONAL_ZONE]
    assert report.warnings[0].suggestion == "VLOS only"
    info = zone(square(0, 1000, 100), restriction=Restriction.NO_RESTRICTION)
    assert check(m, [info], at=AT).warnings == ()


def test_inclusion_zone_keeps_the_path_inside() -> None:
    area = zone(square(0, 500, 800), "AREA", kind=ZoneKind.INCLUSION)
    assert check(mission(wp(0, 1000, 50), rtl=True), [area], at=AT).ok
    report = check(mission(wp(0, 1500, 50), rtl=True), [area], at=AT)
    kinds = {v.kind for v in report.violations}
    assert kinds == {ViolationKind.OUTSIDE_OPERATING_AREA}
    assert max(v.inside_m or 0 for v in report.violations) == pytest.approx(201, abs=2)


def test_inclusion_zone_ceiling_applies_inside_it() -> None:
    area = zone(
        square(0, 500, 800), kind=ZoneKind.INCLUSION, vertical=VerticalLimits(None, rel(40))
    )
    assert check(mission(wp(0, 1000, 35), takeoff_alt=35), [area], at=AT).ok
    assert not check(mission(wp(0, 1000, 50)), [area], at=AT).ok


def test_global_ceiling_distance_and_min_altitude_rules() -> None:
    m = mission(wp(0, 3000, 130), rtl=True)
    rules = Rules(max_distance_from_launch_m=2500, min_transit_alt_rel_m=140)
    report = check(m, [], at=AT, rules=rules)
    found = {(v.kind.value, v.item_index) for v in report.violations}
    assert found == {
        ("above_ceiling", 1),  # the waypoint at 130 m
        ("above_ceiling", 2),  # and the return home at that altitude
        ("below_min_transit_altitude", 1),
        ("too_far_from_launch", 1),  # (the return leg only comes nearer)
    }
    ceiling = next(v for v in report.violations if v.kind is ViolationKind.ABOVE_CEILING)
    assert ceiling.over_m == pytest.approx(10.0)
    us = Rules(ceiling_agl_m=400 * 0.3048)  # 121.92 m
    overs = [v.over_m for v in check(m, [], at=AT, rules=us).violations]
    assert overs == [pytest.approx(130 - 121.92)] * 2


def test_amsl_limits_use_the_launch_altitude() -> None:
    """A zone from 480 m AMSL up; launch at 400 m AMSL: floor is 80 m above launch."""
    z = zone(square(0, 1000, 100), vertical=VerticalLimits(Altitude(480, AltDatum.AMSL), None))
    assert check(mission(wp(0, 2000, 70), takeoff_alt=70), [z], at=AT).ok
    assert not check(mission(wp(0, 2000, 90), takeoff_alt=90), [z], at=AT).ok


def test_requires_a_launch_point_and_aware_times() -> None:
    m = Mission((wp(0, 100, 30),))
    with pytest.raises(AirspaceError, match="home"):
        check(m, [], at=AT)
    with pytest.raises(AirspaceError, match="time zone"):
        check(mission(wp(0, 100, 30)), [], at=datetime(2026, 1, 1))


def test_index_only_considers_zones_near_the_path() -> None:
    """10 000 zones far away and one on the path: only nearby ones are examined."""
    far = [
        zone(square(50_000 + 300 * (k % 100), 50_000 + 300 * (k // 100), 50), f"F{k}")
        for k in range(2000)
    ]
    near = zone(square(0, 1000, 100), "NEAR")
    index = ZoneIndex([*far, near])
    report = check(mission(wp(0, 2000, 50)), index, at=AT)
    assert [v.zone_id for v in report.violations] == ["NEAR"]
    assert report.zones_considered == 1
    assert report.zones_total == 2001


def test_local_frame_leg_error_bound() -> None:
    """A 10 km geodesic leg within 15 km of the frame centre stays within 1 cm of its chord."""
    for lat in (0.0, 47.0, 70.0):
        c = GeoPoint(lat, 10.0)
        frame = LocalFrame(c)
        for az in (0.0, 45.0, 90.0, 135.0):
            a = destination(c, az + 90, 10_000)
            b = destination(a, az, 10_000)
            (ax, ay), (bx, by) = frame.to_local(a), frame.to_local(b)
            for lon, la in WGS84.npts(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg, 50):
                px, py = frame.to_local(GeoPoint(la, lon))
                # distance of the geodesic point from the projected chord
                d = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / math.hypot(
                    bx - ax, by - ay
                )
                assert d < 0.01


# -- no false negatives: the checker against a slow dense-sampling oracle ------------------------


def oracle_points(m: Mission, rtl_alt: float) -> list[tuple[GeoPoint, float]]:
    """Independent path model: vertical take-off, geodesic legs, RTL; sampled every ≤ 2 m."""
    pts: list[tuple[GeoPoint, float]] = [(HOME.point, 0.0)]
    for it in m.items:
        cur, alt = pts[-1]
        if it.command == MavCmd.NAV_TAKEOFF:
            pts.append((cur, it.alt_m))
        elif it.command == MavCmd.NAV_WAYPOINT:
            pts.append((GeoPoint(it.lat_deg, it.lon_deg), it.alt_m))
        elif it.command == MavCmd.NAV_RETURN_TO_LAUNCH:
            top = max(alt, rtl_alt)
            pts += [(cur, top), (HOME.point, top), (HOME.point, 0.0)]
    out: list[tuple[GeoPoint, float]] = []
    for (a, za), (b, zb) in itertools.pairwise(pts):
        d = distance_m(a, b)
        n = max(2, math.ceil(d / 2.0))
        mids = WGS84.npts(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg, n - 1) if d > 0 else []
        seq = [a, *(GeoPoint(la, lo) for lo, la in mids), b]
        k = len(seq) - 1
        out += [(p, za + (zb - za) * j / k) for j, p in enumerate(seq)]
        if d == 0:  # vertical: sample the altitudes too
            out += [(a, za + (zb - za) * j / 20) for j in range(21)]
    return out


def oracle_hits(z: Zone, samples: list[tuple[GeoPoint, float]]) -> list[int]:
    """Indices of samples inside the zone's volume (vectorised version of oracle_inside)."""
    lons = np.array([p.lon_deg for p, _ in samples])
    lats = np.array([p.lat_deg for p, _ in samples])
    alts = np.array([a for _, a in samples])
    lo = z.vertical.floor.value_m if z.vertical.floor else -math.inf
    hi = z.vertical.ceiling.value_m if z.vertical.ceiling else math.inf
    vert = (alts >= lo) & (alts <= hi)
    if isinstance(z.shape, GeoCircle):
        c = z.shape.center
        _, _, d = WGS84.inv(
            np.full_like(lons, c.lon_deg), np.full_like(lats, c.lat_deg), lons, lats
        )
        horiz = np.asarray(d) <= z.shape.radius_m
    else:
        poly = ShPolygon(
            [(v.lon_deg, v.lat_deg) for v in z.shape.exterior],
            [[(v.lon_deg, v.lat_deg) for v in h] for h in z.shape.holes],
        )
        horiz = shapely.covers(poly, shapely.points(lons, lats))
    return [int(i) for i in np.nonzero(vert & horiz)[0]]


def oracle_inside(z: Zone, p: GeoPoint, alt: float) -> bool:
    lo = z.vertical.floor.value_m if z.vertical.floor else -math.inf
    hi = z.vertical.ceiling.value_m if z.vertical.ceiling else math.inf
    if not lo <= alt <= hi:
        return False
    if isinstance(z.shape, GeoCircle):
        return distance_m(z.shape.center, p) <= z.shape.radius_m
    # zone edges are straight in lon/lat (GeoJSON): test in the lon/lat plane
    poly = ShPolygon(
        [(v.lon_deg, v.lat_deg) for v in z.shape.exterior],
        [[(v.lon_deg, v.lat_deg) for v in h] for h in z.shape.holes],
    )
    return bool(poly.covers(ShPoint(p.lon_deg, p.lat_deg)))


@st.composite
def random_zone(draw: st.DrawFn, k: int) -> Zone:
    cx = draw(st.floats(-2500, 2500))
    cy = draw(st.floats(-2500, 2500))
    band = VerticalLimits(
        draw(st.none() | st.floats(0, 100).map(rel)),
        draw(st.none() | st.floats(100, 200).map(rel)),
    )
    if draw(st.booleans()):
        return Zone(f"C{k}", GeoCircle(xy(cx, cy), draw(st.floats(20, 600))), vertical=band)
    n = draw(st.integers(3, 9))
    radii = draw(st.lists(st.floats(80, 700), min_size=n, max_size=n))
    rot = draw(st.floats(0, 2 * math.pi))
    ring = [
        (cx + r * math.cos(rot + 2 * math.pi * j / n), cy + r * math.sin(rot + 2 * math.pi * j / n))
        for j, r in enumerate(radii)
    ]
    holes: tuple[tuple[GeoPoint, ...], ...] = ()
    rmin = min(radii) * math.cos(math.pi / n)
    if draw(st.booleans()) and rmin > 60:
        h = rmin * 0.4
        holes = (
            tuple(
                F.to_geo_many(
                    [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
                )
            ),
        )
    return Zone(f"P{k}", GeoPolygon(tuple(F.to_geo_many(ring)), holes), vertical=band)


@st.composite
def random_case(draw: st.DrawFn) -> tuple[Mission, list[Zone]]:
    n = draw(st.integers(1, 5))
    items = [
        wp(draw(st.floats(-3000, 3000)), draw(st.floats(-3000, 3000)), draw(st.floats(10, 150)))
        for _ in range(n)
    ]
    m = mission(*items, rtl=draw(st.booleans()), takeoff_alt=draw(st.floats(10, 120)))
    zones = [draw(random_zone(k)) for k in range(draw(st.integers(1, 4)))]
    return m, zones


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_no_false_negatives_against_a_dense_sampling_oracle(
    case: tuple[Mission, list[Zone]],
) -> None:
    """A mission the checker clears never has a sampled point inside an exclusion volume."""
    m, zones = case
    report = check(m, zones, at=AT, rules=Rules(ceiling_agl_m=None))
    if not report.ok:
        return
    samples = oracle_points(m, Rules().rtl_alt_rel_m)
    for z in zones:
        hits = oracle_hits(z, samples)
        assert hits == [], (z.identifier, samples[hits[0]] if hits else None)


def test_the_oracle_agrees_on_a_known_incursion() -> None:
    """Sanity check of the oracle itself: it sees the incursion the checker reports."""
    m = mission(wp(0, 2000, 50))
    z = zone(square(0, 1000, 100))
    samples = oracle_points(m, 60.0)
    assert any(oracle_inside(z, p, a) for p, a in samples)
    assert oracle_hits(z, samples) == [
        i for i, (p, a) in enumerate(samples) if oracle_inside(z, p, a)
    ]
    assert not check(m, [z], at=AT).ok


def test_adjacent_operating_areas_are_seamless() -> None:
    """Two inclusion zones sharing an edge form one area: crossing the shared edge is fine."""
    west = zone(
        GeoPolygon(tuple(F.to_geo_many([(-500, -500), (0, -500), (0, 2000), (-500, 2000)]))),
        "W",
        kind=ZoneKind.INCLUSION,
    )
    east = zone(
        GeoPolygon(tuple(F.to_geo_many([(0, -500), (500, -500), (500, 2000), (0, 2000)]))),
        "E",
        kind=ZoneKind.INCLUSION,
    )
    m = Mission(
        (
            MissionItem.at(22, xy(-200, 0).lat_deg, xy(-200, 0).lon_deg, alt_rel_m=30),
            wp(200, 1000, 30),
        ),
        HomePosition(xy(-200, 0).lat_deg, xy(-200, 0).lon_deg, 400),
    )
    assert check(m, [west, east], at=AT).ok


class SlopeTerrain:
    """Ground rising 5 cm per metre eastwards from the launch elevation (a test provider)."""

    resolution_m = 10.0

    def elevation_amsl_m(self, points: list[GeoPoint]) -> list[float]:
        return [HOME.alt_amsl_m + 0.05 * max(F.to_local(p)[0], 0.0) for p in points]


def test_a_terrain_provider_moves_agl_limits_with_the_ground() -> None:
    """1 km east the ground is 50 m higher: a 30 m AGL floor is 80 m above launch there."""
    z = zone(square(1000, 0, 100), vertical=VerticalLimits(Altitude(30, AltDatum.TERRAIN), None))
    m = mission(wp(2000, 0, 60), takeoff_alt=60)
    assert not check(m, [z], at=AT).ok  # flat: the floor is 30 m above launch
    assert check(m, [z], at=AT, terrain=SlopeTerrain()).ok  # passes 20 m under the floor
    assert check(mission(wp(2000, 0, 150), takeoff_alt=60), [], at=AT).violations != ()
    # over the slope 150 m above launch is at most 60 m above the ground: no ceiling breach
    assert check(mission(wp(2000, 0, 150), takeoff_alt=60), [], at=AT, terrain=SlopeTerrain()).ok


class ValleyTerrain:
    """An 80 m deep valley 900–1100 m east of launch (a test provider)."""

    resolution_m = 10.0

    def elevation_amsl_m(self, points: list[GeoPoint]) -> list[float]:
        return [
            HOME.alt_amsl_m - (80.0 if 900 <= F.to_local(p)[0] <= 1100 else 0.0) for p in points
        ]


def test_the_ceiling_is_checked_along_legs_over_terrain() -> None:
    """Level flight at 100 m crosses a valley where it is 180 m above ground, mid-leg."""
    m = mission(wp(2000, 0, 100), takeoff_alt=100)
    assert check(m, [], at=AT).ok
    [v] = check(m, [], at=AT, terrain=ValleyTerrain()).violations
    assert v.kind is ViolationKind.ABOVE_CEILING
    assert v.over_m == pytest.approx(60.0)
    assert v.location is not None
    assert 890 <= F.to_local(v.location)[0] <= 1110
