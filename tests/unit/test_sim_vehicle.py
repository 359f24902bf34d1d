"""The simulated PX4 multicopter as a pilot sees it: boot, arming, commands, missions, RTL.

Pure: the vehicle is stepped with a fixed time delta and no clock or socket. Numbers are
PX4 parameter values (defaults unless a test overrides them); tolerances are stated.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight_plans.geodesy import GeoPoint, distance_m
from flight_plans.mission import MavCmd, MissionItem, MissionType
from sim.errors import SimConfigError
from sim.fence import BreachType
from sim.mav_cmd import Cmd
from sim.modes import FlightMode
from sim.physics import wrap_180
from sim.telemetry_types import LandedState, MavResult, MissionState, Severity, StatusText
from sim.vehicle import Vehicle, VehicleConfig
from tests.unit.sim_helpers import (
    FORCE,
    GROUND_AMSL_M,
    LAUNCH,
    FlightLog,
    cmd,
    hovering,
    items,
    make_vehicle,
    point,
    run_for,
    run_until,
    settled,
    waypoint,
)

ACCEPTED, DENIED, UNSUPPORTED = MavResult.ACCEPTED, MavResult.DENIED, MavResult.UNSUPPORTED
NAN = math.nan


def local_distance_m(v: Vehicle, p: GeoPoint) -> float:
    """Horizontal distance of the vehicle's true position from ``p``."""
    x, y = v.frame.to_local(p)
    return v.body.distance_xy_m(x, y)


# -- boot and arming ---------------------------------------------------------------------------


def test_boots_in_hold_on_the_ground_disarmed_with_home_at_launch() -> None:
    v = make_vehicle()
    assert v.mode is FlightMode.LOITER
    assert v.mode.custom_mode == (4 << 16) | (3 << 24)  # AUTO.LOITER
    assert not v.armed
    assert v.landed_state is LandedState.ON_GROUND
    assert distance_m(v.home(), LAUNCH) < 0.01
    assert v.home_alt_amsl_m == pytest.approx(GROUND_AMSL_M)
    assert v.alt_rel_m == 0.0
    assert v.mission_state() is MissionState.NO_MISSION
    run_for(v, 5.0)
    assert v.body.z_m == 0.0 and not v.armed


def test_arming_says_so_and_sets_home_where_the_vehicle_is() -> None:
    v = make_vehicle()
    v.home_xyz = (30.0, 40.0, 0.0)
    assert cmd(v, Cmd.COMPONENT_ARM_DISARM, 1).result is ACCEPTED
    assert v.armed
    assert v.home_xyz == (0.0, 0.0, 0.0)
    assert StatusText(Severity.INFO, "Armed by external command") in v.take_events()


def _no_gps() -> Vehicle:
    return make_vehicle(SIM_GPS_USED=5)


def _low_battery() -> Vehicle:
    return Vehicle(VehicleConfig(battery_soc=0.10))  # below BAT_LOW_THR 0.15


def _in_exclusion_circle() -> Vehicle:
    v = make_vehicle()
    circle = MissionItem.at(
        MavCmd.NAV_FENCE_CIRCLE_EXCLUSION,
        LAUNCH.lat_deg,
        LAUNCH.lon_deg,
        alt_rel_m=0.0,
        params=(50.0, 0, 0, 0),
        mission_type=MissionType.FENCE,
    )
    v.set_fence((circle.to_mavlink(0),))
    return v


def _mission_mode_without_mission() -> Vehicle:
    v = make_vehicle()
    v.set_mission(items(waypoint(point(0, 50), 20)))
    assert cmd(v, Cmd.DO_SET_MODE, 1, 4, 4).result is ACCEPTED
    v.set_mission(())  # the mission was cleared while the vehicle sat in MISSION mode
    return v


@pytest.mark.parametrize(
    ("setup", "reason_fragment"),
    [
        pytest.param(_no_gps, "GPS", id="fewer-than-6-satellites"),
        pytest.param(_low_battery, "battery low", id="battery-below-BAT_LOW_THR"),
        pytest.param(_in_exclusion_circle, "geofence", id="inside-exclusion-circle"),
        pytest.param(_mission_mode_without_mission, "mission", id="mission-mode-no-mission"),
    ],
)
def test_arming_is_denied_with_the_reason_in_a_statustext(
    setup: Callable[[], Vehicle], reason_fragment: str
) -> None:
    v = setup()
    v.take_events()
    result = cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
    assert result.result is DENIED
    assert reason_fragment in result.reason
    said = [e for e in v.take_events() if isinstance(e, StatusText)]
    assert [(e.severity, e.text) for e in said] == [(Severity.CRITICAL, result.reason)]
    assert not v.armed


def test_force_arming_skips_the_preflight_checks() -> None:
    v = make_vehicle(SIM_GPS_USED=0)
    assert cmd(v, Cmd.COMPONENT_ARM_DISARM, 1, FORCE).result is ACCEPTED
    assert v.armed


@pytest.mark.parametrize("prflt_s", [10.0, 3.0])
def test_auto_disarms_com_disarm_prflt_seconds_after_arming_without_takeoff(
    prflt_s: float,
) -> None:
    v = make_vehicle(COM_DISARM_PRFLT=prflt_s)
    cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
    log = FlightLog()
    took = run_until(v, lambda u: not u.armed, prflt_s + 5, dt_s=0.05, log=log)
    assert took == pytest.approx(prflt_s, abs=0.1)
    assert log.said("Disarmed by auto preflight disarming")
    assert v.body.z_m == 0.0


def test_no_preflight_auto_disarm_when_com_disarm_prflt_is_off() -> None:
    v = make_vehicle(COM_DISARM_PRFLT=-1)
    cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
    run_for(v, 30.0)
    assert v.armed


# -- take-off ------------------------------------------------------------------------------------


def test_takeoff_climbs_at_most_mpc_tko_speed_to_the_requested_amsl_altitude_then_holds() -> None:
    v = make_vehicle()
    cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
    assert cmd(v, Cmd.NAV_TAKEOFF, *[NAN] * 6, GROUND_AMSL_M + 15.0).result is ACCEPTED
    assert v.mode is FlightMode.TAKEOFF
    log = FlightLog()
    took = run_until(v, lambda u: u.mode is FlightMode.LOITER, 60, log=log)
    assert log.max_climb_m_s <= v.params["MPC_TKO_SPEED"] + 1e-9
    assert took >= 15.0 / v.params["MPC_TKO_SPEED"] - 1.0  # 1.5 m/s: about 10 s, not faster
    assert log.said("Takeoff detected")
    run_for(v, 10.0, log=log)
    assert v.alt_amsl_m == pytest.approx(GROUND_AMSL_M + 15.0, abs=0.3)  # Hold at the altitude
    assert log.max_alt_rel_m <= 15.3
    assert math.hypot(v.body.x_m, v.body.y_m) < 0.01
    assert v.landed_state is LandedState.IN_AIR and settled(v)


def test_takeoff_without_altitude_goes_to_mis_takeoff_alt() -> None:
    v = make_vehicle(MIS_TAKEOFF_ALT=6.0)
    cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
    assert cmd(v, Cmd.NAV_TAKEOFF).result is ACCEPTED
    run_until(v, lambda u: u.mode is FlightMode.LOITER, 30)
    run_for(v, 5.0)
    assert v.alt_rel_m == pytest.approx(6.0, abs=0.3)


@pytest.mark.parametrize(
    ("armed", "flying", "alt_amsl_m", "fragment"),
    [
        (False, False, GROUND_AMSL_M + 10, "disarmed"),
        (True, True, GROUND_AMSL_M + 20, "already flying"),
        (True, False, GROUND_AMSL_M + 0.5, "below 1 m"),
    ],
)
def test_takeoff_is_denied(armed: bool, flying: bool, alt_amsl_m: float, fragment: str) -> None:
    v = hovering(5.0) if flying else make_vehicle()
    if armed and not v.armed:
        cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
    result = cmd(v, Cmd.NAV_TAKEOFF, *[NAN] * 6, alt_amsl_m)
    assert result.result is DENIED
    assert fragment in result.reason


# -- missions ------------------------------------------------------------------------------------

SQUARE = (point(90, 60), point(45, 60 * math.sqrt(2)), point(0, 60))


def start_mission(v: Vehicle, *mission: MissionItem) -> None:
    v.set_mission(items(*mission))
    assert cmd(v, Cmd.DO_SET_MODE, 1, 4, 4).result is ACCEPTED
    if not v.armed:
        assert cmd(v, Cmd.COMPONENT_ARM_DISARM, 1).result is ACCEPTED


def test_mission_without_takeoff_item_climbs_to_mis_takeoff_alt_before_leaving() -> None:
    v = make_vehicle(MIS_TAKEOFF_ALT=10.0)
    start_mission(v, *(waypoint(p, 20) for p in SQUARE))
    low = 10.0 - v.params["NAV_MC_ALT_RAD"]
    climb_low: list[float] = []
    moved_low: list[float] = []

    def watch(u: Vehicle) -> None:
        if u.alt_rel_m < low:
            climb_low.append(u.body.vz_m_s)
            if math.hypot(u.body.x_m, u.body.y_m) > 0.01:
                moved_low.append(u.alt_rel_m)

    log = FlightLog()
    run_until(v, lambda u: u.alt_rel_m >= 12.0, 30, log=log, each=watch)
    assert moved_low == []  # straight up first, no waypoint leg below MIS_TAKEOFF_ALT
    assert max(climb_low) <= v.params["MPC_TKO_SPEED"] + 1e-9  # at the take-off speed
    assert log.said("Takeoff detected")


def test_mission_reaches_waypoints_in_order_at_cruise_speed_then_loiters() -> None:
    v = make_vehicle()
    start_mission(v, *(waypoint(p, 20) for p in SQUARE))
    log = FlightLog()
    run_until(v, lambda u: u.navigator.finished, 200, log=log)
    run_for(v, 15.0, log=log)
    assert log.reached == [0, 1, 2]
    assert log.max_ground_speed_m_s <= v.params["MPC_XY_CRUISE"] + 0.01
    assert log.max_ground_speed_m_s >= v.params["MPC_XY_CRUISE"] - 0.01
    assert log.max_climb_m_s <= v.params["MPC_Z_VEL_MAX_UP"] + 1e-9
    assert log.texts[-1] == "Mission finished, loitering"
    assert v.armed and v.landed_state is LandedState.IN_AIR and settled(v)
    assert v.mode is FlightMode.MISSION
    assert v.mission_state() is MissionState.COMPLETE
    assert local_distance_m(v, SQUARE[-1]) <= v.params["NAV_ACC_RAD"] + 0.5
    assert v.alt_rel_m == pytest.approx(20.0, abs=v.params["NAV_MC_ALT_RAD"])


@pytest.mark.parametrize("speed_m_s", [3.0, 8.0])
def test_do_change_speed_in_a_mission_sets_the_leg_speed(speed_m_s: float) -> None:
    v = make_vehicle()
    far = point(0, 150)
    start_mission(
        v,
        waypoint(point(0, 10), 10),
        MissionItem.do(Cmd.DO_CHANGE_SPEED, 1, speed_m_s, -1),
        waypoint(far, 10),
    )
    run_until(v, lambda u: u.navigator.current == 2, 60)
    log = FlightLog()
    run_until(v, lambda u: u.navigator.finished, 120, log=log)
    assert log.max_ground_speed_m_s == pytest.approx(speed_m_s, abs=0.05)


def test_do_jump_repeats_the_requested_number_of_times() -> None:
    v = make_vehicle(NAV_ACC_RAD=2.0)
    start_mission(
        v,
        waypoint(point(0, 12), 8),
        waypoint(point(90, 12), 8),
        MissionItem.do(Cmd.DO_JUMP, 0, 2),
        waypoint(point(180, 12), 8),
    )
    log = FlightLog()
    run_until(v, lambda u: u.navigator.finished, 300, log=log)
    assert log.reached.count(0) == 3  # once, then two repeats
    assert log.reached.count(1) == 3
    assert [s for s in log.reached if s != 2] == [0, 1, 0, 1, 0, 1, 3]


def test_loiter_time_holds_about_param1_seconds() -> None:
    v = make_vehicle(NAV_ACC_RAD=1.0)
    spot = point(0, 30)
    start_mission(
        v,
        MissionItem.at(
            Cmd.NAV_LOITER_TIME, spot.lat_deg, spot.lon_deg, alt_rel_m=10, params=(8, 0, 0, NAN)
        ),
        waypoint(point(0, 60), 10),
    )
    run_until(v, lambda u: local_distance_m(u, spot) <= 1.0 and abs(u.alt_rel_m - 10) <= 0.8, 60)
    log = FlightLog()
    worst = 0.0

    def watch(u: Vehicle) -> None:
        nonlocal worst
        worst = max(worst, local_distance_m(u, spot))

    held = run_until(v, lambda u: 0 in log.reached, 30, log=log, each=watch)
    assert held == pytest.approx(8.0, abs=0.3)
    assert worst < 1.5


def test_loiter_turns_orbits_at_the_radius_for_n_turns_clockwise() -> None:
    v = make_vehicle(NAV_ACC_RAD=2.0)
    centre = point(0, 40)
    start_mission(
        v,
        MissionItem.at(
            Cmd.NAV_LOITER_TURNS, centre.lat_deg, centre.lon_deg, alt_rel_m=15, params=(2, 0, 20, 0)
        ),
        waypoint(point(0, 80), 15),
    )
    cx, cy = v.frame.to_local(centre)
    run_until(v, lambda u: abs(u.body.distance_xy_m(cx, cy) - 20) < 1.0, 60)
    log = FlightLog()
    angles: list[float] = []
    radii: list[float] = []

    def watch(u: Vehicle) -> None:
        if 0 not in log.reached:
            angles.append(math.atan2(u.body.y_m - cy, u.body.x_m - cx))
            radii.append(u.body.distance_xy_m(cx, cy))

    took = run_until(v, lambda u: 0 in log.reached, 120, log=log, each=watch)
    swept = sum(wrap_180(math.degrees(b - a)) for a, b in itertools.pairwise(angles))
    assert swept < 0  # clockwise seen from above: the angle from east decreases
    assert abs(swept) == pytest.approx(720.0, abs=15.0)
    assert max(radii) < 21.5 and min(radii[5:]) > 18.5
    assert took == pytest.approx(2 * 2 * math.pi * 20 / v.params["MPC_XY_CRUISE"], rel=0.1)


def test_mission_land_item_lands_disarms_and_completes() -> None:
    v = make_vehicle()
    spot = point(180, 40)
    start_mission(
        v,
        waypoint(point(180, 20), 10),
        MissionItem.at(Cmd.NAV_LAND, spot.lat_deg, spot.lon_deg, alt_rel_m=0),
    )
    log = FlightLog()
    run_until(v, lambda u: not u.armed, 120, log=log)
    assert v.landed_state is LandedState.ON_GROUND and v.body.z_m == 0.0
    assert local_distance_m(v, spot) < 1.0
    assert log.max_descent_m_s <= v.params["MPC_Z_VEL_MAX_DN"] + 1e-9
    # PX4's order: the land detector, the navigator, then the auto-disarm
    assert log.texts[-3:] == ["Landing detected", "Mission finished, landed", "Disarmed by landing"]
    assert "Mission finished, loitering" not in log.texts
    assert v.mission_state() is MissionState.COMPLETE
    assert log.reached == [0, 1]


# -- return to launch ----------------------------------------------------------------------------


def test_rtl_climbs_to_return_alt_returns_descends_lands_and_disarms() -> None:
    v = hovering(10.0, RTL_RETURN_ALT=25.0, RTL_DESCEND_ALT=10.0)
    away = point(45, 80)
    cmd(v, Cmd.DO_REPOSITION, -1, 0, 0, NAN, away.lat_deg, away.lon_deg, GROUND_AMSL_M + 10)
    run_until(v, lambda u: local_distance_m(u, away) < 0.2 and settled(u), 60)
    v.take_events()
    start_xy = (v.body.x_m, v.body.y_m)
    assert cmd(v, Cmd.NAV_RETURN_TO_LAUNCH).result is ACCEPTED
    assert v.mode is FlightMode.RTL
    moved_below: list[float] = []

    def climb_first(u: Vehicle) -> None:
        if u.alt_rel_m < 24.0 and u.body.distance_xy_m(*start_xy) > 0.5 and u.body.vz_m_s > 0:
            moved_below.append(u.alt_rel_m)

    log = FlightLog()
    run_until(v, lambda u: not u.armed, 200, log=log, each=climb_first)
    assert moved_below == []
    assert log.max_alt_rel_m == pytest.approx(25.0, abs=0.5)
    assert log.max_ground_speed_m_s <= v.params["MPC_XY_CRUISE"] + 0.01
    assert log.max_descent_m_s <= v.params["MPC_Z_VEL_MAX_DN"] + 1e-9
    assert math.hypot(v.body.x_m, v.body.y_m) < 1.0
    assert v.landed_state is LandedState.ON_GROUND
    assert log.texts[-2:] == ["Landing detected", "Disarmed by landing"]


def test_rtl_slows_to_mpc_land_speed_near_the_ground() -> None:
    v = hovering(8.0, RTL_RETURN_ALT=8.0, RTL_DESCEND_ALT=8.0)
    cmd(v, Cmd.NAV_RETURN_TO_LAUNCH)
    low = FlightLog()
    run_until(v, lambda u: u.alt_rel_m < v.params["MPC_LAND_ALT2"] - 1.0, 60)
    run_until(v, lambda u: not u.armed, 60, log=low)
    assert low.max_descent_m_s <= v.params["MPC_LAND_SPEED"] + 1e-9


def test_rtl_above_return_alt_returns_at_the_current_altitude() -> None:
    v = hovering(35.0, RTL_RETURN_ALT=20.0)
    away = point(0, 60)
    cmd(v, Cmd.DO_REPOSITION, -1, 0, 0, NAN, away.lat_deg, away.lon_deg, GROUND_AMSL_M + 35)
    run_until(v, lambda u: local_distance_m(u, away) < 0.2 and settled(u), 60)
    cmd(v, Cmd.NAV_RETURN_TO_LAUNCH)
    run_until(v, lambda u: math.hypot(u.body.x_m, u.body.y_m) < 30, 60)
    assert v.alt_rel_m == pytest.approx(35.0, abs=0.5)


def test_rtl_goes_to_a_closer_rally_point() -> None:
    v = hovering(10.0, RTL_RETURN_ALT=15.0)
    away = point(90, 150)
    cmd(v, Cmd.DO_REPOSITION, -1, 0, 0, NAN, away.lat_deg, away.lon_deg, GROUND_AMSL_M + 10)
    run_until(v, lambda u: local_distance_m(u, away) < 0.2 and settled(u), 60)
    rally = point(0, 30, start=away)
    rally_item = MissionItem.at(
        MavCmd.NAV_RALLY_POINT,
        rally.lat_deg,
        rally.lon_deg,
        alt_rel_m=0,
        mission_type=MissionType.RALLY,
    )
    v.set_rally((rally_item.to_mavlink(0),))
    cmd(v, Cmd.NAV_RETURN_TO_LAUNCH)
    run_until(v, lambda u: not u.armed, 200)
    assert local_distance_m(v, rally) < 1.0


@pytest.mark.parametrize(("delay_s", "waits_s"), [(0.0, 0.0), (5.0, 5.0), (-1.0, math.inf)])
def test_rtl_land_delay_hovers_over_home_before_landing(delay_s: float, waits_s: float) -> None:
    v = hovering(10.0, RTL_LAND_DELAY=delay_s, RTL_RETURN_ALT=10.0, RTL_DESCEND_ALT=10.0)
    cmd(v, Cmd.NAV_RETURN_TO_LAUNCH)
    if math.isinf(waits_s):
        run_for(v, 60.0)
        assert v.alt_rel_m == pytest.approx(10.0, abs=0.1) and v.mode is FlightMode.RTL
        return
    waited = run_until(v, lambda u: u.body.vz_m_s < -0.1, 30)
    assert waited == pytest.approx(waits_s, abs=0.5)
    run_until(v, lambda u: not u.armed, 60)


def test_mission_ending_in_rtl_returns_lands_and_disarms_without_loitering() -> None:
    v = make_vehicle(RTL_RETURN_ALT=15.0)
    start_mission(v, waypoint(point(0, 40), 10), MissionItem.do(Cmd.NAV_RETURN_TO_LAUNCH))
    log = FlightLog()
    run_until(v, lambda u: not u.armed, 200, log=log)
    assert log.modes[-2:] == [FlightMode.MISSION, FlightMode.RTL]
    assert log.reached == [0, 1]
    assert not any(t.startswith("Mission finished") for t in log.texts)
    assert log.texts[-2:] == ["Landing detected", "Disarmed by landing"]
    assert math.hypot(v.body.x_m, v.body.y_m) < 1.0


def test_rtl_is_denied_when_disarmed() -> None:
    v = make_vehicle()
    result = cmd(v, Cmd.NAV_RETURN_TO_LAUNCH)
    assert result.result is DENIED and "disarmed" in result.reason
    assert v.mode is FlightMode.LOITER


# -- pause, continue, start at item ---------------------------------------------------------------


def test_pause_holds_position_and_continue_resumes_the_same_item() -> None:
    v = make_vehicle()
    start_mission(
        v, waypoint(point(0, 10), 10), waypoint(point(0, 200), 10), waypoint(point(0, 220), 10)
    )
    log = FlightLog()
    run_until(v, lambda u: u.navigator.current == 1 and u.body.y_m > 80, 120, log=log)
    paused_at = (v.body.x_m, v.body.y_m, v.body.z_m)
    assert cmd(v, Cmd.DO_PAUSE_CONTINUE, 0).result is ACCEPTED
    assert v.mode is FlightMode.LOITER
    assert v.mission_state() is MissionState.PAUSED
    worst = 0.0

    def watch(u: Vehicle) -> None:
        nonlocal worst
        worst = max(worst, u.body.distance_xy_m(paused_at[0], paused_at[1]))

    run_for(v, 15.0, log=log, each=watch)
    # braking from cruise speed (5 m/s at MPC_ACC_HOR 3 m/s²) overshoots ~4 m, then settles
    assert worst < 5.0
    assert v.body.distance_xy_m(paused_at[0], paused_at[1]) < 1.0
    assert abs(v.body.z_m - paused_at[2]) < 0.5
    assert v.navigator.current == 1
    assert cmd(v, Cmd.DO_PAUSE_CONTINUE, 1).result is ACCEPTED
    assert v.mode is FlightMode.MISSION
    run_until(v, lambda u: u.navigator.finished, 120, log=log)
    assert log.reached == [0, 1, 2]


def test_continue_without_a_paused_mission_is_denied() -> None:
    v = hovering(5.0)
    assert cmd(v, Cmd.DO_PAUSE_CONTINUE, 1).result is DENIED


def test_mission_start_arms_and_starts_at_the_item_in_param1() -> None:
    """PX4's MISSION_START switches to MISSION *and arms*; param1 is the first item."""
    v = make_vehicle()
    v.set_mission(items(*(waypoint(p, 15) for p in SQUARE)))
    assert cmd(v, Cmd.MISSION_START, 2, 2).result is ACCEPTED
    assert v.mode is FlightMode.MISSION and v.armed
    log = FlightLog()
    run_until(v, lambda u: u.navigator.finished, 120, log=log)
    assert log.reached == [2]
    assert local_distance_m(v, SQUARE[2]) <= v.params["NAV_ACC_RAD"]


@pytest.mark.parametrize(("first", "expected"), [(0, [0, 1, 2]), (-1, [1, 2])])
def test_mission_start_param1_0_restarts_and_minus_1_resumes(
    first: int, expected: list[int]
) -> None:
    v = make_vehicle()
    start_mission(v, *(waypoint(p, 15) for p in SQUARE))
    run_until(v, lambda u: u.navigator.current == 1, 120)
    cmd(v, Cmd.DO_PAUSE_CONTINUE, 0)
    run_for(v, 2.0)
    v.take_events()
    assert cmd(v, Cmd.MISSION_START, first, first).result is ACCEPTED
    log = FlightLog()
    run_until(v, lambda u: u.navigator.finished, 200, log=log)
    assert log.reached == expected


@pytest.mark.parametrize(
    ("mission", "first", "params", "result"),
    [
        (True, 5, {}, DENIED),  # no item 5
        (True, -2, {}, DENIED),
        (False, 0, {}, DENIED),  # no mission
        (True, 0, {"SIM_GPS_USED": 4}, MavResult.TEMPORARILY_REJECTED),  # cannot arm
    ],
)
def test_mission_start_refusals(
    mission: bool, first: int, params: dict[str, float], result: MavResult
) -> None:
    v = make_vehicle(**params)
    if mission:
        v.set_mission(items(waypoint(SQUARE[0], 15)))
    outcome = cmd(v, Cmd.MISSION_START, first, first)
    assert outcome.result is result
    assert "Mission start denied" in outcome.reason
    assert v.mode is FlightMode.LOITER and not v.armed


def test_do_set_mission_current_in_flight_skips_to_that_item() -> None:
    v = make_vehicle()
    start_mission(v, *(waypoint(p, 15) for p in SQUARE))
    log = FlightLog()
    run_until(v, lambda u: u.alt_rel_m > 5, 30, log=log)
    assert cmd(v, Cmd.DO_SET_MISSION_CURRENT, 2).result is ACCEPTED
    run_until(v, lambda u: u.navigator.finished, 120, log=log)
    assert log.reached == [2]
    result = cmd(v, Cmd.DO_SET_MISSION_CURRENT, 3)
    assert result.result is DENIED and "3" in result.reason


# -- guided commands -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "alt", "expected_rel_m"),
    [
        (None, GROUND_AMSL_M + 25.0, 25.0),  # COMMAND_LONG: AMSL
        (6, 18.0, 18.0),  # COMMAND_INT, GLOBAL_RELATIVE_ALT_INT
        (5, GROUND_AMSL_M + 12.0, 12.0),  # COMMAND_INT, GLOBAL_INT: AMSL
    ],
)
def test_reposition_flies_to_the_point_at_the_given_altitude(
    frame: int | None, alt: float, expected_rel_m: float
) -> None:
    v = hovering(10.0)
    there = point(30, 70)
    result = cmd(
        v, Cmd.DO_REPOSITION, -1, 0, 0, NAN, there.lat_deg, there.lon_deg, alt, frame=frame
    )
    assert result.result is ACCEPTED
    log = FlightLog()
    run_until(v, lambda u: local_distance_m(u, there) < 0.1 and settled(u), 60, log=log)
    assert v.alt_rel_m == pytest.approx(expected_rel_m, abs=0.1)
    assert v.mode is FlightMode.LOITER
    assert log.max_ground_speed_m_s <= v.params["MPC_XY_CRUISE"] + 0.01


def test_reposition_with_a_ground_speed_flies_at_that_speed() -> None:
    v = hovering(10.0)
    there = point(0, 60)
    cmd(v, Cmd.DO_REPOSITION, 2.5, 0, 0, NAN, there.lat_deg, there.lon_deg, GROUND_AMSL_M + 10)
    log = FlightLog()
    run_until(v, lambda u: local_distance_m(u, there) < 0.1, 60, log=log)
    assert log.max_ground_speed_m_s == pytest.approx(2.5, abs=0.01)


def test_reposition_on_the_ground_is_denied() -> None:
    v = make_vehicle()
    assert (
        cmd(v, Cmd.DO_REPOSITION, -1, 0, 0, NAN, LAUNCH.lat_deg, LAUNCH.lon_deg, 500).result
        is DENIED
    )


@pytest.mark.parametrize(
    ("radius_m", "centre", "turn"),
    [
        (20.0, point(0, 30), -1),  # > 0: clockwise seen from above
        (-20.0, point(0, 30), 1),
        (20.0, None, -1),  # no centre (NaN): orbit around where the vehicle is
    ],
)
def test_orbit_circles_the_centre_at_radius_and_speed_facing_it(
    radius_m: float, centre: GeoPoint | None, turn: int
) -> None:
    v = hovering(15.0)
    lat, lon = (centre.lat_deg, centre.lon_deg) if centre else (NAN, NAN)
    result = cmd(v, Cmd.DO_ORBIT, radius_m, 4, NAN, NAN, lat, lon, NAN)
    assert result.result is ACCEPTED
    cx, cy = v.frame.to_local(centre) if centre else (v.body.x_m, v.body.y_m)
    run_for(v, 40.0)
    radii: list[float] = []
    speeds: list[float] = []
    yaw_err: list[float] = []
    angles: list[float] = []

    def watch(u: Vehicle) -> None:
        b = u.body
        radii.append(b.distance_xy_m(cx, cy))
        speeds.append(b.ground_speed_m_s)
        to_centre = math.degrees(math.atan2(cx - b.x_m, cy - b.y_m))
        yaw_err.append(abs(wrap_180(b.yaw_deg - to_centre)))
        angles.append(math.atan2(b.y_m - cy, b.x_m - cx))

    run_for(v, 30.0, each=watch)
    assert min(radii) > 19.0 and max(radii) < 21.0
    assert min(speeds) > 3.8 and max(speeds) < 4.2
    assert max(yaw_err) < 10.0
    swept = sum(wrap_180(math.degrees(b - a)) for a, b in itertools.pairwise(angles))
    # 30 s at 4 m/s on a 20 m circle is ~0.95 turns
    assert swept == pytest.approx(turn * math.degrees(30 * 4 / 20), rel=0.1)
    assert v.alt_rel_m == pytest.approx(15.0, abs=0.3)


def test_roi_turns_the_heading_to_face_it_and_roi_none_releases_it() -> None:
    v = hovering(10.0)
    roi = point(90, 50)
    assert (
        cmd(
            v, Cmd.DO_SET_ROI_LOCATION, 0, NAN, NAN, NAN, roi.lat_deg, roi.lon_deg, GROUND_AMSL_M
        ).result
        is ACCEPTED
    )
    run_for(v, 5.0)  # 90° at MPC_YAWRAUTO_MAX 45°/s
    assert wrap_180(v.body.yaw_deg - 90.0) == pytest.approx(0.0, abs=2.0)
    assert v.camera_pitch_deg() == pytest.approx(-math.degrees(math.atan2(10, 50)), abs=1.0)
    assert cmd(v, Cmd.DO_SET_ROI_NONE).result is ACCEPTED
    assert v.roi_xyz is None


def test_roi_with_an_out_of_range_location_is_denied() -> None:
    v = hovering(5.0)
    assert cmd(v, Cmd.DO_SET_ROI_LOCATION, 0, NAN, NAN, NAN, 95.0, 8.5, 500).result is DENIED


@pytest.mark.parametrize(
    ("command", "params", "result", "pitch"),
    [
        (Cmd.DO_GIMBAL_MANAGER_PITCHYAW, (-30.0, 10.0), ACCEPTED, -30.0),
        (Cmd.DO_GIMBAL_MANAGER_PITCHYAW, (-90.0, NAN), ACCEPTED, -90.0),
        (Cmd.DO_GIMBAL_MANAGER_PITCHYAW, (-95.0, 0.0), DENIED, -45.0),
        (Cmd.DO_GIMBAL_MANAGER_PITCHYAW, (45.0, 0.0), DENIED, -45.0),
        (Cmd.DO_MOUNT_CONTROL, (-60.0, 0.0, 20.0), ACCEPTED, -60.0),
        (Cmd.DO_MOUNT_CONTROL, (-91.0, 0.0, 0.0), DENIED, -45.0),
    ],
)
def test_gimbal_command_sets_pitch_and_rejects_below_minus_90(
    command: int, params: tuple[float, ...], result: MavResult, pitch: float
) -> None:
    v = make_vehicle()
    assert v.gimbal_pitch_deg == -45.0
    assert cmd(v, command, *params).result is result
    assert v.gimbal_pitch_deg == pitch


def test_disarm_in_flight_is_denied_unless_forced_and_forced_disarm_falls() -> None:
    v = hovering(10.0)
    result = cmd(v, Cmd.COMPONENT_ARM_DISARM, 0)
    assert result.result is DENIED and "not landed" in result.reason
    assert v.armed
    assert cmd(v, Cmd.COMPONENT_ARM_DISARM, 0, FORCE).result is ACCEPTED
    assert not v.armed
    log = FlightLog()
    fell = run_until(v, lambda u: u.landed_state is LandedState.ON_GROUND, 10, log=log)
    assert fell < 2.0  # a motorless quad drops 10 m in about a second
    assert v.body.z_m == 0.0 and not v.armed


@pytest.mark.parametrize(
    ("main", "sub", "result", "mode"),
    [
        (4, 3, ACCEPTED, FlightMode.LOITER),
        (3, 0, ACCEPTED, FlightMode.POSCTL),
        (4, 9, UNSUPPORTED, FlightMode.LOITER),
        (6, 0, UNSUPPORTED, FlightMode.LOITER),  # OFFBOARD: not simulated
        (99, 0, UNSUPPORTED, FlightMode.LOITER),
        (4, 5, DENIED, FlightMode.LOITER),  # RTL needs an armed vehicle
        (4, 4, DENIED, FlightMode.LOITER),  # MISSION needs a mission
    ],
)
def test_do_set_mode_with_px4_custom_modes(
    main: int, sub: int, result: MavResult, mode: FlightMode
) -> None:
    v = make_vehicle()
    assert cmd(v, Cmd.DO_SET_MODE, 1, main, sub).result is result
    assert v.mode is mode


def test_an_unknown_command_is_unsupported_never_silent() -> None:
    v = make_vehicle()
    assert cmd(v, 31337).result is UNSUPPORTED


def test_set_home_to_a_location_moves_home() -> None:
    v = make_vehicle()
    there = point(180, 25)
    assert (
        cmd(
            v, Cmd.DO_SET_HOME, 0, NAN, NAN, NAN, there.lat_deg, there.lon_deg, GROUND_AMSL_M
        ).result
        is ACCEPTED
    )
    assert distance_m(v.home(), there) < 0.01


# -- determinism, configuration ------------------------------------------------------------------


def _track(seed: int, noise_m: float) -> list[tuple[float, float]]:
    v = make_vehicle(seed=seed, gps_noise_m=noise_m)
    out = []
    for _ in range(200):
        v.step(0.1)
        p = v.position()
        out.append((p.lat_deg, p.lon_deg))
    return out


def test_same_seed_gives_identical_noisy_positions_and_another_seed_differs() -> None:
    assert _track(7, 2.0) == _track(7, 2.0)
    assert _track(7, 2.0) != _track(8, 2.0)


def test_gps_noise_has_about_the_configured_size() -> None:
    v = make_vehicle(seed=3, gps_noise_m=2.0)
    errs = []
    for _ in range(3000):
        v.step(0.1)
        errs.append(distance_m(v.position(), v.position(noisy=False)))
    rms = math.sqrt(sum(e * e for e in errs) / len(errs))
    # 2-D error of two σ = 2 m axes: rms ≈ 2.8 m; a 300 s window of a τ = 10 s process varies
    assert 1.0 < rms < 5.0
    assert distance_m(make_vehicle().position(), LAUNCH) < 1e-6  # no noise: the truth


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dt_s": -0.1},
        {"dt_s": math.nan},
        {"dt_s": math.inf},
        {"dt_s": 0.1, "link_dt_s": -1.0},
        {"dt_s": 0.1, "link_dt_s": math.nan},
    ],
)
def test_step_rejects_negative_or_non_finite_time(kwargs: dict[str, float]) -> None:
    v = make_vehicle()
    with pytest.raises(SimConfigError):
        v.step(**kwargs)
    assert v.time_s == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("system_id", 0),
        ("system_id", 251),
        ("lat_deg", 91.0),
        ("lon_deg", math.nan),
        ("alt_amsl_m", 10_000.0),
        ("battery_soc", 1.5),
        ("gps_noise_m", -1.0),
    ],
)
def test_vehicle_config_refuses_out_of_range_settings(field: str, value: float) -> None:
    with pytest.raises(SimConfigError) as caught:
        VehicleConfig(**{field: value})  # type: ignore[arg-type]
    assert caught.value.field == field


def test_step_splits_a_long_step_into_small_ones() -> None:
    a, b = make_vehicle(), make_vehicle()
    for v in (a, b):
        cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
        cmd(v, Cmd.NAV_TAKEOFF, *[NAN] * 6, GROUND_AMSL_M + 10)
    a.step(3.0)
    for _ in range(30):
        b.step(0.1)
    assert a.body.z_m == pytest.approx(b.body.z_m, abs=1e-9)


# -- properties ----------------------------------------------------------------------------------

_FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(
    legs=st.lists(
        st.tuples(
            st.floats(0, 360, exclude_max=True),
            st.floats(5, 120),
            st.floats(3, 40),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_random_missions_end_within_acceptance_and_respect_speed_limits(
    legs: list[tuple[float, float, float]],
) -> None:
    """Any reachable mission ends inside the last acceptance radius, never over the limits."""
    v = make_vehicle()
    pts: list[tuple[GeoPoint, float]] = []
    here = LAUNCH
    for bearing, dist, alt in legs:
        here = point(bearing, dist, start=here)
        pts.append((here, alt))
    start_mission(v, *(waypoint(p, alt) for p, alt in pts))
    log = FlightLog()
    run_until(v, lambda u: u.navigator.finished, 600, log=log)
    run_for(v, 8.0, log=log)
    p = v.params
    assert log.reached == list(range(len(pts)))
    assert log.max_ground_speed_m_s <= p["MPC_XY_CRUISE"] + 1e-6
    assert log.max_climb_m_s <= p["MPC_Z_VEL_MAX_UP"] + 1e-6
    assert log.max_descent_m_s <= p["MPC_Z_VEL_MAX_DN"] + 1e-6
    last, alt = pts[-1]
    assert local_distance_m(v, last) <= p["NAV_ACC_RAD"] + 0.05  # hovering: settled to cm
    assert abs(v.alt_rel_m - alt) <= p["NAV_MC_ALT_RAD"] + 0.05
    assert v.armed and v.in_air


@settings(max_examples=30, deadline=None)
@given(
    soc=st.floats(0.0, 1.0),
    drain_s=st.sampled_from([0.0, 60.0, 600.0]),
    steps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=40),
    fly=st.booleans(),
)
def test_battery_state_of_charge_never_rises_and_stays_in_0_1(
    soc: float, drain_s: float, steps: list[float], fly: bool
) -> None:
    v = Vehicle(VehicleConfig(battery_soc=soc, params=(("SIM_BAT_DRAIN", drain_s),)))
    if fly:
        cmd(v, Cmd.COMPONENT_ARM_DISARM, 1, FORCE)
        cmd(v, Cmd.NAV_TAKEOFF, *[NAN] * 6, GROUND_AMSL_M + 20)
    last = v.battery.soc
    for dt in steps:
        v.step(dt)
        assert 0.0 <= v.battery.soc <= last
        last = v.battery.soc


def test_fence_status_starts_clear() -> None:
    v = make_vehicle()
    assert v.fence_status.breach is BreachType.NONE and v.fence_status.breach_count == 0


def test_wind_costs_battery_and_tilts_the_hovering_airframe_into_it() -> None:
    """Hovering in an 8 m/s westerly: same position, more power, nose-into-wind tilt."""
    from flight_plans.energy import Wind
    from sim import telemetry

    def hover_in(wind: Wind) -> Vehicle:
        v = Vehicle(VehicleConfig(wind=wind))
        cmd(v, Cmd.COMPONENT_ARM_DISARM, 1)
        cmd(v, Cmd.NAV_TAKEOFF, *[math.nan] * 6, v.ground_amsl_m + 10.0)
        run_for(v, 60.0)
        return v

    calm, windy = hover_in(Wind(270.0, 0.0)), hover_in(Wind(270.0, 8.0))
    assert windy.body.distance_xy_m(0.0, 0.0) < 0.5  # the controller holds position
    assert windy.battery.soc < calm.battery.soc
    assert windy.airspeed_m_s == pytest.approx(8.0, abs=0.1)
    att = telemetry.attitude(windy)
    # wind from the west blows east; to hold, the airframe leans west (into the wind):
    # facing north, that is a roll to the left (negative)
    assert math.degrees(att.roll) < -5.0 and abs(math.degrees(att.pitch)) < 1.0
    still = telemetry.attitude(calm)
    assert abs(still.roll) < 1e-6


@pytest.mark.parametrize(
    ("command", "lat_deg", "lon_deg"),
    [
        (Cmd.DO_REPOSITION, 95.0, 8.5),
        (Cmd.DO_ORBIT, 47.4, 200.0),
        (Cmd.NAV_LAND, -91.0, 8.5),
        (Cmd.DO_SET_HOME, 47.4, -181.0),
    ],
)
def test_out_of_range_command_positions_are_denied_with_a_reason_and_change_nothing(
    command: int, lat_deg: float, lon_deg: float
) -> None:
    v = hovering(10.0)
    before = (v.mode, v.home_xyz, v.body.x_m, v.body.y_m)
    result = cmd(v, command, 0.0, math.nan, math.nan, math.nan, lat_deg, lon_deg, math.nan)
    assert result.result == MavResult.DENIED
    assert "lat" in result.reason or "lon" in result.reason
    assert (v.mode, v.home_xyz, v.body.x_m, v.body.y_m) == before
    texts = [e for e in v.take_events() if isinstance(e, StatusText)]
    assert texts and texts[-1].text == result.reason
