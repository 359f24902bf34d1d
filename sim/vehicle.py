"""One simulated PX4-like multicopter: modes, arming, commands, failsafes. Pure and stepped.

``Vehicle.step(dt_s)`` advances simulated time; ``Vehicle.command(Command)`` answers as PX4's
commander does (result plus the reason a pilot sees); mission lists arrive through
``set_mission``/``set_fence``/``set_rally``. Nothing here does I/O: the MAVLink face
(:mod:`sim.mavlink`) reads the state and the queued events after each step.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import Enum, auto

from flight_plans.energy import VehicleProfile, Wind
from flight_plans.errors import FlightPlanError
from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.mission import MissionItemInt
from sim.commands import HANDLERS
from sim.errors import SimConfigError
from sim.failsafes import auto_disarm, check_failsafes
from sim.fence import BreachType, OnboardFence
from sim.modes import FlightMode
from sim.navigator import Navigator, Orbit, Target
from sim.params import ParamError, ParamStore
from sim.physics import Battery, BatterySpec, Limits, PointMass, wrap_180
from sim.telemetry_types import (
    Command,
    CommandResult,
    Event,
    LandedState,
    MavResult,
    MissionState,
    Severity,
    StatusText,
)

_MAX_SUBSTEP_S = 0.1
_GROUND_Z_M = 0.05
_FALL_SPEED_M_S = 12.0
_GPS_FIX_MIN_SATS = 6


@dataclass(frozen=True, slots=True)
class VehicleConfig:
    """Where and how a vehicle starts. Angles in degrees, altitude AMSL in metres."""

    system_id: int = 1
    lat_deg: float = 47.397743
    lon_deg: float = 8.545594
    alt_amsl_m: float = 488.0
    heading_deg: float = 0.0
    profile: VehicleProfile = field(default_factory=VehicleProfile)
    battery: BatterySpec = field(default_factory=BatterySpec)
    battery_soc: float = 1.0
    gps_noise_m: float = 0.0
    wind: Wind = field(default_factory=Wind)
    seed: int = 0
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.system_id <= 250:
            raise SimConfigError("system_id", self.system_id, "must be 1..250")
        for name, lo, hi in (("lat_deg", -90, 90), ("lon_deg", -180, 180)):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and lo <= v <= hi):
                raise SimConfigError(name, v, f"must be a finite number in {lo}..{hi}")
        if not math.isfinite(self.alt_amsl_m) or not -500 <= self.alt_amsl_m <= 9000:
            raise SimConfigError("alt_amsl_m", self.alt_amsl_m, "must be -500..9000 m")
        if not 0.0 <= self.battery_soc <= 1.0:
            raise SimConfigError("battery_soc", self.battery_soc, "must be 0..1")
        if not (math.isfinite(self.gps_noise_m) and self.gps_noise_m >= 0):
            raise SimConfigError("gps_noise_m", self.gps_noise_m, "must be ≥ 0")


class _RtlPhase(Enum):
    CLIMB = auto()
    RETURN = auto()
    DESCEND = auto()
    WAIT = auto()
    LAND = auto()


@dataclass(slots=True)
class FenceStatus:
    """What FENCE_STATUS reports."""

    breach: BreachType = BreachType.NONE
    breach_count: int = 0
    breach_time_ms: int = 0


class Vehicle:
    """The flight model plus PX4's commander, navigator and failsafes, in local metres."""

    def __init__(self, config: VehicleConfig) -> None:
        self.config = config
        self.params = ParamStore(dict(config.params))
        self.params.set("MAV_SYS_ID", config.system_id)
        self.frame = LocalFrame.at(config.lat_deg, config.lon_deg)
        self.ground_amsl_m = config.alt_amsl_m
        self.body = PointMass()
        self.body.yaw_deg = config.heading_deg % 360.0
        self.battery = Battery(config.battery, config.profile, config.battery_soc)
        self.fence = OnboardFence(self.frame)
        self.navigator = Navigator()
        self.rally_xy: tuple[tuple[float, float], ...] = ()
        self.time_s = 0.0
        # data-link supervision runs on the ground station's clock (wall time), so a
        # speed-up factor does not turn a 1 Hz GCS heartbeat into a "lost" link
        self.link_time_s = 0.0
        self.mode = FlightMode.LOITER  # PX4 boots in Hold
        self.armed = False
        self.landed_state = LandedState.ON_GROUND
        self.home_xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.roi_xyz: tuple[float, float, float] | None = None
        self.gimbal_pitch_deg = -45.0
        self.gimbal_yaw_deg = 0.0
        self.speed_override_m_s: float | None = None
        self.fence_status = FenceStatus()
        self.link_lost = False
        self._events: list[Event] = []
        self._rng = random.Random(config.seed)
        self._gps_offset = [0.0, 0.0]
        self._hold: Target | None = None
        self.target: Target | None = None
        self.orbit: Orbit | None = None
        self.takeoff_z: float | None = None
        self._rtl_phase = _RtlPhase.CLIMB
        self._rtl_dest: tuple[float, float] = (0.0, 0.0)
        self._rtl_wait_s = 0.0
        self._rtl_z = 0.0
        self.land_xy: tuple[float, float] | None = None
        self.armed_at_s = 0.0
        self.landed_at_s: float | None = None
        self.last_gcs_s: float | None = None
        self.battery_level = 0  # 0 ok, 1 low, 2 critical, 3 emergency
        self.had_fix = False

    # -- host interface for the navigator -----------------------------------------------------

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def say(self, severity: Severity, text: str) -> None:
        self._events.append(StatusText(severity, text))

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _here(self) -> Target:
        return Target(self.body.x_m, self.body.y_m, self.body.z_m)

    def set_home_here(self) -> None:
        self.home_xyz = (self.body.x_m, self.body.y_m, max(self.body.z_m, 0.0))

    # -- what telemetry reads ----------------------------------------------------------------

    @property
    def gps_satellites(self) -> int:
        return int(self.params["SIM_GPS_USED"])

    @property
    def has_fix(self) -> bool:
        return self.gps_satellites >= _GPS_FIX_MIN_SATS

    @property
    def in_air(self) -> bool:
        return self.landed_state in (LandedState.IN_AIR, LandedState.LANDING, LandedState.TAKEOFF)

    def position(self, *, noisy: bool = True) -> GeoPoint:
        """Estimated position (with the simulated GPS error when ``noisy``)."""
        dx, dy = self._gps_offset if noisy else (0.0, 0.0)
        return self.frame.to_geo(self.body.x_m + dx, self.body.y_m + dy)

    def home(self) -> GeoPoint:
        return self.frame.to_geo(self.home_xyz[0], self.home_xyz[1])

    @property
    def home_alt_amsl_m(self) -> float:
        return self.ground_amsl_m + self.home_xyz[2]

    @property
    def alt_amsl_m(self) -> float:
        return self.ground_amsl_m + self.body.z_m

    @property
    def alt_rel_m(self) -> float:
        return self.body.z_m - self.home_xyz[2]

    @property
    def airspeed_m_s(self) -> float:
        wx, wy = self.wind_xy()
        return math.hypot(self.body.vx_m_s - wx, self.body.vy_m_s - wy)

    def mission_state(self) -> MissionState:
        return self.navigator.state(in_mission_mode=self.mode is FlightMode.MISSION)

    # -- lists -------------------------------------------------------------------------------

    def set_mission(self, items: tuple[MissionItemInt, ...]) -> None:
        self.navigator.load(items)
        if self.mode is FlightMode.MISSION and self.armed and items:
            self.navigator.begin(landed=not self.in_air, host=self)

    def set_fence(self, items: tuple[MissionItemInt, ...]) -> None:
        self.fence.load(items)

    def set_rally(self, items: tuple[MissionItemInt, ...]) -> None:
        self.rally_xy = tuple(self.frame.to_local(GeoPoint(it.x / 1e7, it.y / 1e7)) for it in items)

    def set_current(self, seq: int) -> bool:
        """MISSION_SET_CURRENT: False (and a STATUSTEXT) when ``seq`` is out of range."""
        if not self.navigator.set_current(seq):
            self.say(Severity.ERROR, f"Mission: item {seq} does not exist")
            return False
        return True

    def gcs_heartbeat(self) -> None:
        """A ground station's HEARTBEAT arrived (data-link supervision)."""
        self.last_gcs_s = self.link_time_s
        if self.link_lost:
            self.link_lost = False
            self.say(Severity.INFO, "Data link regained")

    # -- modes -------------------------------------------------------------------------------

    def set_mode(self, mode: FlightMode) -> None:
        previous, self.mode = self.mode, mode
        self.orbit = None
        if mode is FlightMode.LOITER or mode in (
            FlightMode.POSCTL,
            FlightMode.ALTCTL,
            FlightMode.MANUAL,
        ):
            self._hold = self._here()
            self.target = None
        elif mode is FlightMode.RTL:
            self._start_rtl()
        elif mode is FlightMode.LAND:
            self.land_xy = (self.body.x_m, self.body.y_m)
        elif mode is FlightMode.MISSION and previous is not FlightMode.MISSION and self.armed:
            self.navigator.begin(landed=not self.in_air, host=self)

    def _start_rtl(self) -> None:
        dest = (self.home_xyz[0], self.home_xyz[1])
        best = self.body.distance_xy_m(*dest)
        for rx, ry in self.rally_xy:  # PX4 RTL_TYPE 0: the closest safe landing point
            d = self.body.distance_xy_m(rx, ry)
            if d < best:
                dest, best = (rx, ry), d
        self._rtl_dest = dest
        self._rtl_phase = _RtlPhase.CLIMB
        self._rtl_wait_s = self.params["RTL_LAND_DELAY"]

    # -- commands ----------------------------------------------------------------------------

    def command(self, cmd: Command) -> CommandResult:
        """Execute a COMMAND_LONG / COMMAND_INT as PX4 would; refusals carry a reason."""
        handler = HANDLERS.get(cmd.command)
        if handler is None:
            return CommandResult.unsupported(f"command {cmd.command} not supported")
        try:
            result = handler(self, cmd)
        except FlightPlanError as exc:  # e.g. a latitude of 95° in a position parameter
            result = CommandResult.denied(f"Command {cmd.command} denied: {exc}")
        if result.result is not MavResult.ACCEPTED and result.reason:
            self.say(Severity.CRITICAL, result.reason)
        return result

    def arm(self) -> None:
        self.armed = True
        self.armed_at_s = self.time_s
        self.landed_at_s = None
        self.set_home_here()
        self.navigator.reset(self.navigator.current if not self.navigator.finished else 0)
        self.say(Severity.INFO, "Armed by external command")
        if self.mode is FlightMode.MISSION:
            self.navigator.begin(landed=True, host=self)
        elif self.mode is FlightMode.LOITER:
            self._hold = self._here()

    def disarm(self, text: str) -> None:
        self.armed = False
        self.takeoff_z = None
        self.say(Severity.INFO, text)

    def enter_mode(self, mode: FlightMode) -> CommandResult:
        """Switch mode as a pilot asked (DO_SET_MODE, pause/continue, MISSION_START)."""
        if mode is FlightMode.MISSION and not self.navigator.items:
            return CommandResult.denied("Mode switch denied: no mission uploaded")
        if mode in (FlightMode.RTL, FlightMode.LAND, FlightMode.TAKEOFF) and not self.armed:
            return CommandResult.denied(f"Mode switch denied: {mode.name} needs an armed vehicle")
        if mode is FlightMode.TAKEOFF:
            if self.in_air:
                return CommandResult.denied("Takeoff denied: already flying")
            self.takeoff_z = self.home_xyz[2] + self.params["MIS_TAKEOFF_ALT"]
        if mode is not self.mode or mode is FlightMode.LOITER:
            self.set_mode(mode)
        return CommandResult.accepted()

    def command_z(self, frame: int | None, alt_m: float, *, default: float) -> float:
        """Height above ground for a command altitude: AMSL unless COMMAND_INT says relative."""
        if not math.isfinite(alt_m):
            return default
        if frame in (3, 6):  # GLOBAL_RELATIVE_ALT(_INT)
            return self.home_xyz[2] + alt_m
        if frame in (10, 11):  # terrain: flat ground
            return alt_m
        return alt_m - self.ground_amsl_m

    # -- stepping ----------------------------------------------------------------------------

    def step(self, dt_s: float, *, link_dt_s: float | None = None) -> None:
        """Advance simulated time by ``dt_s`` seconds (split into ≤ 0.1 s sub-steps).

        ``link_dt_s`` is the wall time that passed (default ``dt_s``): the data-link loss
        timeout is measured in it.

        Raises:
            SimConfigError: a negative or non-finite time step.
        """
        for name, value in (("dt_s", dt_s), ("link_dt_s", link_dt_s)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise SimConfigError(name, value, "must be a finite number ≥ 0")
        self.link_time_s += dt_s if link_dt_s is None else link_dt_s
        while dt_s > 0:
            h = min(dt_s, _MAX_SUBSTEP_S)
            self._substep(h)
            dt_s -= h
        check_failsafes(self)

    def _substep(self, dt: float) -> None:
        self.time_s += dt
        self._gps_step(dt)
        if self.armed:
            self._fly(dt)
        elif self.body.z_m > _GROUND_Z_M:
            self._fall(dt)
        else:
            self.body.settle_on_ground()
            self.landed_state = LandedState.ON_GROUND
        self.battery.step(
            dt,
            armed=self.armed,
            airspeed_m_s=self.airspeed_m_s,
            climb_m_s=self.body.vz_m_s,
            drain_s=self.params["SIM_BAT_DRAIN"],
            floor_soc=self.params["SIM_BAT_MIN_PCT"] / 100.0,
        )
        auto_disarm(self)

    def _gps_step(self, dt: float) -> None:
        sigma = self.config.gps_noise_m
        if sigma <= 0:
            return
        # first-order Gauss-Markov error (τ = 10 s) with steady-state σ = gps_noise_m
        a = math.exp(-dt / 10.0)
        s = sigma * math.sqrt(1 - a * a)
        self._gps_offset[0] = a * self._gps_offset[0] + self._rng.gauss(0.0, s)
        self._gps_offset[1] = a * self._gps_offset[1] + self._rng.gauss(0.0, s)

    def wind_xy(self) -> tuple[float, float]:
        """Wind velocity (m/s towards east, north); the position controller cancels it."""
        w = self.config.wind
        to = math.radians(w.from_deg + 180.0)
        return w.speed_m_s * math.sin(to), w.speed_m_s * math.cos(to)

    def _limits(self, speed_xy: float | None = None, *, climb: float | None = None) -> Limits:
        p = self.params
        return Limits(
            speed_xy_m_s=min(
                speed_xy or self.speed_override_m_s or p["MPC_XY_CRUISE"], p["MPC_XY_VEL_MAX"]
            ),
            climb_m_s=climb or p["MPC_Z_VEL_MAX_UP"],
            descent_m_s=p["MPC_Z_VEL_MAX_DN"],
            accel_xy_m_s2=p["MPC_ACC_HOR"],
            accel_z_m_s2=p["MPC_ACC_UP_MAX"],
            yaw_rate_deg_s=p["MPC_YAWRAUTO_MAX"],
        )

    def _fall(self, dt: float) -> None:
        b = self.body
        b.vx_m_s = b.vy_m_s = 0.0
        b.vz_m_s = -_FALL_SPEED_M_S
        b.z_m = max(0.0, b.z_m + b.vz_m_s * dt)
        self.landed_state = LandedState.IN_AIR
        if b.z_m <= 0.0:
            b.settle_on_ground()
            self.landed_state = LandedState.ON_GROUND

    def _fly(self, dt: float) -> None:
        target = self._mode_target(dt)
        b = self.body
        if target is None:
            if not self.in_air:
                b.settle_on_ground()
                return
            if self._hold is None:
                self._hold = self._here()
            target = self._hold
        if target.orbit is not None:
            self._fly_orbit(target.orbit, dt)
        elif target.land:
            self._fly_land(target, dt)
        else:
            climb = self.params["MPC_TKO_SPEED"] if target.takeoff else target.climb_m_s
            b.fly_to(
                target.x_m,
                target.y_m,
                target.z_m,
                self._limits(target.speed_xy_m_s, climb=climb),
                dt,
            )
            self._yaw(target, dt)
        self._update_landed(target)

    def _mode_target(self, dt: float) -> Target | None:
        mode = self.mode
        b = self.body
        if mode is FlightMode.TAKEOFF:
            if self.takeoff_z is None:
                return None
            if b.z_m >= self.takeoff_z - self.params["NAV_MC_ALT_RAD"]:
                z, self.takeoff_z = self.takeoff_z, None
                self.set_mode(FlightMode.LOITER)
                # PX4 loiters at the take-off setpoint (not where the altitude acceptance
                # was crossed), finishing the climb at the take-off speed
                self._hold = Target(b.x_m, b.y_m, z, climb_m_s=self.params["MPC_TKO_SPEED"])
                return self._hold
            return Target(b.x_m, b.y_m, self.takeoff_z, takeoff=True)
        if mode is FlightMode.MISSION:
            t = self.navigator.step(self, dt, landed=not self.in_air)
            if self.navigator.handover_rtl:
                self.navigator.handover_rtl = False
                self.set_mode(FlightMode.RTL)
                return self._rtl_target(dt)
            if t is not None:
                self._hold = None
            return t
        if mode is FlightMode.RTL:
            return self._rtl_target(dt)
        if mode is FlightMode.LAND:
            x, y = self.land_xy or (b.x_m, b.y_m)
            return Target(x, y, 0.0, land=True)
        # Hold and the manual modes (no sticks connected: hold position)
        if self.orbit is not None:
            return Target(self.orbit.cx_m, self.orbit.cy_m, self.orbit.z_m, orbit=self.orbit)
        if self.target is not None:
            return self.target
        if not self.in_air:
            return None
        return self._hold

    def _rtl_target(self, dt: float) -> Target | None:
        b = self.body
        p = self.params
        hx, hy = self._rtl_dest
        home_z = self.home_xyz[2]
        return_z = max(b.z_m, home_z + p["RTL_RETURN_ALT"])
        if not self.in_air:
            return None
        if self._rtl_phase is _RtlPhase.CLIMB:
            if b.distance_xy_m(hx, hy) < p["NAV_ACC_RAD"] or b.z_m >= home_z + p["RTL_RETURN_ALT"]:
                self._rtl_phase = _RtlPhase.RETURN
                self._rtl_z = max(b.z_m, home_z + p["RTL_RETURN_ALT"])
                if b.distance_xy_m(hx, hy) < p["NAV_ACC_RAD"]:
                    self._rtl_z = b.z_m
            else:
                return Target(b.x_m, b.y_m, return_z)
        if self._rtl_phase is _RtlPhase.RETURN:
            if b.distance_xy_m(hx, hy) > 1.0:
                return Target(hx, hy, self._rtl_z)
            self._rtl_phase = _RtlPhase.DESCEND
        if self._rtl_phase is _RtlPhase.DESCEND:
            descend_z = home_z + p["RTL_DESCEND_ALT"]
            if b.z_m > descend_z + p["NAV_MC_ALT_RAD"]:
                return Target(hx, hy, descend_z)
            self._rtl_phase = _RtlPhase.WAIT
        if self._rtl_phase is _RtlPhase.WAIT:
            # the parameter, not the countdown: a countdown ends a little below zero
            if p["RTL_LAND_DELAY"] < 0:  # -1: hover over home forever
                return Target(hx, hy, b.z_m)
            if self._rtl_wait_s > 0:
                self._rtl_wait_s -= dt
                return Target(hx, hy, b.z_m)
            self._rtl_phase = _RtlPhase.LAND
        return Target(hx, hy, 0.0, land=True)

    def _fly_land(self, t: Target, dt: float) -> None:
        b = self.body
        p = self.params
        slow = b.z_m - 0.0 <= p["MPC_LAND_ALT2"]
        descent = p["MPC_LAND_SPEED"] if slow else p["MPC_Z_VEL_MAX_DN"]
        limits = self._limits()
        far = b.distance_xy_m(t.x_m, t.y_m) > 1.0
        if far:  # get over the landing point first, then descend
            b.fly_to(t.x_m, t.y_m, b.z_m, limits, dt)
        else:
            b.fly_to(
                t.x_m,
                t.y_m,
                0.0,
                Limits(
                    limits.speed_xy_m_s,
                    limits.climb_m_s,
                    descent,
                    limits.accel_xy_m_s2,
                    limits.accel_z_m_s2,
                    limits.yaw_rate_deg_s,
                ),
                dt,
            )
        self._yaw(t, dt)
        if b.z_m <= _GROUND_Z_M:
            b.settle_on_ground()
            if self.landed_state is not LandedState.ON_GROUND:
                self.landed_state = LandedState.ON_GROUND
                self.landed_at_s = self.time_s
                self.say(Severity.INFO, "Landing detected")
        else:
            self.landed_state = LandedState.LANDING

    def _fly_orbit(self, o: Orbit, dt: float) -> None:
        b = self.body
        r = abs(o.radius_m)
        dx, dy = b.x_m - o.cx_m, b.y_m - o.cy_m
        dist = math.hypot(dx, dy)
        if dist > 1e-3:
            ux, uy = dx / dist, dy / dist  # outward unit vector
        else:  # an orbit around "here": leave the centre along the nose
            yaw = math.radians(b.yaw_deg)
            ux, uy = math.sin(yaw), math.cos(yaw)
        # clockwise seen from above (radius > 0) in x-east/y-north: tangent = (-uy, ux)... reversed
        sign = -1.0 if o.radius_m > 0 else 1.0
        tx, ty = -uy * sign, ux * sign
        limits = self._limits(o.speed_m_s)
        v = min(o.speed_m_s, limits.speed_xy_m_s, math.sqrt(limits.accel_xy_m_s2 * r))
        radial = max(-limits.speed_xy_m_s, min(limits.speed_xy_m_s, (r - dist) * 1.0))
        vz = max(-limits.descent_m_s, min(limits.climb_m_s, (o.z_m - b.z_m) * 1.0))
        on_circle = abs(dist - r) < max(2.0, 0.1 * r)
        before = math.atan2(dy, dx)
        b.fly_velocity(
            tx * (v if on_circle else 0.3 * v) + ux * radial,
            ty * (v if on_circle else 0.3 * v) + uy * radial,
            vz,
            limits,
            dt,
        )
        after = math.atan2(b.y_m - o.cy_m, b.x_m - o.cx_m)
        if on_circle:
            o.angle_done_rad += abs(wrap_180(math.degrees(after - before))) * math.pi / 180.0
        # PX4 default orbit yaw: front to the centre
        b.turn_to(math.degrees(math.atan2(-dx, -dy)) % 360.0, limits, dt)

    def _yaw(self, t: Target, dt: float) -> None:
        b = self.body
        limits = self._limits()
        if self.roi_xyz is not None:
            rx, ry, _ = self.roi_xyz
            if b.distance_xy_m(rx, ry) > 1.0:
                b.turn_to(math.degrees(math.atan2(rx - b.x_m, ry - b.y_m)) % 360.0, limits, dt)
                return
        if t.yaw_deg is not None:
            b.turn_to(t.yaw_deg, limits, dt)
        elif b.ground_speed_m_s > 1.0:
            b.turn_to(math.degrees(math.atan2(b.vx_m_s, b.vy_m_s)) % 360.0, limits, dt)
        else:
            b.yaw_rate_deg_s = 0.0

    def camera_pitch_deg(self) -> float:
        """Gimbal pitch, pointing at the ROI when one is set (-90 = straight down)."""
        if self.roi_xyz is None:
            return self.gimbal_pitch_deg
        rx, ry, rz = self.roi_xyz
        d = max(self.body.distance_xy_m(rx, ry), 0.1)
        return max(-90.0, min(0.0, math.degrees(math.atan2(rz - self.body.z_m, d))))

    def _update_landed(self, target: Target) -> None:
        b = self.body
        if self.landed_state is LandedState.ON_GROUND:
            if b.z_m > 0.5:
                self.landed_state = LandedState.TAKEOFF if target.takeoff else LandedState.IN_AIR
                self.landed_at_s = None
                self.say(Severity.INFO, "Takeoff detected")
            elif target.z_m <= _GROUND_Z_M and b.z_m <= _GROUND_Z_M:
                b.settle_on_ground()
        elif (self.landed_state is LandedState.TAKEOFF and not target.takeoff) or (
            self.landed_state is LandedState.LANDING and not target.land
        ):
            self.landed_state = LandedState.IN_AIR

    # -- failsafes ---------------------------------------------------------------------------

    def fence_breach(self) -> BreachType:
        b = self.body
        hx, hy, hz = self.home_xyz
        return self.fence.breach(
            b.x_m,
            b.y_m,
            b.z_m,
            home_x_m=hx,
            home_y_m=hy,
            home_z_m=hz,
            max_hor_dist_m=self.params["GF_MAX_HOR_DIST"],
            max_ver_dist_m=self.params["GF_MAX_VER_DIST"],
        )

    def navigator_landed(self) -> None:
        """After a landing ends a mission with a LAND item, the mission is complete."""
        if self.mode is FlightMode.MISSION:
            self.navigator.step(self, 0.0, landed=True)

    def set_param(self, name: str, value: float) -> float:
        """Set a parameter as PARAM_SET does.

        Raises:
            ParamError: unknown name or out-of-range value.
        """
        v = self.params.set(name, value)
        if name == "MAV_SYS_ID" and int(v) != self.config.system_id:
            self.params.set(name, self.config.system_id)
            raise ParamError(name, "the simulated vehicle's system id is fixed")
        return v
