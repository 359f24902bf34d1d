"""Pure translations between MAVSDK's values and ours, and read-back verification.

No I/O and no clock: each conversion takes the MAVSDK value (and the monotonic time it was
received) and returns one of :mod:`mission_control.vehicles.types`; MAVSDK enums are
matched by *name*, so a renumbered enum in a later MAVSDK cannot silently change a mode.
The structural types below name exactly the MAVSDK fields used.

Units follow MAVSDK 4.1's client (see ``docs/mavsdk-4.1-notes.md`` §4): degrees, metres,
``Battery.remaining_percent`` in 0..100 with −1 for "unknown".
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mavsdk.plugins.mission_raw.mission_raw import MissionItem as RawItem

from flight_plans.mission import MissionItemInt
from mission_control.vehicles.errors import (
    CommandRejected,
    CommandTimeout,
    LinkLost,
    VehicleError,
)
from mission_control.vehicles.types import (
    Attitude,
    Battery,
    FenceStatus,
    FlightMode,
    Gps,
    Heading,
    Health,
    Home,
    LandedState,
    MissionProgress,
    Position,
    StatusText,
    VelocityNed,
    VideoStreamInfo,
)


class Named(Protocol):
    """A MAVSDK enum member (``FlightMode.HOLD``, ``FixType.FIX_3D``...)."""

    @property
    def name(self) -> str: ...


class MavPosition(Protocol):
    latitude_deg: float
    longitude_deg: float
    absolute_altitude_m: float
    relative_altitude_m: float


class MavVelocity(Protocol):
    north_m_s: float
    east_m_s: float
    down_m_s: float


class MavHeading(Protocol):
    heading_deg: float


class MavEuler(Protocol):
    roll_deg: float
    pitch_deg: float
    yaw_deg: float


class MavBattery(Protocol):
    remaining_percent: float
    voltage_v: float


class MavGps(Protocol):
    num_satellites: int
    fix_type: Named


class MavHome(Protocol):
    latitude_deg: float
    longitude_deg: float
    absolute_altitude_m: float


class MavHealth(Protocol):
    is_gyrometer_calibration_ok: bool
    is_accelerometer_calibration_ok: bool
    is_magnetometer_calibration_ok: bool
    is_local_position_ok: bool
    is_global_position_ok: bool
    is_home_position_ok: bool
    is_armable: bool


class MavProgress(Protocol):
    current: int
    total: int


class MavStatusText(Protocol):
    type: Named
    text: str


class MavVersion(Protocol):
    flight_sw_major: int
    flight_sw_minor: int
    flight_sw_patch: int
    flight_sw_version_type: Named


# -- enums -----------------------------------------------------------------------------------


def flight_mode(mode: Named) -> FlightMode:
    """MAVSDK ``telemetry.FlightMode`` → ours; modes we do not name (RATTITUDE) → UNKNOWN."""
    try:
        return FlightMode[mode.name]
    except KeyError:
        return FlightMode.UNKNOWN


def landed_state(state: Named) -> LandedState:
    """MAVSDK ``telemetry.LandedState`` → ours."""
    try:
        return LandedState[state.name]
    except KeyError:
        return LandedState.UNKNOWN


_FIX_TYPES = frozenset(
    ("no_gps", "no_fix", "fix_2d", "fix_3d", "fix_dgps", "rtk_float", "rtk_fixed")
)
_SEVERITIES = frozenset(
    ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
)
REFUSAL_SEVERITIES = frozenset(("warning", "error", "critical", "alert", "emergency"))
"""STATUSTEXT severities that can carry a refusal's reason (PX4 uses critical)."""


def fix_type(fix: Named) -> str:
    """MAVSDK ``FixType`` → ``"no_gps"``, ``"fix_3d"``, ``"rtk_fixed"``... (unknown → no_fix)."""
    name = fix.name.lower()
    return name if name in _FIX_TYPES else "no_fix"


def severity(kind: Named) -> str:
    """MAVSDK ``StatusTextType`` → ``"emergency"`` .. ``"debug"``."""
    name = kind.name.lower()
    return name if name in _SEVERITIES else "info"


def battery_pct(remaining_percent: float) -> float:
    """MAVSDK's 0..100 (−1 = unknown) → percent, NaN when unknown or out of range."""
    v = float(remaining_percent)
    return v if 0.0 <= v <= 100.0 else math.nan


def autopilot_name(autopilot: Named) -> str:
    """MAVSDK ``Autopilot`` → ``"px4"``, ``"ardupilot"``, ``"generic"``, ``"unknown"``."""
    return autopilot.name.lower()


def vehicle_type_name(vehicle: Named) -> str:
    """MAVSDK ``Vehicle`` → ``"multicopter"``, ``"fixed_wing"``... (lower-case name)."""
    return vehicle.name.lower()


def firmware_version(version: MavVersion) -> str | None:
    """``"1.16.0"`` (plus ``-beta`` etc. for pre-releases) from the Info plugin; None if unset."""
    numbers = (version.flight_sw_major, version.flight_sw_minor, version.flight_sw_patch)
    if not any(numbers):
        return None
    text = ".".join(str(n) for n in numbers)
    kind = version.flight_sw_version_type.name.lower()
    return text if kind in ("release", "unknown") else f"{text}-{kind}"


# -- telemetry samples ----------------------------------------------------------------------


def position(p: MavPosition, received_s: float) -> Position:
    return Position(
        p.latitude_deg, p.longitude_deg, p.absolute_altitude_m, p.relative_altitude_m, received_s
    )


def velocity(v: MavVelocity, received_s: float) -> VelocityNed:
    return VelocityNed(v.north_m_s, v.east_m_s, v.down_m_s, received_s)


def heading(h: MavHeading, received_s: float) -> Heading:
    return Heading(h.heading_deg, received_s)


def attitude(e: MavEuler, received_s: float) -> Attitude:
    return Attitude(e.roll_deg, e.pitch_deg, e.yaw_deg, received_s)


def battery(b: MavBattery, received_s: float) -> Battery:
    return Battery(battery_pct(b.remaining_percent), b.voltage_v, received_s)


def gps(g: MavGps, received_s: float) -> Gps:
    return Gps(fix_type(g.fix_type), int(g.num_satellites), received_s)


def home(h: MavHome, received_s: float) -> Home:
    return Home(h.latitude_deg, h.longitude_deg, h.absolute_altitude_m, received_s)


def health(h: MavHealth, received_s: float) -> Health:
    return Health(
        gyro_ok=h.is_gyrometer_calibration_ok,
        accel_ok=h.is_accelerometer_calibration_ok,
        mag_ok=h.is_magnetometer_calibration_ok,
        local_position_ok=h.is_local_position_ok,
        global_position_ok=h.is_global_position_ok,
        home_position_ok=h.is_home_position_ok,
        armable=h.is_armable,
        received_s=received_s,
    )


def mission_progress(p: MavProgress, received_s: float) -> MissionProgress:
    return MissionProgress(int(p.current), int(p.total), received_s)


def status_text(t: MavStatusText, received_s: float) -> StatusText:
    return StatusText(severity(t.type), t.text, received_s)


_BREACH_TYPES = {0: "none", 1: "min_alt", 2: "max_alt", 3: "boundary"}


def fence_status(fields: Mapping[str, object], received_s: float) -> FenceStatus:
    """A FENCE_STATUS message's fields (as MAVSDK's mavlink_direct plugin decodes them).

    Raises:
        ValueError: a field is missing or not an integer.
    """

    def integer(name: str) -> int:
        value = fields.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"FENCE_STATUS.{name} = {value!r} is not an integer")
        return value

    return FenceStatus(
        breached=integer("breach_status") != 0,
        breach_count=integer("breach_count"),
        breach_type=_BREACH_TYPES.get(integer("breach_type"), "boundary"),
        received_s=received_s,
    )


def fence_status_json(fields_json: str, received_s: float) -> FenceStatus:
    """FENCE_STATUS as MAVSDK's mavlink_direct plugin delivers it (fields as a JSON object).

    Raises:
        ValueError: not a JSON object with integer breach fields.
    """
    fields = json.loads(fields_json)
    if not isinstance(fields, dict):
        raise ValueError(f"FENCE_STATUS fields are not a JSON object: {fields_json!r}")
    return fence_status(fields, received_s)


def _text_field(value: Any) -> str:
    """A MAVLink char[] as mavlink_direct delivers it: a string, or a list of codes."""
    if isinstance(value, str):
        return value.split("\0", 1)[0].strip()
    if isinstance(value, list):
        raw = bytes(int(c) & 0xFF for c in value if isinstance(c, int) and not isinstance(c, bool))
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return ""


def _number(fields: dict[str, Any], name: str) -> float:
    v = fields.get(name, 0)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return 0.0
    return float(v)


def video_stream_info(fields_json: str, received_s: float) -> VideoStreamInfo | None:
    """VIDEO_STREAM_INFORMATION from mavlink_direct's JSON; None without a usable URI."""
    try:
        fields = json.loads(fields_json)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    uri = _text_field(fields.get("uri"))
    if not uri:
        return None
    return VideoStreamInfo(
        stream_id=int(_number(fields, "stream_id")),
        uri=uri,
        stream_type=int(_number(fields, "type")),
        encoding=int(_number(fields, "encoding")),
        width_px=int(_number(fields, "resolution_h")),
        height_px=int(_number(fields, "resolution_v")),
        fps=_number(fields, "framerate"),
        hfov_deg=_number(fields, "hfov"),
        name=_text_field(fields.get("name")),
        received_s=received_s,
    )


# -- mission items ----------------------------------------------------------------------------


def to_mavsdk_item(item: MissionItemInt, *, seq: int, current: bool) -> RawItem:
    """Our ``MISSION_ITEM_INT`` fields as MAVSDK's ``mission_raw.MissionItem``."""
    return RawItem(
        seq,
        item.frame,
        item.command,
        1 if current else 0,
        item.autocontinue,
        item.param1,
        item.param2,
        item.param3,
        item.param4,
        item.x,
        item.y,
        item.z,
        item.mission_type,
    )


def from_mavsdk_item(raw: RawItem) -> MissionItemInt:
    """MAVSDK's ``mission_raw.MissionItem`` as our ``MISSION_ITEM_INT`` fields."""
    return MissionItemInt(
        seq=int(raw.seq),
        frame=int(raw.frame),
        command=int(raw.command),
        current=int(raw.current),
        autocontinue=int(raw.autocontinue),
        param1=float(raw.param1),
        param2=float(raw.param2),
        param3=float(raw.param3),
        param4=float(raw.param4),
        x=int(raw.x),
        y=int(raw.y),
        z=float(raw.z),
        mission_type=int(raw.mission_type),
    )


@dataclass(frozen=True, slots=True)
class Difference:
    """Where a read-back list first differs from what was sent."""

    index: int
    detail: str


# MAV_FRAME_*_INT frames are deprecated aliases of the plain ones (same datum), and
# autopilots may answer with either.
_SAME_FRAME = {5: 0, 6: 3, 11: 10}
_FLOAT_FIELDS = ("param1", "param2", "param3", "param4", "z")
_INT_FIELDS = ("command", "autocontinue", "x", "y", "mission_type")


def _as_float32(value: float) -> float:
    try:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    except OverflowError:
        return value


def same_float32(a: float, b: float) -> bool:
    """Equal as MAVLink carries them: float32, NaN equal to NaN (MAVLink's "unset")."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    fa, fb = _as_float32(a), _as_float32(b)
    return fa == fb or math.isclose(fa, fb, rel_tol=1e-6, abs_tol=1e-6)


def item_difference(sent: MissionItemInt, got: MissionItemInt) -> str | None:
    """The first field that differs, in words; None when the items match.

    ``current`` is not compared (the vehicle decides which item is current).
    """
    if _SAME_FRAME.get(sent.frame, sent.frame) != _SAME_FRAME.get(got.frame, got.frame):
        return f"frame: sent {sent.frame}, read back {got.frame}"
    for name in _INT_FIELDS:
        a, b = getattr(sent, name), getattr(got, name)
        if int(a) != int(b):
            return f"{name}: sent {a}, read back {b}"
    for name in _FLOAT_FIELDS:
        a, b = getattr(sent, name), getattr(got, name)
        if not same_float32(a, b):
            return f"{name}: sent {a:g}, read back {b:g}"
    return None


def first_difference(
    sent: Sequence[MissionItemInt], got: Sequence[MissionItemInt]
) -> Difference | None:
    """Compare a read-back list with the one sent, field by field; None when they match.

    A different count is reported at the shorter length.
    """
    if len(sent) != len(got):
        return Difference(
            min(len(sent), len(got)), f"sent {len(sent)} item(s), read back {len(got)}"
        )
    for index, (a, b) in enumerate(zip(sent, got, strict=True)):
        detail = item_difference(a, b)
        if detail is not None:
            return Difference(index, detail)
    return None


# -- errors -----------------------------------------------------------------------------------

_TIMEOUT_RESULTS = frozenset(("TIMEOUT",))
_NO_LINK_RESULTS = frozenset(("NO_SYSTEM", "CONNECTION_ERROR"))


_MISSION_RESULTS = {
    0: "ACCEPTED",
    1: "ERROR",
    2: "UNSUPPORTED_FRAME",
    3: "UNSUPPORTED",
    4: "NO_SPACE",
    5: "INVALID",
    **{5 + k: f"INVALID_PARAM{k}" for k in range(1, 8)},
    13: "INVALID_SEQUENCE",
    14: "DENIED",
    15: "OPERATION_CANCELLED",
}


def mission_result_name(code: int) -> str:
    """``MAV_MISSION_RESULT`` of a MISSION_ACK without its prefix (``"DENIED"``...)."""
    return _MISSION_RESULTS.get(code, f"MAV_MISSION_RESULT_{code}")


def is_refusal(exc: BaseException) -> bool:
    """True if MAVSDK says the vehicle answered and refused (not a timeout, not unreachable)."""
    name = result_name(exc)
    return name is not None and name not in _TIMEOUT_RESULTS | _NO_LINK_RESULTS


def result_name(exc: BaseException) -> str | None:
    """The MAVSDK result of a ``XxxError`` (``"COMMAND_DENIED"``...), None for other errors."""
    result = getattr(exc, "result", None)
    name = getattr(result, "name", None)
    return name if isinstance(name, str) else None


def error_for(
    system_id: int,
    action: str,
    exc: BaseException,
    reason: str = "",
    *,
    elapsed_s: float = 0.0,
    heartbeat_age_s: float = 0.0,
) -> VehicleError:
    """Our typed error for a MAVSDK ``XxxError`` raised by ``action``.

    - ``TIMEOUT`` → :class:`CommandTimeout` (after ``elapsed_s``);
    - ``NO_SYSTEM`` / ``CONNECTION_ERROR`` → :class:`LinkLost` (silent ``heartbeat_age_s``);
    - any other result (``COMMAND_DENIED``, ``UNSUPPORTED``, ``FAILED``, ``DENIED``,
      ``INVALID_ARGUMENT``...) → :class:`CommandRejected` with the vehicle's ``reason``;
    - an exception without a MAVSDK result → :class:`VehicleError` with its text.
    """
    name = result_name(exc)
    if name is None:
        return VehicleError(system_id, f"{action} failed: {exc}")
    if name in _TIMEOUT_RESULTS:
        return CommandTimeout(system_id, action, round(elapsed_s, 2))
    if name in _NO_LINK_RESULTS:
        return LinkLost(system_id, action, heartbeat_age_s)
    return CommandRejected(system_id, action, name, reason)
