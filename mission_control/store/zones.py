"""Airspace zones as stored JSON documents (GeoJSON features) and the zones version.

The store does not interpret a feature: converting it to and from
:mod:`mission_control.airspace` zones is the service's job. It keeps a version number that
grows with every change so the service can tell that the zones in force changed (e.g.
between a mission's approval and its upload). Every change is audited.

The functions run on a connection inside the caller's transaction, after
:func:`~mission_control.store.audit.lock_state`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mission_control.store import audit
from mission_control.store.actors import Actor, check_name
from mission_control.store.codec import canonical_json
from mission_control.store.errors import DuplicateError, InvalidValue
from mission_control.store.models import STATE_ROW_ID, store_state, zones

__all__ = ["ZoneDoc", "ZoneRecord", "add_zones", "delete_zone", "list_zones", "zones_version"]

ZoneDoc = tuple[str, str, Mapping[str, Any]]
"""``(zone_id, name, feature)`` as given to :func:`add_zones`."""


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    """A stored zone document.

    Attributes:
        zone_id: unique id (e.g. the ED-269 identifier or the GeoJSON feature id).
        name: a name for people.
        source: where it came from (a file name, ``api``, a feed URL).
        feature: the GeoJSON feature, as given.
        created_at: aware UTC time it was stored.
        created_by: the user who stored it.
    """

    zone_id: str
    name: str
    source: str
    feature: Mapping[str, Any]
    created_at: datetime
    created_by: str


def _record(row: Any) -> ZoneRecord:
    return ZoneRecord(
        zone_id=row.id,
        name=row.name,
        source=row.source,
        feature=json.loads(row.feature),
        created_at=row.created_at,
        created_by=row.created_by,
    )


async def _bump_version(conn: AsyncConnection) -> None:
    await conn.execute(
        sa.update(store_state)
        .where(store_state.c.id == STATE_ROW_ID)
        .values(zones_version=store_state.c.zones_version + 1)
    )


def _checked(docs: Sequence[ZoneDoc]) -> list[tuple[str, str, str]]:
    seen: set[str] = set()
    out: list[tuple[str, str, str]] = []
    for k, doc in enumerate(docs):
        if not isinstance(doc, tuple) or len(doc) != 3:
            raise InvalidValue(f"zones[{k}]", "must be a (zone_id, name, feature) tuple")
        zone_id, name, feature = doc
        check_name(f"zones[{k}].zone_id", zone_id, max_len=128)
        check_name(f"zones[{k}].name", name, max_len=200)
        if not isinstance(feature, Mapping):
            raise InvalidValue(f"zones[{k}].feature", "must be a JSON object")
        if zone_id in seen:
            raise DuplicateError("zone_id", zone_id)
        seen.add(zone_id)
        out.append((zone_id, name, canonical_json(dict(feature), field=f"zones[{k}].feature")))
    return out


async def add_zones(
    conn: AsyncConnection, docs: Sequence[ZoneDoc], *, actor: Actor, source: str, at: datetime
) -> list[ZoneRecord]:
    """Store new zones (all or none) and bump the version once.

    Raises:
        DuplicateError: a zone id is repeated in ``docs`` or already stored (field
            ``zone_id``); the caller's transaction must be rolled back.
        InvalidValue: a malformed entry (the field names its index).
    """
    check_name("source", source, max_len=200)
    rows = _checked(docs)
    if not rows:
        return []
    ids = [r[0] for r in rows]
    existing = await conn.scalars(sa.select(zones.c.id).where(zones.c.id.in_(ids)))
    clash = sorted(existing)
    if clash:
        raise DuplicateError("zone_id", clash[0])
    out: list[ZoneRecord] = []
    for zone_id, name, feature_text in rows:
        await conn.execute(
            sa.insert(zones).values(
                id=zone_id,
                name=name,
                source=source,
                feature=feature_text,
                created_at=at,
                created_by=actor.name,
            )
        )
        feature = json.loads(feature_text)
        await audit.append(
            conn,
            at=at,
            actor=actor,
            action="zone.add",
            object_type="zone",
            object_id=zone_id,
            before=None,
            after={"name": name, "source": source, "feature": feature},
        )
        out.append(ZoneRecord(zone_id, name, source, feature, at, actor.name))
    await _bump_version(conn)
    return out


async def delete_zone(conn: AsyncConnection, zone_id: str, *, actor: Actor, at: datetime) -> bool:
    """Delete a zone and bump the version; False (nothing written) if there is none."""
    row = (await conn.execute(sa.select(zones).where(zones.c.id == zone_id))).first()
    if row is None:
        return False
    await conn.execute(sa.delete(zones).where(zones.c.id == zone_id))
    await audit.append(
        conn,
        at=at,
        actor=actor,
        action="zone.delete",
        object_type="zone",
        object_id=zone_id,
        before={"name": row.name, "source": row.source, "feature": json.loads(row.feature)},
        after=None,
    )
    await _bump_version(conn)
    return True


async def list_zones(conn: AsyncConnection) -> list[ZoneRecord]:
    """Every stored zone, by id."""
    rows = await conn.execute(sa.select(zones).order_by(zones.c.id))
    return [_record(r) for r in rows]


async def zones_version(conn: AsyncConnection) -> int:
    """The zones version: 0 for a new database, +1 on every change."""
    value = await conn.scalar(
        sa.select(store_state.c.zones_version).where(store_state.c.id == STATE_ROW_ID)
    )
    return int(value or 0)
