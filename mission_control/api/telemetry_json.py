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

:func:`decode_object` is the inverse, for objects that come back from elsewhere (another
service instance, over MQTT): ``ts`` becomes a ``time.monotonic()`` stamp again, enums are
restored and ``null`` becomes NaN where the field is a float. It is strict: every field of
the kind must be present with its JSON type, and nothing else.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from enum import Enum
from typing import Any, Final, get_type_hints

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
    LinkState,
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


class MalformedObject(TelemetryStreamError, ValueError):
    """A JSON object is not a vehicle object :func:`decode_object` can read.

    Attributes:
        field: the offending field (``""`` when the object as a whole is wrong).
        reason: what is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


def wall_time_s(monotonic_s: float) -> float:
    """A ``time.monotonic()`` reading (seconds) as UNIX time in seconds."""
    return time.time() - (time.monotonic() - monotonic_s)


def monotonic_s(wall_s: float) -> float:
    """UNIX time in seconds as a ``time.monotonic()`` reading (inverse of :func:`wall_time_s`)."""
    return time.monotonic() - (time.time() - wall_s)


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


# -- decoding ------------------------------------------------------------------------------------

MAX_DRONE_ID: Final = 255
"""Largest MAVLink system id."""

_Reader = Callable[[str, object], object]


def _read_float(name: str, value: object) -> float:
    if value is None:
        return math.nan
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise MalformedObject(name, "is too large for a float") from None
    raise MalformedObject(name, "must be a number or null")


def _read_int(name: str, value: object) -> int:
    if type(value) is not int:
        raise MalformedObject(name, "must be an integer")
    return value


def _read_bool(name: str, value: object) -> bool:
    if type(value) is not bool:
        raise MalformedObject(name, "must be true or false")
    return value


def _read_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise MalformedObject(name, "must be a string")
    return value


def _enum_reader(cls: type[Enum]) -> _Reader:
    choices = ", ".join(str(m.value) for m in cls)

    def read(name: str, value: object) -> Enum:
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        raise MalformedObject(name, f"must be one of {choices}")

    return read


def _reader(annotation: object) -> _Reader:
    simple: dict[object, _Reader] = {
        float: _read_float,
        int: _read_int,
        bool: _read_bool,
        str: _read_str,
    }
    if annotation in simple:
        return simple[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _enum_reader(annotation)
    raise TypeError(f"no JSON reader for {annotation!r}")  # a new field type: add a reader


SAMPLE_BY_KIND: Final[dict[str, type]] = {k.value: cls for cls, k in KIND_BY_SAMPLE.items()}
"""The sample type of each telemetry ``kind`` (the inverse of :data:`KIND_BY_SAMPLE`)."""

# each sample type's JSON fields with the reader of their type (built once, at import)
_READERS: Final[dict[type, tuple[tuple[str, _Reader], ...]]] = {
    cls: tuple((name, _reader(get_type_hints(cls)[name])) for name in names)
    for cls, names in _FIELDS.items()
}
_LINK_FIELDS: Final = ("drone_id", "kind", "ts", "state", "previous", "heartbeat_age_s")
_LINK_STATES: Final = ", ".join(s.value for s in LinkState)


def _read_link_state(name: str, value: object) -> LinkState:
    if isinstance(value, str):
        try:
            return LinkState(value)
        except ValueError:
            pass
    raise MalformedObject(name, f"must be one of {_LINK_STATES}")


def _read_ts(value: object) -> float:
    wall_s = math.nan if isinstance(value, bool) or value is None else _read_float("ts", value)
    if not math.isfinite(wall_s):
        raise MalformedObject("ts", "must be a finite number (UNIX time, seconds)")
    return monotonic_s(wall_s)


def _read_drone_id(value: object) -> int:
    if type(value) is not int or not 1 <= value <= MAX_DRONE_ID:
        raise MalformedObject("drone_id", f"must be an integer from 1 to {MAX_DRONE_ID}")
    return value


def _check_keys(obj: Mapping[str, Any], expected: tuple[str, ...]) -> None:
    for name in expected:
        if name not in obj:
            raise MalformedObject(name, "required")
    if len(obj) != len(expected):
        unknown = sorted(str(k) for k in obj if k not in expected)
        raise MalformedObject(unknown[0], "unknown field")


def decode_object(obj: object) -> TelemetryEvent | LinkEvent:
    """The vehicle event a JSON object (as made by :func:`telemetry_to_json`) stands for.

    ``ts`` (UNIX seconds) becomes the sample's ``received_s`` (or the link event's ``at_s``)
    as ``time.monotonic() - (time.time() - ts)``; enums are restored from their values and
    ``null`` becomes NaN where the field is a float.

    Raises:
        MalformedObject: not an object, an unknown ``kind``, a missing or unknown field, or
            a field of the wrong type (the error names it).
    """
    if not isinstance(obj, Mapping):
        raise MalformedObject("", "must be a JSON object")
    kind = obj.get("kind")
    if kind == LINK_KIND:
        _check_keys(obj, _LINK_FIELDS)
        previous = obj["previous"]
        return LinkEvent(
            system_id=_read_drone_id(obj["drone_id"]),
            state=_read_link_state("state", obj["state"]),
            previous=None if previous is None else _read_link_state("previous", previous),
            heartbeat_age_s=_read_float("heartbeat_age_s", obj["heartbeat_age_s"]),
            at_s=_read_ts(obj["ts"]),
        )
    cls = SAMPLE_BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MalformedObject("kind", f"must be one of {', '.join(sorted(KINDS))}")
    readers = _READERS[cls]
    _check_keys(obj, ("drone_id", "kind", "ts", *(name for name, _ in readers)))
    values = {name: read(name, obj[name]) for name, read in readers}
    sample = cls(**values, received_s=_read_ts(obj["ts"]))
    return TelemetryEvent(system_id=_read_drone_id(obj["drone_id"]), sample=sample)
