"""Incidents over MQTT: ``incidents/new`` in (:func:`decode_incident`), ``incidents/rejected``
out (:func:`encode_rejected`).

The ingest payload is ``POST /api/incidents``'s body plus ``"v"`` and the sender's
``source``, read with pydantic in strict mode so that the JSON types are the schema's.
Its JSON Schema (``incident-new.schema.json``) is generated from :class:`IncidentMessage`
(:func:`incident_schema`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, TypedDict

from pydantic import ConfigDict, Field, ValidationError

from mission_control.api.schemas import IncidentIn
from mission_control.bus.jsonread import (
    VERSION,
    JsonObject,
    MessageError,
    dumps_compact,
    json_type,
    loads_strict,
    time_text,
    valid_unicode,
    version_error,
)
from mission_control.bus.topics import INSTANCE_RE, INSTANCE_WHAT, check_level

__all__ = [
    "MAX_ECHO_CHARS",
    "MAX_ERRORS",
    "MAX_INCIDENT_BYTES",
    "SOURCE_PATTERN",
    "FieldError",
    "IncidentMessage",
    "Rejected",
    "decode_incident",
    "encode_rejected",
    "incident_schema",
]

MAX_INCIDENT_BYTES: Final = 64 * 1024
"""Largest accepted ``incidents/new`` payload."""
MAX_ERRORS: Final = 20
"""Most field errors listed in a rejection."""
MAX_ECHO_CHARS: Final = 1000
"""How much of a refused payload the rejection echoes."""

SOURCE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
_SOURCE_RE: Final = re.compile(SOURCE_PATTERN)


class FieldError(TypedDict):
    """One refused field of an incident: its path and why."""

    field: str
    reason: str


class Rejected(MessageError):
    """An ``incidents/new`` payload was refused.

    Attributes:
        reason: one line for a human.
        errors: the refused fields (empty when the payload as a whole was refused).
        source: the sender's ``source``, when it could be read (to correlate the answer).
        external_id: the sender's ``external_id``, likewise.
    """

    def __init__(
        self,
        reason: str,
        errors: Sequence[FieldError] = (),
        source: str | None = None,
        external_id: str | None = None,
    ) -> None:
        self.errors: list[FieldError] = list(errors)
        self.source = source
        self.external_id = external_id
        super().__init__(self.errors[0]["field"] if self.errors else "payload", reason)

    def __str__(self) -> str:
        return self.reason


class IncidentMessage(IncidentIn):
    """An incident reported over MQTT on mc/{site}/incidents/new (QoS 1): the fields of
    POST /api/incidents plus the schema version "v" and the sender's "source".
    (source, external_id) identifies it: a repeat is not duplicated."""

    # strict: the JSON types are the schema's (no "5" for 5), as a schema validator sees them
    model_config = ConfigDict(strict=True)

    v: Literal[1] = Field(description="schema version")
    source: str = Field(
        min_length=1,
        max_length=64,
        pattern=SOURCE_PATTERN,
        description="who sends it: a detector network, a CAD bridge … (with external_id, "
        "the incident's identity)",
    )
    external_id: str = Field(  # required here, optional in the API
        min_length=1,
        max_length=200,
        description="the sender's own id of the incident (e.g. CAD event number); "
        "a repeat is not duplicated",
    )

    def to_incident_in(self) -> IncidentIn:
        """The incident as ``POST /api/incidents`` takes it (``v`` and ``source`` dropped)."""
        return IncidentIn.model_validate(self.model_dump(exclude={"v", "source"}))


def incident_schema() -> JsonObject:
    """The JSON Schema of ``incidents/new`` payloads (``incident-new.schema.json``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **IncidentMessage.model_json_schema(),
    }


def _constraint(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _field_reason(error: Mapping[str, Any]) -> str:
    """A short reason for one pydantic error (``must be ≤ 90``), else pydantic's message."""
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    kind = error["type"]
    templates = {
        "missing": "required",
        "extra_forbidden": "unknown field",
        "less_than_equal": "must be ≤ {le}",
        "greater_than_equal": "must be ≥ {ge}",
        "less_than": "must be < {lt}",
        "greater_than": "must be > {gt}",
        "string_too_short": "must be at least {min_length} characters",
        "string_too_long": "must be at most {max_length} characters",
        "string_pattern_mismatch": "must match {pattern}",
    }
    template = templates.get(kind)
    if template is None:
        return str(error["msg"])
    return template.format(**{k: _constraint(v) for k, v in ctx.items()})


def _field_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if not path:
        return '""'  # the empty key
    return path if len(path) <= 200 else path[:199] + "…"


def _correlation(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The sender's ``source`` and ``external_id`` if they are valid (as the model stores them)."""
    source = doc.get("source")
    source = source.strip() if isinstance(source, str) else None
    if source is not None and not (len(source) <= 64 and _SOURCE_RE.fullmatch(source)):
        source = None
    external_id = doc.get("external_id")
    external_id = external_id.strip() if isinstance(external_id, str) else None
    if external_id is not None and not (
        1 <= len(external_id) <= 200 and valid_unicode(external_id)
    ):
        external_id = None
    return source, external_id


def decode_incident(payload: bytes | bytearray) -> IncidentMessage:
    """Read an ``incidents/new`` payload (at most :data:`MAX_INCIDENT_BYTES`).

    Raises:
        Rejected: the payload is too large, not UTF-8, not JSON (``NaN`` and ``Infinity``
            included), not an object, has a missing or other ``"v"`` than 1, or a missing,
            invalid or unknown field (each listed in ``errors``, at most :data:`MAX_ERRORS`).
    """
    try:
        doc = loads_strict(payload, limit=MAX_INCIDENT_BYTES)
    except MessageError as exc:
        raise Rejected(f"payload {exc.reason}") from None
    if not isinstance(doc, dict):
        raise Rejected(f"payload must be a JSON object, not {json_type(doc)}")
    source, external_id = _correlation(doc)
    problem = version_error(doc)
    if problem is not None:
        error = FieldError(field="v", reason=problem)
        raise Rejected(problem, [error], source=source, external_id=external_id)
    try:
        return IncidentMessage.model_validate(doc)
    except ValidationError as exc:
        found = exc.errors(include_url=False, include_input=False)
        errors = [
            FieldError(field=_field_path(e["loc"]), reason=_field_reason(e))
            for e in found[:MAX_ERRORS]
        ]
    shown = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    reason = f"invalid incident: {shown}{more}"
    raise Rejected(reason, errors, source=source, external_id=external_id)


def encode_rejected(
    rejected: Rejected,
    *,
    topic: str,
    payload: bytes | bytearray,
    instance: str,
    at: datetime,
) -> bytes:
    """The ``incidents/rejected`` answer to a refused ``payload`` received on ``topic``.

    ``payload`` is echoed as its first :data:`MAX_ECHO_CHARS` characters, decoded as UTF-8
    with replacement characters.

    Raises:
        MessageError: ``instance`` is invalid or ``at`` is not timezone-aware.
    """
    head = bytes(payload[: 4 * MAX_ECHO_CHARS + 4]).decode("utf-8", errors="replace")
    doc: JsonObject = {
        "v": VERSION,
        "at": time_text("at", at),
        "instance": check_level("instance", instance, INSTANCE_RE, INSTANCE_WHAT),
        "topic": topic,
        "source": rejected.source,
        "external_id": rejected.external_id,
        "reason": rejected.reason,
        "errors": [dict(e) for e in rejected.errors[:MAX_ERRORS]],
        "payload": head[:MAX_ECHO_CHARS],
    }
    return dumps_compact(doc)
