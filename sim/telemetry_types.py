"""Value types shared by the flight model and its MAVLink face (no pymavlink here).

The numbers are MAVLink's enum values, so the face can put them on the wire as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum


class MavResult(IntEnum):
    """MAVLink ``MAV_RESULT``."""

    ACCEPTED = 0
    TEMPORARILY_REJECTED = 1
    DENIED = 2
    UNSUPPORTED = 3
    FAILED = 4
    IN_PROGRESS = 5


class LandedState(IntEnum):
    """MAVLink ``MAV_LANDED_STATE``."""

    UNDEFINED = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


class MissionState(IntEnum):
    """MAVLink ``MISSION_STATE`` (MISSION_CURRENT.mission_state)."""

    UNKNOWN = 0
    NO_MISSION = 1
    NOT_STARTED = 2
    ACTIVE = 3
    PAUSED = 4
    COMPLETE = 5


class Severity(IntEnum):
    """MAVLink ``MAV_SEVERITY``."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


@dataclass(frozen=True, slots=True)
class StatusText:
    """A STATUSTEXT the vehicle says (PX4 prefixes and wording where PX4 has them)."""

    severity: Severity
    text: str


@dataclass(frozen=True, slots=True)
class ItemReached:
    """MISSION_ITEM_REACHED for ``seq``."""

    seq: int


Event = StatusText | ItemReached


@dataclass(frozen=True, slots=True)
class Command:
    """A COMMAND_LONG or COMMAND_INT, already decoded by the face.

    For COMMAND_INT, ``param5``/``param6`` are degrees (the face divides the int32 by 1e7) and
    ``frame`` is the message's frame; for COMMAND_LONG ``frame`` is None and positions are
    degrees with altitude AMSL, as MAVLink specifies.
    """

    command: int
    param1: float = math.nan
    param2: float = math.nan
    param3: float = math.nan
    param4: float = math.nan
    param5: float = math.nan
    param6: float = math.nan
    param7: float = math.nan
    frame: int | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """COMMAND_ACK's result, and the reason told to the pilot (STATUSTEXT) when refused."""

    result: MavResult
    reason: str = ""

    @classmethod
    def accepted(cls) -> CommandResult:
        return cls(MavResult.ACCEPTED)

    @classmethod
    def denied(cls, reason: str) -> CommandResult:
        return cls(MavResult.DENIED, reason)

    @classmethod
    def temporarily_rejected(cls, reason: str) -> CommandResult:
        return cls(MavResult.TEMPORARILY_REJECTED, reason)

    @classmethod
    def unsupported(cls, reason: str = "") -> CommandResult:
        return cls(MavResult.UNSUPPORTED, reason)
