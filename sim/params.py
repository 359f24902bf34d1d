"""The vehicle's parameters: PX4 names, types, defaults and ranges.

Only the parameters the service (or a pilot's ground station) reads or sets, plus the
SIH-style ``SIM_*`` knobs PX4's own simulator has. Defaults are PX4 v1.16's for a
multicopter airframe (where ``rc.mc_defaults`` overrides the generic default, e.g.
``NAV_ACC_RAD`` 2 m and ``RTL_RETURN_ALT``/``RTL_DESCEND_ALT`` 30/10 m, the multicopter value
is used). Integers travel over MAVLink as PX4 sends them: the int32's bytes
reinterpreted as a float (``MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from sim.errors import SimError


class ParamError(SimError):
    """A parameter read or write was refused.

    Attributes:
        name: the parameter's name.
        reason: why, in words a user understands.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: name (≤ 16 chars), type, default and the accepted range."""

    name: str
    is_int: bool
    default: float
    min: float
    max: float
    description: str


def _f(name: str, default: float, lo: float, hi: float, description: str) -> ParamSpec:
    return ParamSpec(name, False, default, lo, hi, description)


def _i(name: str, default: int, lo: int, hi: int, description: str) -> ParamSpec:
    return ParamSpec(name, True, default, lo, hi, description)


PARAMS: tuple[ParamSpec, ...] = (
    _i("MAV_SYS_ID", 1, 1, 250, "MAVLink system id"),
    _i("MAV_TYPE", 2, 0, 40, "MAV_TYPE (2 = quadrotor)"),
    _i("SYS_AUTOSTART", 10040, 0, 9_999_999, "airframe (10040 = SIH quadcopter)"),
    # take-off, mission and navigation
    _f("MIS_TAKEOFF_ALT", 2.5, 0.0, 200.0, "take-off altitude above home, m"),
    _f("MIS_DIST_1WP", 900.0, 0.0, 10_000.0, "max distance home to first waypoint, m"),
    # 2 m, not the parameter's generic 10 m: PX4's multicopter airframes set it (rc.mc_defaults)
    _f("NAV_ACC_RAD", 2.0, 0.05, 200.0, "waypoint acceptance radius, m"),
    _f("NAV_MC_ALT_RAD", 0.8, 0.05, 10.0, "waypoint altitude acceptance, m"),
    _f("MPC_XY_CRUISE", 5.0, 3.0, 20.0, "horizontal cruise speed in missions, m/s"),
    _f("MPC_XY_VEL_MAX", 12.0, 0.0, 20.0, "maximum horizontal speed, m/s"),
    _f("MPC_Z_VEL_MAX_UP", 3.0, 0.5, 8.0, "maximum climb rate, m/s"),
    _f("MPC_Z_VEL_MAX_DN", 1.5, 0.5, 4.0, "maximum descent rate, m/s"),
    _f("MPC_ACC_HOR", 3.0, 2.0, 15.0, "horizontal acceleration, m/s²"),
    _f("MPC_ACC_UP_MAX", 4.0, 2.0, 15.0, "vertical acceleration, m/s²"),
    _f("MPC_LAND_SPEED", 0.7, 0.6, 4.0, "landing descent rate near the ground, m/s"),
    _f("MPC_LAND_ALT2", 5.0, 0.0, 122.0, "height below which the landing speed applies, m"),
    _f("MPC_TKO_SPEED", 1.5, 1.0, 5.0, "take-off climb rate, m/s"),
    _f("MPC_YAWRAUTO_MAX", 45.0, 5.0, 360.0, "maximum yaw rate in auto modes, deg/s"),
    # return
    _f("RTL_RETURN_ALT", 30.0, 0.0, 150.0, "return altitude above home, m (PX4 MC: 30)"),
    _f("RTL_DESCEND_ALT", 10.0, 2.0, 100.0, "altitude over home before landing, m (PX4 MC: 10)"),
    _f("RTL_LAND_DELAY", 0.0, -1.0, 300.0, "hover time over home before landing, s"),
    # geofence
    _i("GF_ACTION", 2, 0, 5, "fence breach: 0 none, 1 warn, 2 hold, 3 return, 4 terminate, 5 land"),
    _f("GF_MAX_HOR_DIST", 0.0, 0.0, 10_000.0, "max distance from home, m (0 = off)"),
    _f("GF_MAX_VER_DIST", 0.0, 0.0, 10_000.0, "max height above home, m (0 = off)"),
    # link loss
    _i("NAV_DLL_ACT", 0, 0, 6, "data-link loss: 0 off, 1 hold, 2 return, 3 land, 5 terminate"),
    _f("COM_DL_LOSS_T", 10.0, 5.0, 300.0, "data-link loss timeout, s"),
    _i("COM_RC_IN_MODE", 1, 0, 4, "RC input mode (1 = joystick/none: no RC required)"),
    # battery
    _f("BAT_LOW_THR", 0.15, 0.12, 0.5, "low battery: warning, s.o.c. fraction"),
    _f("BAT_CRIT_THR", 0.07, 0.05, 0.25, "critical battery: failsafe, s.o.c. fraction"),
    _f("BAT_EMERGEN_THR", 0.05, 0.03, 0.1, "emergency battery: land, s.o.c. fraction"),
    _i("COM_LOW_BAT_ACT", 3, 0, 3, "0 warn, 2 land, 3 return at critical + land at emergency"),
    _f("BAT1_CAPACITY", 5000.0, -1.0, 100_000.0, "battery capacity, mAh"),
    _i("BAT1_N_CELLS", 4, 1, 14, "cells in series"),
    _f("BAT1_V_CHARGED", 4.05, 3.6, 5.0, "cell voltage when full, V"),
    _f("BAT1_V_EMPTY", 3.5, 2.5, 4.0, "cell voltage when empty, V"),
    # arming
    _f("COM_DISARM_PRFLT", 10.0, -1.0, 20.0, "auto-disarm if no take-off after arming, s"),
    _f("COM_DISARM_LAND", 2.0, -1.0, 20.0, "auto-disarm after landing, s"),
    _i("COM_ARM_WO_GPS", 1, 0, 1, "allow arming without GPS (only in modes that need none)"),
    # simulator knobs (PX4's SIH has the same names)
    _i("SIM_GPS_USED", 10, 0, 50, "satellites used by the simulated GPS (< 6: no 3D fix)"),
    _f("SIM_BAT_DRAIN", 0.0, 0.0, 100_000.0, "drain a full battery in this many s (0 = physics)"),
    _f("SIM_BAT_MIN_PCT", 0.0, 0.0, 100.0, "the simulated battery never drops below this, %"),
)

_SPECS = {p.name: p for p in PARAMS}


def spec(name: str) -> ParamSpec:
    """The spec of ``name``.

    Raises:
        ParamError: the vehicle has no parameter of that name.
    """
    try:
        return _SPECS[name]
    except KeyError:
        raise ParamError(name, "no such parameter") from None


def encode_bytewise(value: float, *, is_int: bool) -> float:
    """The float PX4 puts in ``param_value``: an int32's bytes reinterpreted, or the float."""
    if not is_int:
        return float(value)
    return float(struct.unpack("<f", struct.pack("<i", int(value)))[0])


def decode_bytewise(raw: float, *, is_int: bool) -> float:
    """Inverse of :func:`encode_bytewise` for a value received in PARAM_SET."""
    if not is_int:
        return float(raw)
    return float(struct.unpack("<i", struct.pack("<f", raw))[0])


class ParamStore:
    """The current values, in table order (PARAM_VALUE's ``param_index``)."""

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self._values: dict[str, float] = {p.name: p.default for p in PARAMS}
        self.version = 0
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def __getitem__(self, name: str) -> float:
        return self._values[spec(name).name]

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(PARAMS)

    def __len__(self) -> int:
        return len(PARAMS)

    def index(self, name: str) -> int:
        return PARAMS.index(spec(name))

    def by_index(self, index: int) -> ParamSpec:
        """The spec at ``param_index``.

        Raises:
            ParamError: the index is out of range.
        """
        if not 0 <= index < len(PARAMS):
            raise ParamError(f"#{index}", f"index out of range 0..{len(PARAMS) - 1}")
        return PARAMS[index]

    def set(self, name: str, value: float) -> float:
        """Set ``name`` to ``value`` (rounded for integers) and return the stored value.

        Raises:
            ParamError: unknown name, non-finite value, or outside the parameter's range.
        """
        p = spec(name)
        v = float(value)
        if not math.isfinite(v):
            raise ParamError(name, f"value {value!r} is not a finite number")
        if p.is_int:
            if v != round(v):
                raise ParamError(name, f"value {value!r} is not an integer")
            v = float(round(v))
        if not p.min <= v <= p.max:
            raise ParamError(name, f"value {v:g} outside {p.min:g}..{p.max:g}")
        if self._values[name] != v:
            self._values[name] = v
            self.version += 1
        return v
