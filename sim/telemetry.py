"""Telemetry messages built from a vehicle's state, with PX4's field conventions.

One builder per message id, looked up in a table (no chains of string comparisons).
Units on the wire are MAVLink's: degE7, mm, cm/s, cdeg, mV, cA, percent.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sim._mav import MAVLinkMessage, mavlink
from sim.fence import BreachType
from sim.modes import FlightMode
from sim.telemetry_types import LandedState
from sim.vehicle import Vehicle

INT16_MAX = 32767
UINT16_MAX = 65535
# PX4 v1.16.0, official release: major << 24 | minor << 16 | patch << 8 | type
PX4_SW_VERSION = (1 << 24) | (16 << 16) | (0 << 8) | 255
CAPABILITIES = (
    mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
)
# SYS_STATUS sensor bits PX4 reports present/enabled/healthy on a healthy multicopter
_SENSORS = (
    mavlink.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_MAG
    | mavlink.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | mavlink.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
    | mavlink.MAV_SYS_STATUS_SENSOR_YAW_POSITION
    | mavlink.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    | mavlink.MAV_SYS_STATUS_AHRS
    | mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
    | mavlink.MAV_SYS_STATUS_PREARM_CHECK
)
_GPS = mavlink.MAV_SYS_STATUS_SENSOR_GPS
_FENCE = mavlink.MAV_SYS_STATUS_GEOFENCE


def _ms(v: Vehicle) -> int:
    return int(v.time_s * 1000) & 0xFFFFFFFF


def _cdeg(deg: float) -> int:
    return round(deg % 360.0 * 100) % 36000


def _centiamps(current_a: float) -> int:
    """Current in cA for an int16 field: saturates instead of failing to pack (a very fast
    ``SIM_BAT_DRAIN`` draws hundreds of amperes)."""
    return max(-INT16_MAX, min(INT16_MAX, round(current_a * 100)))


def heartbeat(v: Vehicle) -> MAVLinkMessage:
    if not v.armed:
        state = mavlink.MAV_STATE_STANDBY
    elif v.fence_status.breach is not BreachType.NONE or v.link_lost:
        state = mavlink.MAV_STATE_CRITICAL
    else:
        state = mavlink.MAV_STATE_ACTIVE
    return mavlink.MAVLink_heartbeat_message(
        mavlink.MAV_TYPE_QUADROTOR,
        mavlink.MAV_AUTOPILOT_PX4,
        int(v.mode.base_mode(armed=v.armed)),
        v.mode.custom_mode,
        state,
        3,
    )


def sys_status(v: Vehicle) -> MAVLinkMessage:
    present = _SENSORS | _GPS | (_FENCE if v.fence.has_shapes else 0)
    healthy = _SENSORS | (_GPS if v.has_fix else 0) | (_FENCE if v.fence.has_shapes else 0)
    if not v.has_fix or v.battery.soc < v.params["BAT_LOW_THR"]:
        healthy &= ~mavlink.MAV_SYS_STATUS_PREARM_CHECK
    return mavlink.MAVLink_sys_status_message(
        present,
        present,
        healthy,
        150,  # 15 % load, per mille
        round(v.battery.voltage_v * 1000),
        _centiamps(v.battery.current_a),
        round(v.battery.soc * 100),
        0,
        0,
        0,
        0,
        0,
        0,
    )


def battery_status(v: Vehicle) -> MAVLinkMessage:
    b = v.battery
    cells = b.spec.n_cells
    cell_mv = round(b.voltage_v / cells * 1000)
    voltages = [cell_mv if i < cells else UINT16_MAX for i in range(10)]
    soc = b.soc
    if soc <= v.params["BAT_EMERGEN_THR"]:
        charge = mavlink.MAV_BATTERY_CHARGE_STATE_EMERGENCY
    elif soc <= v.params["BAT_CRIT_THR"]:
        charge = mavlink.MAV_BATTERY_CHARGE_STATE_CRITICAL
    elif soc <= v.params["BAT_LOW_THR"]:
        charge = mavlink.MAV_BATTERY_CHARGE_STATE_LOW
    else:
        charge = mavlink.MAV_BATTERY_CHARGE_STATE_OK
    remaining_s = 0
    if b.current_a > 1.0:
        remaining_s = int(soc * b.spec.capacity_mah / 1000 / b.current_a * 3600)
    return mavlink.MAVLink_battery_status_message(
        0,
        mavlink.MAV_BATTERY_FUNCTION_ALL,
        mavlink.MAV_BATTERY_TYPE_LIPO,
        INT16_MAX,
        voltages,
        _centiamps(b.current_a),
        round(b.consumed_mah),
        -1,
        round(soc * 100),
        remaining_s,
        charge,
    )


def global_position_int(v: Vehicle) -> MAVLinkMessage:
    p = v.position()
    b = v.body
    return mavlink.MAVLink_global_position_int_message(
        _ms(v),
        round(p.lat_deg * 1e7),
        round(p.lon_deg * 1e7),
        round(v.alt_amsl_m * 1000),
        round(v.alt_rel_m * 1000),
        round(b.vy_m_s * 100),  # north
        round(b.vx_m_s * 100),  # east
        round(-b.vz_m_s * 100),  # down
        _cdeg(b.yaw_deg),
    )


def attitude(v: Vehicle) -> MAVLinkMessage:
    b = v.body
    yaw = math.radians(b.yaw_deg)
    # tilt that balances drag at this airspeed (so it leans into the wind when hovering):
    # ~1.5° per m/s, forward and sideways
    wx, wy = v.wind_xy()
    ax, ay = b.vx_m_s - wx, b.vy_m_s - wy
    fwd = ay * math.cos(yaw) + ax * math.sin(yaw)
    side = -ay * math.sin(yaw) + ax * math.cos(yaw)
    pitch = -math.radians(max(-35.0, min(35.0, 1.5 * fwd)))
    roll = math.radians(max(-35.0, min(35.0, 1.5 * side)))
    return mavlink.MAVLink_attitude_message(
        _ms(v),
        roll,
        pitch,
        math.atan2(math.sin(yaw), math.cos(yaw)),
        0.0,
        0.0,
        math.radians(b.yaw_rate_deg_s),
    )


def gps_raw_int(v: Vehicle) -> MAVLinkMessage:
    p = v.position()
    b = v.body
    fix = mavlink.GPS_FIX_TYPE_3D_FIX if v.has_fix else mavlink.GPS_FIX_TYPE_NO_FIX
    cog = math.degrees(math.atan2(b.vx_m_s, b.vy_m_s)) if b.ground_speed_m_s > 0.2 else 0.0
    h_acc = max(v.config.gps_noise_m, 0.5)
    return mavlink.MAVLink_gps_raw_int_message(
        int(v.time_s * 1e6),
        fix,
        round(p.lat_deg * 1e7) if v.has_fix else 0,
        round(p.lon_deg * 1e7) if v.has_fix else 0,
        round(v.alt_amsl_m * 1000),
        round(h_acc * 100 / 1.5) if v.has_fix else UINT16_MAX,
        round(h_acc * 150) if v.has_fix else UINT16_MAX,
        round(b.ground_speed_m_s * 100),
        _cdeg(cog),
        v.gps_satellites,
        round(v.alt_amsl_m * 1000),
        round(h_acc * 1000),
        round(h_acc * 1500),
        200,
        0,
        0,
    )


def extended_sys_state(v: Vehicle) -> MAVLinkMessage:
    return mavlink.MAVLink_extended_sys_state_message(
        mavlink.MAV_VTOL_STATE_UNDEFINED, int(v.landed_state)
    )


def vfr_hud(v: Vehicle) -> MAVLinkMessage:
    b = v.body
    throttle = 0
    if v.armed and v.landed_state is not LandedState.ON_GROUND:
        throttle = max(0, min(100, round(50 + 10 * b.vz_m_s)))
    return mavlink.MAVLink_vfr_hud_message(
        v.airspeed_m_s,
        b.ground_speed_m_s,
        round(b.yaw_deg) % 360,
        throttle,
        v.alt_amsl_m,
        b.vz_m_s,
    )


def home_position(v: Vehicle) -> MAVLinkMessage:
    h = v.home()
    hx, hy, hz = v.home_xyz
    return mavlink.MAVLink_home_position_message(
        round(h.lat_deg * 1e7),
        round(h.lon_deg * 1e7),
        round(v.home_alt_amsl_m * 1000),
        hy,  # local NED: x north
        hx,
        -hz,
        [1.0, 0.0, 0.0, 0.0],
        0.0,
        0.0,
        0.0,
        int(v.time_s * 1e6),
    )


def mission_current(v: Vehicle) -> MAVLinkMessage:
    nav = v.navigator
    in_mission = v.mode is FlightMode.MISSION
    return mavlink.MAVLink_mission_current_message(
        nav.current,
        len(nav.items),
        int(v.mission_state()),
        1 if in_mission else 2,
    )


def fence_status(v: Vehicle) -> MAVLinkMessage:
    fs = v.fence_status
    return mavlink.MAVLink_fence_status_message(
        0 if fs.breach is BreachType.NONE else 1,
        fs.breach_count & 0xFFFF,
        int(fs.breach),
        fs.breach_time_ms & 0xFFFFFFFF,
        mavlink.FENCE_MITIGATE_NONE if int(v.params["GF_ACTION"]) <= 1 else 0,
    )


def autopilot_version(v: Vehicle) -> MAVLinkMessage:
    return mavlink.MAVLink_autopilot_version_message(
        CAPABILITIES,
        PX4_SW_VERSION,
        0,
        0,
        0,
        [0] * 8,
        [0] * 8,
        [0] * 8,
        0,
        0,
        0x4D43_0000_0000 + v.config.system_id,  # "MC" + system id: unique per vehicle
    )


BUILDERS: dict[int, Callable[[Vehicle], MAVLinkMessage]] = {
    mavlink.MAVLINK_MSG_ID_HEARTBEAT: heartbeat,
    mavlink.MAVLINK_MSG_ID_SYS_STATUS: sys_status,
    mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: battery_status,
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: global_position_int,
    mavlink.MAVLINK_MSG_ID_ATTITUDE: attitude,
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: gps_raw_int,
    mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: extended_sys_state,
    mavlink.MAVLINK_MSG_ID_VFR_HUD: vfr_hud,
    mavlink.MAVLINK_MSG_ID_HOME_POSITION: home_position,
    mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: mission_current,
    mavlink.MAVLINK_MSG_ID_FENCE_STATUS: fence_status,
    mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION: autopilot_version,
}
