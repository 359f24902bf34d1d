"""The MQTT bridge's topics and payloads: versioned JSON, built and read without any I/O.

This module gathers what its neighbours define, so that callers import from one place:

- :mod:`~mission_control.bus.topics`: :class:`Topics`, the ``mc/{site}/...`` topics;
- :mod:`~mission_control.bus.jsonread`: strict JSON in and out, :class:`MessageError`;
- :mod:`~mission_control.bus.incident_message`: ``incidents/new`` and ``incidents/rejected``;
- :mod:`~mission_control.bus.fleet_messages`: telemetry, drone state and events;
- :mod:`~mission_control.bus.instance_messages`: instance status, requests and replies.

Every payload is a compact, ASCII-only JSON object with ``"v": 1``; each kind of message has
a JSON Schema (draft 2020-12) in ``mission_control/bus/schemas/`` (:data:`SCHEMA_FILES`):

==================================== ====================================================
``incidents/new``                     incident ingest, QoS 1 (:func:`decode_incident`)
``incidents/rejected``                what was refused and why (:func:`encode_rejected`)
``incidents/{id}/events``             ``incident.*`` events (:func:`encode_event`)
``fleet/{drone}/telemetry``           QoS 0: a drone's latest samples (:func:`encode_telemetry`)
``fleet/{drone}/state``               retained summary (:func:`encode_state`)
``missions/{id}/events``, ``alerts``  QoS 1 events (:func:`encode_event`)
``instances/{instance}/status``       retained online/offline (:func:`encode_status`)
``instances/{instance}/requests``     a mission command or an incident dispatch for the
                                      instance that holds the drone or incident
                                      (:func:`encode_command_request`)
``instances/{instance}/replies``      ... and its answer (:func:`encode_command_reply`)
==================================== ====================================================

Decoders are strict (required fields, JSON types, ranges, no unknown fields, no ``NaN`` or
``Infinity``, no repeated keys) and raise only :class:`MessageError` for bad bytes, naming the
field (``samples[2].lat_deg``); :func:`decode_incident` raises its subclass :class:`Rejected`,
which carries everything the ``incidents/rejected`` answer needs. Encoders check what they
write by reading it back, so whatever these modules encode, they decode.

``python -m mission_control.bus.messages --write-schemas`` regenerates the one schema that
is derived from code (``incident-new.schema.json``, from :class:`IncidentMessage`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from mission_control.bus.fleet_messages import (
    MAX_SAMPLES as MAX_SAMPLES,
)
from mission_control.bus.fleet_messages import (
    DroneState,
    HomeState,
    PositionState,
    TelemetryBatch,
    decode_event,
    decode_state,
    decode_telemetry,
    encode_event,
    encode_state,
    encode_telemetry,
)
from mission_control.bus.incident_message import (
    MAX_ECHO_CHARS as MAX_ECHO_CHARS,
)
from mission_control.bus.incident_message import (
    MAX_ERRORS as MAX_ERRORS,
)
from mission_control.bus.incident_message import (
    MAX_INCIDENT_BYTES,
    FieldError,
    IncidentMessage,
    Rejected,
    decode_incident,
    encode_rejected,
    incident_schema,
)
from mission_control.bus.incident_message import (
    SOURCE_PATTERN as SOURCE_PATTERN,
)
from mission_control.bus.instance_messages import (
    ACTOR_ROLES,
    MISSION_COMMANDS,
    REQUEST_OPS,
    CommandReply,
    CommandRequest,
    InstanceStatus,
    RequestOp,
    decode_command_reply,
    decode_command_request,
    decode_status,
    encode_command_reply,
    encode_command_request,
    encode_status,
)
from mission_control.bus.instance_messages import (
    COMMAND_OP as COMMAND_OP,
)
from mission_control.bus.instance_messages import (
    DISPATCH_OP as DISPATCH_OP,
)
from mission_control.bus.instance_messages import (
    MissionCommand as MissionCommand,
)
from mission_control.bus.jsonread import MAX_MESSAGE_BYTES, VERSION, MessageError
from mission_control.bus.jsonread import JsonObject as JsonObject
from mission_control.bus.topics import ID_RE as ID_RE
from mission_control.bus.topics import INSTANCE_RE as INSTANCE_RE
from mission_control.bus.topics import SITE_RE as SITE_RE
from mission_control.bus.topics import Topics

__all__ = [
    "ACTOR_ROLES",
    "MAX_INCIDENT_BYTES",
    "MAX_MESSAGE_BYTES",
    "MISSION_COMMANDS",
    "REQUEST_OPS",
    "SCHEMA_DIR",
    "SCHEMA_FILES",
    "VERSION",
    "CommandReply",
    "CommandRequest",
    "DroneState",
    "FieldError",
    "HomeState",
    "IncidentMessage",
    "InstanceStatus",
    "MessageError",
    "PositionState",
    "Rejected",
    "RequestOp",
    "TelemetryBatch",
    "Topics",
    "decode_command_reply",
    "decode_command_request",
    "decode_event",
    "decode_incident",
    "decode_state",
    "decode_status",
    "decode_telemetry",
    "encode_command_reply",
    "encode_command_request",
    "encode_event",
    "encode_rejected",
    "encode_state",
    "encode_status",
    "encode_telemetry",
    "incident_schema",
]

SCHEMA_DIR: Final = Path(__file__).with_name("schemas")
SCHEMA_FILES: Final[Mapping[str, str]] = {
    name: f"{name}.schema.json"
    for name in (
        "incident-new",
        "incident-rejected",
        "telemetry",
        "drone-state",
        "event",
        "instance-status",
        "command-request",
        "command-reply",
    )
}
"""The schema file of each message, in :data:`SCHEMA_DIR`."""


# -- python -m mission_control.bus.messages --write-schemas -------------------------------------


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mission_control.bus.messages",
        description="Regenerate the JSON Schema derived from code (incident-new.schema.json).",
    )
    parser.add_argument("--write-schemas", action="store_true", help="write the schema file")
    parser.add_argument(
        "--dir", type=Path, default=SCHEMA_DIR, help="where to write (default: the package's)"
    )
    args = parser.parse_args(argv)
    if not args.write_schemas:
        parser.print_usage()
        return 2
    path = args.dir / SCHEMA_FILES["incident-new"]
    text = json.dumps(incident_schema(), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
