"""Dispatch policy: candidates and their reasons, ranking, mission shape, stand-off, battery.

Oracles are independent of the planner: orbit radii are geodesic distances from the
incident (``pyproj.Geod``), clearances are measured on points sampled every few metres along
each flown leg (circles: geodesic distance from the centre; rectangles: distance in the
frame they were drawn in), energy comes from ``flight_plans.energy`` on the planned mission,
and the ETA from a route planned here with the same arguments.
"""

from __future__ import annotations

import itertools
import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from shapely.geometry import Point
from shapely.geometry import Polygon as ShapelyPolygon

from flight_plans.energy import VehicleProfile, estimate
from flight_plans.geodesy import WGS84, GeoPoint, LocalFrame, distance_m
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, Mission, MissionItem
from mission_control.airspace.check import check
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.routing import route
from mission_control.airspace.zones import Zone, ZoneKind
from mission_control.domain.dispatch import (
    CandidateRejection,
    DispatchError,
    DispatchPolicy,
    DispatchResult,
    Proposal,
    RejectionKind,
    dispatch,
    plan_for,
    summarise,
)
from mission_control.domain.errors import InvalidField
from mission_control.domain.fleet import DroneSnapshot
from mission_control.domain.incident import Incident, PatternKind

CENTER = GeoPoint(47.3977, 8.5456)
F = LocalFrame(CENTER)
AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOME_AMSL_M = 410.0
POLICY = DispatchPolicy()
MARGIN_M = POLICY.route_margin_m

# -- helpers ---------------------------------------------------------------------------------------


def incident(x: float, y: float, **kw: Any) -> Incident:
    p = F.to_geo(x, y)
    return Incident(
        id="inc-1",
        source="api",
        kind=kw.pop("kind", "fire"),
        priority=1,
        lat_deg=p.lat_deg,
        lon_deg=p.lon_deg,
        reported_by="tester",
        created_at=AT,
        updated_at=AT,
        **kw,
    )


def drone(i: int, x: float, y: float, **kw: Any) -> DroneSnapshot:
    p = F.to_geo(x, y)
    kw.setdefault("battery_fraction", 1.0)
    kw.setdefault("capacity_wh", 200.0)
    kw.setdefault("home", HomePosition(p.lat_deg, p.lon_deg, HOME_AMSL_M))
    return DroneSnapshot(drone_id=i, lat_deg=p.lat_deg, lon_deg=p.lon_deg, **kw)


def rect_xy(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def rect_zone(ident: str, x0: float, y0: float, x1: float, y1: float, **kw: Any) -> Zone:
    return Zone(ident, GeoPolygon(tuple(F.to_geo_many(rect_xy(x0, y0, x1, y1)))), **kw)


def circle_zone(ident: str, x: float, y: float, r: float, **kw: Any) -> Zone:
    return Zone(ident, GeoCircle(F.to_geo(x, y), r), **kw)


def clearance_m(z: Zone, p: GeoPoint) -> float:
    """Distance from ``p`` to the zone (negative inside), measured independently."""
    if isinstance(z.shape, GeoCircle):
        return distance_m(z.shape.center, p) - z.shape.radius_m
    poly = ShapelyPolygon(F.to_local_many(z.shape.exterior))
    pt = Point(F.to_local(p))
    d = float(poly.exterior.distance(pt))
    return -d if poly.contains(pt) else d


def flown_points(m: Mission, step_m: float = 5.0) -> list[GeoPoint]:
    """Points every ``step_m`` along the horizontal path, from home back to home."""
    assert m.home is not None
    pts = [m.home.point, *(it.position for _, it in m.nav_items() if it.position), m.home.point]
    out = [pts[0]]
    for a, b in itertools.pairwise(pts):
        n = max(1, math.ceil(distance_m(a, b) / step_m))
        if n > 1:
            out += [
                GeoPoint(la, lo)
                for lo, la in WGS84.npts(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg, n - 1)
            ]
        out.append(b)
    return out


def orbit_waypoints(m: Mission, station_item: int) -> list[MissionItem]:
    """The NAV_WAYPOINTs of the pattern that starts at ``station_item`` (up to ROI none)."""
    end = next(
        i for i in range(station_item, len(m.items)) if m.items[i].command == MavCmd.DO_SET_ROI_NONE
    )
    return [it for it in m.items[station_item:end] if it.command == MavCmd.NAV_WAYPOINT]


def proposed(res: DispatchResult) -> Proposal:
    assert res.proposal is not None, res.reason
    return res.proposal


# -- candidates and ranking --------------------------------------------------------------------


def test_picks_the_nearest_eligible_drone() -> None:
    """The busy drone is nearest, the 2 km one is chosen, the 3 km one is outranked."""
    drones = [drone(1, -3000, 0), drone(2, -500, 0, mission_id="m-7"), drone(3, 0, 2000)]
    res = dispatch(incident(0, 0), drones, ZoneIndex([]), at=AT)
    p = proposed(res)
    assert p.drone_id == 3
    assert res.reason is None
    why = {r.drone_id: r for r in res.rejected}
    assert why[2].reason == "on mission m-7" and why[2].kind is RejectionKind.BUSY
    assert why[1].kind is RejectionKind.OUTRANKED and "drone 3 was chosen" in why[1].reason
    assert [r.drone_id for r in res.rejected] == [1, 2]  # in the order given


@pytest.mark.parametrize(
    ("changes", "reason", "kind"),
    [
        ({"link": "lost"}, "link lost", RejectionKind.LINK),
        ({"link": "degraded"}, "link degraded", RejectionKind.LINK),
        ({"mission_id": "m-42"}, "on mission m-42", RejectionKind.BUSY),
        ({"landed": False, "armed": True}, "flying", RejectionKind.BUSY),
        ({"armed": True}, "armed on the ground", RejectionKind.BUSY),
        ({"home": None}, "no home position yet", RejectionKind.NOT_READY),
        (
            {"home": None, "lat_deg": None, "lon_deg": None},
            "no position/home yet",
            RejectionKind.NOT_READY,
        ),
        ({"gps_fix": "fix_2d"}, "no 3D GPS fix (fix_2d)", RejectionKind.NOT_READY),
        ({"armable": False}, "pre-arm checks failing", RejectionKind.NOT_READY),
        ({"battery_fraction": None}, "battery unknown", RejectionKind.NOT_READY),
    ],
)
def test_refused_drone_says_why(changes: dict[str, Any], reason: str, kind: RejectionKind) -> None:
    d = drone(7, -1000, 0, **{k: v for k, v in changes.items() if k not in ("lat_deg", "lon_deg")})
    if "lat_deg" in changes:
        d = DroneSnapshot(drone_id=7, battery_fraction=1.0, home=None)
    res = dispatch(incident(0, 0), [d, drone(8, 1000, 0)], ZoneIndex([]), at=AT)
    assert proposed(res).drone_id == 8
    assert res.rejected[0] == CandidateRejection(7, reason, kind)


def test_low_battery_is_refused_before_planning_with_figures() -> None:
    """25 % of 100 Wh cannot cover 10 min on station and 4 km there and back plus 20 Wh."""
    res = dispatch(
        incident(0, 0),
        [drone(1, -2000, 0, capacity_wh=100.0, battery_fraction=0.25)],
        ZoneIndex([]),
        at=AT,
    )
    assert res.proposal is None
    (r,) = res.rejected
    assert r.kind is RejectionKind.BATTERY
    assert r.reason.startswith("battery 25 % (25.0 Wh) cannot cover ")
    assert "10 min on station" in r.reason and "20 % reserve (20.0 Wh)" in r.reason
    assert res.reason == f"no drone can serve the incident: drone 1: {r.reason}"


def test_battery_precheck_figure_matches_its_documented_bound() -> None:
    """Needed = take-off/climb/landing over home + 2·(d − r) at cruise + hover power for
    10 min + 20 % reserve, with the default profile (180 W hover, 0.06·v³, 10 m/s)."""
    d = drone(1, -2500, 800, capacity_wh=100.0, battery_fraction=0.01)
    assert d.home is not None
    res = dispatch(incident(0, 0, kind="shots_fired"), [d], ZoneIndex([]), at=AT)
    h = d.home
    ground = Mission(
        (
            MissionItem.at(MavCmd.NAV_TAKEOFF, h.lat_deg, h.lon_deg, alt_rel_m=30.0),
            MissionItem.at(MavCmd.NAV_WAYPOINT, h.lat_deg, h.lon_deg, alt_rel_m=80.0),
            MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH),
        ),
        h,
    )
    transit_m = 2.0 * (math.hypot(2500, 800) - 250.0)
    flight_wh = (
        estimate(ground).energy_wh
        + transit_m * (180.0 + 0.06 * 10.0**3) / 10.0 / 3600.0
        + 180.0 * 600.0 / 3600.0
    )
    assert f"cannot cover {flight_wh + 20.0:.1f} Wh needed: at least {flight_wh:.1f} Wh" in (
        res.rejected[0].reason
    )
    assert f"{transit_m / 1000:.1f} km there and back" in res.rejected[0].reason


@pytest.mark.parametrize(
    ("pattern", "slack_wh"), [(PatternKind.ORBIT, 4.0), (PatternKind.HOVER, 0.5)]
)
def test_battery_precheck_is_a_lower_bound_of_the_planned_flight(
    pattern: PatternKind, slack_wh: float
) -> None:
    """The figure the pre-check refuses with never exceeds what the real mission needs."""
    inc = incident(0, 0, pattern=pattern)
    d = drone(1, -2500, 800, capacity_wh=100.0, battery_fraction=0.01)
    res = dispatch(inc, [d], ZoneIndex([]), at=AT)
    m = re.search(r"cannot cover ([\d.]+) Wh needed", res.rejected[0].reason)
    assert m is not None
    needed_wh = float(m.group(1))
    full = plan_for(inc, drone(1, -2500, 800, capacity_wh=100.0), ZoneIndex([]), at=AT)
    real_wh = estimate(full.plan.mission, d.profile).energy_wh + 0.2 * 100.0
    assert real_wh - slack_wh <= needed_wh <= real_wh + 0.05  # 0.05: rounded to 0.1 Wh


@pytest.mark.parametrize("short_wh", [0.0, 0.05])
def test_battery_boundary_exactly_enough_vs_slightly_short(short_wh: float) -> None:
    """Energy from flight_plans.energy on the planned mission decides, with the 20 % reserve."""
    cap = 100.0
    inc = incident(0, 0)
    full = plan_for(inc, drone(1, -1500, 0, capacity_wh=cap), ZoneIndex([]), at=AT)
    needed = estimate(full.plan.mission, VehicleProfile()).energy_wh + 0.2 * cap
    fraction = (needed - short_wh) / cap + (1e-12 if short_wh == 0 else 0.0)
    res = dispatch(
        inc, [drone(1, -1500, 0, capacity_wh=cap, battery_fraction=fraction)], ZoneIndex([]), at=AT
    )
    if short_wh == 0:
        p = proposed(res)
        assert p.feasibility.feasible and p.feasibility.margin_wh == pytest.approx(0.0, abs=1e-6)
    else:
        assert res.proposal is None
        assert res.rejected[0].kind is RejectionKind.BATTERY
        assert res.rejected[0].reason.startswith(f"battery {fraction * 100:.0f} %")


def test_ranking_tries_the_next_drone_only_within_the_cap() -> None:
    """The nearest drone sits in a no-fly zone (no route out): the next one goes, if planned."""
    zones = ZoneIndex([rect_zone("BASE", -700, -100, -500, 100)])
    drones = [drone(1, -600, 0), drone(2, 2000, 0)]
    one = dispatch(
        incident(0, 0), drones, zones, at=AT, policy=DispatchPolicy(max_candidates_planned=1)
    )
    assert one.proposal is None
    assert one.rejected[0].kind is RejectionKind.NO_ROUTE and "BASE" in one.rejected[0].reason
    assert one.rejected[1].kind is RejectionKind.NOT_PLANNED
    two = dispatch(
        incident(0, 0), drones, zones, at=AT, policy=DispatchPolicy(max_candidates_planned=2)
    )
    assert proposed(two).drone_id == 2
    assert [(r.drone_id, r.kind) for r in two.rejected] == [(1, RejectionKind.NO_ROUTE)]


# -- the mission -------------------------------------------------------------------------------


def test_orbit_mission_shape() -> None:
    """Take-off first, RTL last, orbit waypoints 150 m (fire) from the incident, ROI on it."""
    inc = incident(300, 200)
    d = drone(1, -1500, -400)
    p = proposed(dispatch(inc, [d], ZoneIndex([]), at=AT))
    m = p.plan.mission
    assert d.home is not None and m.home == d.home and not p.plan.fence
    assert m.items[0].command == MavCmd.NAV_TAKEOFF
    assert (m.items[0].lat_deg, m.items[0].lon_deg) == (d.home.lat_deg, d.home.lon_deg)
    assert m.items[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH
    roi = m.items[p.station_item]
    assert roi.command == MavCmd.DO_SET_ROI_LOCATION
    assert (roi.lat_deg, roi.lon_deg) == (inc.lat_deg, inc.lon_deg)
    assert p.pattern is PatternKind.ORBIT and p.radius_m == 150.0
    wps = orbit_waypoints(m, p.station_item)
    here = GeoPoint(inc.lat_deg, inc.lon_deg)
    assert len(wps) > 20
    for it in wps:
        assert distance_m(here, GeoPoint(it.lat_deg, it.lon_deg)) == pytest.approx(150.0, abs=1.0)
        assert it.alt_m == POLICY.station_alt_rel_m
    flown_m = sum(
        distance_m(GeoPoint(a.lat_deg, a.lon_deg), GeoPoint(b.lat_deg, b.lon_deg))
        for a, b in itertools.pairwise(wps)
    )
    assert flown_m >= POLICY.time_on_station_s * POLICY.orbit_speed_m_s
    speeds = [it.param2 for it in m.items if it.command == MavCmd.DO_CHANGE_SPEED]
    assert speeds == [POLICY.orbit_speed_m_s, d.profile.cruise_speed_m_s]  # back to cruise after
    assert p.report.ok and check(m, [], at=AT).ok
    assert any(n.startswith("battery: needs") for n in p.notes)


def test_eta_is_takeoff_plus_route_length_at_cruise() -> None:
    zones = [rect_zone("NFZ", -150, -400, 150, 400)]
    d = drone(1, -1500, 0)
    p = proposed(dispatch(incident(1200, 0), [d], ZoneIndex(zones), at=AT))
    assert d.home is not None
    r = route(
        d.home.point,
        F.to_geo(1200, 0),
        zones,
        margin_m=50.0,
        at=AT,
        alt_rel_m=80.0,
        launch_alt_amsl_m=HOME_AMSL_M,
    )
    assert r.length_m > r.direct_length_m + 50.0
    takeoff_s = 5.0 + 80.0 / 3.0  # spin-up + climb to transit at 3 m/s
    assert p.eta_s == pytest.approx(takeoff_s + r.length_m / 10.0, rel=1e-9)
    assert p.route_length_m == pytest.approx(r.length_m, rel=1e-9)


def test_route_goes_around_a_no_fly_zone_both_ways() -> None:
    """Zone between home and incident: the way there and back (RTL included) stays clear."""
    nfz = rect_zone("NFZ", -150, -400, 150, 400, name="prison")
    p = proposed(dispatch(incident(1200, 0), [drone(1, -1500, 0)], ZoneIndex([nfz]), at=AT))
    assert p.report.ok
    assert any("NFZ" in n and "clear of" in n for n in p.notes)
    gaps = [clearance_m(nfz, q) for q in flown_points(p.plan.mission)]
    assert min(gaps) >= MARGIN_M - 1.0


@pytest.mark.parametrize(
    "nfz",
    [
        circle_zone("STADIUM", 0, 0, 200.0, name="stadium"),
        rect_zone("STADIUM", -150, -250, 250, 150),
    ],
    ids=["circle", "rectangle"],
)
def test_incident_inside_no_fly_zone_gets_a_standoff_orbit(nfz: Zone) -> None:
    inc = incident(0, 0, kind="shots_fired")
    p = proposed(dispatch(inc, [drone(1, -2000, 300)], ZoneIndex([nfz]), at=AT))
    m = p.plan.mission
    assert p.report.ok and p.standoff_from == nfz.label
    assert any(n.startswith("stand-off orbit") for n in p.notes)
    wps = orbit_waypoints(m, p.station_item)
    assert len(wps) > 8
    roi = m.items[p.station_item]
    assert roi.command == MavCmd.DO_SET_ROI_LOCATION
    assert (roi.lat_deg, roi.lon_deg) == (inc.lat_deg, inc.lon_deg)  # camera on the incident
    # every point of the orbit (chords sampled) and of the whole flight keeps the margin
    orbit_pts = [GeoPoint(it.lat_deg, it.lon_deg) for it in wps]
    assert min(clearance_m(nfz, q) for q in orbit_pts) >= MARGIN_M
    assert min(clearance_m(nfz, q) for q in flown_points(m, 2.0)) >= MARGIN_M - 1.0


def test_orbit_too_near_a_zone_is_moved_off_the_incident() -> None:
    """Incident reachable but 80 m from a zone: a centred 150 m orbit would enter it."""
    nfz = circle_zone("SCHOOL", 0, 230, 150.0)
    inc = incident(0, 0)
    p = proposed(dispatch(inc, [drone(1, 0, -2000)], ZoneIndex([nfz]), at=AT))
    assert p.report.ok and p.standoff_from is None
    assert any("too near the incident" in n for n in p.notes)
    wps = orbit_waypoints(p.plan.mission, p.station_item)
    assert min(clearance_m(nfz, GeoPoint(it.lat_deg, it.lon_deg)) for it in wps) >= MARGIN_M
    roi = p.plan.mission.items[p.station_item]
    assert (roi.lat_deg, roi.lon_deg) == (inc.lat_deg, inc.lon_deg)


@pytest.mark.parametrize("pattern", list(PatternKind))
def test_each_pattern_passes_the_check_in_open_airspace(pattern: PatternKind) -> None:
    inc = incident(200, 100, pattern=pattern, radius_m=60.0)
    here = GeoPoint(inc.lat_deg, inc.lon_deg)
    p = proposed(dispatch(inc, [drone(1, -1200, 0)], ZoneIndex([]), at=AT))
    m = p.plan.mission
    assert p.pattern is pattern and p.report.ok and p.report.violations == ()
    assert (
        m.items[0].command == MavCmd.NAV_TAKEOFF
        and m.items[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH
    )
    pattern_nav = [it for it in m.items[p.station_item :] if it.is_nav]
    if pattern is PatternKind.HOVER:
        hold = pattern_nav[0]
        assert hold.command == MavCmd.NAV_LOITER_TIME and hold.param1 == POLICY.time_on_station_s
        assert distance_m(here, GeoPoint(hold.lat_deg, hold.lon_deg)) < 0.01
    elif pattern is PatternKind.EXPANDING_SQUARE:
        assert distance_m(here, GeoPoint(pattern_nav[0].lat_deg, pattern_nav[0].lon_deg)) < 0.01
    elif pattern is PatternKind.SURVEY:
        survey_wps = [it for it in pattern_nav if it.alt_m == POLICY.station_alt_rel_m]
        for it in survey_wps:  # inside the 120 m square (plus the 10 m turnaround)
            x, y = F.to_local(GeoPoint(it.lat_deg, it.lon_deg))
            assert abs(x - 200) <= 70.5 and abs(y - 100) <= 70.5
    else:
        wps = orbit_waypoints(m, p.station_item)
        assert all(
            distance_m(here, GeoPoint(it.lat_deg, it.lon_deg)) == pytest.approx(60.0, abs=1.0)
            for it in wps
        )


def test_survey_that_would_clip_a_zone_becomes_an_orbit() -> None:
    nfz = rect_zone("NFZ", 80, -300, 400, 300)
    inc = incident(0, 0, pattern=PatternKind.SURVEY, radius_m=60.0)
    p = proposed(dispatch(inc, [drone(1, -1500, 0)], ZoneIndex([nfz]), at=AT))
    assert p.pattern is PatternKind.ORBIT and p.report.ok
    assert any(n.startswith("the survey would come within 50 m of NFZ") for n in p.notes)


# -- no proposal: always a reason -------------------------------------------------------------


def test_incident_enclosed_by_a_zone_is_unreachable_and_names_it() -> None:
    ring = Zone(
        "RING",
        GeoPolygon(
            tuple(F.to_geo_many(rect_xy(-800, -800, 800, 800))),
            holes=(tuple(F.to_geo_many(rect_xy(-400, -400, 400, 400))),),
        ),
        name="compound",
    )
    res = dispatch(incident(0, 0), [drone(1, -2500, 0)], ZoneIndex([ring]), at=AT)
    assert res.proposal is None
    assert res.rejected[0].kind is RejectionKind.NO_ROUTE
    assert "enclosed by RING" in res.rejected[0].reason
    assert res.reason is not None and "RING" in res.reason
    with pytest.raises(DispatchError, match="RING") as e:
        plan_for(incident(0, 0), drone(1, -2500, 0), [ring], at=AT)
    assert e.value.kind is RejectionKind.NO_ROUTE and e.value.drone_id == 1


def test_incident_outside_the_operating_area_names_it() -> None:
    area = circle_zone("OPS", 0, 0, 2000.0, kind=ZoneKind.INCLUSION, name="city limits")
    res = dispatch(incident(3000, 0), [drone(1, 0, 0)], ZoneIndex([area]), at=AT)
    assert res.proposal is None
    assert (
        "outside the operating area" in res.rejected[0].reason and "OPS" in res.rejected[0].reason
    )
    assert res.reason is not None and "OPS" in res.reason


@pytest.mark.parametrize(
    ("drones", "reason"),
    [
        ([], "no drones are connected"),
        (
            [drone(1, 0, 0, link="lost"), drone(2, 0, 0, link="lost")],
            "no drones are connected (2 link lost)",
        ),
        (
            [
                drone(1, 0, 0, mission_id="m-1"),
                drone(2, 0, 0, mission_id="m-2"),
                drone(3, 0, 0, landed=False),
                drone(4, 0, 0, link="lost"),
            ],
            "no drone is available: 2 on a mission, 1 flying, 1 link lost",
        ),
    ],
)
def test_no_proposal_reason_summarises_the_fleet(drones: list[DroneSnapshot], reason: str) -> None:
    res = dispatch(incident(0, 0), drones, ZoneIndex([]), at=AT)
    assert res.proposal is None and res.reason == reason


def test_summary_puts_planning_findings_first_and_groups_drones() -> None:
    rejected = [
        CandidateRejection(1, "link lost", RejectionKind.LINK),
        CandidateRejection(
            2, "no route to the incident: goal is enclosed by Z", RejectionKind.NO_ROUTE
        ),
        CandidateRejection(
            3, "no route to the incident: goal is enclosed by Z", RejectionKind.NO_ROUTE
        ),
    ]
    assert summarise(rejected) == (
        "no drone can serve the incident: drones 2, 3: no route to the incident: goal is "
        "enclosed by Z; drone 1: link lost"
    )


def test_dispatch_is_deterministic() -> None:
    zones = ZoneIndex([rect_zone("NFZ", -150, -400, 150, 400)])
    drones = [drone(1, -1500, 0), drone(2, 0, 2500), drone(3, 2500, 2500)]
    a = dispatch(incident(1200, 0), drones, zones, at=AT)
    b = dispatch(incident(1200, 0), drones, zones, at=AT)
    assert repr(a) == repr(b)


# -- the policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_on_station_s": 0.0}, "time_on_station_s"),
        ({"reserve_fraction": 1.0}, "reserve_fraction"),
        ({"station_alt_rel_m": 150.0}, "station_alt_rel_m"),
        ({"takeoff_alt_rel_m": 100.0}, "takeoff_alt_rel_m"),
        ({"route_margin_m": 1.0}, "route_margin_m"),
        ({"max_candidates_planned": 0}, "max_candidates_planned"),
        ({"orbit_radius_by_kind_m": {"fire": -5.0}}, "orbit_radius_by_kind_m"),
        ({"orbit_speed_m_s": math.nan}, "orbit_speed_m_s"),
    ],
)
def test_policy_refuses_bad_values_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidField) as e:
        DispatchPolicy(**kwargs)
    assert e.value.field == field


def test_orbit_radius_by_kind_and_takeoff_time() -> None:
    assert POLICY.orbit_radius_m("Shots Fired") == 250.0
    assert POLICY.orbit_radius_m("traffic-collision") == 80.0
    assert POLICY.orbit_radius_m("cat up a tree") == POLICY.default_orbit_radius_m
    assert POLICY.takeoff_s(VehicleProfile(climb_speed_m_s=4.0)) == pytest.approx(5.0 + 80.0 / 4.0)
    assert DispatchPolicy(takeoff_time_s=12.0).takeoff_s(VehicleProfile()) == 12.0


def test_naive_dispatch_time_is_refused() -> None:
    with pytest.raises(InvalidField, match="at"):
        dispatch(incident(0, 0), [drone(1, 0, 0)], ZoneIndex([]), at=datetime(2026, 5, 1, 12))
