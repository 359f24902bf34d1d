"""Mission value types and their MAVLink ``MISSION_ITEM_INT`` form.

A :class:`MissionItem` is one MAVLink mission item: a command, a coordinate frame, four
free parameters and a position slot (param5..7). For items in a *global* frame the
position slot is a WGS84 latitude/longitude in degrees and an altitude in metres whose
datum is given by the frame (see :attr:`MissionItem.alt_datum`). For items in
``MAV_FRAME_MISSION`` (commands that are not positions, e.g. ``DO_CHANGE_SPEED``) MAVLink
reuses the same three slots for plain parameters, and so do we: ``lat_deg``, ``lon_deg``
and ``alt_m`` then hold the raw param5..7.

Conversions to and from :class:`MissionItemInt` (the fields of MAVLink's
``MISSION_ITEM_INT``) are exact in the MAVLink → model → MAVLink direction: x/y are
degE7 integers, the float fields are float32 on the wire and float64 here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum

from flight_plans._validate import finite, latitude, longitude
from flight_plans.errors import InvalidValueError, UnknownCommandError
from flight_plans.geodesy import GeoPoint
from flight_plans.mav_commands import MAV_CMD_NAMES

INT32_MAX = 2**31 - 1
"""MAVLink's "unset" marker for int32 parameters (x/y of ``MISSION_ITEM_INT``)."""


class MavCmd(IntEnum):
    """The MAVLink commands the planner generates or reasons about.

    Any other command number that MAVLink defines is accepted as a plain ``int``.
    """

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TURNS = 18
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    NAV_LOITER_TO_ALT = 31
    NAV_SPLINE_WAYPOINT = 82
    NAV_VTOL_TAKEOFF = 84
    NAV_VTOL_LAND = 85
    DO_CHANGE_SPEED = 178
    DO_SET_ROI_LOCATION = 195
    DO_SET_ROI_NONE = 197
    DO_SET_ROI = 201
    DO_GIMBAL_MANAGER_PITCHYAW = 1000
    IMAGE_START_CAPTURE = 2000
    IMAGE_STOP_CAPTURE = 2001
    VIDEO_START_CAPTURE = 2500
    VIDEO_STOP_CAPTURE = 2501
    NAV_FENCE_RETURN_POINT = 5000
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


class MavFrame(IntEnum):
    """MAVLink ``MAV_FRAME`` values."""

    GLOBAL = 0
    LOCAL_NED = 1
    MISSION = 2
    GLOBAL_RELATIVE_ALT = 3
    LOCAL_ENU = 4
    GLOBAL_INT = 5
    GLOBAL_RELATIVE_ALT_INT = 6
    LOCAL_OFFSET_NED = 7
    BODY_NED = 8
    BODY_OFFSET_NED = 9
    GLOBAL_TERRAIN_ALT = 10
    GLOBAL_TERRAIN_ALT_INT = 11
    BODY_FRD = 12
    LOCAL_FRD = 20
    LOCAL_FLU = 21


class MissionType(IntEnum):
    """MAVLink ``MAV_MISSION_TYPE``: which of the three on-board lists an item belongs to."""

    MISSION = 0
    FENCE = 1
    RALLY = 2


class AltDatum(StrEnum):
    """What an altitude is measured from."""

    AMSL = "amsl"
    """Above mean sea level."""
    REL_HOME = "rel"
    """Above the home / launch position."""
    TERRAIN = "agl"
    """Above the ground directly below."""


_GLOBAL_FRAMES: dict[MavFrame, AltDatum] = {
    MavFrame.GLOBAL: AltDatum.AMSL,
    MavFrame.GLOBAL_INT: AltDatum.AMSL,
    MavFrame.GLOBAL_RELATIVE_ALT: AltDatum.REL_HOME,
    MavFrame.GLOBAL_RELATIVE_ALT_INT: AltDatum.REL_HOME,
    MavFrame.GLOBAL_TERRAIN_ALT: AltDatum.TERRAIN,
    MavFrame.GLOBAL_TERRAIN_ALT_INT: AltDatum.TERRAIN,
}
_LOCAL_FRAMES = frozenset(
    {
        MavFrame.LOCAL_NED,
        MavFrame.LOCAL_ENU,
        MavFrame.LOCAL_OFFSET_NED,
        MavFrame.BODY_NED,
        MavFrame.BODY_OFFSET_NED,
        MavFrame.BODY_FRD,
        MavFrame.LOCAL_FRD,
        MavFrame.LOCAL_FLU,
    }
)
_FRAME_FOR_DATUM: dict[AltDatum, MavFrame] = {
    AltDatum.AMSL: MavFrame.GLOBAL,
    AltDatum.REL_HOME: MavFrame.GLOBAL_RELATIVE_ALT,
    AltDatum.TERRAIN: MavFrame.GLOBAL_TERRAIN_ALT,
}

NAV_POSITION_COMMANDS = frozenset(
    {
        MavCmd.NAV_WAYPOINT,
        MavCmd.NAV_LOITER_UNLIM,
        MavCmd.NAV_LOITER_TURNS,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.NAV_LAND,
        MavCmd.NAV_TAKEOFF,
        MavCmd.NAV_SPLINE_WAYPOINT,
        MavCmd.NAV_VTOL_TAKEOFF,
        MavCmd.NAV_VTOL_LAND,
        MavCmd.NAV_LOITER_TO_ALT,
    }
)
"""Commands whose param5..7 are a place the vehicle flies to (part of the flight path)."""

LOITER_COMMANDS = frozenset(
    {
        MavCmd.NAV_LOITER_UNLIM,
        MavCmd.NAV_LOITER_TURNS,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.NAV_LOITER_TO_ALT,
    }
)
"""Commands that hold the vehicle on a circle around their position (radius: param3,
or param2 for LOITER_TO_ALT; 0 = hover on the spot for a multicopter)."""


def is_known_command(command: int) -> bool:
    """True if MAVLink defines ``command`` as a ``MAV_CMD``."""
    return command in MAV_CMD_NAMES


def command_name(command: int) -> str:
    """MAVLink name of a command without the ``MAV_CMD_`` prefix (e.g. ``"NAV_WAYPOINT"``)."""
    try:
        return MAV_CMD_NAMES[command]
    except KeyError:
        raise UnknownCommandError(command) from None


def _as_command(command: int) -> int:
    try:
        return MavCmd(command)
    except ValueError:
        return int(command)


def frame_for_datum(datum: AltDatum) -> MavFrame:
    """The (float-style) global frame that carries altitudes of ``datum``."""
    return _FRAME_FOR_DATUM[datum]


@dataclass(frozen=True, slots=True)
class MissionItemInt:
    """The fields of a MAVLink ``MISSION_ITEM_INT`` message (without target ids)."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = MissionType.MISSION


def _param(field_name: str, value: float, index: int | None) -> float:
    """A free float parameter: NaN is allowed (MAVLink: "unset/default"), ±inf is not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(field_name, value, "must be a number", item_index=index)
    v = float(value)
    if math.isinf(v):
        raise InvalidValueError(field_name, value, "must not be infinite", item_index=index)
    return v


@dataclass(frozen=True, slots=True, eq=False)
class MissionItem:
    """One MAVLink mission item.

    Equality treats NaN parameters as equal to each other (MAVLink's "unset"), so an item
    read back from a vehicle or a file compares equal to the one that was written.

    Attributes:
        command: ``MAV_CMD`` number (a :class:`MavCmd` or any other MAVLink-defined int).
        frame: coordinate frame; for global frames it fixes the altitude datum.
        param1..param4: command parameters (NaN = "use default", as in MAVLink).
        lat_deg: latitude in degrees for global frames, else raw param5.
        lon_deg: longitude in degrees for global frames, else raw param6.
        alt_m: altitude in metres above :attr:`alt_datum` for global frames, else raw param7.
        autocontinue: continue to the next item when this one completes.
        mission_type: which on-board list (mission, fence, rally) the item belongs to.
        index: optional position in the source document, used only in error messages.

    Raises:
        UnknownCommandError: ``command`` is not defined by MAVLink.
        InvalidValueError: a parameter is infinite, a frame is unknown, or a global-frame
            position is not a finite, in-range coordinate.
    """

    command: int
    frame: MavFrame = MavFrame.GLOBAL_RELATIVE_ALT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    lat_deg: float = 0.0
    lon_deg: float = 0.0
    alt_m: float = 0.0
    autocontinue: bool = True
    mission_type: MissionType = MissionType.MISSION
    index: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        idx = self.index
        if isinstance(self.command, bool) or not isinstance(self.command, int):
            raise InvalidValueError("command", self.command, "must be an integer", item_index=idx)
        if not is_known_command(self.command):
            raise UnknownCommandError(self.command, item_index=idx)
        object.__setattr__(self, "command", _as_command(self.command))
        try:
            object.__setattr__(self, "frame", MavFrame(self.frame))
        except ValueError:
            raise InvalidValueError(
                "frame", self.frame, "not a MAVLink MAV_FRAME", item_index=idx
            ) from None
        try:
            object.__setattr__(self, "mission_type", MissionType(self.mission_type))
        except ValueError:
            raise InvalidValueError(
                "mission_type", self.mission_type, "must be 0, 1 or 2", item_index=idx
            ) from None
        for name in ("param1", "param2", "param3", "param4"):
            object.__setattr__(self, name, _param(name, getattr(self, name), idx))
        if self.frame in _GLOBAL_FRAMES:
            object.__setattr__(self, "lat_deg", latitude("lat_deg", self.lat_deg, item_index=idx))
            object.__setattr__(self, "lon_deg", longitude("lon_deg", self.lon_deg, item_index=idx))
            object.__setattr__(self, "alt_m", finite("alt_m", self.alt_m, item_index=idx))
        else:
            for name in ("lat_deg", "lon_deg", "alt_m"):
                object.__setattr__(self, name, _param(name, getattr(self, name), idx))
        object.__setattr__(self, "autocontinue", bool(self.autocontinue))

    def _key(self) -> tuple[object, ...]:
        return (
            int(self.command),
            int(self.frame),
            *(("nan" if math.isnan(p) else p) for p in self.params),
            self.autocontinue,
            int(self.mission_type),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MissionItem):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # -- construction helpers -------------------------------------------------------------

    @classmethod
    def at(
        cls,
        command: int,
        lat_deg: float,
        lon_deg: float,
        *,
        alt_rel_m: float | None = None,
        alt_amsl_m: float | None = None,
        alt_agl_m: float | None = None,
        params: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        mission_type: MissionType = MissionType.MISSION,
    ) -> MissionItem:
        """A positional item; exactly one of the datum-named altitudes must be given."""
        given = [
            (d, a)
            for d, a in (
                (AltDatum.REL_HOME, alt_rel_m),
                (AltDatum.AMSL, alt_amsl_m),
                (AltDatum.TERRAIN, alt_agl_m),
            )
            if a is not None
        ]
        if len(given) != 1:
            raise InvalidValueError(
                "alt", [a for _, a in given], "give exactly one of alt_rel_m, alt_amsl_m, alt_agl_m"
            )
        datum, alt = given[0]
        if len(params) != 4:
            raise InvalidValueError("params", params, "need exactly 4 values (param1..param4)")
        p1, p2, p3, p4 = params
        return cls(
            command,
            frame_for_datum(datum),
            p1,
            p2,
            p3,
            p4,
            lat_deg,
            lon_deg,
            alt,
            mission_type=mission_type,
        )

    @classmethod
    def do(cls, command: int, *params: float) -> MissionItem:
        """A non-positional command (``MAV_FRAME_MISSION``) with up to seven parameters."""
        if len(params) > 7:
            raise InvalidValueError("params", params, "a mission item has at most 7 parameters")
        p = [*params, *([0.0] * (7 - len(params)))]
        return cls(command, MavFrame.MISSION, p[0], p[1], p[2], p[3], p[4], p[5], p[6])

    # -- queries ----------------------------------------------------------------------------

    @property
    def is_global(self) -> bool:
        """True if param5..7 are a WGS84 position (a global frame)."""
        return self.frame in _GLOBAL_FRAMES

    @property
    def alt_datum(self) -> AltDatum | None:
        """Datum of :attr:`alt_m` for global frames, ``None`` otherwise."""
        return _GLOBAL_FRAMES.get(self.frame)

    @property
    def is_nav(self) -> bool:
        """True if the vehicle flies to this item's position (part of the flight path)."""
        return self.is_global and self.command in NAV_POSITION_COMMANDS

    @property
    def position(self) -> GeoPoint | None:
        """The item's WGS84 position, if it has one (global frame)."""
        if not self.is_global:
            return None
        return GeoPoint(self.lat_deg, self.lon_deg)

    @property
    def params(self) -> tuple[float, float, float, float, float, float, float]:
        """All seven parameters in MAVLink order."""
        return (
            self.param1,
            self.param2,
            self.param3,
            self.param4,
            self.lat_deg,
            self.lon_deg,
            self.alt_m,
        )

    @property
    def name(self) -> str:
        """MAVLink command name without the ``MAV_CMD_`` prefix."""
        return command_name(self.command)

    # -- MAVLink ------------------------------------------------------------------------------

    def to_mavlink(self, seq: int, *, current: bool = False) -> MissionItemInt:
        """This item as the fields of a ``MISSION_ITEM_INT`` at position ``seq``.

        Raises:
            InvalidValueError: a non-positional param5/param6 cannot be carried by an int32.
        """
        if self.is_global:
            x = round(self.lat_deg * 1e7)
            y = round(self.lon_deg * 1e7)
        elif self.frame in _LOCAL_FRAMES:
            x = _to_int32("lat_deg", self.lat_deg * 1e4, self.index)
            y = _to_int32("lon_deg", self.lon_deg * 1e4, self.index)
        else:
            x = _to_int32("lat_deg", self.lat_deg, self.index)
            y = _to_int32("lon_deg", self.lon_deg, self.index)
        return MissionItemInt(
            seq=seq,
            frame=int(self.frame),
            command=int(self.command),
            current=1 if current else 0,
            autocontinue=1 if self.autocontinue else 0,
            param1=self.param1,
            param2=self.param2,
            param3=self.param3,
            param4=self.param4,
            x=x,
            y=y,
            z=self.alt_m,
            mission_type=int(self.mission_type),
        )

    @classmethod
    def from_mavlink(cls, m: MissionItemInt) -> MissionItem:
        """Build an item from ``MISSION_ITEM_INT`` fields (inverse of :meth:`to_mavlink`)."""
        try:
            frame = MavFrame(m.frame)
        except ValueError:
            raise InvalidValueError(
                "frame", m.frame, "not a MAVLink MAV_FRAME", item_index=m.seq
            ) from None
        if frame in _GLOBAL_FRAMES:
            x, y = m.x / 1e7, m.y / 1e7
        elif frame in _LOCAL_FRAMES:
            x, y = m.x / 1e4, m.y / 1e4
        else:
            x = math.nan if m.x == INT32_MAX else float(m.x)
            y = math.nan if m.y == INT32_MAX else float(m.y)
        return cls(
            m.command,
            frame,
            m.param1,
            m.param2,
            m.param3,
            m.param4,
            x,
            y,
            m.z,
            autocontinue=bool(m.autocontinue),
            mission_type=MissionType(m.mission_type),
            index=m.seq,
        )


def _to_int32(field_name: str, value: float, index: int | None) -> int:
    if math.isnan(value):
        return INT32_MAX
    if value != int(value) or not -(2**31) <= value < INT32_MAX:
        raise InvalidValueError(
            field_name,
            value,
            "a non-positional param5/param6 must be an int32 to travel in MISSION_ITEM_INT",
            item_index=index,
        )
    return int(value)


@dataclass(frozen=True, slots=True)
class HomePosition:
    """The launch / home position; its altitude is AMSL."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lat_deg", latitude("home.lat_deg", self.lat_deg))
        object.__setattr__(self, "lon_deg", longitude("home.lon_deg", self.lon_deg))
        object.__setattr__(self, "alt_amsl_m", finite("home.alt_amsl_m", self.alt_amsl_m))

    @property
    def point(self) -> GeoPoint:
        """Home as a 2-D point."""
        return GeoPoint(self.lat_deg, self.lon_deg)


@dataclass(frozen=True, slots=True)
class Mission:
    """An ordered list of mission items (all of ``MissionType.MISSION``) and an optional home.

    Missions compose: ``a + b`` is ``a``'s items followed by ``b``'s (home taken from ``a``,
    else ``b``). Patterns return missions without take-off or landing ("fragments") that
    the caller wraps with :func:`flight_plans.patterns.with_takeoff_and_rtl`.
    """

    items: tuple[MissionItem, ...] = ()
    home: HomePosition | None = None

    def __post_init__(self) -> None:
        items = tuple(self.items)
        for i, it in enumerate(items):
            if not isinstance(it, MissionItem):
                raise InvalidValueError("items", it, "must be a MissionItem", item_index=i)
            if it.mission_type is not MissionType.MISSION:
                raise InvalidValueError(
                    "mission_type",
                    it.mission_type,
                    "a Mission holds only MISSION items",
                    item_index=i,
                )
        object.__setattr__(self, "items", items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[MissionItem]:
        return iter(self.items)

    def __add__(self, other: Mission) -> Mission:
        if not isinstance(other, Mission):
            return NotImplemented
        return Mission(self.items + other.items, self.home or other.home)

    def with_home(self, home: HomePosition | None) -> Mission:
        """A copy with another home position."""
        return replace(self, home=home)

    @property
    def commands(self) -> tuple[int, ...]:
        """The distinct command numbers used, in ascending order."""
        return tuple(sorted({int(it.command) for it in self.items}))

    def nav_items(self) -> list[tuple[int, MissionItem]]:
        """``(index, item)`` of the items the vehicle flies to, in order."""
        return [(i, it) for i, it in enumerate(self.items) if it.is_nav]

    def to_mavlink(self) -> list[MissionItemInt]:
        """The mission as ``MISSION_ITEM_INT`` fields, seq 0..n-1.

        Note: PX4 numbers mission items from 0; ArduPilot reserves seq 0 for home. The
        vehicle adapter, not this library, adds ArduPilot's home item when needed.
        """
        return [it.to_mavlink(seq) for seq, it in enumerate(self.items)]

    @classmethod
    def from_mavlink(
        cls, items: Iterable[MissionItemInt], *, home: HomePosition | None = None
    ) -> Mission:
        """Build a mission from ``MISSION_ITEM_INT`` fields (must be seq 0..n-1 in order).

        Raises:
            InvalidValueError: sequence numbers are not 0..n-1, or an item is invalid.
        """
        out = []
        for expected, m in enumerate(items):
            if m.seq != expected:
                raise InvalidValueError(
                    "seq",
                    m.seq,
                    f"expected {expected}: items must be in order",
                    item_index=expected,
                )
            out.append(MissionItem.from_mavlink(m))
        return cls(tuple(out), home)
