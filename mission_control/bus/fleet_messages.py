"""Fleet payloads: a drone's telemetry batches (``fleet/{drone}/telemetry``), its retained
summary (``fleet/{drone}/state``), and the events of missions, incidents and alerts.

Each is published by the instance that owns the drone or the record; encoders check what
they write by reading it back (telemetry's only checks the drone ids, the samples being
``telemetry_json``'s own), so whatever this module encodes, it decodes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from mission_control.api.telemetry_json import MAX_DRONE_ID, MalformedObject, decode_object
from mission_control.bus.jsonread import (
    MAX_INT,
    VERSION,
    JsonObject,
    MessageError,
    ObjectReader,
    dumps_compact,
    read_document,
    time_text,
)
from mission_control.bus.topics import (
    ID_RE,
    ID_WHAT,
    INSTANCE_RE,
    INSTANCE_WHAT,
    check_level,
    drone_level,
)
from mission_control.domain.events import Event, EventKind
from mission_control.vehicles.types import FlightMode, LinkEvent, LinkState, TelemetryEvent

__all__ = [
    "MAX_SAMPLES",
    "STATE_KEYS",
    "DroneState",
    "HomeState",
    "PositionState",
    "TelemetryBatch",
    "decode_event",
    "decode_state",
    "decode_telemetry",
    "encode_event",
    "encode_state",
    "encode_telemetry",
]

MAX_SAMPLES: Final = 256
"""Most samples in one telemetry batch."""


# -- fleet/{drone}/telemetry --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    """A drone's latest samples as its owner published them.

    Attributes:
        drone_id: MAVLink system id.
        instance: the owner (the instance holding the drone's link).
        seq: the owner's batch counter for this drone (a receiver may drop older batches).
        events: the samples and link changes, with ``time.monotonic()`` stamps of this host.
    """

    drone_id: int
    instance: str
    seq: int
    events: list[TelemetryEvent | LinkEvent]


def encode_telemetry(
    drone_id: int, instance: str, seq: int, objects: Sequence[Mapping[str, Any]]
) -> bytes:
    """A ``fleet/{drone}/telemetry`` payload of the flat objects ``telemetry_json`` makes.

    Raises:
        MessageError: an invalid id, ``seq`` < 0, more than :data:`MAX_SAMPLES` objects, an
            object of another drone, or a payload over :data:`MAX_MESSAGE_BYTES`.
    """
    drone_level(drone_id)
    check_level("instance", instance, INSTANCE_RE, INSTANCE_WHAT)
    if type(seq) is not int or not 0 <= seq <= MAX_INT:
        raise MessageError("seq", "must be an integer ≥ 0")
    if len(objects) > MAX_SAMPLES:
        raise MessageError("samples", f"{len(objects)} samples, more than {MAX_SAMPLES}")
    for i, obj in enumerate(objects):
        if obj.get("drone_id") != drone_id:
            raise MessageError(f"samples[{i}].drone_id", f"must be {drone_id}")
    doc = {"v": VERSION, "drone_id": drone_id, "instance": instance, "seq": seq}
    return dumps_compact({**doc, "samples": list(objects)})


def decode_telemetry(payload: bytes | bytearray) -> TelemetryBatch:
    """Read a ``fleet/{drone}/telemetry`` payload; each sample becomes a typed event.

    Raises:
        MessageError: malformed (the field path names the sample: ``samples[2].lat_deg``).
    """
    doc = read_document(payload, ("v", "drone_id", "instance", "seq", "samples"))
    drone_id = doc.integer("drone_id", 1, MAX_DRONE_ID)
    samples = doc.array("samples", MAX_SAMPLES)
    events: list[TelemetryEvent | LinkEvent] = []
    for i, obj in enumerate(samples):
        try:
            event = decode_object(obj)
        except MalformedObject as exc:
            field = f"samples[{i}].{exc.field}" if exc.field else f"samples[{i}]"
            raise MessageError(field, exc.reason) from None
        if event.system_id != drone_id:
            raise MessageError(f"samples[{i}].drone_id", f"must be {drone_id}, the batch's drone")
        events.append(event)
    return TelemetryBatch(
        drone_id=drone_id,
        instance=doc.text("instance", max_len=64, pattern=INSTANCE_RE, what=INSTANCE_WHAT),
        seq=doc.integer("seq", 0),
        events=events,
    )


# -- fleet/{drone}/state ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionState:
    """Where a drone is: WGS84 degrees; metres above mean sea level and above home."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float | None
    alt_rel_m: float | None


@dataclass(frozen=True, slots=True)
class HomeState:
    """A drone's home: WGS84 degrees, metres above mean sea level."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float | None


@dataclass(frozen=True, slots=True)
class DroneState:
    """A drone's retained summary: ``GET /api/drones/{id}``'s form plus owner and time.

    Unknown numbers are ``None`` (``null`` on the wire), except ``heartbeat_age_s``, which
    is ``math.inf`` when unknown.
    """

    drone_id: int
    instance: str
    at: datetime
    link: LinkState
    heartbeat_age_s: float
    autopilot: str
    vehicle_type: str
    firmware_version: str | None
    flight_mode: FlightMode | None
    armed: bool
    landed: bool
    battery_pct: float | None
    gps_fix: str | None
    armable: bool | None
    position: PositionState | None
    home: HomeState | None
    mission_id: str | None
    available: bool

    def to_json(self) -> JsonObject:
        """The drone as ``DroneDirectory.to_json`` shows it, with its owner as ``instance``."""
        pos, home = self.position, self.home
        return {
            "drone_id": self.drone_id,
            "instance": self.instance,
            "link": self.link.value,
            "heartbeat_age_s": (
                self.heartbeat_age_s if math.isfinite(self.heartbeat_age_s) else None
            ),
            "autopilot": self.autopilot,
            "vehicle_type": self.vehicle_type,
            "firmware_version": self.firmware_version,
            "flight_mode": None if self.flight_mode is None else self.flight_mode.value,
            "armed": self.armed,
            "landed": self.landed,
            "battery_pct": self.battery_pct,
            "gps_fix": self.gps_fix,
            "armable": self.armable,
            "position": None
            if pos is None
            else {
                "lat_deg": pos.lat_deg,
                "lon_deg": pos.lon_deg,
                "alt_amsl_m": pos.alt_amsl_m,
                "alt_rel_m": pos.alt_rel_m,
            },
            "home": None
            if home is None
            else {"lat_deg": home.lat_deg, "lon_deg": home.lon_deg, "alt_amsl_m": home.alt_amsl_m},
            "mission_id": self.mission_id,
            "available": self.available,
        }


STATE_KEYS: Final = (
    "v",
    "drone_id",
    "instance",
    "at",
    "link",
    "heartbeat_age_s",
    "autopilot",
    "vehicle_type",
    "firmware_version",
    "flight_mode",
    "armed",
    "landed",
    "battery_pct",
    "gps_fix",
    "armable",
    "position",
    "home",
    "mission_id",
    "available",
)
_POSITION_KEYS: Final = ("lat_deg", "lon_deg", "alt_amsl_m", "alt_rel_m")
_HOME_KEYS: Final = ("lat_deg", "lon_deg", "alt_amsl_m")


def _finite(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _place(value: object) -> object:
    """A position or home with non-finite numbers as ``None``; ``None`` without lat/lon."""
    if not isinstance(value, Mapping):
        return value
    place = {k: _finite(v) for k, v in value.items()}
    return None if place.get("lat_deg") is None or place.get("lon_deg") is None else place


def _read_state(doc: ObjectReader) -> DroneState:
    position = None
    if doc.raw("position") is not None:
        p = doc.obj("position", _POSITION_KEYS)
        position = PositionState(
            p.number("lat_deg", -90, 90),
            p.number("lon_deg", -180, 180),
            p.opt_number("alt_amsl_m"),
            p.opt_number("alt_rel_m"),
        )
    home = None
    if doc.raw("home") is not None:
        h = doc.obj("home", _HOME_KEYS)
        home = HomeState(
            h.number("lat_deg", -90, 90), h.number("lon_deg", -180, 180), h.opt_number("alt_amsl_m")
        )
    age = doc.opt_number("heartbeat_age_s", 0)
    mode = None if doc.raw("flight_mode") is None else doc.choice("flight_mode", FlightMode)
    return DroneState(
        drone_id=doc.integer("drone_id", 1, MAX_DRONE_ID),
        instance=doc.text("instance", max_len=64, pattern=INSTANCE_RE, what=INSTANCE_WHAT),
        at=doc.time("at"),
        link=doc.choice("link", LinkState),
        heartbeat_age_s=math.inf if age is None else age,
        autopilot=doc.text("autopilot", max_len=64),
        vehicle_type=doc.text("vehicle_type", max_len=64),
        firmware_version=doc.opt_text("firmware_version", max_len=128),
        flight_mode=mode,
        armed=doc.flag("armed"),
        landed=doc.flag("landed"),
        battery_pct=doc.opt_number("battery_pct", 0, 100),
        gps_fix=doc.opt_text("gps_fix", max_len=32),
        armable=doc.opt_flag("armable"),
        position=position,
        home=home,
        mission_id=doc.opt_text("mission_id", max_len=128, pattern=ID_RE, what=ID_WHAT),
        available=doc.flag("available"),
    )


def encode_state(drone: Mapping[str, Any], instance: str, at: datetime) -> bytes:
    """A ``fleet/{drone}/state`` payload from the owner ``instance`` of the drone.

    ``drone`` is ``DroneDirectory.to_json``'s result, as is: its ``instance`` (the owner, if
    present) must be ``None`` or ``instance``. NaN and infinite numbers become ``null`` (a
    position or home without a finite latitude and longitude becomes ``null`` as a whole).

    Raises:
        MessageError: a field of ``drone`` is missing, unknown or invalid, the drone has
            another owner, ``instance`` is invalid or ``at`` is not timezone-aware.
    """
    owner = drone.get("instance")
    if owner is not None and owner != instance:
        raise MessageError("instance", f"the drone's owner is {owner!r}, not {instance!r}")
    doc: JsonObject = {"v": VERSION, "at": time_text("at", at)}
    for key, value in drone.items():
        if key in doc:
            raise MessageError(key, "unknown field (encode_state sets it)")
        doc[key] = _place(value) if key in ("position", "home") else _finite(value)
    doc["instance"] = instance
    out = _read_state(ObjectReader(doc, "", STATE_KEYS)).to_json()  # what decode_state will see
    head = {"v": VERSION, "drone_id": out.pop("drone_id"), "instance": out.pop("instance")}
    return dumps_compact({**head, "at": doc["at"], **out})


def decode_state(payload: bytes | bytearray) -> DroneState:
    """Read a ``fleet/{drone}/state`` payload.

    Raises:
        MessageError: malformed (the field path says where).
    """
    return _read_state(read_document(payload, STATE_KEYS))


# -- incidents/{id}/events, missions/{id}/events, alerts ----------------------------------------

_EVENT_KEYS: Final = ("v", "seq", "kind", "subject_id", "at", "payload", "instance")


def encode_event(event: Event, instance: str) -> bytes:
    """An event payload: ``Event.to_json()`` plus ``v`` and the publishing ``instance``.

    Raises:
        MessageError: ``instance`` is invalid, the event's time is not timezone-aware, or its
            payload is not JSON-ready or too large.
    """
    check_level("instance", instance, INSTANCE_RE, INSTANCE_WHAT)
    at = time_text("at", event.at)  # in UTC, as every record's time
    doc = {"v": VERSION, **event.to_json(), "at": at, "instance": instance}
    _read_event(ObjectReader(doc, "", _EVENT_KEYS))
    return dumps_compact(doc)


def _read_event(doc: ObjectReader) -> tuple[Event, str]:
    event = Event(
        kind=doc.choice("kind", EventKind),
        subject_id=doc.text("subject_id", max_len=128),
        at=doc.time("at"),
        payload=doc.any_object("payload"),
        seq=doc.integer("seq", 0),
    )
    return event, doc.text("instance", max_len=64, pattern=INSTANCE_RE, what=INSTANCE_WHAT)


def decode_event(payload: bytes | bytearray) -> tuple[Event, str]:
    """Read an event payload: the event (time in UTC) and the instance that published it.

    Raises:
        MessageError: malformed (the field path says where).
    """
    return _read_event(read_document(payload, _EVENT_KEYS))
