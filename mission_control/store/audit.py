"""The append-only audit log, chained by hashes so that tampering is detectable.

Entry ``n`` (ids are 1, 2, 3 ... with no gaps) stores ``prev_hash`` = the hash of entry
``n - 1`` (:data:`GENESIS_HASH` for entry 1) and ``hash`` = :func:`entry_hash` of its own
fields and ``prev_hash``. The ``store_state`` row records the last id and hash (the head).
:func:`verify` recomputes the chain: an edited field, a deleted entry (middle or end) or two
entries swapped breaks it. Someone who can rewrite every later entry *and* the head can
forge a consistent chain; keep a copy of :attr:`AuditReport.head_hash` elsewhere (a log, a
ticket) to detect that too. Database triggers refuse UPDATE and DELETE on the table, so
the service itself cannot rewrite history by mistake.

These functions run on a connection inside the caller's transaction; the store translates
database errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mission_control.store.actors import Actor, check_name
from mission_control.store.codec import canonical_json, sha256_hex, utc_iso
from mission_control.store.errors import SchemaError
from mission_control.store.models import STATE_ROW_ID, audit_log, store_state

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditReport",
    "append",
    "entry_hash",
    "lock_state",
    "read_entries",
    "verify",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record.

    Attributes:
        id: position in the chain, from 1.
        at: aware UTC time the change was recorded.
        actor, role: who made it.
        action: what was done (``incident.create``, ``mission.approve``, ``zone.delete`` ...).
        object_type, object_id: what it was done to.
        before, after: the changed fields before and after (``None`` for a creation's
            before and a deletion's after).
        prev_hash, hash: the chain links (hex SHA-256).
    """

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The result of checking the chain.

    Attributes:
        ok: True if every entry and the head are consistent.
        entries: how many entries were checked (up to the first bad one).
        first_bad_id: the id of the first entry that is missing, edited or out of place.
        reason: what is wrong, for a person ("" when ok).
        head_hash: the hash of the last entry the head records (anchor it elsewhere).
    """

    ok: bool
    entries: int
    first_bad_id: int | None
    reason: str
    head_hash: str


def entry_hash(
    *,
    entry_id: int,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    before: str | None,
    after: str | None,
    prev_hash: str,
) -> str:
    """Hex SHA-256 over the canonical JSON of an entry's fields and ``prev_hash``.

    ``before`` and ``after`` are the stored JSON texts, so the hash covers exactly the bytes
    in the database; ``at`` is hashed as UTC ISO 8601 with microseconds.
    """
    doc = {
        "id": entry_id,
        "at": utc_iso(at),
        "actor": actor,
        "role": role,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    return sha256_hex(canonical_json(doc))


async def lock_state(conn: AsyncConnection) -> tuple[int, str, int]:
    """Lock the ``store_state`` row for this transaction: ``(audit_last_id, audit_last_hash,
    zones_version)``. Every writer calls this first, so writers run one at a time.

    Raises:
        SchemaError: the row is missing (the schema was not created by the migrations).
    """
    row = (
        await conn.execute(
            sa.select(
                store_state.c.audit_last_id,
                store_state.c.audit_last_hash,
                store_state.c.zones_version,
            )
            .where(store_state.c.id == STATE_ROW_ID)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise SchemaError("the store_state row is missing (was the database migrated?)")
    return int(row[0]), str(row[1]), int(row[2])


async def append(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> AuditEntry:
    """Append one entry to the chain (in the caller's transaction) and move the head.

    Raises:
        InvalidValue: an empty or over-long action/object, or before/after not JSON.
        SchemaError: see :func:`lock_state`.
    """
    check_name("action", action, max_len=64)
    check_name("object_type", object_type, max_len=32)
    check_name("object_id", object_id, max_len=128)
    before_text = None if before is None else canonical_json(dict(before), field="before")
    after_text = None if after is None else canonical_json(dict(after), field="after")
    last_id, last_hash, _ = await lock_state(conn)
    entry_id = last_id + 1
    digest = entry_hash(
        entry_id=entry_id,
        at=at,
        actor=actor.name,
        role=actor.role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before_text,
        after=after_text,
        prev_hash=last_hash,
    )
    await conn.execute(
        sa.insert(audit_log).values(
            id=entry_id,
            at=at,
            actor=actor.name,
            role=actor.role,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before=before_text,
            after=after_text,
            prev_hash=last_hash,
            hash=digest,
        )
    )
    await conn.execute(
        sa.update(store_state)
        .where(store_state.c.id == STATE_ROW_ID)
        .values(audit_last_id=entry_id, audit_last_hash=digest)
    )
    return AuditEntry(
        entry_id,
        at,
        actor.name,
        actor.role,
        action,
        object_type,
        object_id,
        before,
        after,
        last_hash,
        digest,
    )


def _entry(row: Mapping[Any, Any]) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=row["at"],
        actor=row["actor"],
        role=row["role"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        before=None if row["before"] is None else json.loads(row["before"]),
        after=None if row["after"] is None else json.loads(row["after"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


async def read_entries(
    conn: AsyncConnection, *, object_id: str | None, after_id: int, limit: int
) -> list[AuditEntry]:
    """Entries with id > ``after_id`` (of one object, or all), oldest first, at most ``limit``."""
    query = sa.select(audit_log).where(audit_log.c.id > after_id)
    if object_id is not None:
        query = query.where(audit_log.c.object_id == object_id)
    result = await conn.execute(query.order_by(audit_log.c.id).limit(limit))
    return [_entry(r) for r in result.mappings()]


def _bad(checked: int, bad_id: int, reason: str, head_hash: str) -> AuditReport:
    return AuditReport(False, checked, bad_id, reason, head_hash)


async def verify(conn: AsyncConnection, *, batch_size: int = 500) -> AuditReport:
    """Recompute the chain up to the head, ``batch_size`` entries per query.

    Raises:
        SchemaError: the ``store_state`` row is missing.
    """
    head = (
        await conn.execute(
            sa.select(store_state.c.audit_last_id, store_state.c.audit_last_hash).where(
                store_state.c.id == STATE_ROW_ID
            )
        )
    ).first()
    if head is None:
        raise SchemaError("the store_state row is missing (was the database migrated?)")
    last_id, head_hash = int(head[0]), str(head[1])
    expected_id, prev = 1, GENESIS_HASH
    while expected_id <= last_id:
        rows = (
            await conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.id >= expected_id, audit_log.c.id <= last_id)
                .order_by(audit_log.c.id)
                .limit(batch_size)
            )
        ).mappings()
        got_any = False
        for r in rows:
            got_any = True
            checked = expected_id - 1
            if r["id"] != expected_id:
                why = f"entry {expected_id} is missing (the next entry is {r['id']})"
                return _bad(checked, expected_id, why, head_hash)
            if r["prev_hash"] != prev:
                why = f"entry {expected_id} does not follow entry {expected_id - 1} (reordered?)"
                return _bad(checked, expected_id, why, head_hash)
            digest = entry_hash(
                entry_id=expected_id,
                at=r["at"],
                actor=r["actor"],
                role=r["role"],
                action=r["action"],
                object_type=r["object_type"],
                object_id=r["object_id"],
                before=r["before"],
                after=r["after"],
                prev_hash=r["prev_hash"],
            )
            if digest != r["hash"]:
                why = f"entry {expected_id} does not match its hash (edited)"
                return _bad(checked, expected_id, why, head_hash)
            prev = r["hash"]
            expected_id += 1
        if not got_any:
            why = f"entries {expected_id} to {last_id} are missing (the head records {last_id})"
            return _bad(expected_id - 1, expected_id, why, head_hash)
    if prev != head_hash:
        why = f"the last entry's hash differs from the head's (entry {last_id})"
        return _bad(last_id, max(last_id, 1), why, head_hash)
    return AuditReport(True, last_id, None, "", head_hash)
