"""MAVSDK values → our types, read-back comparison and error mapping (pure, no sockets).

Inputs are MAVSDK 4.1's own value classes and enums, so a renamed field or enum member in
a later MAVSDK fails here rather than in flight.
"""

from __future__ import annotations

import math
import struct

import pytest
from mavsdk.autopilot import Autopilot
from mavsdk.plugins.action.action import ActionError, ActionResult
from mavsdk.plugins.info.info import Version
from mavsdk.plugins.mission_raw.mission_raw import MissionItem as RawItem
from mavsdk.plugins.mission_raw.mission_raw import MissionRawError, MissionRawResult
from mavsdk.plugins.telemetry import telemetry as tel
from mavsdk.vehicle import Vehicle

from flight_plans.mission import MissionItemInt
from mission_control.vehicles import convert
from mission_control.vehicles.errors import CommandRejected, CommandTimeout, LinkLost, VehicleError
from mission_control.vehicles.types import FlightMode, LandedState

NAN = math.nan


@pytest.mark.parametrize(
    ("mavsdk_mode", "ours"),
    [
        (tel.FlightMode.UNKNOWN, FlightMode.UNKNOWN),
        (tel.FlightMode.READY, FlightMode.READY),
        (tel.FlightMode.TAKEOFF, FlightMode.TAKEOFF),
        (tel.FlightMode.HOLD, FlightMode.HOLD),
        (tel.FlightMode.MISSION, FlightMode.MISSION),
        (tel.FlightMode.RETURN_TO_LAUNCH, FlightMode.RETURN_TO_LAUNCH),
        (tel.FlightMode.LAND, FlightMode.LAND),
        (tel.FlightMode.OFFBOARD, FlightMode.OFFBOARD),
        (tel.FlightMode.FOLLOW_ME, FlightMode.FOLLOW_ME),
        (tel.FlightMode.MANUAL, FlightMode.MANUAL),
        (tel.FlightMode.ALTCTL, FlightMode.ALTCTL),
        (tel.FlightMode.POSCTL, FlightMode.POSCTL),
        (tel.FlightMode.ACRO, FlightMode.ACRO),
        (tel.FlightMode.STABILIZED, FlightMode.STABILIZED),
        (tel.FlightMode.RATTITUDE, FlightMode.UNKNOWN),  # not one of ours
    ],
)
def test_every_mavsdk_flight_mode_has_a_meaning(mavsdk_mode: object, ours: FlightMode) -> None:
    assert convert.flight_mode(mavsdk_mode) is ours  # type: ignore[arg-type]


def test_landed_states_fix_types_severities_and_names_match_by_name() -> None:
    assert [convert.landed_state(s) for s in tel.LandedState] == list(LandedState)
    assert [convert.fix_type(f) for f in tel.FixType] == [
        "no_gps", "no_fix", "fix_2d", "fix_3d", "fix_dgps", "rtk_float", "rtk_fixed"
    ]  # fmt: skip
    assert convert.severity(tel.StatusTextType.CRITICAL) == "critical"
    assert convert.autopilot_name(Autopilot.PX4) == "px4"
    assert convert.vehicle_type_name(Vehicle.MULTICOPTER) == "multicopter"


@pytest.mark.parametrize(
    ("remaining_percent", "pct"),
    [(87.0, 87.0), (0.0, 0.0), (100.0, 100.0), (-1.0, NAN), (101.0, NAN)],
)
def test_battery_percent_is_mavsdk_0_to_100_and_unknown_is_nan(
    remaining_percent: float, pct: float
) -> None:
    b = convert.battery(tel.Battery(remaining_percent=remaining_percent, voltage_v=12.6), 5.0)
    assert (b.voltage_v, b.received_s) == (12.6, 5.0)
    assert b.remaining_pct == pct or (math.isnan(pct) and math.isnan(b.remaining_pct))


def test_samples_keep_units_and_the_receive_time() -> None:
    p = convert.position(tel.Position(47.3977, 8.5456, 508.0, 20.0), 1.5)
    assert (p.lat_deg, p.lon_deg, p.alt_amsl_m, p.alt_rel_home_m, p.received_s) == (
        47.3977,
        8.5456,
        508.0,
        20.0,
        1.5,
    )
    v = convert.velocity(tel.VelocityNed(1.0, -2.0, 0.5), 2.0)
    assert (v.north_m_s, v.east_m_s, v.down_m_s) == (1.0, -2.0, 0.5)
    assert convert.heading(tel.Heading(270.0), 0.0).heading_deg == 270.0
    a = convert.attitude(tel.EulerAngle(1.0, -5.0, 90.0), 0.0)
    assert (a.roll_deg, a.pitch_deg, a.yaw_deg) == (1.0, -5.0, 90.0)
    g = convert.gps(tel.GpsInfo(10, tel.FixType.FIX_3D), 0.0)
    assert (g.fix_type, g.satellites) == ("fix_3d", 10)
    h = convert.home(
        tel.HomePosition(latitude_deg=47.0, longitude_deg=8.0, absolute_altitude_m=488.0), 0.0
    )
    assert (h.lat_deg, h.lon_deg, h.alt_amsl_m) == (47.0, 8.0, 488.0)
    health = convert.health(tel.Health(True, True, True, True, True, False, True), 0.0)
    assert health.global_position_ok and health.armable and not health.home_position_ok
    s = convert.status_text(tel.StatusText(tel.StatusTextType.CRITICAL, "Arming denied"), 3.0)
    assert (s.severity, s.text, s.received_s) == ("critical", "Arming denied", 3.0)


def test_fence_status_from_mavlink_direct_json() -> None:
    json_text = (
        '{"message_id":162,"breach_count":2,"breach_status":1,"breach_type":3,"breach_time":0}'
    )
    f = convert.fence_status_json(json_text, 4.0)
    assert (f.breached, f.breach_count, f.breach_type, f.received_s) == (True, 2, "boundary", 4.0)
    with pytest.raises(ValueError, match="breach_status"):
        convert.fence_status_json('{"breach_count": 0}', 0.0)


@pytest.mark.parametrize(
    ("version", "text"),
    [
        (
            Version(1, 16, 0, flight_sw_version_type=Version.FlightSoftwareVersionType.RELEASE),
            "1.16.0",
        ),
        (
            Version(1, 17, 0, flight_sw_version_type=Version.FlightSoftwareVersionType.BETA),
            "1.17.0-beta",
        ),
        (Version(), None),
    ],
)
def test_firmware_version_from_the_info_plugin(version: Version, text: str | None) -> None:
    assert convert.firmware_version(version) == text


def item(
    seq: int = 0, *, frame: int = 3, z: float = 20.0, param4: float = NAN, current: int = 0
) -> MissionItemInt:
    return MissionItemInt(seq, frame, 16, current, 1, 0.0, 2.0, 0.0, param4, 473977430, 85455940, z)


def test_mission_items_round_trip_through_mavsdks_type() -> None:
    ours = item(current=1)
    raw = convert.to_mavsdk_item(ours, seq=0, current=True)
    assert isinstance(raw, RawItem)
    back = convert.from_mavsdk_item(raw)
    assert convert.item_difference(ours, back) is None
    assert back.current == 1 and math.isnan(back.param4)


def f32(v: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", v))[0])


def test_identical_lists_match_nan_equal_float32_rounding_and_int_frames_allowed() -> None:
    sent = [item(0, z=20.1), item(1)]
    got = [item(0, z=f32(20.1), frame=6, current=1), item(1)]  # frame 6 = 3 as _INT
    assert convert.first_difference(sent, got) is None


@pytest.mark.parametrize(
    ("got", "difference"),
    [
        ([item(0), item(1, z=21.0)], convert.Difference(1, "z: sent 20, read back 21")),
        ([item(0, param4=0.0), item(1)], convert.Difference(0, "param4: sent nan, read back 0")),
        ([item(0, frame=0), item(1)], convert.Difference(0, "frame: sent 3, read back 0")),
        ([item(0)], convert.Difference(1, "sent 2 item(s), read back 1")),
        ([item(0), item(1), item(2)], convert.Difference(2, "sent 2 item(s), read back 3")),
    ],
)
def test_the_first_difference_names_the_item_and_the_field(
    got: list[MissionItemInt], difference: convert.Difference
) -> None:
    assert convert.first_difference([item(0), item(1)], got) == difference


def test_mavsdk_errors_become_typed_errors_naming_the_vehicle() -> None:
    denied = ActionError(ActionResult.COMMAND_DENIED, "arm()")
    rejected = convert.error_for(3, "arm", denied, "Arming denied: no GPS fix")
    assert isinstance(rejected, CommandRejected)
    assert (rejected.system_id, rejected.action, rejected.result) == (3, "arm", "COMMAND_DENIED")
    assert str(rejected) == "vehicle 3: arm rejected (COMMAND_DENIED): Arming denied: no GPS fix"
    assert convert.is_refusal(denied)

    timeout = convert.error_for(
        3, "land", ActionError(ActionResult.TIMEOUT, "land()"), elapsed_s=2.004
    )
    assert isinstance(timeout, CommandTimeout) and timeout.timeout_s == 2.0
    assert not convert.is_refusal(ActionError(ActionResult.TIMEOUT, "land()"))

    gone = convert.error_for(
        3, "hold", ActionError(ActionResult.NO_SYSTEM, "hold()"), heartbeat_age_s=4.0
    )
    assert isinstance(gone, LinkLost) and gone.silent_s == 4.0

    bad = MissionRawError(MissionRawResult.INVALID_ARGUMENT, "upload_mission()")
    upload = convert.error_for(3, "upload mission", bad, "")
    assert isinstance(upload, CommandRejected) and upload.result == "INVALID_ARGUMENT"

    other = convert.error_for(3, "arm", RuntimeError("plugin destroyed"))
    assert type(other) is VehicleError and "plugin destroyed" in str(other)
    assert convert.mission_result_name(14) == "DENIED"
    assert convert.mission_result_name(8) == "INVALID_PARAM3"
