"""Vehicle events as the flat JSON objects the command-center screens read.

One :class:`~mission_control.vehicles.types.TelemetryEvent` or
:class:`~mission_control.vehicles.types.LinkEvent` becomes one object::

    {"drone_id": 7, "kind": "position", "ts": 1767225600.123456,
     "lat_deg": 47.3977, "lon_deg": 8.5456, "alt_amsl_m": 520.1, "alt_rel_home_m": 30.7}

- ``drone_id``: the vehicle's MAVLink system id.
- ``kind``: the sample's kind, the last level of its bus topic (``position``, ``velocity``,
  ``heading``, ``attitude``, ``battery``, ``modes``, ``gps``, ``home``, ``health``,
  ``mission_progress``, ``status_text``, ``fence_status``), or ``link`` for a link change.
- ``ts``: UNIX time in seconds (float) at which the service received the underlying MAVLink
  message. Samples carry a ``time.monotonic()`` stamp; it is turned into wall time as
  ``time.time() - (time.monotonic() - received_s)`` when the event is encoded, so a step of
  the wall clock (NTP) is followed at once.
- then the sample's own fields under their unit-suffixed names (``received_s`` is replaced by
  ``ts``); enums as their string values; NaN or infinite numbers (MAVLink's "unknown") as
  ``null``, since ``JSON.parse`` rejects ``NaN``.
- link events: ``state`` and ``previous`` (``connected`` / ``degraded`` / ``lost``, previous
  ``null`` for a new vehicle) and ``heartbeat_age_s``; their ``ts`` is the moment the
  service judged the change.

Encoding is compact (no spaces) and ASCII-only.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import fields
from enum import Enum
from typing import Any, Final

from mission_control.errors import MissionControlError
from mission_control.vehicles.telemetry import TelemetryKind
from mission_control.vehicles.types import (
    Attitude,
    Battery,
    FenceStatus,
    Gps,
    Heading,
    Health,
    Home,
    LinkEvent,
    MissionProgress,
    Modes,
    Position,
    StatusText,
    TelemetryEvent,
    VelocityNed,
)

JsonObject = dict[str, Any]

LINK_KIND: Final = "link"

KIND_BY_SAMPLE: Final[dict[type, TelemetryKind]] = {
    Position: TelemetryKind.POSITION,
    VelocityNed: TelemetryKind.VELOCITY,
    Heading: TelemetryKind.HEADING,
    Attitude: TelemetryKind.ATTITUDE,
    Battery: TelemetryKind.BATTERY,
    Modes: TelemetryKind.MODES,
    Gps: TelemetryKind.GPS,
    Home: TelemetryKind.HOME,
    Health: TelemetryKind.HEALTH,
    MissionProgress: TelemetryKind.MISSION_PROGRESS,
    StatusText: TelemetryKind.STATUS_TEXT,
    FenceStatus: TelemetryKind.FENCE_STATUS,
}
"""The kind of each sample type (the same names as the bus topics' last level)."""

KINDS: Final[frozenset[str]] = frozenset({*(k.value for k in TelemetryKind), LINK_KIND})
"""Every ``kind`` a vehicle object can have."""

# a sample's JSON fields: all but ``received_s`` (which becomes ``ts``)
_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    cls: tuple(f.name for f in fields(cls) if f.name != "received_s") for cls in KIND_BY_SAMPLE
}


class TelemetryStreamError(MissionControlError):
    """Root of the telemetry websocket's errors."""


class UnsupportedEvent(TelemetryStreamError, TypeError):
    """An event (or a telemetry sample inside one) has no JSON form.

    Attributes:
        type_name: the offending object's type.
    """

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        super().__init__(f"no JSON form for {type_name}")


def wall_time_s(monotonic_s: float) -> float:
    """A ``time.monotonic()`` reading (seconds) as UNIX time in seconds."""
    return time.time() - (time.monotonic() - monotonic_s)


def _json_value(value: object) -> object:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return value.value
    return value


def event_kind(event: TelemetryEvent | LinkEvent) -> str:
    """The ``kind`` an event is sent as.

    Raises:
        UnsupportedEvent: neither a telemetry nor a link event, or an unknown sample type.
    """
    if isinstance(event, TelemetryEvent):
        kind = KIND_BY_SAMPLE.get(type(event.sample))
        if kind is None:
            raise UnsupportedEvent(type(event.sample).__name__)
        return kind.value
    if isinstance(event, LinkEvent):
        return LINK_KIND
    raise UnsupportedEvent(type(event).__name__)


def telemetry_to_json(event: TelemetryEvent | LinkEvent) -> JsonObject:
    """The JSON object of one vehicle event (see the module docstring for the fields).

    Raises:
        UnsupportedEvent: neither a telemetry nor a link event, or an unknown sample type.
    """
    if isinstance(event, TelemetryEvent):
        sample = event.sample
        names = _FIELDS.get(type(sample))
        if names is None:
            raise UnsupportedEvent(type(sample).__name__)
        out: JsonObject = {
            "drone_id": event.system_id,
            "kind": KIND_BY_SAMPLE[type(sample)].value,
            "ts": wall_time_s(sample.received_s),
        }
        for name in names:
            out[name] = _json_value(getattr(sample, name))
        return out
    if isinstance(event, LinkEvent):
        return {
            "drone_id": event.system_id,
            "kind": LINK_KIND,
            "ts": wall_time_s(event.at_s),
            "state": event.state.value,
            "previous": None if event.previous is None else event.previous.value,
            "heartbeat_age_s": _json_value(event.heartbeat_age_s),
        }
    raise UnsupportedEvent(type(event).__name__)


def encode_json(obj: JsonObject) -> str:
    """Compact JSON text of a JSON-ready object (as made by :func:`telemetry_to_json`).

    Raises:
        ValueError: the object holds NaN or an infinity (JSON has neither).
        TypeError: the object holds something JSON cannot represent.
    """
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)
