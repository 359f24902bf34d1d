"""The vehicle's MAVLink face driven by packed MAVLink 2 bytes, with no sockets and no clock.

Every request is packed by pymavlink as a ground station (255/190) would send it and every
reply is parsed back, so ids, field types and addressing are what a client sees on the wire.
Time is the ``now_s`` the test passes; telemetry is ticked at 50 Hz.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections import Counter
from typing import Any

import pytest

from flight_plans.geodesy import GeoPoint
from flight_plans.mission import MavCmd, MissionItem, MissionItemInt, MissionType
from sim._mav import MAVLinkMessage, mavlink
from sim.mav_cmd import Cmd
from sim.mavlink import Address, Outgoing, VehicleLink
from sim.modes import FlightMode, ModeFlag
from sim.params import PARAMS, encode_bytewise
from sim.telemetry_types import MavResult, MissionState, Severity
from sim.vehicle import Vehicle
from tests.unit.sim_helpers import (
    GROUND_AMSL_M,
    hovering,
    items,
    make_vehicle,
    point,
    run_for,
    waypoint,
)

GCS: Address = ("127.0.0.1", 14550)
OTHER: Address = ("192.0.2.7", 40123)
TICK_S = 0.02  # 50 Hz
INT32_MAX = 2**31 - 1
NAN = math.nan

Received = list[tuple[MAVLinkMessage, Address]]


class Face:
    """A VehicleLink plus a ground station that packs what it sends and parses replies."""

    def __init__(self, vehicle: Vehicle | None = None, **params: float) -> None:
        self.vehicle = vehicle or make_vehicle(**params)
        self.now_s = 0.0
        self.link = VehicleLink(self.vehicle, gcs=(GCS,), now_s=self.now_s)
        self._gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)

    def send(self, msg: MAVLinkMessage, addr: Address = GCS) -> Received:
        data: bytes = msg.pack(self._gcs)
        self._gcs.seq = (self._gcs.seq + 1) % 256
        return decode(self.link.datagram(data, addr, self.now_s))

    def command(
        self, command: int, *params: float, target: tuple[int, int] = (1, 1), addr: Address = GCS
    ) -> Received:
        p = [*params, *([0.0] * (7 - len(params)))]
        msg = mavlink.MAVLink_command_long_message(*target, command, 0, *p)
        return self.send(msg, addr)

    def command_int(
        self, command: int, frame: int, x: int, y: int, z: float, *params: float
    ) -> Received:
        p = [*params, *([0.0] * (4 - len(params)))]
        msg = mavlink.MAVLink_command_int_message(1, 1, frame, command, 0, 0, *p, x, y, z)
        return self.send(msg)

    def run(self, seconds: float) -> Received:
        """Step the vehicle and tick the link at 50 Hz for ``seconds``."""
        out: Received = []
        for _ in range(round(seconds / TICK_S)):
            self.now_s = round(self.now_s + TICK_S, 9)
            self.vehicle.step(TICK_S)
            out.extend(decode(self.link.tick(self.now_s)))
        return out


def decode(out: Outgoing) -> Received:
    """Parse each datagram; each carries exactly one MAVLink 2 message from sys 1, comp 1."""
    got: Received = []
    for data, addr in out:
        assert data[0] == 0xFD  # MAVLink 2 framing
        msgs = mavlink.MAVLink(None).parse_buffer(data) or []
        assert len(msgs) == 1
        msg = msgs[0]
        assert (msg.get_srcSystem(), msg.get_srcComponent()) == (1, 1)
        got.append((msg, addr))
    return got


def of_type(received: Received, name: str, addr: Address | None = None) -> list[Any]:
    return [m for m, a in received if m.get_type() == name and (addr is None or a == addr)]


def ack(received: Received) -> Any:
    acks = of_type(received, "COMMAND_ACK")
    assert len(acks) == 1, [m.get_type() for m, _ in received]
    return acks[0]


# -- heartbeat -----------------------------------------------------------------------------------


def test_heartbeat_says_px4_quadrotor_in_hold_disarmed() -> None:
    face = Face()
    hb = of_type(face.run(1.2), "HEARTBEAT", GCS)[0]
    assert hb.type == mavlink.MAV_TYPE_QUADROTOR
    assert hb.autopilot == mavlink.MAV_AUTOPILOT_PX4
    assert hb.mavlink_version == 3
    main, sub = (hb.custom_mode >> 16) & 0xFF, (hb.custom_mode >> 24) & 0xFF
    assert (main, sub) == (4, 3)  # AUTO.LOITER
    assert hb.base_mode & ModeFlag.CUSTOM_MODE_ENABLED
    assert not hb.base_mode & ModeFlag.SAFETY_ARMED
    assert hb.system_status == mavlink.MAV_STATE_STANDBY


def test_heartbeat_shows_armed_and_the_new_mode() -> None:
    face = Face()
    assert ack(face.command(Cmd.COMPONENT_ARM_DISARM, 1)).result == MavResult.ACCEPTED
    face.command(Cmd.NAV_TAKEOFF, NAN, NAN, NAN, NAN, NAN, NAN, GROUND_AMSL_M + 5)
    hb = of_type(face.run(1.2), "HEARTBEAT")[-1]
    assert hb.base_mode & ModeFlag.SAFETY_ARMED
    assert hb.custom_mode == FlightMode.TAKEOFF.custom_mode
    assert hb.system_status == mavlink.MAV_STATE_ACTIVE


def test_position_and_state_telemetry_use_mavlink_units_and_frames() -> None:
    """degE7, mm, cm/s NED (climbing is negative vz), cdeg; landed state; home."""
    face = Face()
    face.command(Cmd.COMPONENT_ARM_DISARM, 1)
    face.command(Cmd.NAV_TAKEOFF, NAN, NAN, NAN, NAN, NAN, NAN, GROUND_AMSL_M + 12)
    climbing = face.run(4.0)
    gpi = of_type(climbing, "GLOBAL_POSITION_INT", GCS)[-1]
    assert gpi.vz == pytest.approx(-150, abs=2)  # 1.5 m/s up, NED
    assert of_type(climbing, "VFR_HUD", GCS)[-1].climb == pytest.approx(1.5, abs=0.02)
    assert of_type(climbing, "EXTENDED_SYS_STATE", GCS)[-1].landed_state in (
        mavlink.MAV_LANDED_STATE_TAKEOFF,
        mavlink.MAV_LANDED_STATE_IN_AIR,
    )
    hovering_out = face.run(10.0)
    v = face.vehicle
    gpi = of_type(hovering_out, "GLOBAL_POSITION_INT", GCS)[-1]
    p = v.position()
    assert (gpi.lat, gpi.lon) == (round(p.lat_deg * 1e7), round(p.lon_deg * 1e7))
    assert gpi.alt == pytest.approx((GROUND_AMSL_M + 12) * 1000, abs=50)
    assert gpi.relative_alt == pytest.approx(12_000, abs=50)
    assert gpi.hdg == round(v.body.yaw_deg * 100) % 36000
    assert of_type(hovering_out, "EXTENDED_SYS_STATE", GCS)[-1].landed_state == (
        mavlink.MAV_LANDED_STATE_IN_AIR
    )
    home = of_type(hovering_out, "HOME_POSITION", GCS)[-1]
    assert (home.latitude, home.longitude, home.altitude) == (
        round(v.home().lat_deg * 1e7),
        round(v.home().lon_deg * 1e7),
        round(GROUND_AMSL_M * 1000),
    )
    gps = of_type(hovering_out, "GPS_RAW_INT", GCS)[-1]
    assert gps.fix_type == mavlink.GPS_FIX_TYPE_3D_FIX and gps.satellites_visible == 10
    status = of_type(hovering_out, "SYS_STATUS", GCS)[-1]
    assert 0 < status.battery_remaining <= 100
    assert status.onboard_control_sensors_health & mavlink.MAV_SYS_STATUS_PREARM_CHECK


# -- stream rates --------------------------------------------------------------------------------

# PX4 v1.16 mavlink_main.cpp, MAVLINK_MODE_NORMAL (the 14550 GCS link); MISSION_CURRENT comes
# from the mission manager's 1 Hz limiter; FENCE_STATUS is not streamed without a fence.
PX4_NORMAL_HZ = {
    "HEARTBEAT": 1.0,
    "SYS_STATUS": 1.0,
    "BATTERY_STATUS": 0.5,
    "GLOBAL_POSITION_INT": 5.0,
    "ATTITUDE": 15.0,
    "EXTENDED_SYS_STATE": 1.0,
    "VFR_HUD": 4.0,
    "HOME_POSITION": 0.5,
    "MISSION_CURRENT": 1.0,
    "FENCE_STATUS": 0.0,
    "GPS_RAW_INT": 5.0,  # MAVLINK_MODE_NORMAL in PX4's mavlink_main.cpp
}


@pytest.fixture(scope="module")
def ten_seconds_of_streams() -> Counter[str]:
    face = Face()
    return Counter(m.get_type() for m, a in face.run(10.0) if a == GCS)


@pytest.mark.parametrize("name", list(PX4_NORMAL_HZ))
def test_default_stream_rates_match_px4_normal_profile(
    ten_seconds_of_streams: Counter[str], name: str
) -> None:
    expected = PX4_NORMAL_HZ[name] * 10.0
    assert abs(ten_seconds_of_streams[name] - expected) <= 1, ten_seconds_of_streams


def test_set_message_interval_changes_a_rate_minus_1_stops_it_0_restores_it() -> None:
    face = Face()
    gpi = mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT
    cases = [(100_000, 100), (-1, 0), (0, 50), (500_000, 20)]
    for interval_us, expected in cases:
        reply = face.command(Cmd.SET_MESSAGE_INTERVAL, gpi, interval_us)
        assert ack(reply).result == MavResult.ACCEPTED
        count = len(of_type(face.run(10.0), "GLOBAL_POSITION_INT", GCS))
        assert abs(count - expected) <= 1, (interval_us, count)


def test_set_message_interval_for_a_message_it_cannot_stream_is_unsupported() -> None:
    face = Face()
    local_position_ned = 32
    reply = face.command(Cmd.SET_MESSAGE_INTERVAL, local_position_ned, 100_000)
    assert ack(reply).result == MavResult.UNSUPPORTED


def test_autopilot_version_can_be_requested_and_then_streamed() -> None:
    face = Face()
    av = mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION
    assert ack(face.command(Cmd.SET_MESSAGE_INTERVAL, av, 1_000_000)).result == MavResult.ACCEPTED
    assert abs(len(of_type(face.run(5.0), "AUTOPILOT_VERSION", GCS)) - 5) <= 1


# -- requests and commands -----------------------------------------------------------------------


def test_request_message_autopilot_version_acks_then_sends_px4_capabilities() -> None:
    face = Face()
    reply = face.command(Cmd.REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    # (any queued events, such as the first MISSION_CURRENT, may follow the reply)
    assert [m.get_type() for m, _ in reply[:2]] == ["COMMAND_ACK", "AUTOPILOT_VERSION"]
    a, version = reply[0][0], reply[1][0]
    assert a.command == Cmd.REQUEST_MESSAGE and a.result == MavResult.ACCEPTED
    assert (a.target_system, a.target_component) == (255, 190)
    caps = version.capabilities
    assert caps & mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE
    assert caps & mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    assert caps & mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    assert caps & mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    assert version.flight_sw_version >> 24 == 1  # PX4 1.x
    assert all(a == GCS for _, a in reply[:2])


def test_request_message_for_a_message_it_does_not_have_is_unsupported() -> None:
    face = Face()
    reply = face.command(Cmd.REQUEST_MESSAGE, 11030)  # an ArduPilot-only message
    assert ack(reply).result == MavResult.UNSUPPORTED


@pytest.mark.parametrize("command", [31337, 42, 2600, 183])
def test_an_unknown_command_gets_unsupported_never_silence(command: int) -> None:
    face = Face()
    a = ack(face.command(command, 1, 2, 3))
    assert a.command == command
    assert a.result == MavResult.UNSUPPORTED


def test_commands_for_another_system_are_ignored_and_broadcast_ones_handled() -> None:
    face = Face()
    assert face.command(Cmd.COMPONENT_ARM_DISARM, 1, target=(2, 1)) == []
    assert face.command(Cmd.COMPONENT_ARM_DISARM, 1, target=(1, 154)) == []
    assert not face.vehicle.armed
    assert ack(face.command(Cmd.COMPONENT_ARM_DISARM, 1, target=(0, 0))).result == 0
    assert face.vehicle.armed


def test_a_refused_command_acks_denied_and_says_why() -> None:
    face = Face(SIM_GPS_USED=3)
    reply = face.command(Cmd.COMPONENT_ARM_DISARM, 1)
    assert ack(reply).result == MavResult.DENIED
    texts = of_type(reply, "STATUSTEXT")
    assert any("GPS" in t.text for t in texts)
    assert all(t.severity == Severity.CRITICAL for t in texts)


@pytest.mark.parametrize(
    ("frame", "z", "expected_z_m"),
    [
        (mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 15.0, 15.0),
        (mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT, 12.0, 12.0),
        (mavlink.MAV_FRAME_GLOBAL_INT, GROUND_AMSL_M + 20.0, 20.0),
        (mavlink.MAV_FRAME_GLOBAL, GROUND_AMSL_M + 25.0, 25.0),
    ],
)
def test_command_int_reposition_decodes_dege7_and_the_altitude_frame(
    frame: int, z: float, expected_z_m: float
) -> None:
    face = Face(hovering(8.0))
    there = point(60, 45)
    lat_e7, lon_e7 = round(there.lat_deg * 1e7), round(there.lon_deg * 1e7)
    reply = face.command_int(Cmd.DO_REPOSITION, frame, lat_e7, lon_e7, z, -1, 0, 0, NAN)
    assert ack(reply).result == MavResult.ACCEPTED
    target = face.vehicle.target
    assert target is not None
    x, y = face.vehicle.frame.to_local(GeoPoint(lat_e7 / 1e7, lon_e7 / 1e7))
    assert (target.x_m, target.y_m) == pytest.approx((x, y), abs=1e-6)
    assert target.z_m == pytest.approx(expected_z_m, abs=1e-4)


def test_command_int_reposition_with_int32_max_keeps_the_horizontal_position() -> None:
    face = Face(hovering(8.0))
    b = face.vehicle.body
    here = (b.x_m, b.y_m)
    frame = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    reply = face.command_int(Cmd.DO_REPOSITION, frame, INT32_MAX, INT32_MAX, 20.0, -1, 0, 0, NAN)
    assert ack(reply).result == MavResult.ACCEPTED
    target = face.vehicle.target
    assert target is not None
    assert (target.x_m, target.y_m, target.z_m) == pytest.approx((*here, 20.0), abs=1e-9)


# -- parameters ----------------------------------------------------------------------------------


def _f32_bits(value: float) -> bytes:
    return struct.pack("<f", value)


def test_param_set_of_an_int_param_round_trips_bytewise() -> None:
    face = Face()
    raw = encode_bytewise(2, is_int=True)
    msg = mavlink.MAVLink_param_set_message(1, 1, b"NAV_DLL_ACT", raw, mavlink.MAV_PARAM_TYPE_INT32)
    reply = face.send(msg)
    values = of_type(reply, "PARAM_VALUE")
    assert len(values) == 1
    pv = values[0]
    assert pv.param_id == "NAV_DLL_ACT"
    assert pv.param_type == mavlink.MAV_PARAM_TYPE_INT32
    assert _f32_bits(pv.param_value) == struct.pack("<i", 2)  # int32 bytes, not 2.0
    assert pv.param_count == len(PARAMS)
    assert pv.param_index == [p.name for p in PARAMS].index("NAV_DLL_ACT")
    assert face.vehicle.params["NAV_DLL_ACT"] == 2


def test_param_set_of_a_float_param_is_a_plain_float() -> None:
    face = Face()
    msg = mavlink.MAVLink_param_set_message(
        1, 1, b"MPC_XY_CRUISE", 7.5, mavlink.MAV_PARAM_TYPE_REAL32
    )
    pv = of_type(face.send(msg), "PARAM_VALUE")[0]
    assert pv.param_value == 7.5 and pv.param_type == mavlink.MAV_PARAM_TYPE_REAL32
    assert face.vehicle.params["MPC_XY_CRUISE"] == 7.5


def test_out_of_range_param_set_names_the_parameter_and_echoes_the_unchanged_value() -> None:
    face = Face()
    msg = mavlink.MAVLink_param_set_message(
        1, 1, b"GF_ACTION", encode_bytewise(9, is_int=True), mavlink.MAV_PARAM_TYPE_INT32
    )
    reply = face.send(msg, OTHER)
    texts = of_type(reply, "STATUSTEXT")
    assert len(texts) == 1 and "GF_ACTION" in texts[0].text
    pv = of_type(reply, "PARAM_VALUE")[0]
    assert pv.param_id == "GF_ACTION"
    assert _f32_bits(pv.param_value) == struct.pack("<i", 2)  # still the default
    assert all(a == OTHER for _, a in reply)
    assert face.vehicle.params["GF_ACTION"] == 2


def test_param_request_list_returns_every_parameter_once_with_count_and_index() -> None:
    face = Face()
    reply = face.send(mavlink.MAVLink_param_request_list_message(1, 1))
    values = of_type(reply, "PARAM_VALUE", GCS)
    assert len(values) == len(PARAMS)
    assert {v.param_count for v in values} == {len(PARAMS)}
    assert sorted(v.param_index for v in values) == list(range(len(PARAMS)))
    by_name = {v.param_id: v for v in values}
    assert set(by_name) == {p.name for p in PARAMS}
    for p in PARAMS:
        v = by_name[p.name]
        if p.is_int:
            assert v.param_type == mavlink.MAV_PARAM_TYPE_INT32
            assert struct.unpack("<i", _f32_bits(v.param_value))[0] == face.vehicle.params[p.name]
        else:
            assert v.param_type == mavlink.MAV_PARAM_TYPE_REAL32
            assert v.param_value == pytest.approx(face.vehicle.params[p.name], rel=1e-6)


def test_param_request_read_by_name_and_by_index() -> None:
    face = Face()
    by_name = face.send(mavlink.MAVLink_param_request_read_message(1, 1, b"RTL_RETURN_ALT", -1))
    pv = of_type(by_name, "PARAM_VALUE")[0]
    assert pv.param_id == "RTL_RETURN_ALT"
    by_index = face.send(mavlink.MAVLink_param_request_read_message(1, 1, b"", pv.param_index))
    assert of_type(by_index, "PARAM_VALUE")[0].param_id == "RTL_RETURN_ALT"


# -- statustext ----------------------------------------------------------------------------------


def test_a_long_statustext_is_split_into_chunks_with_one_id() -> None:
    face = Face()
    text = "".join(chr(ord("a") + i % 26) for i in range(120))
    face.vehicle.say(Severity.WARNING, text)
    face.vehicle.say(Severity.INFO, "x" * 60)
    chunks = of_type(face.run(TICK_S), "STATUSTEXT", GCS)
    first = [c for c in chunks if c.text[0] != "x"]
    assert [c.chunk_seq for c in first] == [0, 1, 2]
    assert len({c.id for c in first}) == 1 and first[0].id != 0
    assert "".join(c.text for c in first) == text
    assert all(c.severity == Severity.WARNING for c in first)
    second = [c for c in chunks if c.text[0] == "x"]
    assert [c.chunk_seq for c in second] == [0, 1]
    assert second[0].id not in (0, first[0].id)


def test_a_short_statustext_is_one_message_with_id_0() -> None:
    face = Face()
    face.vehicle.say(Severity.INFO, "y" * 50)
    chunks = of_type(face.run(TICK_S), "STATUSTEXT", GCS)
    assert [(c.text, c.id, c.chunk_seq) for c in chunks] == [("y" * 50, 0, 0)]


def test_a_chunked_statustext_always_ends_with_a_nul_terminated_chunk() -> None:
    face = Face()
    face.vehicle.say(Severity.INFO, "z" * 100)
    chunks = of_type(face.run(TICK_S), "STATUSTEXT", GCS)
    assert "".join(c.text for c in chunks) == "z" * 100
    assert len(chunks[-1].text) < 50  # the receiver's end-of-message marker


# -- mission current -----------------------------------------------------------------------------


def test_mission_set_current_is_answered_with_mission_current() -> None:
    face = Face()
    face.vehicle.set_mission(items(*(waypoint(point(0, 20 * i), 10) for i in range(1, 4))))
    reply = face.send(mavlink.MAVLink_mission_set_current_message(1, 1, 2), OTHER)
    current = of_type(reply, "MISSION_CURRENT", OTHER)
    assert len(current) == 1
    assert (current[0].seq, current[0].total) == (2, 3)
    assert current[0].mission_state == MissionState.NOT_STARTED
    assert face.vehicle.navigator.current == 2


def test_mission_set_current_out_of_range_keeps_the_item_and_says_so() -> None:
    face = Face()
    face.vehicle.set_mission(items(waypoint(point(0, 20), 10)))
    reply = face.send(mavlink.MAVLink_mission_set_current_message(1, 1, 7))
    assert of_type(reply, "MISSION_CURRENT")[0].seq == 0
    texts = of_type(face.run(TICK_S), "STATUSTEXT")
    assert any("7" in t.text for t in texts)


def upload(face: Face, mission: tuple[MissionItemInt, ...], mission_type: int) -> Any:
    """The ground station's side of a MISSION_COUNT / REQUEST_INT / ITEM_INT upload."""
    reply = face.send(mavlink.MAVLink_mission_count_message(1, 1, len(mission), mission_type))
    for _ in range(len(mission) + 1):
        requests = of_type(reply, "MISSION_REQUEST_INT", GCS)
        if not requests:
            break
        it = mission[requests[0].seq]
        item = mavlink.MAVLink_mission_item_int_message(1, 1, *dataclasses.astuple(it))
        reply = face.send(item)
    acks = of_type(reply, "MISSION_ACK", GCS)
    assert len(acks) == 1
    return acks[0]


def test_an_uploaded_mission_fence_and_rally_reach_the_vehicle() -> None:
    face = Face(GF_ACTION=2)
    mission = items(waypoint(point(0, 20), 8), waypoint(point(90, 20), 8))
    result = upload(face, mission, mavlink.MAV_MISSION_TYPE_MISSION)
    assert result.type == mavlink.MAV_MISSION_ACCEPTED
    assert len(face.vehicle.navigator.items) == 2
    corners = [point(b, 100) for b in (315, 45, 135, 225)]
    fence = tuple(
        MissionItem.at(
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            c.lat_deg,
            c.lon_deg,
            alt_rel_m=0,
            params=(4, 0, 0, 0),
            mission_type=MissionType.FENCE,
        ).to_mavlink(i)
        for i, c in enumerate(corners)
    )
    assert upload(face, fence, mavlink.MAV_MISSION_TYPE_FENCE).type == 0
    assert face.vehicle.fence.has_shapes
    rally_at = point(180, 30)
    rally = (
        MissionItem.at(
            MavCmd.NAV_RALLY_POINT,
            rally_at.lat_deg,
            rally_at.lon_deg,
            alt_rel_m=0,
            mission_type=MissionType.RALLY,
        ).to_mavlink(0),
    )
    assert upload(face, rally, mavlink.MAV_MISSION_TYPE_RALLY).type == 0
    (rx, ry), (ex, ey) = face.vehicle.rally_xy[0], face.vehicle.frame.to_local(rally_at)
    assert math.hypot(rx - ex, ry - ey) < 0.02  # degE7 resolution is about a centimetre
    fence_status = of_type(face.run(2.0), "FENCE_STATUS", GCS)  # streamed once a fence exists
    assert fence_status and fence_status[-1].breach_status == 0


def download(face: Face, mission_type: int) -> list[Any]:
    """The ground station's side of a MISSION_REQUEST_LIST / REQUEST_INT download."""
    (count,) = of_type(
        face.send(mavlink.MAVLink_mission_request_list_message(1, 1, mission_type)),
        "MISSION_COUNT",
        GCS,
    )
    got = []
    for seq in range(count.count):
        reply = face.send(mavlink.MAVLink_mission_request_int_message(1, 1, seq, mission_type))
        got.extend(of_type(reply, "MISSION_ITEM_INT", GCS))
    face.send(mavlink.MAVLink_mission_ack_message(1, 1, 0, mission_type))
    return got


@pytest.mark.parametrize(
    "mission_type",
    [mavlink.MAV_MISSION_TYPE_MISSION, mavlink.MAV_MISSION_TYPE_RALLY],
)
def test_garble_uploads_stores_item_0_one_metre_higher_and_still_acks_accepted(
    mission_type: int,
) -> None:
    face = Face()
    face.link.garble_uploads = True
    command = Cmd.NAV_WAYPOINT if mission_type == 0 else MavCmd.NAV_RALLY_POINT
    sent = tuple(
        MissionItem.at(
            command, p.lat_deg, p.lon_deg, alt_rel_m=alt, mission_type=MissionType(mission_type)
        ).to_mavlink(seq)
        for seq, (p, alt) in enumerate(((point(0, 20), 8.0), (point(90, 20), 12.0)))
    )
    assert upload(face, sent, mission_type).type == mavlink.MAV_MISSION_ACCEPTED
    got = download(face, mission_type)
    assert [m.seq for m in got] == [0, 1]
    assert got[0].z == pytest.approx(sent[0].z + 1.0)
    assert (got[0].x, got[0].y, got[0].command) == (sent[0].x, sent[0].y, sent[0].command)
    assert got[1].z == pytest.approx(sent[1].z)
    if mission_type == mavlink.MAV_MISSION_TYPE_MISSION:  # the vehicle flies what it stored
        assert face.vehicle.navigator.items[0].alt_m == pytest.approx(sent[0].z + 1.0)


def test_uploads_are_stored_as_sent_by_default() -> None:
    face = Face()
    assert face.link.garble_uploads is False
    sent = items(waypoint(point(0, 20), 8), waypoint(point(90, 20), 12))
    assert upload(face, sent, mavlink.MAV_MISSION_TYPE_MISSION).type == 0
    got = download(face, mavlink.MAV_MISSION_TYPE_MISSION)
    assert [m.z for m in got] == pytest.approx([it.z for it in sent])


def test_set_mode_message_changes_the_mode() -> None:
    face = Face()
    face.send(mavlink.MAVLink_set_mode_message(1, 1, FlightMode.POSCTL.custom_mode))
    assert face.vehicle.mode is FlightMode.POSCTL
    face.send(mavlink.MAVLink_set_mode_message(2, 1, FlightMode.ALTCTL.custom_mode))
    assert face.vehicle.mode is FlightMode.POSCTL  # for another system


def test_set_mode_message_is_acked_like_px4() -> None:
    face = Face()
    reply = face.send(mavlink.MAVLink_set_mode_message(1, 1, FlightMode.POSCTL.custom_mode))
    a = ack(reply)
    assert (a.command, a.result) == (Cmd.DO_SET_MODE, MavResult.ACCEPTED)


# -- data link supervision -----------------------------------------------------------------------


def _heartbeat(mav_type: int, autopilot: int) -> MAVLinkMessage:
    return mavlink.MAVLink_heartbeat_message(mav_type, autopilot, 0, 0, 4, 3)


def test_gcs_heartbeats_feed_data_link_supervision() -> None:
    face = Face(COM_DL_LOSS_T=5.0)
    gcs_hb = _heartbeat(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID)
    assert face.send(gcs_hb) == []
    assert face.vehicle.last_gcs_s == face.vehicle.link_time_s
    lost = face.run(6.0)
    assert face.vehicle.link_lost
    assert any(t.text == "Data link lost" for t in of_type(lost, "STATUSTEXT", GCS))
    face.send(gcs_hb)
    regained = face.run(TICK_S)
    assert not face.vehicle.link_lost
    assert any(t.text == "Data link regained" for t in of_type(regained, "STATUSTEXT", GCS))


def test_another_vehicles_heartbeat_is_not_a_ground_station() -> None:
    face = Face()
    face.send(_heartbeat(mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_PX4))
    assert face.vehicle.last_gcs_s is None


# -- addressing ----------------------------------------------------------------------------------


def test_replies_go_to_the_sender_and_streams_to_the_gcs_and_recent_peers() -> None:
    face = Face()
    before = face.run(2.0)
    assert {a for _, a in before} == {GCS}
    reply = face.command(Cmd.REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION, addr=OTHER)
    assert {a for _, a in reply} == {OTHER}
    assert of_type(reply, "HOME_POSITION")
    both = face.run(2.0)
    assert len(of_type(both, "HEARTBEAT", GCS)) == len(of_type(both, "HEARTBEAT", OTHER)) == 2
    face.run(face.link.peer_timeout_s)
    after = face.run(2.0)
    assert {a for _, a in after} == {GCS}  # the silent peer timed out


def test_param_set_echo_goes_to_every_listener() -> None:
    face = Face()
    face.send(_heartbeat(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID), OTHER)
    msg = mavlink.MAVLink_param_set_message(1, 1, b"MPC_XY_CRUISE", 6.0, 9)
    reply = face.send(msg, OTHER)
    assert {a for m, a in reply if m.get_type() == "PARAM_VALUE"} == {GCS, OTHER}


def test_garbage_on_the_port_is_ignored() -> None:
    face = Face()
    assert face.link.datagram(b"\x00\x01not mavlink\xfd\xfe", GCS, 0.0) == []
    assert face.link.received == 0


def test_mission_events_reach_the_wire_during_a_flight() -> None:
    face = Face()
    v = face.vehicle
    v.set_mission(items(waypoint(point(0, 15), 6), waypoint(point(90, 15), 6)))
    face.command(Cmd.DO_SET_MODE, 1, 4, 4)
    face.command(Cmd.COMPONENT_ARM_DISARM, 1)
    out = face.run(40.0)
    assert [m.seq for m in of_type(out, "MISSION_ITEM_REACHED", GCS)] == [0, 1]
    texts = [t.text for t in of_type(out, "STATUSTEXT", GCS)]
    assert "Mission finished, loitering" in texts
    last = of_type(out, "MISSION_CURRENT", GCS)[-1]
    assert (last.seq, last.total, last.mission_state) == (1, 2, MissionState.COMPLETE)
    run_for(v, 0.1)
