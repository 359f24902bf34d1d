"""Between service instances: who is online (``instances/{instance}/status``), and requests
for the instance that holds a drone or an incident (``.../requests``) with their answers
(``.../replies``).

A :class:`CommandRequest` is one of two operations, named by ``op``:

- ``mission.command``: a pilot's ``pause``/``resume``/``rtl``/``abort`` of a mission whose
  drone another instance flies (``mission_id``, ``command``, ``reason``);
- ``incident.dispatch``: dispatch a drone to an incident that another instance owns
  (``incident_id``).

Every request carries a ``deadline`` (UTC): the receiver must not start, or go on with, a
request past it, since the sender has given up waiting by then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

from mission_control.bus.jsonread import (
    VERSION,
    JsonObject,
    MessageError,
    ObjectReader,
    dumps_compact,
    read_document,
    time_text,
)
from mission_control.bus.memory import TopicError, validate_topic
from mission_control.bus.topics import ID_RE, ID_WHAT, INSTANCE_RE, INSTANCE_WHAT

__all__ = [
    "ACTOR_ROLES",
    "COMMAND_OP",
    "DISPATCH_OP",
    "MISSION_COMMANDS",
    "REQUEST_OPS",
    "CommandReply",
    "CommandRequest",
    "InstanceStatus",
    "MissionCommand",
    "RequestOp",
    "decode_command_reply",
    "decode_command_request",
    "decode_status",
    "encode_command_reply",
    "encode_command_request",
    "encode_status",
]

MISSION_COMMANDS: Final = ("pause", "resume", "rtl", "abort")
MissionCommand = Literal["pause", "resume", "rtl", "abort"]
ACTOR_ROLES: Final = ("responder", "pilot", "viewer", "admin", "system")
"""The store's user roles plus the service's own ``system`` (see ``store.actors``)."""

COMMAND_OP: Final = "mission.command"
DISPATCH_OP: Final = "incident.dispatch"
REQUEST_OPS: Final = (COMMAND_OP, DISPATCH_OP)
RequestOp = Literal["mission.command", "incident.dispatch"]

_OP_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    COMMAND_OP: ("mission_id", "command", "reason"),
    DISPATCH_OP: ("incident_id",),
}
"""The fields only one op has (on the wire, each of them is required for that op)."""
_OWNER_OP: Final = {field: op for op, fields in _OP_FIELDS.items() for field in fields}


# -- instances/{instance}/status ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """Whether a service instance is online (``False`` is also its MQTT last will)."""

    instance: str
    online: bool
    at: datetime


_STATUS_KEYS: Final = ("v", "instance", "online", "at")


def _read_status(doc: ObjectReader) -> InstanceStatus:
    return InstanceStatus(
        instance=doc.text("instance", max_len=64, pattern=INSTANCE_RE, what=INSTANCE_WHAT),
        online=doc.flag("online"),
        at=doc.time("at"),
    )


def encode_status(instance: str, online: bool, at: datetime) -> bytes:
    """An ``instances/{instance}/status`` payload.

    Raises:
        MessageError: ``instance`` is invalid or ``at`` is not timezone-aware.
    """
    doc = {"v": VERSION, "instance": instance, "online": online, "at": time_text("at", at)}
    _read_status(ObjectReader(doc, "", _STATUS_KEYS))
    return dumps_compact(doc)


def decode_status(payload: bytes | bytearray) -> InstanceStatus:
    """Read an ``instances/{instance}/status`` payload.

    Raises:
        MessageError: malformed (the field path says where).
    """
    return _read_status(read_document(payload, _STATUS_KEYS))


# -- instances/{instance}/requests --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A request for the instance that holds a mission's drone or owns an incident.

    Attributes:
        id: the request's id, repeated in the reply.
        reply_to: the topic to answer on (the sender's ``instances/{instance}/replies``).
        op: ``mission.command`` or ``incident.dispatch``.
        deadline: when the sender stops waiting (timezone-aware; kept in UTC). The receiver
            must not run the request past it.
        actor_name: who asked (a user name, or ``system``).
        actor_role: their role (one of :data:`ACTOR_ROLES`).
        mission_id: the mission to command (``mission.command`` only, and required there).
        command: ``pause``, ``resume``, ``rtl`` or ``abort`` (``mission.command`` only, and
            required there).
        reason: why, for the audit log (at most 1000 characters; may be empty;
            ``mission.command`` only).
        incident_id: the incident to dispatch to (``incident.dispatch`` only, and required
            there).

    Construction checks the shape (``op``, which fields it has, an aware ``deadline``);
    :func:`encode_command_request` checks every field.

    Raises:
        MessageError: another ``op``, a naive ``deadline``, a field the ``op`` needs is
            missing or one it does not have is set (the field names which).
    """

    id: str
    reply_to: str
    op: RequestOp
    deadline: datetime
    actor_name: str
    actor_role: str
    mission_id: str | None = None
    command: MissionCommand | None = None
    reason: str = ""
    incident_id: str | None = None

    def __post_init__(self) -> None:
        if self.op not in REQUEST_OPS:
            raise MessageError("op", f"must be one of {', '.join(REQUEST_OPS)}")
        time_text("deadline", self.deadline)  # aware, and representable in UTC
        object.__setattr__(self, "deadline", self.deadline.astimezone(UTC))
        present = {
            "mission_id": self.mission_id is not None,
            "command": self.command is not None,
            "reason": self.reason != "",
            "incident_id": self.incident_id is not None,
        }
        for field, is_set in present.items():
            if is_set and _OWNER_OP[field] != self.op:
                raise MessageError(field, f"only for op {_OWNER_OP[field]}")
        needed = ("mission_id", "command") if self.op == COMMAND_OP else ("incident_id",)
        for field in needed:
            if not present[field]:
                raise MessageError(field, f"required for op {self.op}")

    def remaining_s(self, now: datetime) -> float:
        """Seconds from ``now`` (timezone-aware) to :attr:`deadline`; ≤ 0 once it has passed.

        Raises:
            TypeError: ``now`` is naive.
        """
        return (self.deadline - now).total_seconds()


_REQUEST_KEYS: Final = ("v", "id", "reply_to", "op", "deadline", "actor")
_REQUEST_OPTIONAL: Final = tuple(_OWNER_OP)
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")


def _read_request(doc: ObjectReader) -> CommandRequest:
    op = cast(RequestOp, doc.literal("op", REQUEST_OPS))
    for field, owner in _OWNER_OP.items():
        if doc.has(field) and owner != op:
            raise MessageError(doc.name(field), f"only for op {owner}")
    for field in _OP_FIELDS[op]:
        if not doc.has(field):
            raise MessageError(doc.name(field), "required")
    request_id = doc.text("id", max_len=128, pattern=ID_RE, what=ID_WHAT)
    reply_to = doc.text("reply_to", max_len=1024)
    try:
        validate_topic(reply_to)
    except TopicError as exc:
        raise MessageError("reply_to", exc.reason) from None
    deadline = doc.time("deadline")
    actor = doc.obj("actor", ("name", "role"))
    name = actor.text("name", max_len=128)
    if _CONTROL_RE.search(name) or not name.strip():
        raise MessageError("actor.name", "must not be blank or contain control characters")
    role = actor.literal("role", ACTOR_ROLES)
    if op == DISPATCH_OP:
        return CommandRequest(
            id=request_id,
            reply_to=reply_to,
            op=op,
            deadline=deadline,
            actor_name=name,
            actor_role=role,
            incident_id=doc.text("incident_id", max_len=128, pattern=ID_RE, what=ID_WHAT),
        )
    reason = doc.raw("reason")
    if reason != "":
        reason = doc.text("reason", max_len=1000)
    return CommandRequest(
        id=request_id,
        reply_to=reply_to,
        op=op,
        deadline=deadline,
        actor_name=name,
        actor_role=role,
        mission_id=doc.text("mission_id", max_len=128, pattern=ID_RE, what=ID_WHAT),
        command=cast(MissionCommand, doc.literal("command", MISSION_COMMANDS)),
        reason=str(reason),
    )


def encode_command_request(request: CommandRequest) -> bytes:
    """An ``instances/{instance}/requests`` payload: ``v``, ``id``, ``reply_to``, ``op``,
    ``deadline`` (ISO 8601, UTC), ``actor`` {``name``, ``role``}, then the op's own fields
    (``mission_id``, ``command``, ``reason`` | ``incident_id``).

    Raises:
        MessageError: a field of ``request`` is invalid (the field path says which).
    """
    doc: JsonObject = {
        "v": VERSION,
        "id": request.id,
        "reply_to": request.reply_to,
        "op": request.op,
        "deadline": time_text("deadline", request.deadline),
        "actor": {"name": request.actor_name, "role": request.actor_role},
    }
    if request.op == COMMAND_OP:
        doc["mission_id"] = request.mission_id
        doc["command"] = request.command
        doc["reason"] = request.reason
    else:
        doc["incident_id"] = request.incident_id
    _read_request(ObjectReader(doc, "", _REQUEST_KEYS, _REQUEST_OPTIONAL))
    return dumps_compact(doc)


def decode_command_request(payload: bytes | bytearray) -> CommandRequest:
    """Read an ``instances/{instance}/requests`` payload (the deadline in UTC).

    Whether the deadline has passed is the receiver's to check (:meth:`CommandRequest.remaining_s`).

    Raises:
        MessageError: malformed (the field path says where): an unknown ``op``, a missing or
            naive ``deadline``, or a field the ``op`` needs missing or one of the other op's.
    """
    return _read_request(read_document(payload, _REQUEST_KEYS, _REQUEST_OPTIONAL))


# -- instances/{instance}/replies ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The answer to a :class:`CommandRequest`: what the HTTP API would have answered.

    Attributes:
        id: the request's id.
        ok: the command was carried out.
        status: the HTTP status the API answers with (200, 404, 409 ...).
        body: the JSON body the API answers with.
    """

    id: str
    ok: bool
    status: int
    body: Mapping[str, Any]


_REPLY_KEYS: Final = ("v", "id", "ok", "status", "body")


def _read_reply(doc: ObjectReader) -> CommandReply:
    return CommandReply(
        id=doc.text("id", max_len=128, pattern=ID_RE, what=ID_WHAT),
        ok=doc.flag("ok"),
        status=doc.integer("status", 100, 599),
        body=doc.any_object("body"),
    )


def encode_command_reply(reply: CommandReply) -> bytes:
    """An ``instances/{instance}/replies`` payload.

    Raises:
        MessageError: a field of ``reply`` is invalid, or ``body`` is not JSON-ready.
    """
    doc = {
        "v": VERSION,
        "id": reply.id,
        "ok": reply.ok,
        "status": reply.status,
        "body": dict(reply.body) if isinstance(reply.body, Mapping) else reply.body,
    }
    _read_reply(ObjectReader(doc, "", _REPLY_KEYS))
    return dumps_compact(doc)


def decode_command_reply(payload: bytes | bytearray) -> CommandReply:
    """Read an ``instances/{instance}/replies`` payload.

    Raises:
        MessageError: malformed (the field path says where).
    """
    return _read_reply(read_document(payload, _REPLY_KEYS))
