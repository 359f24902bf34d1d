"""The commands a PX4 commander answers, one function each: (vehicle, command) → result.

Results and refusal wording follow PX4 where the service can see them (COMMAND_ACK's result
and the STATUSTEXT that explains a refusal). Unknown commands are UNSUPPORTED, never silent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from flight_plans.geodesy import GeoPoint
from sim.fence import BreachType
from sim.mav_cmd import Cmd
from sim.modes import FlightMode
from sim.navigator import Orbit, Target
from sim.physics import wrap_180
from sim.telemetry_types import Command, CommandResult, MavResult

if TYPE_CHECKING:
    from sim.vehicle import Vehicle

FORCE_MAGIC = 21196  # COMPONENT_ARM_DISARM param2: skip checks / disarm in flight


def arm_checks(v: Vehicle) -> str:
    """The reason arming is refused, or "" when the vehicle may arm."""
    if not v.has_fix:
        return "Arming denied: no GPS fix (3D fix needs 6 satellites)"
    if v.battery.soc < v.params["BAT_LOW_THR"]:
        return f"Arming denied: battery low ({v.battery.soc * 100:.0f} %)"
    if v.fence_breach() is not BreachType.NONE:
        return "Arming denied: vehicle outside geofence"
    if v.mode is FlightMode.MISSION and not v.navigator.items:
        return "Arming denied: no valid mission"
    return ""


def arm(v: Vehicle, cmd: Command) -> CommandResult:
    force = round(cmd.param2) == FORCE_MAGIC if math.isfinite(cmd.param2) else False
    if round(cmd.param1) == 1:
        if v.armed:
            return CommandResult.accepted()
        if not force and (reason := arm_checks(v)):
            return CommandResult.denied(reason)
        v.arm()
        return CommandResult.accepted()
    if not v.armed:
        return CommandResult.accepted()
    if v.in_air and not force:
        return CommandResult.denied("Disarming denied: not landed")
    v.disarm("Disarmed by external command")
    return CommandResult.accepted()


def takeoff(v: Vehicle, cmd: Command) -> CommandResult:
    if not v.armed:
        return CommandResult.denied("Takeoff denied: disarmed")
    if v.in_air:
        return CommandResult.denied("Takeoff denied: already flying")
    if math.isfinite(cmd.param7):
        z = cmd.param7 - v.ground_amsl_m
    else:
        z = v.home_xyz[2] + v.params["MIS_TAKEOFF_ALT"]
    if z < 1.0:
        return CommandResult.denied("Takeoff denied: altitude below 1 m above ground")
    v.set_mode(FlightMode.TAKEOFF)
    v.takeoff_z = z
    return CommandResult.accepted()


def land(v: Vehicle, cmd: Command) -> CommandResult:
    where = None
    if math.isfinite(cmd.param5) and math.isfinite(cmd.param6):
        where = v.frame.to_local(GeoPoint(cmd.param5, cmd.param6))  # refuses bad coordinates
    v.set_mode(FlightMode.LAND)
    if where is not None:
        v.land_xy = where
    return CommandResult.accepted()


def rtl(v: Vehicle, _cmd: Command) -> CommandResult:
    if not v.armed:
        return CommandResult.denied("Return denied: disarmed")
    v.set_mode(FlightMode.RTL)
    return CommandResult.accepted()


def set_mode(v: Vehicle, cmd: Command) -> CommandResult:
    main = round(cmd.param2) if math.isfinite(cmd.param2) else 0
    sub = round(cmd.param3) if math.isfinite(cmd.param3) else 0
    mode = FlightMode.from_custom_mode(main, sub)
    if mode is None:
        return CommandResult.unsupported(f"Mode {main}.{sub} not supported")
    return v.enter_mode(mode)


def mission_start(v: Vehicle, cmd: Command) -> CommandResult:
    """PX4: switch to MISSION *and arm*; param1 ≥ 0 is the item to start at, -1 the current."""
    count = len(v.navigator.items)
    if not count:
        return CommandResult.denied("Mission start denied! No valid mission")
    first = round(cmd.param1) if math.isfinite(cmd.param1) else -2
    if not -1 <= first < count:
        return CommandResult.denied(f"Mission start denied: no item {cmd.param1:g}")
    if not v.armed and (reason := arm_checks(v)):
        return CommandResult.temporarily_rejected(f"Mission start denied: {reason}")
    if first >= 0:
        v.navigator.set_current(first)
    result = v.enter_mode(FlightMode.MISSION)
    if result.result is MavResult.ACCEPTED and not v.armed:
        v.arm()
    return result


def pause_continue(v: Vehicle, cmd: Command) -> CommandResult:
    if round(cmd.param1) == 0:
        return v.enter_mode(FlightMode.LOITER)
    if v.navigator.items and v.navigator.started and not v.navigator.finished:
        return v.enter_mode(FlightMode.MISSION)
    return CommandResult.denied("Continue denied: no paused mission")


def reposition(v: Vehicle, cmd: Command) -> CommandResult:
    if not v.armed or not v.in_air:
        return CommandResult.denied("Reposition denied: not flying")
    x, y = v.body.x_m, v.body.y_m
    if math.isfinite(cmd.param5) and math.isfinite(cmd.param6):
        x, y = v.frame.to_local(GeoPoint(cmd.param5, cmd.param6))
    z = v.command_z(cmd.frame, cmd.param7, default=v.body.z_m)
    speed = cmd.param1 if math.isfinite(cmd.param1) and cmd.param1 > 0 else None
    # MAVLink gives DO_REPOSITION yaw in radians (MAVSDK goto_location sends radians)
    yaw = math.degrees(cmd.param4) % 360.0 if math.isfinite(cmd.param4) else None
    v.set_mode(FlightMode.LOITER)
    v.target = Target(x, y, z, speed, yaw)
    return CommandResult.accepted()


def orbit(v: Vehicle, cmd: Command) -> CommandResult:
    if not v.armed or not v.in_air:
        return CommandResult.denied("Orbit denied: not flying")
    radius = cmd.param1 if math.isfinite(cmd.param1) and cmd.param1 != 0 else 10.0
    if abs(radius) < 1.0 or abs(radius) > 10_000:
        return CommandResult.denied(f"Orbit denied: radius {radius:g} m outside 1..10000")
    speed = abs(cmd.param2) if math.isfinite(cmd.param2) and cmd.param2 != 0 else 2.0
    # no centre: the current one when already orbiting, else the vehicle's position
    cx, cy = (v.orbit.cx_m, v.orbit.cy_m) if v.orbit else (v.body.x_m, v.body.y_m)
    if math.isfinite(cmd.param5) and math.isfinite(cmd.param6):
        cx, cy = v.frame.to_local(GeoPoint(cmd.param5, cmd.param6))
    z = v.command_z(cmd.frame, cmd.param7, default=v.body.z_m)
    v.set_mode(FlightMode.LOITER)
    v.orbit = Orbit(cx, cy, radius, speed, z)
    return CommandResult.accepted()


def change_speed(v: Vehicle, cmd: Command) -> CommandResult:
    speed = cmd.param2
    if not math.isfinite(speed) or speed == -1 or speed == -2:
        return CommandResult.accepted()  # -1/-2: "no change"/"default" in MAVLink
    if not 0 < speed <= v.params["MPC_XY_VEL_MAX"]:
        limit = v.params["MPC_XY_VEL_MAX"]
        return CommandResult.denied(f"Speed {speed:g} m/s outside 0..{limit:g}")
    v.speed_override_m_s = speed
    if v.target is not None:
        v.target.speed_xy_m_s = speed
    return CommandResult.accepted()


def roi(v: Vehicle, cmd: Command) -> CommandResult:
    if cmd.command == Cmd.DO_SET_ROI_NONE or (
        cmd.command == Cmd.DO_SET_ROI and round(cmd.param1) != 3
    ):
        v.roi_xyz = None
        return CommandResult.accepted()
    if not (math.isfinite(cmd.param5) and math.isfinite(cmd.param6)):
        return CommandResult.denied("ROI denied: no location")
    if not (-90 <= cmd.param5 <= 90 and -180 <= cmd.param6 <= 180):
        return CommandResult.denied("ROI denied: location out of range")
    x, y = v.frame.to_local(GeoPoint(cmd.param5, cmd.param6))
    v.roi_xyz = (x, y, v.command_z(cmd.frame, cmd.param7, default=0.0))
    return CommandResult.accepted()


def gimbal(v: Vehicle, cmd: Command) -> CommandResult:
    pitch, yaw = cmd.param1, cmd.param2
    if cmd.command == Cmd.DO_MOUNT_CONTROL:
        yaw = cmd.param3
    if math.isfinite(pitch):
        if not -90.0 <= pitch <= 30.0:
            return CommandResult.denied(f"Gimbal pitch {pitch:g}° outside -90..30")
        v.gimbal_pitch_deg = min(pitch, 0.0)
    if math.isfinite(yaw):
        v.gimbal_yaw_deg = wrap_180(yaw)
    v.roi_xyz = None
    return CommandResult.accepted()


def set_current(v: Vehicle, cmd: Command) -> CommandResult:
    seq = round(cmd.param1) if math.isfinite(cmd.param1) else -1
    if not v.set_current(seq):
        return CommandResult.denied(f"Mission: item {seq} does not exist")
    return CommandResult.accepted()


def set_home(v: Vehicle, cmd: Command) -> CommandResult:
    if round(cmd.param1) == 1 if math.isfinite(cmd.param1) else False:
        v.set_home_here()
        return CommandResult.accepted()
    if not (math.isfinite(cmd.param5) and math.isfinite(cmd.param6)):
        return CommandResult.denied("Set home denied: no location")
    x, y = v.frame.to_local(GeoPoint(cmd.param5, cmd.param6))
    v.home_xyz = (x, y, max(v.command_z(cmd.frame, cmd.param7, default=0.0), 0.0))
    return CommandResult.accepted()


HANDLERS: dict[int, Callable[[Vehicle, Command], CommandResult]] = {
    Cmd.COMPONENT_ARM_DISARM: arm,
    Cmd.NAV_TAKEOFF: takeoff,
    Cmd.NAV_LAND: land,
    Cmd.NAV_RETURN_TO_LAUNCH: rtl,
    Cmd.DO_SET_MODE: set_mode,
    Cmd.MISSION_START: mission_start,
    Cmd.DO_PAUSE_CONTINUE: pause_continue,
    Cmd.DO_REPOSITION: reposition,
    Cmd.DO_ORBIT: orbit,
    Cmd.DO_CHANGE_SPEED: change_speed,
    Cmd.DO_SET_ROI_LOCATION: roi,
    Cmd.DO_SET_ROI_NONE: roi,
    Cmd.DO_SET_ROI: roi,
    Cmd.DO_GIMBAL_MANAGER_PITCHYAW: gimbal,
    Cmd.DO_MOUNT_CONTROL: gimbal,
    Cmd.DO_SET_MISSION_CURRENT: set_current,
    Cmd.DO_SET_HOME: set_home,
}
