"""The MQTT payloads and topics without a broker: every message round-trips, matches its
JSON Schema, and malformed bytes raise only MessageError (Rejected for incidents)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import time
import tomllib
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mission_control.api.schemas import IncidentIn
from mission_control.api.telemetry_json import (
    KIND_BY_SAMPLE,
    MalformedObject,
    decode_object,
    telemetry_to_json,
)
from mission_control.bus import fleet_messages, topic_matches, validate_pattern
from mission_control.bus import messages as m
from mission_control.bus.messages import MessageError, Rejected, Topics
from mission_control.domain.events import Event, EventKind
from mission_control.errors import MissionControlError
from mission_control.services.drones import DroneDirectory
from mission_control.store.actors import SYSTEM_ROLE, Role
from mission_control.vehicles.fleet import VehicleFleet
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
    LinkEvent,
    LinkState,
    MissionProgress,
    Modes,
    Position,
    Sample,
    StatusText,
    TelemetryEvent,
    VehicleIdentity,
    VelocityNed,
)

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)
NOW = time.monotonic()
nan = math.nan


def schema(name: str) -> dict[str, Any]:
    """A schema file as the installed package ships it."""
    path = resources.files("mission_control.bus").joinpath("schemas", m.SCHEMA_FILES[name])
    return cast(dict[str, Any], json.loads(path.read_text(encoding="utf-8")))


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


def assert_valid(name: str, payload: bytes) -> dict[str, Any]:
    doc = json.loads(payload)
    validator(name).validate(doc)
    return cast(dict[str, Any], doc)


# -- topics -------------------------------------------------------------------------------------

T = Topics("north-1")


def test_every_topic_is_under_mc_site() -> None:
    assert T.incidents_new == "mc/north-1/incidents/new"
    assert T.incidents_rejected == "mc/north-1/incidents/rejected"
    assert T.incident_events("inc-0a1b") == "mc/north-1/incidents/inc-0a1b/events"
    assert T.telemetry(7) == "mc/north-1/fleet/7/telemetry"
    assert T.state(255) == "mc/north-1/fleet/255/state"
    assert T.mission_events("mis-9") == "mc/north-1/missions/mis-9/events"
    assert T.alerts == "mc/north-1/alerts"
    assert T.instance_status("host-8000") == "mc/north-1/instances/host-8000/status"
    assert T.requests("a.b_c") == "mc/north-1/instances/a.b_c/requests"
    assert T.replies("a.b_c") == "mc/north-1/instances/a.b_c/replies"
    assert Topics().prefix == "mc/local"


def test_subscriptions_are_valid_patterns_that_match_the_topics_they_are_for() -> None:
    subs = T.subscriptions("me")
    for pattern in subs:
        validate_pattern(pattern)
    wanted = [
        T.incidents_new,
        T.telemetry(3),
        T.state(3),
        T.mission_events("m-1"),
        T.incident_events("i-1"),
        T.alerts,
        T.instance_status("other"),
        T.requests("me"),
        T.replies("me"),
    ]
    for topic in wanted:
        assert any(topic_matches(p, topic) for p in subs), topic
    assert not any(topic_matches(p, T.requests("other")) for p in subs)
    assert not any(topic_matches(p, T.incidents_rejected) for p in subs)
    assert T.telemetry_pattern == "mc/north-1/fleet/+/telemetry"
    assert T.state_pattern == "mc/north-1/fleet/+/state"
    assert T.mission_events_pattern == "mc/north-1/missions/+/events"
    assert T.incident_events_pattern == "mc/north-1/incidents/+/events"
    assert T.status_pattern == "mc/north-1/instances/+/status"


@pytest.mark.parametrize("site", ["", "a" * 65, "a/b", "a+b", "#", "é", "a b", "a.b", 7, None])
def test_an_invalid_site_is_refused_naming_the_site_field(site: object) -> None:
    with pytest.raises(MessageError) as info:
        Topics(site)  # type: ignore[arg-type]
    assert info.value.field == "site"
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, MissionControlError)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: T.telemetry(0), "drone_id"),
        (lambda: T.telemetry(256), "drone_id"),
        (lambda: T.state(True), "drone_id"),
        (lambda: T.mission_events("a/b"), "mission_id"),
        (lambda: T.mission_events("+"), "mission_id"),
        (lambda: T.incident_events(""), "incident_id"),
        (lambda: T.instance_status("a:b"), "instance"),
        (lambda: T.requests("#"), "instance"),
        (lambda: T.subscriptions("x" * 65), "instance"),
    ],
)
def test_a_builder_refuses_an_id_that_is_not_one_clean_level(
    build: Callable[[], str], field: str
) -> None:
    with pytest.raises(MessageError) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize(
    ("parse", "topic", "expected"),
    [
        ("parse_telemetry", "mc/north-1/fleet/7/telemetry", 7),
        ("parse_telemetry", "mc/north-1/fleet/255/telemetry", 255),
        ("parse_telemetry", "mc/north-1/fleet/256/telemetry", None),
        ("parse_telemetry", "mc/north-1/fleet/0/telemetry", None),
        ("parse_telemetry", "mc/north-1/fleet/07/telemetry", None),
        ("parse_telemetry", "mc/north-1/fleet/+7/telemetry", None),
        ("parse_telemetry", "mc/north-1/fleet/x/telemetry", None),
        ("parse_telemetry", "mc/north-1/fleet//telemetry", None),
        ("parse_telemetry", "mc/north-1/fleet/7/8/telemetry", None),
        ("parse_telemetry", "mc/south/fleet/7/telemetry", None),
        ("parse_telemetry", "mc/north-1/fleet/7/state", None),
        ("parse_state", "mc/north-1/fleet/12/state", 12),
        ("parse_state", "mc/north-1/fleet/12/state/x", None),
        ("parse_mission_events", "mc/north-1/missions/mis-1a2b/events", "mis-1a2b"),
        ("parse_mission_events", "mc/north-1/missions/+/events", None),
        ("parse_mission_events", "mc/north-1/missions/a/b/events", None),
        ("parse_incident_events", "mc/north-1/incidents/inc-1/events", "inc-1"),
        ("parse_incident_events", "mc/north-1/incidents/new", None),
        ("parse_instance_status", "mc/north-1/instances/host-8000/status", "host-8000"),
        ("parse_instance_status", "mc/north-1/instances/a:b/status", None),
        ("parse_requests", "mc/north-1/instances/me/requests", "me"),
        ("parse_replies", "mc/north-1/instances/me/replies", "me"),
        ("parse_replies", "mc/north-1/instances/me/requests", None),
        ("parse_telemetry", "", None),
    ],
)
def test_parsers_extract_the_id_or_say_none(parse: str, topic: str, expected: object) -> None:
    assert getattr(T, parse)(topic) == expected


@given(st.integers(1, 255), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", fullmatch=True))
def test_parsers_invert_builders(drone_id: int, mission_id: str) -> None:
    assert T.parse_telemetry(T.telemetry(drone_id)) == drone_id
    assert T.parse_state(T.state(drone_id)) == drone_id
    assert T.parse_mission_events(T.mission_events(mission_id)) == mission_id
    assert T.parse_incident_events(T.incident_events(mission_id)) == mission_id


# -- incidents/new ------------------------------------------------------------------------------

GOOD_INCIDENT: dict[str, Any] = {
    "v": 1,
    "source": "shotspotter:east",
    "external_id": "CAD-2026-000123",
    "lat_deg": 47.3977,
    "lon_deg": 8.5456,
    "kind": "shots_fired",
    "priority": 1,
}


def incident(**changes: Any) -> bytes:
    doc = {**GOOD_INCIDENT, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def rejection(payload: bytes) -> Rejected:
    with pytest.raises(Rejected) as info:
        m.decode_incident(payload)
    return info.value


def test_an_incident_message_decodes_to_the_api_incident_plus_source() -> None:
    msg = m.decode_incident(incident(description="  east gate  ", pattern="orbit", radius_m=150))
    assert (msg.v, msg.source, msg.external_id) == (1, "shotspotter:east", "CAD-2026-000123")
    assert msg.to_incident_in() == IncidentIn(
        lat_deg=47.3977,
        lon_deg=8.5456,
        kind="shots_fired",
        priority=1,
        description="east gate",
        pattern="orbit",
        radius_m=150,
        external_id="CAD-2026-000123",
    )


def test_the_incident_message_shares_the_api_fields_and_their_constraints() -> None:
    ours, api = m.IncidentMessage.model_fields, IncidentIn.model_fields
    assert set(ours) == set(api) | {"v", "source"}
    for name, info in api.items():
        if name != "external_id":
            assert repr(ours[name]) == repr(info), name
    assert ours["external_id"].is_required()
    assert ours["external_id"].metadata == api["external_id"].metadata


@pytest.mark.parametrize(
    ("payload", "reason", "fields"),
    [
        (b"{", "payload is not JSON: Expecting property name", []),
        (b"", "payload is not JSON", []),
        (b"\xff{}", "payload is not UTF-8 text", []),
        (b"[1]", "payload must be a JSON object, not an array", []),
        (b"null", "payload must be a JSON object, not null", []),
        (b'{"v":1,"lat_deg":NaN}', "payload holds NaN", []),
        (b'{"v":1,"lat_deg":-Infinity}', "payload holds -Infinity", []),
        (b'{"v":1,"lat_deg":1e400}', "payload holds a number out of range", []),
        (b'{"v":1,"v":1}', "payload repeats the key 'v'", []),
        (b'{"v":1,"kind":"\\udc00"}', "payload holds a string that is not valid Unicode", []),
        (b"[" * 5000 + b"]" * 5000, "payload nests too deeply", []),
        (b'{"v":1,"priority":' + b"9" * 5000 + b"}", "payload is not JSON we can read", []),
        (incident(v=...), 'missing schema version "v"; this service reads v 1', ["v"]),
        (incident(v=2), "unsupported schema version 2; this service reads v 1", ["v"]),
        (incident(v="1"), 'unsupported schema version "1"; this service reads v 1', ["v"]),
        (incident(v=True), "unsupported schema version true", ["v"]),
        (incident(v=1.0), "unsupported schema version 1.0", ["v"]),
        (incident(lat_deg=90.5), "invalid incident: lat_deg: must be ≤ 90", ["lat_deg"]),
        (incident(lon_deg=-181), "lon_deg: must be ≥ -180", ["lon_deg"]),
        (incident(priority="1"), "priority: Input should be a valid integer", ["priority"]),
        (incident(priority=1.0), "priority: Input should be a valid integer", ["priority"]),
        (incident(lat_deg="47"), "lat_deg: Input should be a valid number", ["lat_deg"]),
        (incident(kind=" "), "kind: must be at least 1 characters", ["kind"]),
        (incident(pattern="zigzag"), "pattern: Input should be 'orbit'", ["pattern"]),
        (incident(radius_m=5), "radius_m: must be ≥ 10", ["radius_m"]),
        (incident(colour="red"), "colour: unknown field", ["colour"]),
        (incident(**{"": 1}), 'invalid incident: "": unknown field', ['""']),
        (incident(source=...), "source: required", ["source"]),
        (incident(source="-x"), "source: must match ^[A-Za-z0-9]", ["source"]),
        (incident(source="a" * 65), "source: must be at most 64 characters", ["source"]),
        (
            incident(external_id=None),
            "external_id: Input should be a valid string",
            ["external_id"],
        ),
        (
            incident(lat_deg=..., lon_deg=..., kind=..., priority=...),
            "(and 1 more)",
            ["lat_deg", "lon_deg", "kind", "priority"],
        ),
    ],
)
def test_a_bad_incident_is_rejected_with_the_reason_and_each_field(
    payload: bytes, reason: str, fields: list[str]
) -> None:
    r = rejection(payload)
    assert reason in r.reason
    assert [e["field"] for e in r.errors] == fields
    assert str(r) == r.reason
    assert r.field == (fields[0] if fields else "payload")


def test_a_rejection_names_source_and_external_id_when_they_can_be_read() -> None:
    r = rejection(incident(lat_deg=91, source=" cad ", external_id=" E-1 "))
    assert (r.source, r.external_id) == ("cad", "E-1")
    r = rejection(incident(v=3))
    assert (r.source, r.external_id) == ("shotspotter:east", "CAD-2026-000123")
    r = rejection(incident(source="bad source", external_id=""))
    assert (r.source, r.external_id) == (None, None)
    r = rejection(incident(source=5, external_id=["x"]))
    assert (r.source, r.external_id) == (None, None)
    assert rejection(b"[]").source is None


def test_the_size_limit_is_64_kib() -> None:
    body = incident()
    exact = body[:-1] + b" " * (m.MAX_INCIDENT_BYTES - len(body)) + b"}"
    assert len(exact) == 64 * 1024
    assert m.decode_incident(exact).external_id == "CAD-2026-000123"
    r = rejection(exact + b" ")
    assert r.reason == "payload is 65537 bytes, over the limit of 65536"
    assert r.errors == []


def test_errors_are_capped_and_the_reason_stays_short() -> None:
    r = rejection(incident(**{f"x{i:03}": i for i in range(100)}))
    assert len(r.errors) == m.MAX_ERRORS
    assert r.reason.endswith("(and 97 more)")


def test_a_rejection_is_answered_with_the_documented_payload() -> None:
    payload = incident(lat_deg=91, description="é" * 1500)
    r = rejection(payload)
    out = m.encode_rejected(r, topic=T.incidents_new, payload=payload, instance="host-1", at=AT)
    assert out.isascii()
    doc = assert_valid("incident-rejected", out)
    assert doc["v"] == 1
    assert doc["at"] == "2026-01-01T12:00:00.250000+00:00"
    assert (doc["instance"], doc["topic"]) == ("host-1", "mc/north-1/incidents/new")
    assert (doc["source"], doc["external_id"]) == ("shotspotter:east", "CAD-2026-000123")
    assert doc["errors"] == [{"field": "lat_deg", "reason": "must be ≤ 90"}]
    assert doc["reason"] == "invalid incident: lat_deg: must be ≤ 90"
    assert doc["payload"] == payload.decode()[:1000]


def test_a_rejection_echoes_undecodable_bytes_with_replacement_characters() -> None:
    payload = b"\xff\xfe" + b"x" * 5000
    out = m.encode_rejected(
        rejection(payload), topic="t", payload=payload, instance="i", at=AT + timedelta(hours=1)
    )
    doc = assert_valid("incident-rejected", out)
    assert doc["payload"] == "\ufffd\ufffd" + "x" * 998
    assert doc["at"].startswith("2026-01-01T13:00:00")
    assert (doc["source"], doc["external_id"], doc["errors"]) == (None, None, [])


def test_encode_rejected_refuses_a_naive_time_or_a_bad_instance() -> None:
    r = rejection(b"[]")
    with pytest.raises(MessageError, match="timezone-aware"):
        m.encode_rejected(r, topic="t", payload=b"[]", instance="i", at=datetime(2026, 1, 1))
    with pytest.raises(MessageError) as info:
        m.encode_rejected(r, topic="t", payload=b"[]", instance="a b", at=AT)
    assert info.value.field == "instance"


# -- telemetry ----------------------------------------------------------------------------------

SAMPLES: list[Sample] = [
    Position(47.3977, 8.5456, 520.25, nan, NOW - 1.5),
    VelocityNed(1.5, -0.25, 0.0, NOW),
    Heading(359.5, NOW),
    Attitude(-1.0, 2.5, nan, NOW),
    Battery(nan, 15.2, NOW),
    Modes(FlightMode.RETURN_TO_LAUNCH, True, LandedState.IN_AIR, NOW),
    Gps("rtk_fixed", 17, NOW),
    Home(47.0, 8.0, 400.0, NOW),
    Health(True, True, False, True, True, True, False, NOW),
    MissionProgress(3, 12, NOW),
    StatusText("critical", 'Fence "breached" é\n', NOW),
    FenceStatus(True, 2, "boundary", NOW),
]
EVENTS: list[TelemetryEvent | LinkEvent] = [
    *(TelemetryEvent(9, s) for s in SAMPLES),
    LinkEvent(9, LinkState.CONNECTED, None, 0.0, NOW - 3.0),
    LinkEvent(9, LinkState.LOST, LinkState.DEGRADED, math.inf, NOW),
]


def same_event(a: TelemetryEvent | LinkEvent, b: TelemetryEvent | LinkEvent) -> bool:
    """Equal, NaN equal to NaN, monotonic stamps within 10 ms (two clock readings apart)."""

    def flat(e: object) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(e):  # type: ignore[arg-type]
            value = getattr(e, f.name)
            out[f.name] = flat(value) if dataclasses.is_dataclass(value) else value
        return out

    def close(x: Any, y: Any, key: str) -> bool:
        if isinstance(x, dict):
            return type(y) is dict and x.keys() == y.keys() and all(close(x[k], y[k], k) for k in x)
        if isinstance(x, float) and math.isnan(x):
            return isinstance(y, float) and math.isnan(y)
        if key in ("received_s", "at_s"):
            return bool(abs(x - y) < 0.01)
        return bool(type(x) is type(y) and x == y)

    return type(a) is type(b) and close(flat(a), flat(b), "")


def test_every_sample_kind_is_covered() -> None:
    assert {type(s) for s in SAMPLES} == set(KIND_BY_SAMPLE)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(getattr(e, "sample", e)).__name__)
def test_decode_object_inverts_telemetry_to_json(event: TelemetryEvent | LinkEvent) -> None:
    obj = telemetry_to_json(event)
    back = decode_object(json.loads(json.dumps(obj)))
    if isinstance(event, LinkEvent) and math.isinf(event.heartbeat_age_s):
        event = dataclasses.replace(event, heartbeat_age_s=nan)  # infinity travels as null
    assert same_event(back, event), (back, event)
    assert telemetry_to_json(back) == pytest.approx(obj, nan_ok=True, abs=0.01)


def test_enums_are_restored() -> None:
    back = decode_object(telemetry_to_json(TelemetryEvent(9, SAMPLES[5])))
    assert isinstance(back, TelemetryEvent) and isinstance(back.sample, Modes)
    assert back.sample.flight_mode is FlightMode.RETURN_TO_LAUNCH
    assert back.sample.landed_state is LandedState.IN_AIR
    link = decode_object(telemetry_to_json(EVENTS[-1]))
    assert isinstance(link, LinkEvent) and link.previous is LinkState.DEGRADED


def test_ts_becomes_a_monotonic_stamp_of_this_host() -> None:
    obj = {"drone_id": 3, "kind": "heading", "ts": time.time() - 4.0, "heading_deg": 90}
    back = decode_object(obj)
    assert isinstance(back, TelemetryEvent) and isinstance(back.sample, Heading)
    assert back.sample.received_s == pytest.approx(time.monotonic() - 4.0, abs=0.01)
    assert back.sample.heading_deg == 90.0 and type(back.sample.heading_deg) is float


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"kind": "teleport"}, "kind", "must be one of"),
        ({"kind": None}, "kind", "must be one of"),
        ({"heading_deg": ...}, "heading_deg", "required"),
        ({"ts": ...}, "ts", "required"),
        ({"extra": 1}, "extra", "unknown field"),
        ({"heading_deg": "90"}, "heading_deg", "must be a number or null"),
        ({"heading_deg": True}, "heading_deg", "must be a number or null"),
        ({"heading_deg": 10**400}, "heading_deg", "too large"),
        ({"ts": None}, "ts", "finite number"),
        ({"ts": True}, "ts", "finite number"),
        ({"ts": math.inf}, "ts", "finite number"),
        ({"drone_id": 0}, "drone_id", "from 1 to 255"),
        ({"drone_id": True}, "drone_id", "from 1 to 255"),
        ({"drone_id": 7.0}, "drone_id", "from 1 to 255"),
    ],
)
def test_decode_object_names_the_bad_field(change: dict[str, Any], field: str, reason: str) -> None:
    obj = {"drone_id": 3, "kind": "heading", "ts": 1.0, "heading_deg": 90.0, **change}
    with pytest.raises(MalformedObject) as info:
        decode_object({k: v for k, v in obj.items() if v is not ...})
    assert (info.value.field, reason in info.value.reason) == (field, True)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ([], ""),
        ({"drone_id": 1, "kind": "gps", "ts": 1, "fix_type": 3, "satellites": 1}, "fix_type"),
        ({"drone_id": 1, "kind": "gps", "ts": 1, "fix_type": "x", "satellites": 1.0}, "satellites"),
        (
            {
                "drone_id": 1,
                "kind": "modes",
                "ts": 1,
                "flight_mode": "warp",
                "armed": True,
                "landed_state": "in_air",
            },
            "flight_mode",
        ),
        (
            {
                "drone_id": 1,
                "kind": "modes",
                "ts": 1,
                "flight_mode": "hold",
                "armed": 1,
                "landed_state": "in_air",
            },
            "armed",
        ),
        (
            {
                "drone_id": 1,
                "kind": "link",
                "ts": 1,
                "state": "gone",
                "previous": None,
                "heartbeat_age_s": 1,
            },
            "state",
        ),
        (
            {
                "drone_id": 1,
                "kind": "link",
                "ts": 1,
                "state": "lost",
                "previous": 5,
                "heartbeat_age_s": 1,
            },
            "previous",
        ),
        (
            {"drone_id": 1, "kind": "link", "ts": 1, "state": "lost", "previous": None},
            "heartbeat_age_s",
        ),
    ],
)
def test_decode_object_checks_every_type(obj: object, field: str) -> None:
    with pytest.raises(MalformedObject) as info:
        decode_object(obj)
    assert info.value.field == field


def test_a_telemetry_batch_round_trips_and_matches_its_schema() -> None:
    objects = [telemetry_to_json(e) for e in EVENTS]
    out = m.encode_telemetry(9, "host-1", 42, objects)
    assert out.isascii()
    doc = assert_valid("telemetry", out)
    assert (doc["v"], doc["drone_id"], doc["instance"], doc["seq"]) == (1, 9, "host-1", 42)
    assert doc["samples"] == json.loads(json.dumps(objects))
    batch = m.decode_telemetry(out)
    assert (batch.drone_id, batch.instance, batch.seq) == (9, "host-1", 42)
    expected = [*EVENTS[:-1], dataclasses.replace(EVENTS[-1], heartbeat_age_s=nan)]  # type: ignore[type-var]
    assert len(batch.events) == len(expected)
    assert all(same_event(a, b) for a, b in zip(batch.events, expected, strict=True))
    assert m.decode_telemetry(m.encode_telemetry(1, "h", 0, [])).events == []


def test_the_telemetry_schema_lists_exactly_each_sample_types_fields() -> None:
    defs = schema("telemetry")["$defs"]
    json_types = {float: ["number", "null"], int: "integer", bool: "boolean", str: "string"}
    for cls, kind in KIND_BY_SAMPLE.items():
        props = defs[kind.value]["properties"]
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.name != "received_s"]
        assert list(props) == ["drone_id", "kind", "ts", *names]
        assert defs[kind.value]["required"] == list(props)
        for name in names:
            t = hints[name]
            if isinstance(t, type) and issubclass(t, Enum):
                assert props[name] == {"enum": [e.value for e in t]}
            else:
                assert props[name] == {"type": json_types[t]}, (kind, name)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda: m.encode_telemetry(9, "h", 1, [{"drone_id": 8, "kind": "heading"}]),
            "samples[0].drone_id",
        ),
        (lambda: m.encode_telemetry(9, "h", -1, []), "seq"),
        (lambda: m.encode_telemetry(0, "h", 1, []), "drone_id"),
        (lambda: m.encode_telemetry(9, "h/x", 1, []), "instance"),
        (lambda: m.encode_telemetry(9, "h", 1, [{"drone_id": 9}] * 257), "samples"),
        (lambda: m.encode_telemetry(9, "h", 1, [{"drone_id": 9, "x": nan}]), "payload"),
    ],
)
def test_encode_telemetry_refuses_what_it_cannot_send(
    call: Callable[[], bytes], field: str
) -> None:
    with pytest.raises(MessageError) as info:
        call()
    assert info.value.field == field


def test_decode_telemetry_names_the_sample_and_its_field() -> None:
    good = json.loads(m.encode_telemetry(9, "h", 1, [telemetry_to_json(e) for e in EVENTS]))
    good["samples"][2]["heading_deg"] = "north"
    with pytest.raises(MessageError) as info:
        m.decode_telemetry(json.dumps(good).encode())
    assert (info.value.field, info.value.reason) == (
        "samples[2].heading_deg",
        "must be a number or null",
    )
    good["samples"][2] = {**telemetry_to_json(EVENTS[2]), "drone_id": 10}
    with pytest.raises(MessageError, match="the batch's drone"):
        m.decode_telemetry(json.dumps(good).encode())
    good["samples"][2] = 5
    with pytest.raises(MessageError) as info:
        m.decode_telemetry(json.dumps(good).encode())
    assert info.value.field == "samples[2]"


# -- fleet state --------------------------------------------------------------------------------


class FakeLink:
    """What DroneDirectory reads of a vehicle link."""

    def __init__(self, samples: dict[str, Sample]) -> None:
        self._samples = samples
        self.state = LinkState.CONNECTED
        self.identity = VehicleIdentity(7, "px4", "multicopter", "v1.15.2")

    def latest(self, kind: str) -> Sample | None:
        return self._samples.get(kind)

    def heartbeat_age_s(self, now_s: float | None = None) -> float:
        return 0.4567


class FakeFleet:
    def __init__(self, links: dict[int, FakeLink]) -> None:
        self.links = links


def directory_json(samples: dict[str, Sample], mission: str | None = None) -> dict[str, Any]:
    directory = DroneDirectory(
        cast(VehicleFleet, FakeFleet({7: FakeLink(samples)})), capacity_wh=90
    )
    if mission:
        directory.assign(7, mission)
    doc = directory.to_json(7)
    assert doc is not None
    return doc


FULL = {
    "position": Position(47.3977, 8.5456, 520.25, 30.5, NOW),
    "home": Home(47.0, 8.0, 400.0, NOW),
    "modes": Modes(FlightMode.HOLD, False, LandedState.ON_GROUND, NOW),
    "battery": Battery(87.5, 15.9, NOW),
    "gps": Gps("fix_3d", 12, NOW),
    "health": Health(True, True, True, True, True, True, True, NOW),
}


@pytest.mark.parametrize(
    ("samples", "mission"), [(FULL, None), (FULL, "mis-0a1b2c3d4e5f"), ({}, None)]
)
def test_drone_state_takes_directory_json_as_is_and_round_trips(
    samples: dict[str, Sample], mission: str | None
) -> None:
    drone = directory_json(samples, mission)
    out = m.encode_state(drone, "host-1", AT)
    doc = assert_valid("drone-state", out)
    assert list(doc) == list(fleet_messages.STATE_KEYS)
    owned = {**drone, "instance": "host-1"}  # the directory names no owner when alone
    assert doc == {**owned, "v": 1, "at": "2026-01-01T12:00:00.250000+00:00"}
    state = m.decode_state(out)
    assert (state.drone_id, state.instance, state.at) == (7, "host-1", AT)
    assert state.link is LinkState.CONNECTED
    assert state.to_json() == owned
    assert m.encode_state(owned, "host-1", AT) == out


def test_only_the_owner_sends_a_drones_state() -> None:
    with pytest.raises(MessageError) as info:
        m.encode_state({**directory_json(FULL), "instance": "host-2"}, "host-1", AT)
    assert info.value.field == "instance"
    with pytest.raises(MessageError) as info:
        m.encode_state(directory_json(FULL), "host 1", AT)
    assert info.value.field == "instance"
    with pytest.raises(MessageError, match="timezone-aware"):
        m.encode_state(directory_json(FULL), "host-1", datetime(2026, 1, 1))


def test_drone_state_values_are_typed() -> None:
    state = m.decode_state(m.encode_state(directory_json(FULL), "h", AT))
    assert state.flight_mode is FlightMode.HOLD
    assert state.position == m.PositionState(47.3977, 8.5456, 520.25, 30.5)
    assert state.home == m.HomeState(47.0, 8.0, 400.0)
    assert (state.battery_pct, state.gps_fix, state.armable, state.available) == (
        87.5,
        "fix_3d",
        True,
        True,
    )
    assert state.heartbeat_age_s == 0.457


def test_drone_state_sends_unknown_numbers_as_null() -> None:
    drone = directory_json(FULL)
    drone["heartbeat_age_s"] = math.inf
    drone["position"] = {**drone["position"], "alt_rel_m": nan}
    drone["home"] = {**drone["home"], "lat_deg": nan}
    doc = assert_valid("drone-state", m.encode_state(drone, "h", AT))
    assert (doc["heartbeat_age_s"], doc["position"]["alt_rel_m"], doc["home"]) == (None, None, None)
    assert m.decode_state(json.dumps(doc).encode()).heartbeat_age_s == math.inf


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"link": "gone"}, "link"),
        ({"battery_pct": 100.5}, "battery_pct"),
        ({"flight_mode": "warp"}, "flight_mode"),
        ({"armed": None}, "armed"),
        (
            {"position": {"lat_deg": 91.0, "lon_deg": 0.0, "alt_amsl_m": None, "alt_rel_m": None}},
            "position.lat_deg",
        ),
        ({"position": {"lat_deg": 1.0, "lon_deg": 0.0, "alt_amsl_m": None}}, "position.alt_rel_m"),
        ({"home": [1, 2]}, "home"),
        ({"mission_id": "a b"}, "mission_id"),
        ({"drone_id": 300}, "drone_id"),
        ({"colour": "red"}, "colour"),
        ({"v": 1}, "v"),
        ({"at": "2026-01-01T00:00:00Z"}, "at"),
        ({"autopilot": ""}, "autopilot"),
    ],
)
def test_encode_state_refuses_a_bad_drone_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(MessageError) as info:
        m.encode_state({**directory_json(FULL), **change}, "h", AT)
    assert info.value.field == field


def test_encode_state_needs_every_field() -> None:
    drone = directory_json(FULL)
    del drone["gps_fix"]
    with pytest.raises(MessageError) as info:
        m.encode_state(drone, "h", AT)
    assert (info.value.field, info.value.reason) == ("gps_fix", "required")


# -- events -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(EventKind))
def test_an_event_round_trips_with_its_instance(kind: EventKind) -> None:
    event = Event(kind, "mis-1", AT, {"state": "in_flight", "n": [1, 2.5, None]}, seq=12)
    out = m.encode_event(event, "host-1")
    doc = assert_valid("event", out)
    assert doc == {"v": 1, **event.to_json(), "instance": "host-1"}
    back, instance = m.decode_event(out)
    assert (back, instance) == (event, "host-1")
    assert back.kind is kind and back.at.tzinfo is UTC


def test_an_event_time_is_sent_in_utc() -> None:
    local = AT.astimezone(timezone(timedelta(hours=2)))
    doc = json.loads(m.encode_event(Event(EventKind.ALERT, "7", local), "h"))
    assert doc["at"] == "2026-01-01T12:00:00.250000+00:00"
    with pytest.raises(MessageError, match="timezone-aware"):
        m.encode_event(Event(EventKind.ALERT, "7", datetime(2026, 1, 1)), "h")
    with pytest.raises(MessageError) as info:
        m.encode_event(Event(EventKind.ALERT, "7", AT, {"x": nan}), "h")
    assert info.value.field == "payload"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "mission.deleted"}, "kind"),
        ({"seq": -1}, "seq"),
        ({"at": "2026-01-01T12:00:00"}, "at"),
        ({"at": "2026-02-30T12:00:00Z"}, "at"),
        ({"at": "yesterday"}, "at"),
        ({"payload": []}, "payload"),
        ({"subject_id": ""}, "subject_id"),
        ({"instance": None}, "instance"),
    ],
)
def test_decode_event_names_the_bad_field(change: dict[str, Any], field: str) -> None:
    doc = json.loads(m.encode_event(Event(EventKind.ALERT, "7", AT), "h"))
    with pytest.raises(MessageError) as info:
        m.decode_event(json.dumps({**doc, **change}).encode())
    assert info.value.field == field


def test_decode_event_reads_z_and_offsets() -> None:
    doc = json.loads(m.encode_event(Event(EventKind.ALERT, "7", AT), "h"))
    back, _ = m.decode_event(json.dumps({**doc, "at": "2026-01-01T14:00:00.25+02:00"}).encode())
    assert back.at == AT and back.at.tzinfo is UTC
    back, _ = m.decode_event(json.dumps({**doc, "at": "2026-01-01T12:00:00.25Z"}).encode())
    assert back.at == AT


# -- instance status ----------------------------------------------------------------------------


@pytest.mark.parametrize("online", [True, False])
def test_instance_status_round_trips(online: bool) -> None:
    out = m.encode_status("host-8000", online, AT)
    assert assert_valid("instance-status", out) == {
        "v": 1,
        "instance": "host-8000",
        "online": online,
        "at": "2026-01-01T12:00:00.250000+00:00",
    }
    assert m.decode_status(out) == m.InstanceStatus("host-8000", online, AT)


def test_instance_status_refuses_bad_values() -> None:
    with pytest.raises(MessageError) as info:
        m.encode_status("host/1", True, AT)
    assert info.value.field == "instance"
    with pytest.raises(MessageError) as info:
        m.encode_status("h", 1, AT)  # type: ignore[arg-type]
    assert info.value.field == "online"


# -- command request and reply ------------------------------------------------------------------

DEADLINE = AT + timedelta(seconds=5)
REQUEST = m.CommandRequest(
    id="req-5f1c",
    reply_to=T.replies("host-1"),
    op="mission.command",
    deadline=DEADLINE,
    actor_name="pilot.anna",
    actor_role="pilot",
    mission_id="mis-0a1b",
    command="rtl",
    reason="battery low: bring it home",
)
DISPATCH = m.CommandRequest(
    id="req-77aa",
    reply_to=T.replies("host-2"),
    op="incident.dispatch",
    deadline=DEADLINE,
    actor_name="resp.bo",
    actor_role="responder",
    incident_id="inc-0a1b",
)


def request_doc(request: m.CommandRequest = REQUEST, **changes: Any) -> bytes:
    """The request's payload with fields changed (``...`` removes one)."""
    doc = {**json.loads(m.encode_command_request(request)), **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_a_mission_command_request_round_trips_and_matches_its_schema() -> None:
    out = m.encode_command_request(REQUEST)
    assert list(json.loads(out)) == [
        *("v", "id", "reply_to", "op", "deadline", "actor"),
        *("mission_id", "command", "reason"),
    ]
    assert assert_valid("command-request", out) == {
        "v": 1,
        "id": "req-5f1c",
        "reply_to": "mc/north-1/instances/host-1/replies",
        "op": "mission.command",
        "deadline": "2026-01-01T12:00:05.250000+00:00",
        "actor": {"name": "pilot.anna", "role": "pilot"},
        "mission_id": "mis-0a1b",
        "command": "rtl",
        "reason": "battery low: bring it home",
    }
    assert m.decode_command_request(out) == REQUEST
    empty = dataclasses.replace(REQUEST, reason="", actor_name="system", actor_role="system")
    assert m.decode_command_request(m.encode_command_request(empty)) == empty


def test_an_incident_dispatch_request_round_trips_and_matches_its_schema() -> None:
    out = m.encode_command_request(DISPATCH)
    assert assert_valid("command-request", out) == {
        "v": 1,
        "id": "req-77aa",
        "reply_to": "mc/north-1/instances/host-2/replies",
        "op": "incident.dispatch",
        "deadline": "2026-01-01T12:00:05.250000+00:00",
        "actor": {"name": "resp.bo", "role": "responder"},
        "incident_id": "inc-0a1b",
    }
    back = m.decode_command_request(out)
    assert back == DISPATCH
    assert (back.mission_id, back.command, back.reason) == (None, None, "")


def test_the_deadline_is_kept_and_sent_in_utc() -> None:
    local = DEADLINE.astimezone(timezone(timedelta(hours=-5)))
    request = dataclasses.replace(REQUEST, deadline=local)
    assert request.deadline.tzinfo is UTC and request.deadline == DEADLINE
    assert json.loads(m.encode_command_request(request))["deadline"].endswith("+00:00")
    back = m.decode_command_request(request_doc(deadline="2026-01-01T14:00:05.25+02:00"))
    assert back.deadline == DEADLINE and back.deadline.tzinfo is UTC
    assert m.decode_command_request(request_doc(deadline="2026-01-01T12:00:05.25Z")) == REQUEST


def test_remaining_s_counts_down_to_the_deadline() -> None:
    assert REQUEST.remaining_s(AT) == 5.0
    assert REQUEST.remaining_s(DEADLINE + timedelta(seconds=1)) == -1.0
    with pytest.raises(TypeError):
        REQUEST.remaining_s(datetime(2026, 1, 1))


def test_actor_roles_are_the_stores() -> None:
    assert set(m.ACTOR_ROLES) == {r.value for r in Role} | {SYSTEM_ROLE}


@pytest.mark.parametrize(
    ("request_", "change", "field"),
    [
        (REQUEST, {"op": "mission.delete"}, "op"),
        (REQUEST, {"deadline": datetime(2026, 1, 1, 12)}, "deadline"),
        (REQUEST, {"deadline": "2026-01-01T12:00:00Z"}, "deadline"),
        (REQUEST, {"mission_id": None}, "mission_id"),
        (REQUEST, {"command": None}, "command"),
        (REQUEST, {"incident_id": "inc-1"}, "incident_id"),
        (DISPATCH, {"incident_id": None}, "incident_id"),
        (DISPATCH, {"mission_id": "mis-1"}, "mission_id"),
        (DISPATCH, {"command": "pause"}, "command"),
        (DISPATCH, {"reason": "why not"}, "reason"),
    ],
)
def test_a_request_of_the_wrong_shape_cannot_be_built(
    request_: m.CommandRequest, change: dict[str, Any], field: str
) -> None:
    """The op, an aware deadline, and which of the op-specific fields are set."""
    with pytest.raises(MessageError) as info:
        dataclasses.replace(request_, **change)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("request_", "change", "field"),
    [
        (REQUEST, {"command": "land"}, "command"),
        (REQUEST, {"actor_role": "root"}, "actor.role"),
        (REQUEST, {"actor_name": " "}, "actor.name"),
        (REQUEST, {"actor_name": "a\tb"}, "actor.name"),
        (REQUEST, {"actor_name": "x" * 129}, "actor.name"),
        (REQUEST, {"reply_to": "mc/+/replies"}, "reply_to"),
        (REQUEST, {"reply_to": ""}, "reply_to"),
        (REQUEST, {"mission_id": "a/b"}, "mission_id"),
        (REQUEST, {"id": ""}, "id"),
        (REQUEST, {"reason": "x" * 1001}, "reason"),
        (REQUEST, {"reason": None}, "reason"),
        (DISPATCH, {"incident_id": "a b"}, "incident_id"),
        (DISPATCH, {"incident_id": ""}, "incident_id"),
    ],
)
def test_a_bad_command_request_is_refused_at_both_ends(
    request_: m.CommandRequest, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(MessageError) as info:
        m.encode_command_request(dataclasses.replace(request_, **change))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (request_doc(op="mission.delete"), "op", "must be one of"),
        (request_doc(op=...), "op", "required"),
        (request_doc(deadline=...), "deadline", "required"),
        (request_doc(deadline="2026-01-01T12:00:05"), "deadline", "with a UTC offset"),
        (request_doc(deadline=1767268805), "deadline", "ISO 8601"),
        (request_doc(mission_id=...), "mission_id", "required"),
        (request_doc(command=...), "command", "required"),
        (request_doc(reason=...), "reason", "required"),
        (request_doc(incident_id="inc-1"), "incident_id", "only for op incident.dispatch"),
        (request_doc(DISPATCH, incident_id=...), "incident_id", "required"),
        (request_doc(DISPATCH, mission_id="m-1"), "mission_id", "only for op mission.command"),
        (request_doc(DISPATCH, command="rtl"), "command", "only for op mission.command"),
        (request_doc(DISPATCH, reason=""), "reason", "only for op mission.command"),
        (request_doc(DISPATCH, op="mission.command"), "incident_id", "only for op"),
        (request_doc(op="incident.dispatch"), "mission_id", "only for op mission.command"),
        (request_doc(colour="red"), "colour", "unknown field"),
    ],
)
def test_decode_command_request_refuses_a_bad_shape_naming_the_field(
    payload: bytes, field: str, reason: str
) -> None:
    """Unknown op, missing or naive deadline, op-specific fields missing or mixed."""
    with pytest.raises(MessageError) as info:
        m.decode_command_request(payload)
    assert info.value.field == field
    assert reason in info.value.reason
    assert not validator("command-request").is_valid(json.loads(payload))


def test_a_command_reply_round_trips_and_matches_its_schema() -> None:
    reply = m.CommandReply("req-5f1c", False, 409, {"detail": "illegal", "current_state": "paused"})
    out = m.encode_command_reply(reply)
    assert assert_valid("command-reply", out) == {
        "v": 1,
        "id": "req-5f1c",
        "ok": False,
        "status": 409,
        "body": {"detail": "illegal", "current_state": "paused"},
    }
    assert m.decode_command_reply(out) == reply
    for bad, field in [({"status": 99}, "status"), ({"ok": "yes"}, "ok"), ({"body": [1]}, "body")]:
        with pytest.raises(MessageError) as info:
            m.encode_command_reply(dataclasses.replace(reply, **bad))
        assert info.value.field == field


# -- schemas ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(m.SCHEMA_FILES))
def test_each_schema_file_is_a_draft_2020_12_schema_shipped_with_the_package(name: str) -> None:
    doc = schema(name)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["additionalProperties"] is False
    assert doc["properties"]["v"]["const"] == 1
    assert "v" in doc["required"]


def test_the_schemas_are_declared_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["mission_control.bus"]
    shipped = {p.name for g in globs for p in (ROOT / "mission_control" / "bus").glob(g)}
    assert set(m.SCHEMA_FILES.values()) <= shipped


def test_the_incident_schema_file_is_the_generated_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert schema("incident-new") == m.incident_schema()
    assert m._main(["--write-schemas", "--dir", str(tmp_path)]) == 0
    written = (tmp_path / "incident-new.schema.json").read_text(encoding="utf-8")
    assert written == (m.SCHEMA_DIR / "incident-new.schema.json").read_text(encoding="utf-8")
    assert "incident-new.schema.json" in capsys.readouterr().out
    assert m._main([]) == 2


def test_the_schema_writer_runs_as_a_module(tmp_path: Path) -> None:
    """``python -m mission_control.bus.messages --write-schemas`` still works on the façade."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mission_control.bus.messages",
            "--write-schemas",
            "--dir",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    written = (tmp_path / "incident-new.schema.json").read_text(encoding="utf-8")
    assert json.loads(written) == m.incident_schema()


def test_the_incident_schema_accepts_what_decode_incident_accepts() -> None:
    v = validator("incident-new")
    for payload in [incident(), incident(pattern="survey", radius_m=2000, description="")]:
        m.decode_incident(payload)
        v.validate(json.loads(payload))


@pytest.mark.parametrize(
    ("name", "doc"),
    [
        ("incident-new", {**GOOD_INCIDENT, "v": 2}),
        ("incident-new", {**GOOD_INCIDENT, "lat_deg": 90.5}),
        ("incident-new", {**GOOD_INCIDENT, "colour": "red"}),
        ("incident-new", {k: v for k, v in GOOD_INCIDENT.items() if k != "source"}),
        ("incident-new", {**GOOD_INCIDENT, "priority": "1"}),
        ("incident-new", {**GOOD_INCIDENT, "v": True}),
        (
            "telemetry",
            {
                "v": 1,
                "drone_id": 9,
                "instance": "h",
                "seq": 0,
                "samples": [{"drone_id": 9, "kind": "heading", "ts": 1.0}],
            },
        ),
        ("telemetry", {"v": 1, "drone_id": 0, "instance": "h", "seq": 0, "samples": []}),
        ("drone-state", {"v": 1}),
        (
            "event",
            {
                "v": 1,
                "seq": 1,
                "kind": "mission.deleted",
                "subject_id": "m",
                "at": "2026-01-01T00:00:00Z",
                "payload": {},
                "instance": "h",
            },
        ),
        (
            "event",
            {
                "v": 1,
                "seq": 1,
                "kind": "alert",
                "subject_id": "m",
                "at": "2026-01-01T00:00:00",
                "payload": {},
                "instance": "h",
            },
        ),
        (
            "instance-status",
            {"v": 1, "instance": "h/1", "online": True, "at": "2026-01-01T00:00:00Z"},
        ),
        ("command-request", {**json.loads(m.encode_command_request(REQUEST)), "command": "land"}),
        (
            "command-request",
            {**json.loads(m.encode_command_request(DISPATCH)), "incident_id": "a b"},
        ),
        ("command-reply", {"v": 1, "id": "r", "ok": True, "status": 200, "body": {}, "extra": 1}),
        (
            "incident-rejected",
            {
                "v": 1,
                "at": "2026-01-01T00:00:00Z",
                "instance": "h",
                "topic": "t",
                "source": None,
                "external_id": None,
                "reason": "x",
                "errors": [{"field": "a"}],
                "payload": "",
            },
        ),
    ],
)
def test_the_schemas_refuse_bad_documents(name: str, doc: dict[str, Any]) -> None:
    assert not validator(name).is_valid(doc)


# -- bad bytes never raise anything but MessageError --------------------------------------------

DECODERS: list[Callable[[bytes], object]] = [
    m.decode_telemetry,
    m.decode_state,
    m.decode_event,
    m.decode_status,
    m.decode_command_request,
    m.decode_command_reply,
]
ALL_DECODERS = [m.decode_incident, *DECODERS]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def only_message_errors(decode: Callable[[bytes], object], payload: bytes) -> None:
    try:
        decode(payload)
    except Rejected:
        assert decode is m.decode_incident
    except MessageError:
        assert decode is not m.decode_incident


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_message_errors(payload: bytes) -> None:
    for decode in ALL_DECODERS:
        only_message_errors(decode, payload)


@settings(deadline=None)
@given(json_values)
def test_random_json_raises_only_message_errors(value: object) -> None:
    payload = json.dumps(value).encode()
    for decode in ALL_DECODERS:
        only_message_errors(decode, payload)
    if isinstance(value, dict):
        payload = json.dumps({**value, "v": 1}).encode()
        for decode in ALL_DECODERS:
            only_message_errors(decode, payload)


def valid_documents() -> list[tuple[Callable[[bytes], object], dict[str, Any]]]:
    return [
        (m.decode_incident, dict(GOOD_INCIDENT)),
        (
            m.decode_telemetry,
            json.loads(m.encode_telemetry(9, "h", 1, [telemetry_to_json(e) for e in EVENTS])),
        ),
        (m.decode_state, json.loads(m.encode_state(directory_json(FULL), "h", AT))),
        (m.decode_event, json.loads(m.encode_event(Event(EventKind.ALERT, "7", AT), "h"))),
        (m.decode_status, json.loads(m.encode_status("h", True, AT))),
        (m.decode_command_request, json.loads(m.encode_command_request(REQUEST))),
        (m.decode_command_request, json.loads(m.encode_command_request(DISPATCH))),
        (
            m.decode_command_reply,
            json.loads(m.encode_command_reply(m.CommandReply("r", True, 200, {}))),
        ),
    ]


VALID = valid_documents()


@pytest.mark.parametrize(("decode", "doc"), VALID)
def test_the_valid_documents_decode(decode: Callable[[bytes], object], doc: dict[str, Any]) -> None:
    decode(json.dumps(doc).encode())


@settings(deadline=None, max_examples=300)
@given(st.sampled_from(VALID), st.data())
def test_a_valid_document_with_one_field_changed_raises_only_message_errors(
    case: tuple[Callable[[bytes], object], dict[str, Any]], data: st.DataObject
) -> None:
    decode, doc = case
    doc = json.loads(json.dumps(doc))
    key = data.draw(st.sampled_from(sorted(doc)))
    target: Any = doc
    if isinstance(doc[key], dict) and doc[key] and data.draw(st.booleans()):
        target = doc[key]
        key = data.draw(st.sampled_from(sorted(target)))
    elif isinstance(doc[key], list) and doc[key] and data.draw(st.booleans()):
        target = data.draw(st.sampled_from(doc[key]))
        key = data.draw(st.sampled_from(sorted(target)))
    if data.draw(st.booleans()):
        del target[key]
    else:
        target[key] = data.draw(json_values)
    only_message_errors(decode, json.dumps(doc).encode())
