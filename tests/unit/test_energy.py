"""Mission time/energy estimates and battery feasibility."""

from __future__ import annotations

import math

import pytest

from flight_plans.energy import (
    G_M_S2,
    BatteryState,
    VehicleProfile,
    Wind,
    estimate,
    feasibility,
)
from flight_plans.errors import InvalidValueError
from flight_plans.geodesy import GeoPoint, destination
from flight_plans.mission import HomePosition, MavCmd, MavFrame, Mission, MissionItem

HOME = HomePosition(47.0, 8.0, 400.0)
NORTH_1KM = destination(HOME.point, 0.0, 1000.0)


def out_and_back(*extra: MissionItem, alt_rel_m: float = 20.0) -> Mission:
    return Mission(
        (
            MissionItem.at(MavCmd.NAV_TAKEOFF, HOME.lat_deg, HOME.lon_deg, alt_rel_m=alt_rel_m),
            *extra,
            MissionItem.at(
                MavCmd.NAV_WAYPOINT, NORTH_1KM.lat_deg, NORTH_1KM.lon_deg, alt_rel_m=alt_rel_m
            ),
            MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH, MavFrame.MISSION),
        ),
        HOME,
    )


def test_out_and_back_time_matches_hand_computation() -> None:
    p = VehicleProfile()
    est = estimate(out_and_back(), p)
    # climb 20 m @3, leg 1000 m @10, RTL climb to 60 (+40 m @3), 1000 m back,
    # descend 50 m @1.5 then 10 m @0.7
    expected_s = 20 / 3 + 100 + 40 / 3 + 100 + 50 / 1.5 + 10 / 0.7
    assert est.time_s == pytest.approx(expected_s, rel=1e-6)
    assert est.horizontal_distance_m == pytest.approx(2000.0, abs=1e-6)
    assert (est.climb_m, est.descent_m) == (pytest.approx(60.0), pytest.approx(60.0))
    assert [s.kind for s in est.segments] == ["climb", "leg", "climb", "return", "descend", "land"]


def test_out_and_back_energy_matches_hand_computation() -> None:
    p = VehicleProfile()
    est = estimate(out_and_back(), p)
    climb_w = p.hover_power_w + p.mass_kg * G_M_S2 * 3.0 / p.climb_efficiency
    level_w = p.hover_power_w + p.parasite_power_coeff_w_s3_m3 * 10.0**3
    expected_j = (
        climb_w * (20 / 3 + 40 / 3) + level_w * 200 + p.hover_power_w * (50 / 1.5 + 10 / 0.7)
    )
    assert est.energy_wh == pytest.approx(expected_j / 3600, rel=1e-6)


def test_change_speed_applies_to_later_legs() -> None:
    slow = estimate(out_and_back(MissionItem.do(MavCmd.DO_CHANGE_SPEED, 1, 5, -1)))
    base = estimate(out_and_back())
    # the outbound and return legs now take 200 s each instead of 100 s
    assert slow.time_s - base.time_s == pytest.approx(200.0, rel=1e-6)


def test_hold_items_add_time() -> None:
    m = out_and_back()
    loiter = MissionItem.at(
        MavCmd.NAV_LOITER_TIME,
        NORTH_1KM.lat_deg,
        NORTH_1KM.lon_deg,
        alt_rel_m=20,
        params=(45, 0, 0, 0),
    )
    m2 = Mission((*m.items[:2], loiter, m.items[2]), HOME)
    assert estimate(m2).time_s == pytest.approx(estimate(m).time_s + 45.0, rel=1e-6)


def test_wind_slows_a_round_trip() -> None:
    calm = estimate(out_and_back()).time_s
    windy = estimate(out_and_back(), wind=Wind(from_deg=0.0, speed_m_s=4.0)).time_s
    # into a 4 m/s head-wind at 10 m/s: 1000/6 out, 1000/14 back (vs 100 + 100)
    assert windy - calm == pytest.approx(1000 / 6 + 1000 / 14 - 200, rel=1e-6)


def test_crosswind_reduces_ground_speed() -> None:
    est = estimate(out_and_back(), wind=Wind(from_deg=90.0, speed_m_s=6.0))
    leg = next(s for s in est.segments if s.kind == "leg")
    assert leg.time_s == pytest.approx(1000 / 8.0, rel=1e-6)  # sqrt(10² - 6²) = 8


def test_wind_stronger_than_airspeed_is_an_error() -> None:
    with pytest.raises(InvalidValueError, match="headway"):
        estimate(out_and_back(), wind=Wind(from_deg=0.0, speed_m_s=12.0))


def test_amsl_items_are_converted_with_home_altitude() -> None:
    m = Mission(
        (
            MissionItem.at(MavCmd.NAV_TAKEOFF, HOME.lat_deg, HOME.lon_deg, alt_rel_m=20),
            MissionItem.at(
                MavCmd.NAV_WAYPOINT,
                NORTH_1KM.lat_deg,
                NORTH_1KM.lon_deg,
                alt_amsl_m=HOME.alt_amsl_m + 50,
            ),
        ),
        HOME,
    )
    est = estimate(m)
    assert est.climb_m == pytest.approx(50.0)


def test_feasibility_verdict_and_margin() -> None:
    m = out_and_back()
    need = estimate(m).energy_wh
    ok = feasibility(m, BatteryState(capacity_wh=100.0), reserve_fraction=0.2)
    assert ok.feasible and ok.margin_wh == pytest.approx(80.0 - need)
    low = feasibility(m, BatteryState(capacity_wh=100.0, remaining_fraction=0.2 + need / 200))
    assert not low.feasible and low.margin_wh < 0 and "reserve" in low.reason


def test_open_ended_loiter_reports_time_on_station() -> None:
    station = MissionItem.at(
        MavCmd.NAV_LOITER_UNLIM, NORTH_1KM.lat_deg, NORTH_1KM.lon_deg, alt_rel_m=20
    )
    m = Mission((out_and_back().items[0], station), HOME)
    est = estimate(m)
    assert est.open_ended_at == 1
    v = feasibility(m, BatteryState(capacity_wh=100.0), reserve_fraction=0.2)
    # getting there and back costs about what the out-and-back mission costs
    assert v.required_wh == pytest.approx(estimate(out_and_back()).energy_wh, rel=0.01)
    assert v.max_hold_s == pytest.approx(v.margin_wh * 3600 / VehicleProfile().hover_power_w)
    assert v.max_hold_s is not None and v.max_hold_s > 600


def test_mission_without_takeoff_climbs_to_the_first_item() -> None:
    m = Mission(
        (MissionItem.at(MavCmd.NAV_WAYPOINT, NORTH_1KM.lat_deg, NORTH_1KM.lon_deg, alt_rel_m=30),),
        HOME,
    )
    est = estimate(m)
    assert est.segments[0].kind == "climb" and est.segments[0].vertical_m == 30.0
    assert est.horizontal_distance_m == pytest.approx(1000.0, abs=1e-6)


def test_land_item_descends_to_ground() -> None:
    m = Mission(
        (
            MissionItem.at(MavCmd.NAV_TAKEOFF, HOME.lat_deg, HOME.lon_deg, alt_rel_m=30),
            MissionItem.at(MavCmd.NAV_LAND, NORTH_1KM.lat_deg, NORTH_1KM.lon_deg, alt_rel_m=0),
        ),
        HOME,
    )
    est = estimate(m)
    assert est.descent_m == pytest.approx(30.0) and est.segments[-1].kind == "land"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cruise_speed_m_s": 0}, "cruise_speed_m_s"),
        ({"climb_speed_m_s": -1}, "climb_speed_m_s"),
        ({"hover_power_w": math.nan}, "hover_power_w"),
        ({"climb_efficiency": 1.5}, "climb_efficiency"),
        ({"climb_efficiency": 0.0}, "climb_efficiency"),
    ],
)
def test_profile_refuses_bad_values(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidValueError) as ei:
        VehicleProfile(**kwargs)
    assert ei.value.field == field


def test_battery_and_reserve_validation() -> None:
    with pytest.raises(InvalidValueError, match="remaining_fraction"):
        BatteryState(100.0, remaining_fraction=55.0)  # percent given instead of a fraction
    with pytest.raises(InvalidValueError, match="capacity_wh"):
        BatteryState(-1.0)
    with pytest.raises(InvalidValueError, match="reserve_fraction"):
        feasibility(out_and_back(), BatteryState(100.0), reserve_fraction=1.0)
    with pytest.raises(InvalidValueError, match=r"wind\.speed_m_s"):
        Wind(0.0, -3.0)


def test_estimate_without_home_starts_at_first_item() -> None:
    m = Mission(
        (MissionItem.at(16, 1.0, 1.0, alt_rel_m=10), MissionItem.at(16, 1.0, 1.01, alt_rel_m=10))
    )
    est = estimate(m)
    # 0.01° of longitude at 1° N: the flight starts at the first item, not at (0, 0)
    assert est.horizontal_distance_m == pytest.approx(1113.0, rel=1e-3)
    started_elsewhere = estimate(m, start=GeoPoint(1.0, 0.99))
    assert started_elsewhere.horizontal_distance_m == pytest.approx(2 * 1113.0, rel=1e-3)
