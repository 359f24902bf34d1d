"""The simulated PX4-like vehicle's three on-board lists and what it accepts in them.

:class:`MissionStore` holds the mission, geofence and rally-point lists and
:class:`MissionLimits` their capacities. The tables and checks the vehicle side of the
MAVLink mission protocol (:mod:`sim.mission_protocol`) applies to uploaded items: which
commands each list takes, which coordinate frames, and the per-item and whole-list rules
PX4 enforces before it stores a mission, a geofence or a set of rally points. Everything
here is pure: items go in, an :class:`ItemRejection` (a ``MAV_MISSION_RESULT`` plus a
short reason) or ``None`` comes out.

Items are :class:`~flight_plans.mission.MissionItemInt`: in a global frame ``x``/``y`` are
WGS84 latitude/longitude in degE7 (degrees × 10⁷) and ``z`` an altitude in metres; in
``MAV_FRAME_MISSION`` the three slots are plain parameters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from flight_plans.mission import INT32_MAX, MavCmd, MavFrame, MissionItemInt, MissionType
from sim.errors import SimConfigError, SimError


class MissionResult(IntEnum):
    """MAVLink ``MAV_MISSION_RESULT``: the ``type`` field of ``MISSION_ACK``."""

    ACCEPTED = 0
    ERROR = 1
    UNSUPPORTED_FRAME = 2
    UNSUPPORTED = 3
    NO_SPACE = 4
    INVALID = 5
    INVALID_PARAM1 = 6
    INVALID_PARAM2 = 7
    INVALID_PARAM3 = 8
    INVALID_PARAM4 = 9
    INVALID_PARAM5_X = 10
    INVALID_PARAM6_Y = 11
    INVALID_PARAM7 = 12
    INVALID_SEQUENCE = 13
    DENIED = 14
    OPERATION_CANCELLED = 15


GLOBAL_FRAMES: frozenset[int] = frozenset(
    {
        MavFrame.GLOBAL,
        MavFrame.GLOBAL_RELATIVE_ALT,
        MavFrame.GLOBAL_INT,
        MavFrame.GLOBAL_RELATIVE_ALT_INT,
        MavFrame.GLOBAL_TERRAIN_ALT,
        MavFrame.GLOBAL_TERRAIN_ALT_INT,
    }
)
"""Frames whose x/y are latitude/longitude in degE7 and z an altitude in metres."""

SUPPORTED_FRAMES: frozenset[int] = GLOBAL_FRAMES | {MavFrame.MISSION}
"""Every frame the vehicle stores; ``MAV_FRAME_MISSION`` only for non-positional commands."""

_FENCE_VERTICES = frozenset(
    {MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION}
)
_FENCE_CIRCLES = frozenset({MavCmd.NAV_FENCE_CIRCLE_INCLUSION, MavCmd.NAV_FENCE_CIRCLE_EXCLUSION})

POSITIONAL_COMMANDS: frozenset[int] = frozenset(
    {
        MavCmd.NAV_WAYPOINT,
        MavCmd.NAV_LOITER_UNLIM,
        MavCmd.NAV_LOITER_TURNS,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.NAV_LAND,
        MavCmd.NAV_TAKEOFF,
        MavCmd.NAV_LOITER_TO_ALT,
        MavCmd.DO_SET_ROI_LOCATION,
        MavCmd.NAV_FENCE_RETURN_POINT,
        *_FENCE_VERTICES,
        *_FENCE_CIRCLES,
        MavCmd.NAV_RALLY_POINT,
    }
)
"""Commands whose param5..7 are a place: they need a global frame."""

_MISSION_COMMANDS = frozenset(
    {
        16,  # NAV_WAYPOINT
        17,  # NAV_LOITER_UNLIM
        18,  # NAV_LOITER_TURNS
        19,  # NAV_LOITER_TIME
        20,  # NAV_RETURN_TO_LAUNCH
        21,  # NAV_LAND
        22,  # NAV_TAKEOFF
        31,  # NAV_LOITER_TO_ALT
        93,  # NAV_DELAY
        112,  # CONDITION_DELAY
        177,  # DO_JUMP
        178,  # DO_CHANGE_SPEED
        179,  # DO_SET_HOME
        183,  # DO_SET_SERVO
        189,  # DO_LAND_START
        195,  # DO_SET_ROI_LOCATION
        196,  # DO_SET_ROI_WPNEXT_OFFSET
        197,  # DO_SET_ROI_NONE
        201,  # DO_SET_ROI
        205,  # DO_MOUNT_CONTROL
        206,  # DO_SET_CAM_TRIGG_DIST
        214,  # DO_SET_CAM_TRIGG_INTERVAL
        530,  # SET_CAMERA_MODE
        531,  # SET_CAMERA_ZOOM
        1000,  # DO_GIMBAL_MANAGER_PITCHYAW
        2000,  # IMAGE_START_CAPTURE
        2001,  # IMAGE_STOP_CAPTURE
        2500,  # VIDEO_START_CAPTURE
        2501,  # VIDEO_STOP_CAPTURE
    }
)

SUPPORTED_COMMANDS: Mapping[MissionType, frozenset[int]] = MappingProxyType(
    {
        # What PX4 accepts in a multicopter mission; VTOL take-off/landing (84/85) and
        # fixed-wing-only items are refused with MAV_MISSION_UNSUPPORTED.
        MissionType.MISSION: _MISSION_COMMANDS,
        MissionType.FENCE: frozenset(
            {MavCmd.NAV_FENCE_RETURN_POINT, *_FENCE_VERTICES, *_FENCE_CIRCLES}
        ),
        MissionType.RALLY: frozenset({MavCmd.NAV_RALLY_POINT}),
    }
)
"""``MAV_CMD`` numbers each on-board list accepts."""

LIST_LABEL: Mapping[MissionType, str] = MappingProxyType(
    {MissionType.MISSION: "Mission", MissionType.FENCE: "Fence", MissionType.RALLY: "Rally"}
)
"""Short names of the lists, as used in STATUSTEXT messages."""

_LAT_MAX_E7 = 90 * 10**7
_LON_MAX_E7 = 180 * 10**7


@dataclass(frozen=True, slots=True)
class ItemRejection:
    """Why an uploaded list was refused.

    Attributes:
        result: the ``MAV_MISSION_RESULT`` the vehicle acknowledges with.
        seq: index of the offending item.
        reason: a few words a user understands (``"latitude out of range"``).
    """

    result: MissionResult
    seq: int
    reason: str


def check_item(mission_type: MissionType, item: MissionItemInt) -> ItemRejection | None:
    """The first rule ``item`` breaks as a member of list ``mission_type``, or ``None``.

    Checks, in order: the item's own ``mission_type``, the command (supported by that
    list), the frame (supported; a global one for positional commands), a global item's
    latitude (±90°), longitude (±180°) and altitude (finite), and a fence circle's radius
    (param1 > 0).
    """
    seq = item.seq
    if item.mission_type != mission_type:
        return ItemRejection(MissionResult.INVALID, seq, f"has mission type {item.mission_type}")
    if item.command not in SUPPORTED_COMMANDS[mission_type]:
        return ItemRejection(MissionResult.UNSUPPORTED, seq, f"unsupported command {item.command}")
    is_global = item.frame in GLOBAL_FRAMES
    if item.frame not in SUPPORTED_FRAMES or (
        item.command in POSITIONAL_COMMANDS and not is_global
    ):
        return ItemRejection(
            MissionResult.UNSUPPORTED_FRAME, seq, f"unsupported frame {item.frame}"
        )
    if is_global:
        if not -_LAT_MAX_E7 <= item.x <= _LAT_MAX_E7:
            return ItemRejection(MissionResult.INVALID_PARAM5_X, seq, "latitude out of range")
        if not -_LON_MAX_E7 <= item.y <= _LON_MAX_E7:
            return ItemRejection(MissionResult.INVALID_PARAM6_Y, seq, "longitude out of range")
        if not math.isfinite(item.z):
            return ItemRejection(MissionResult.INVALID_PARAM7, seq, "altitude not finite")
    if item.command in _FENCE_CIRCLES and not (math.isfinite(item.param1) and item.param1 > 0):
        return ItemRejection(MissionResult.INVALID_PARAM1, seq, "circle radius must be > 0")
    return None


def check_list(mission_type: MissionType, items: Sequence[MissionItemInt]) -> ItemRejection | None:
    """The first whole-list rule ``items`` break, or ``None`` (items already pass
    :func:`check_item`).

    For a fence: every polygon is a run of consecutive vertex items of one command that
    all carry the polygon's vertex count in param1, with at least 3 vertices.
    """
    if mission_type is not MissionType.FENCE:
        return None
    i = 0
    while i < len(items):
        first = items[i]
        if first.command not in _FENCE_VERTICES:
            i += 1
            continue
        n = first.param1
        if not (math.isfinite(n) and n == int(n) and n >= 3):
            return ItemRejection(
                MissionResult.INVALID_PARAM1, first.seq, "polygon needs >= 3 vertices"
            )
        count = int(n)
        for k in range(1, count):
            if (
                i + k >= len(items)
                or items[i + k].command != first.command
                or items[i + k].param1 != n
            ):
                seq = items[i + k].seq if i + k < len(items) else first.seq
                return ItemRejection(
                    MissionResult.INVALID_PARAM1, seq, f"polygon has {k} of {count} vertices"
                )
        i += count
    return None


def validate_items(
    mission_type: MissionType, items: Sequence[MissionItemInt]
) -> ItemRejection | None:
    """All checks a complete upload passes: :func:`check_item` on each item (which must
    also carry ``seq`` equal to its index) and then :func:`check_list`."""
    for index, item in enumerate(items):
        if item.seq != index:
            return ItemRejection(MissionResult.INVALID_SEQUENCE, index, f"has seq {item.seq}")
        rejection = check_item(mission_type, item)
        if rejection is not None:
            return rejection
    return check_list(mission_type, items)


# -- the on-board lists -------------------------------------------------------------------


class MissionStoreError(SimError, ValueError):
    """Items handed to :meth:`MissionStore.replace` are not a valid list of that type."""

    def __init__(self, mission_type: MissionType, rejection: ItemRejection) -> None:
        self.mission_type = mission_type
        self.rejection = rejection
        super().__init__(
            f"{LIST_LABEL[mission_type]} item {rejection.seq} {rejection.reason} "
            f"({rejection.result.name})"
        )


@dataclass(frozen=True, slots=True)
class MissionLimits:
    """How many items each on-board list holds (PX4's dataman capacities).

    Raises:
        SimConfigError: a capacity is not in 1..65535 (``MISSION_COUNT.count`` is uint16).
    """

    mission_items: int = 1000
    fence_items: int = 64
    """Polygon vertices, circles and the return point together."""
    rally_points: int = 8

    def __post_init__(self) -> None:
        for name in ("mission_items", "fence_items", "rally_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                raise SimConfigError(name, value, "must be an integer in 1..65535")

    def capacity(self, mission_type: MissionType) -> int:
        """Maximum number of items of list ``mission_type``."""
        if mission_type is MissionType.MISSION:
            return self.mission_items
        if mission_type is MissionType.FENCE:
            return self.fence_items
        return self.rally_points


class MissionStore:
    """The vehicle's three on-board lists, each with a generation counter.

    The counter of a list grows by one at every :meth:`replace` and every :meth:`clear`
    that empties it, so the vehicle can notice a change without comparing items.
    """

    def __init__(self) -> None:
        self._lists: dict[MissionType, tuple[MissionItemInt, ...]] = {t: () for t in MissionType}
        self._generations: dict[MissionType, int] = dict.fromkeys(MissionType, 0)

    def items(self, mission_type: MissionType) -> tuple[MissionItemInt, ...]:
        """The stored list ``mission_type`` (item ``seq`` equals its index)."""
        return self._lists[mission_type]

    def generation(self, mission_type: MissionType) -> int:
        """How many times list ``mission_type`` has been replaced or cleared."""
        return self._generations[mission_type]

    def replace(self, mission_type: MissionType, items: Iterable[MissionItemInt]) -> None:
        """Store ``items`` as list ``mission_type``, whole or not at all.

        Raises:
            MissionStoreError: the items fail the checks an upload must pass
                (:func:`sim.mission_items.validate_items`).
        """
        new = tuple(items)
        rejection = validate_items(mission_type, new)
        if rejection is not None:
            raise MissionStoreError(mission_type, rejection)
        self._lists[mission_type] = new
        self._generations[mission_type] += 1

    def clear(self, mission_type: MissionType) -> None:
        """Empty list ``mission_type`` (no change, and no new generation, if already empty)."""
        if self._lists[mission_type]:
            self._lists[mission_type] = ()
            self._generations[mission_type] += 1


# -- the legacy float MISSION_ITEM --------------------------------------------------------


def _to_int32(value: float) -> int:
    """``value`` rounded to an int32; NaN, ±inf or out of range → ``INT32_MAX`` ("unset").

    For a global frame ``INT32_MAX`` is outside ±90°/±180°, so :func:`check_item` then
    refuses the item as an invalid latitude/longitude.
    """
    if not math.isfinite(value):
        return INT32_MAX
    r = round(value)
    return r if -(2**31) <= r <= INT32_MAX else INT32_MAX


def xy_from_float(frame: int, x: float, y: float) -> tuple[int, int]:
    """``MISSION_ITEM`` x/y (degrees in a global frame) as ``MISSION_ITEM_INT`` x/y."""
    if frame in GLOBAL_FRAMES:
        return _to_int32(x * 1e7), _to_int32(y * 1e7)
    return _to_int32(x), _to_int32(y)


def xy_to_float(frame: int, x: int, y: int) -> tuple[float, float]:
    """``MISSION_ITEM_INT`` x/y as ``MISSION_ITEM`` x/y (degrees in a global frame;
    ``INT32_MAX`` → NaN otherwise)."""
    if frame in GLOBAL_FRAMES:
        return x / 1e7, y / 1e7

    def f(v: int) -> float:
        return math.nan if v == INT32_MAX else float(v)

    return f(x), f(y)
