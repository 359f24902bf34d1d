"""The unit of work: the writes of one transaction, each with its audit entry and event.

Obtained from :meth:`mission_control.store.Store.transaction`, which has already locked the
state row (writers run one at a time, so the hash chain never forks and events commit in
``seq`` order). Each method writes the object row, appends the audit entry and writes the
event, and returns the event(s) with their database ``seq``; nothing is committed until the
``async with`` block ends, so publish :attr:`UnitOfWork.events` only after it has exited
without an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mission_control.domain.events import Event, EventKind
from mission_control.domain.incident import Incident
from mission_control.domain.mission import TERMINAL_STATES, Mission
from mission_control.store import audit
from mission_control.store import users as users_q
from mission_control.store import zones as zones_q
from mission_control.store.actors import SYSTEM, Actor, Role, check_name
from mission_control.store.codec import (
    changed_fields,
    encode_mission,
    event_row,
    incident_doc,
    incident_from_row,
    incident_row,
    mission_summary,
)
from mission_control.store.errors import (
    DuplicateError,
    InvalidValue,
    NotFound,
    StaleWrite,
    StoreError,
)
from mission_control.store.models import events, idempotency_keys, incidents, missions

__all__ = ["UnitOfWork"]

_TERMINAL = sorted(state.value for state in TERMINAL_STATES)


def _drone_busy(drone_id: int, active: str | None) -> DuplicateError:
    # DuplicateError's own message ("drone_id '3' already exists") would not say why
    error = DuplicateError("drone_id", str(drone_id))
    other = "mission" if active is None else f"mission {active!r}"
    error.args = (
        f"drone_id {drone_id}: the drone already has an active {other} (one active mission"
        " per drone: it must complete, or be aborted or rejected, first)",
    )
    return error


class UnitOfWork:
    """Writes inside one open transaction (see the module docstring)."""

    __slots__ = ("_clock", "_conn", "_events", "_open")

    def __init__(self, conn: AsyncConnection, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self._clock = clock
        self._events: list[Event] = []
        self._open = True

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event written so far in this transaction, in ``seq`` order."""
        return tuple(self._events)

    def close(self) -> None:
        """Refuse further use (called by the store when the transaction ends)."""
        self._open = False

    def _live(self) -> AsyncConnection:
        if not self._open:
            raise StoreError("this transaction has ended; open another with store.transaction()")
        return self._conn

    async def _event(self, event: Event) -> Event:
        result = await self._live().execute(sa.insert(events).values(**event_row(event)))
        key = result.inserted_primary_key
        if key is None or key[0] is None:
            raise StoreError("the database assigned no event sequence number")
        stored = replace(event, seq=int(key[0]))
        self._events.append(stored)
        return stored

    async def _audit(
        self,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        await audit.append(
            self._live(),
            at=self._clock(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before=before,
            after=after,
        )

    # -- incidents ---------------------------------------------------------------------------

    async def _find_incident(
        self, incident: Incident, actor: Actor, key: str | None
    ) -> Incident | None:
        conn = self._live()
        if key is not None:
            found_id = await conn.scalar(
                sa.select(idempotency_keys.c.incident_id).where(
                    idempotency_keys.c.actor == actor.name, idempotency_keys.c.key == key
                )
            )
            if found_id is not None:
                return await self._incident(str(found_id))
        if incident.external_id is not None:
            row = (
                (
                    await conn.execute(
                        sa.select(incidents).where(
                            incidents.c.source == incident.source,
                            incidents.c.external_id == incident.external_id,
                        )
                    )
                )
                .mappings()
                .first()
            )
            if row is not None:
                return incident_from_row(row)
        return None

    async def _incident(self, incident_id: str) -> Incident | None:
        query = sa.select(incidents).where(incidents.c.id == incident_id)
        row = (await self._live().execute(query)).mappings().first()
        return None if row is None else incident_from_row(row)

    async def add_incident(
        self,
        incident: Incident,
        actor: Actor,
        *,
        idempotency_key: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[Incident, bool, list[Event]]:
        """Store a new incident, unless it is a re-sent report.

        A report is re-sent when its ``(source, external_id)`` is stored, or when ``actor``
        used ``idempotency_key`` before: then the stored incident is returned with
        ``False`` and nothing is written. Otherwise ``(incident, True, [incident.created])``.

        Args:
            payload: the event's payload; default :func:`~.codec.incident_doc`.

        Raises:
            DuplicateError: another incident has the same ``id`` (field ``id``).
            InvalidValue: an empty or over-long idempotency key.
        """
        if idempotency_key is not None:
            check_name("idempotency_key", idempotency_key, max_len=200)
        existing = await self._find_incident(incident, actor, idempotency_key)
        if existing is not None:
            return existing, False, []
        conn = self._live()
        try:
            async with conn.begin_nested():
                await conn.execute(sa.insert(incidents).values(**incident_row(incident), version=1))
                if idempotency_key is not None:
                    await conn.execute(
                        sa.insert(idempotency_keys).values(
                            actor=actor.name,
                            key=idempotency_key,
                            incident_id=incident.id,
                            created_at=self._clock(),
                        )
                    )
        except IntegrityError:
            # a concurrent writer got there first (only possible without the state lock)
            existing = await self._find_incident(incident, actor, idempotency_key)
            if existing is not None:
                return existing, False, []
            if await self._incident(incident.id) is not None:
                raise DuplicateError("id", incident.id) from None
            raise
        doc = incident_doc(incident)
        await self._audit(actor, "incident.create", "incident", incident.id, None, doc)
        event = Event(
            EventKind.INCIDENT_CREATED,
            incident.id,
            incident.created_at,
            doc if payload is None else payload,
        )
        return incident, True, [await self._event(event)]

    async def update_incident(
        self,
        before: Incident,
        after: Incident,
        actor: Actor,
        action: str,
        *,
        payload: Mapping[str, Any] | None = None,
    ) -> list[Event]:
        """Replace ``before`` by ``after`` if the stored incident still equals ``before``.

        Args:
            action: what was done, for the audit log (``incident.dispatch`` ...).
            payload: the event's payload; default :func:`~.codec.incident_doc` of ``after``.

        Raises:
            StaleWrite: the stored incident differs from ``before`` (nothing written).
            NotFound: no incident ``before.id``.
            InvalidValue: ``after`` has another id; a bad action.
        """
        if after.id != before.id:
            raise InvalidValue("after.id", f"must be {before.id!r} (the id of before)")
        check_name("action", action, max_len=64)
        old_row, new_row = incident_row(before), incident_row(after)
        result = await self._live().execute(
            sa.update(incidents)
            .where(incidents.c.id == before.id, incidents.c.etag == old_row["etag"])
            .values(**new_row, version=incidents.c.version + 1)
        )
        if result.rowcount != 1:
            if await self._incident(before.id) is None:
                raise NotFound("incident", before.id)
            raise StaleWrite("incident", before.id)
        old_doc, new_doc = incident_doc(before), incident_doc(after)
        await self._audit(actor, action, "incident", after.id, *changed_fields(old_doc, new_doc))
        event = Event(
            EventKind.INCIDENT_UPDATED,
            after.id,
            after.updated_at,
            new_doc if payload is None else payload,
        )
        return [await self._event(event)]

    # -- missions ----------------------------------------------------------------------------

    async def add_mission(
        self, mission: Mission, actor: Actor, *, payload: Mapping[str, Any] | None = None
    ) -> list[Event]:
        """Store a new mission.

        Args:
            payload: the event's payload; default :func:`~.codec.mission_summary`.

        Raises:
            NotFound: its incident is not stored.
            DuplicateError: a mission with this id exists (field ``id``); or the mission is
                not terminal and its drone already has a non-terminal mission (field
                ``drone_id``: one active mission per drone).
            InvalidValue: the plan or the airspace report cannot be stored.
        """
        conn = self._live()
        row, doc = encode_mission(mission)
        if await self._incident(mission.incident_id) is None:
            raise NotFound("incident", mission.incident_id)
        taken = await conn.scalar(sa.select(sa.func.count()).where(missions.c.id == mission.id))
        if taken:
            raise DuplicateError("id", mission.id)
        active = not mission.terminal
        if active and (busy := await self._active_mission_of(mission.drone_id)) is not None:
            raise _drone_busy(mission.drone_id, busy)
        try:
            # a savepoint keeps the transaction usable (PostgreSQL) if the index refuses it
            async with conn.begin_nested():
                await conn.execute(sa.insert(missions).values(**row, version=1))
        except IntegrityError:
            # the state lock makes the check above final; the partial unique index
            # (uq_missions_drone_id_active) is the database's own guard behind it
            if await self._mission_exists(mission.id):
                raise DuplicateError("id", mission.id) from None
            busy = await self._active_mission_of(mission.drone_id) if active else None
            if busy is not None:
                raise _drone_busy(mission.drone_id, busy) from None
            raise
        await self._audit(actor, "mission.create", "mission", mission.id, None, doc)
        body = mission_summary(mission) if payload is None else payload
        return [
            await self._event(
                Event(EventKind.MISSION_CREATED, mission.id, mission.created_at, body)
            )
        ]

    async def _active_mission_of(self, drone_id: int) -> str | None:
        query = (
            sa.select(missions.c.id)
            .where(missions.c.drone_id == drone_id, missions.c.state.not_in(_TERMINAL))
            .limit(1)
        )
        found = await self._live().scalar(query)
        return None if found is None else str(found)

    async def _mission_exists(self, mission_id: str) -> bool:
        query = sa.select(sa.func.count()).where(missions.c.id == mission_id)
        return bool(await self._live().scalar(query))

    async def update_mission(
        self,
        before: Mission,
        after: Mission,
        actor: Actor,
        action: str,
        *,
        payload: Mapping[str, Any] | None = None,
    ) -> list[Event]:
        """Replace ``before`` by ``after`` if the stored mission still equals ``before``.

        Args:
            action: what was done, for the audit log (``mission.approve`` ...).
            payload: the event's payload; default :func:`~.codec.mission_summary` of
                ``after``.

        Raises:
            StaleWrite: the stored mission differs from ``before`` (nothing written).
            NotFound: no mission ``before.id``.
            InvalidValue: ``after`` has another id; a bad action; unstorable plan/report.
        """
        if after.id != before.id:
            raise InvalidValue("after.id", f"must be {before.id!r} (the id of before)")
        check_name("action", action, max_len=64)
        conn = self._live()
        old_row, old_doc = encode_mission(before)
        new_row, new_doc = encode_mission(after)
        result = await conn.execute(
            sa.update(missions)
            .where(missions.c.id == before.id, missions.c.etag == old_row["etag"])
            .values(**new_row, version=missions.c.version + 1)
        )
        if result.rowcount != 1:
            exists = await conn.scalar(sa.select(sa.func.count()).where(missions.c.id == before.id))
            if not exists:
                raise NotFound("mission", before.id)
            raise StaleWrite("mission", before.id)
        await self._audit(actor, action, "mission", after.id, *changed_fields(old_doc, new_doc))
        body = mission_summary(after) if payload is None else payload
        return [
            await self._event(Event(EventKind.MISSION_UPDATED, after.id, after.updated_at, body))
        ]

    # -- alerts, zones, users ----------------------------------------------------------------

    async def add_event(self, event: Event, actor: Actor) -> Event:
        """Store an alert (``EventKind.ALERT``) and audit it; returns it with its ``seq``.

        Incident and mission events are written only with their change (the methods above).

        Raises:
            InvalidValue: another kind, an empty subject, a payload that is not JSON.
        """
        if event.kind is not EventKind.ALERT:
            raise InvalidValue(
                "kind", "only alerts are added alone; other events come with their change"
            )
        check_name("subject_id", event.subject_id, max_len=64)
        stored = await self._event(event)
        after = {"seq": stored.seq, "at": stored.to_json()["at"], "payload": dict(stored.payload)}
        await self._audit(actor, "alert.raise", "alert", stored.subject_id, None, after)
        return stored

    async def add_zones(
        self, docs: Sequence[zones_q.ZoneDoc], actor: Actor, source: str
    ) -> list[zones_q.ZoneRecord]:
        """See :meth:`mission_control.store.Store.add_zones`."""
        return await zones_q.add_zones(
            self._live(), docs, actor=actor, source=source, at=self._clock()
        )

    async def delete_zone(self, zone_id: str, actor: Actor) -> bool:
        """See :meth:`mission_control.store.Store.delete_zone`."""
        return await zones_q.delete_zone(self._live(), zone_id, actor=actor, at=self._clock())

    async def add_user(self, name: str, role: Role | str, *, actor: Actor = SYSTEM) -> str:
        """See :meth:`mission_control.store.Store.add_user`."""
        return await users_q.add_user(self._live(), name, role, actor=actor, at=self._clock())

    async def delete_user(self, name: str, *, actor: Actor = SYSTEM) -> bool:
        """See :meth:`mission_control.store.Store.delete_user`."""
        return await users_q.delete_user(self._live(), name, actor=actor, at=self._clock())
