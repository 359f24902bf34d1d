"""The mission executor: walks the uploaded items the way PX4's navigator does.

Pure: it reads the body's position and the parameters and returns the setpoint to fly;
MISSION_ITEM_REACHED and STATUSTEXT go out through the host's ``emit``. What PX4 does and
the service can see: a mission needs no NAV_TAKEOFF item (the vehicle first climbs to
``MIS_TAKEOFF_ALT``); after the last item it says "Mission finished, loitering" and hovers;
an RTL item hands over to the RTL mode; a LAND item lands and disarms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Protocol

from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.mission import MavFrame, MissionItem, MissionItemInt
from sim.mav_cmd import Cmd as MavCmd
from sim.params import ParamStore
from sim.physics import PointMass
from sim.telemetry_types import Event, ItemReached, MissionState, Severity, StatusText

_AMSL_FRAMES = frozenset((MavFrame.GLOBAL, MavFrame.GLOBAL_INT))
_TERRAIN_FRAMES = frozenset((MavFrame.GLOBAL_TERRAIN_ALT, MavFrame.GLOBAL_TERRAIN_ALT_INT))
# DO_JUMP chains and DO items are executed in one step; this bounds a jump loop with no
# navigation item in it (PX4 refuses such missions; we stop rather than spin).
_MAX_ITEMS_PER_STEP = 64


@dataclass(slots=True)
class Orbit:
    """Circle flight: centre, signed radius (> 0 clockwise), speed, height; turns to fly."""

    cx_m: float
    cy_m: float
    radius_m: float
    speed_m_s: float
    z_m: float
    turns: float = math.inf
    angle_done_rad: float = 0.0

    @property
    def done(self) -> bool:
        return self.angle_done_rad >= 2 * math.pi * self.turns


@dataclass(slots=True)
class Target:
    """What to fly now: a point (optionally landing there) or an orbit."""

    x_m: float
    y_m: float
    z_m: float
    speed_xy_m_s: float | None = None  # None: the cruise speed
    yaw_deg: float | None = None  # None: along track (or to the ROI)
    orbit: Orbit | None = None
    land: bool = False
    takeoff: bool = False
    climb_m_s: float | None = None  # None: MPC_Z_VEL_MAX_UP (MPC_TKO_SPEED when taking off)


class NavHost(Protocol):
    """What the navigator needs of the vehicle that flies it."""

    params: ParamStore
    body: PointMass
    frame: LocalFrame
    ground_amsl_m: float
    home_xyz: tuple[float, float, float]
    roi_xyz: tuple[float, float, float] | None
    gimbal_pitch_deg: float
    gimbal_yaw_deg: float
    speed_override_m_s: float | None

    def emit(self, event: Event) -> None: ...

    def set_home_here(self) -> None: ...


class _Phase(Enum):
    ENTER = auto()
    TRAVEL = auto()
    HOLD = auto()


@dataclass(slots=True)
class _Progress:
    phase: _Phase = _Phase.ENTER
    target: Target | None = None
    hold_left_s: float = 0.0
    forever: bool = False
    jumps: dict[int, int] = field(default_factory=dict)


class Navigator:
    """Executes the mission list; ``current`` is MISSION_CURRENT.seq."""

    def __init__(self) -> None:
        self.items: tuple[MissionItem, ...] = ()
        self.current = 0
        self.started = False
        self.finished = False
        self.handover_rtl = False  # an RTL item was reached: the vehicle switches to RTL
        self._p = _Progress()
        self._takeoff_z: float | None = None

    # -- list management -------------------------------------------------------------------

    def load(self, items: tuple[MissionItemInt, ...]) -> None:
        """A new mission replaces the old one; execution restarts at item 0."""
        self.items = tuple(MissionItem.from_mavlink(m) for m in items)
        self.reset(0)

    def reset(self, seq: int = 0) -> None:
        self.current = seq
        self.started = False
        self.finished = False
        self.handover_rtl = False
        self._p = _Progress()
        self._takeoff_z = None

    def set_current(self, seq: int) -> bool:
        """Jump to ``seq`` (MISSION_SET_CURRENT); False when out of range."""
        if not 0 <= seq < len(self.items):
            return False
        jumps = self._p.jumps
        self.current = seq
        self.finished = False
        self._p = _Progress(jumps=jumps)
        return True

    def state(self, *, in_mission_mode: bool) -> MissionState:
        if not self.items:
            return MissionState.NO_MISSION
        if self.finished:
            return MissionState.COMPLETE
        if not self.started:
            return MissionState.NOT_STARTED
        return MissionState.ACTIVE if in_mission_mode else MissionState.PAUSED

    def begin(self, *, landed: bool, host: NavHost) -> None:
        """Entering MISSION mode: restart a finished mission; plan the implicit take-off."""
        if self.finished:
            self.reset(0)
        self.started = True
        self.handover_rtl = False
        first = self.items[self.current] if self.current < len(self.items) else None
        if landed and (first is None or first.command != MavCmd.NAV_TAKEOFF):
            self._takeoff_z = host.home_xyz[2] + host.params["MIS_TAKEOFF_ALT"]
        self._p.phase = _Phase.ENTER

    # -- execution ---------------------------------------------------------------------------

    def step(self, host: NavHost, dt_s: float, *, landed: bool) -> Target | None:
        """The setpoint for this step, or None to hold position (finished / nothing to do)."""
        body = host.body
        if self._takeoff_z is not None:
            if body.z_m >= self._takeoff_z - host.params["NAV_MC_ALT_RAD"]:
                self._takeoff_z = None
            else:
                return Target(body.x_m, body.y_m, self._takeoff_z, takeoff=True)
        for _ in range(_MAX_ITEMS_PER_STEP):
            if self.finished or self.current >= len(self.items):
                self._finish(host, landed=landed)
                return None
            p = self._p
            if p.phase is _Phase.ENTER and not self._enter(host, landed=landed):
                continue  # a DO item ran; look at the next one in this step
            if p.phase is _Phase.TRAVEL:
                assert p.target is not None
                if not self._arrived(host, p.target, landed=landed):
                    return p.target
                p.phase = _Phase.HOLD
            if p.phase is _Phase.HOLD:
                assert p.target is not None
                if self._holding(p, dt_s):
                    return p.target
                self._complete(host, landed=landed)
                if self.handover_rtl:
                    return None
                continue
        host.emit(StatusText(Severity.ERROR, "Mission: too many DO items in a row, holding"))
        self.finished = True
        return None

    def _finish(self, host: NavHost, *, landed: bool) -> None:
        if not self.finished:
            self.finished = True
            self.current = max(len(self.items) - 1, 0)
            # PX4's wording depends on the land detector (a LAND item ends "landed")
            text = "Mission finished, landed" if landed else "Mission finished, loitering"
            host.emit(StatusText(Severity.INFO, text))

    def _complete(self, host: NavHost, *, landed: bool) -> None:
        item = self.items[self.current]
        host.emit(ItemReached(self.current))
        if item.command == MavCmd.NAV_RETURN_TO_LAUNCH:
            self.handover_rtl = True
        if self.current + 1 >= len(self.items):
            if self.handover_rtl:  # done, but the vehicle returns: it does not loiter here
                self.finished = True
                return
            self._finish(host, landed=landed)
            return
        self.current += 1
        self._p.phase = _Phase.ENTER
        self._p.target = None

    def _holding(self, p: _Progress, dt_s: float) -> bool:
        t = p.target
        if t is not None and t.orbit is not None:
            return not t.orbit.done
        if p.forever:
            return True
        p.hold_left_s -= dt_s
        return p.hold_left_s > 0

    def _arrived(self, host: NavHost, t: Target, *, landed: bool) -> bool:
        b = host.body
        if t.land:
            return landed
        if t.orbit is not None:
            return True  # the orbit itself is the travel; it counts turns while holding
        dz_ok = abs(b.z_m - t.z_m) <= host.params["NAV_MC_ALT_RAD"]
        if t.takeoff:
            return dz_ok
        return dz_ok and b.distance_xy_m(t.x_m, t.y_m) <= self._acceptance_m(host)

    def _acceptance_m(self, host: NavHost) -> float:
        item = self.items[self.current]
        if item.command == MavCmd.NAV_WAYPOINT and item.param2 > 0:
            return item.param2
        return host.params["NAV_ACC_RAD"]

    # -- items -----------------------------------------------------------------------------

    def _z(self, host: NavHost, item: MissionItem) -> float:
        if item.frame in _AMSL_FRAMES:
            return item.alt_m - host.ground_amsl_m
        if item.frame in _TERRAIN_FRAMES:
            return item.alt_m  # flat ground at launch height
        return host.home_xyz[2] + item.alt_m

    def _xy(self, host: NavHost, item: MissionItem) -> tuple[float, float]:
        if item.lat_deg == 0.0 and item.lon_deg == 0.0:
            return host.body.x_m, host.body.y_m  # PX4: 0,0 means "here"
        return host.frame.to_local(GeoPoint(item.lat_deg, item.lon_deg))

    def _enter(self, host: NavHost, *, landed: bool) -> bool:
        """Start the current item. False when it was a DO item that is already done."""
        item = self.items[self.current]
        p = self._p
        cmd = item.command
        p.hold_left_s = 0.0
        p.forever = False
        yaw = None if math.isnan(item.param4) else item.param4
        if cmd in _NAV_ITEMS:
            x, y = self._xy(host, item)
            z = self._z(host, item)
            p.target = Target(x, y, z, host.speed_override_m_s, yaw)
            if cmd == MavCmd.NAV_WAYPOINT:
                p.hold_left_s = max(item.param1, 0.0)
            elif cmd == MavCmd.NAV_LOITER_UNLIM:
                p.forever = True
            elif cmd == MavCmd.NAV_LOITER_TIME:
                p.hold_left_s = max(item.param1, 0.0)
            elif cmd == MavCmd.NAV_LOITER_TURNS:
                radius = item.param3 if item.param3 != 0 else host.params["NAV_ACC_RAD"]
                p.target = Target(x, y, z)
                p.target.orbit = Orbit(
                    x,
                    y,
                    radius,
                    host.speed_override_m_s or host.params["MPC_XY_CRUISE"],
                    z,
                    turns=max(item.param1, 0.0),
                )
            elif cmd == MavCmd.NAV_TAKEOFF:
                if not landed and host.body.z_m >= z:
                    p.target = Target(host.body.x_m, host.body.y_m, host.body.z_m)
                else:
                    p.target = Target(host.body.x_m, host.body.y_m, z, takeoff=True)
            elif cmd == MavCmd.NAV_LAND:
                p.target = Target(x, y, 0.0, land=True)
            elif cmd == MavCmd.NAV_RETURN_TO_LAUNCH:
                p.target = Target(host.body.x_m, host.body.y_m, host.body.z_m)
            p.phase = _Phase.TRAVEL
            return True
        if cmd in (MavCmd.NAV_DELAY, MavCmd.CONDITION_DELAY):
            p.target = Target(host.body.x_m, host.body.y_m, host.body.z_m)
            p.hold_left_s = max(item.param1, 0.0)
            p.phase = _Phase.HOLD
            return True
        self._do(host, item, landed=landed)
        return False

    def _do(self, host: NavHost, item: MissionItem, *, landed: bool) -> None:
        """Run a DO item and move past it (DO_JUMP moves elsewhere)."""
        cmd = item.command
        if cmd == MavCmd.DO_JUMP:
            target, repeat = int(item.param1), int(item.param2)
            done = self._p.jumps.get(self.current, 0)
            if 0 <= target < len(self.items) and (repeat < 0 or done < repeat):
                self._p.jumps[self.current] = done + 1
                host.emit(ItemReached(self.current))
                self.current = target
                self._p.phase = _Phase.ENTER
                return
        elif cmd == MavCmd.DO_CHANGE_SPEED:
            if item.param2 > 0:
                host.speed_override_m_s = item.param2
        elif cmd == MavCmd.DO_SET_HOME:
            if item.param1 == 1 or (item.lat_deg == 0 and item.lon_deg == 0):
                host.set_home_here()
            else:
                x, y = self._xy(host, item)
                host.home_xyz = (x, y, self._z(host, item) if item.alt_m else host.home_xyz[2])
        elif cmd in (MavCmd.DO_SET_ROI_LOCATION, MavCmd.DO_SET_ROI):
            if cmd == MavCmd.DO_SET_ROI and int(item.param1) != 3:
                host.roi_xyz = None
            else:
                x, y = self._xy(host, item)
                host.roi_xyz = (x, y, self._z(host, item))
        elif cmd == MavCmd.DO_SET_ROI_NONE:
            host.roi_xyz = None
        elif cmd == MavCmd.DO_GIMBAL_MANAGER_PITCHYAW:
            if not math.isnan(item.param1):
                host.gimbal_pitch_deg = max(-90.0, min(0.0, item.param1))
            if not math.isnan(item.param2):
                host.gimbal_yaw_deg = item.param2
        elif cmd == MavCmd.DO_MOUNT_CONTROL:
            host.gimbal_pitch_deg = max(-90.0, min(0.0, item.param1))
            host.gimbal_yaw_deg = item.param3
        self._complete(host, landed=landed)


_NAV_ITEMS = frozenset(
    (
        MavCmd.NAV_WAYPOINT,
        MavCmd.NAV_LOITER_UNLIM,
        MavCmd.NAV_LOITER_TURNS,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.NAV_RETURN_TO_LAUNCH,
        MavCmd.NAV_LAND,
        MavCmd.NAV_TAKEOFF,
        MavCmd.NAV_LOITER_TO_ALT,
    )
)
