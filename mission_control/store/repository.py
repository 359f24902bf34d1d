"""The :class:`Store`: the service's persistence (SQLite by default, PostgreSQL at scale).

::

    async with Store.open("sqlite:///var/mission-control.db") as store:   # or: await ...
        async with store.transaction() as tx:                              # one transaction
            await tx.update_incident(incident, dispatching, actor, "incident.dispatching")
            await tx.add_mission(mission, actor)
        for event in tx.events:                                            # after the commit
            bus.publish(event_topic(event.kind), event)

Every state change is written in one transaction with its audit entry and its event
(invariant 4: persisted and audited before it is announced). Single changes have
one-call forms (:meth:`Store.update_mission` ...) that run their own transaction. Writers
are serialised (an in-process lock and, across processes, the ``store_state`` row lock), so
the audit chain never forks and events become visible in ``seq`` order: a screen that
replays :meth:`Store.events_since` misses nothing.

Leases (which instance owns each vehicle link; :mod:`mission_control.store.leases`) are
not audited writes: each lease call is its own short transaction that takes neither lock, so
a renewal never queues behind a busy audited transaction, and waits at most
``lease_wait_s`` for a lock held by another lease transaction (SQLite: the database's write
lock, which every writer shares).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mission_control.domain.events import Event
from mission_control.domain.incident import Incident, IncidentStatus
from mission_control.domain.mission import Mission, MissionState
from mission_control.store import audit, reads
from mission_control.store import engine as engine_mod
from mission_control.store import leases as leases_q
from mission_control.store import users as users_q
from mission_control.store import zones as zones_q
from mission_control.store.actors import SYSTEM, Actor, Role
from mission_control.store.audit import AuditEntry, AuditReport
from mission_control.store.errors import StoreError
from mission_control.store.leases import InstanceRow, LeaseRow
from mission_control.store.reads import EVENTS_PAGE, check_page
from mission_control.store.recordings import Recordings
from mission_control.store.unit import UnitOfWork
from mission_control.store.users import User
from mission_control.store.zones import ZoneDoc, ZoneRecord

__all__ = ["Store", "StoreOpening", "utc_now", "verify_audit_url"]


def utc_now() -> datetime:
    """The current aware UTC time (the store's default clock)."""
    return datetime.now(UTC)


class Store:
    """Persistence of incidents, missions, events, the audit log, users and zones.

    Build it with :meth:`open`; close it with :meth:`close` (or ``async with``). Every
    method may raise :class:`~mission_control.store.errors.StoreUnavailable` when the
    database goes away and :class:`~mission_control.store.errors.StoreError` for other
    database failures; no SQLAlchemy or driver type escapes.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        url: str,
        clock: Callable[[], datetime],
        *,
        lease_wait_s: float = 1.0,
    ) -> None:
        """Use :meth:`open`, which migrates the schema first."""
        self._engine = engine
        self._url = url
        self._clock = clock
        self._lease_wait_s = lease_wait_s
        self._write_lock = asyncio.Lock()
        self._closed = False
        self.recordings = Recordings(self._writing, self._reading, clock)
        """Evidence recordings and their segments (audited writes in their own transaction)."""

    @classmethod
    def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        clock: Callable[[], datetime] = utc_now,
        connect_timeout_s: float = 10.0,
        lease_wait_s: float = 1.0,
    ) -> StoreOpening:
        """Connect and bring the schema to head: ``await Store.open(url)`` or
        ``async with Store.open(url) as store``.

        Args:
            url: ``sqlite+aiosqlite:///path`` (the file's directory is created),
                ``postgresql+asyncpg://user:password@host:5432/db``; ``sqlite:///`` and
                ``postgresql://`` are accepted and use those drivers.
            migrate: apply the Alembic migrations up to head (idempotent); if False, only
                check that the schema is at head (read-only tools such as audit verify).
            clock: aware UTC time of audit entries (tests pass a fixed clock).
            connect_timeout_s: how long to wait for PostgreSQL to accept a connection.
            lease_wait_s: how long a lease call waits for a lock before it fails (with
                :class:`StoreError`; the lease keeper retries on its next beat).

        Raises:
            InvalidDatabaseURL: the URL is malformed or names another database/driver.
            StoreUnavailable: the database cannot be reached or opened.
            SchemaError: the schema is at an unknown revision (or not at head with
                ``migrate=False``), or a migration failed.
        """
        return StoreOpening(cls._open(url, migrate, clock, connect_timeout_s, lease_wait_s))

    @classmethod
    async def _open(
        cls,
        url: str,
        migrate: bool,
        clock: Callable[[], datetime],
        connect_timeout_s: float,
        lease_wait_s: float,
    ) -> Store:
        sa_url = engine_mod.normalise_url(url)
        shown = sa_url.render_as_string(hide_password=True)
        engine = engine_mod.create_engine(sa_url, connect_timeout_s=connect_timeout_s)
        try:
            with engine_mod.translate_errors(shown, "open", opening=True):
                if migrate:
                    await engine_mod.migrate(engine)
                else:
                    await engine_mod.check_schema(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, shown, clock, lease_wait_s=lease_wait_s)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    async def ping(self) -> bool:
        """True if the database answers a trivial query now (for health checks; never
        raises, except when the store is closed)."""
        self._check_open()
        try:
            async with self._engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            return False
        return True

    async def close(self) -> None:
        """Close every connection; the store cannot be used afterwards. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    @contextlib.asynccontextmanager
    async def _reading(self, what: str) -> AsyncIterator[AsyncConnection]:
        self._check_open()
        with engine_mod.translate_errors(self._url, what):
            async with self._engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """One transaction for several writes: ``async with store.transaction() as tx``.

        Commits when the block exits normally, rolls everything back if it raises (the
        exception propagates). Publish ``tx.events`` only after the block.
        """
        async with self._writing() as conn:
            unit = UnitOfWork(conn, self._clock)
            try:
                yield unit
            finally:
                unit.close()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        # The audited writing transaction (serialised, state row locked) behind
        # transaction() and the recordings' writes.
        self._check_open()
        async with self._write_lock:
            with engine_mod.translate_errors(self._url, "write"):
                conn = await self._engine.connect()
            try:
                # database errors only: an OSError of the caller's own code in the block
                # must not turn into StoreUnavailable
                with engine_mod.translate_errors(self._url, "write", os_errors=False):
                    await conn.execution_options(**{engine_mod.WRITE_OPTION: True})
                    async with conn.begin():
                        await audit.lock_state(conn)
                        yield conn
            finally:
                with engine_mod.translate_errors(self._url, "write"):
                    await conn.close()

    @contextlib.asynccontextmanager
    async def _lease_tx(self, what: str) -> AsyncIterator[AsyncConnection]:
        # A short writing transaction of its own: no asyncio write lock, no store_state row
        # lock (see the module docstring), and a bounded wait for locks.
        self._check_open()
        with engine_mod.translate_errors(self._url, what):
            async with self._engine.connect() as conn:
                await conn.execution_options(
                    **{
                        engine_mod.WRITE_OPTION: True,
                        engine_mod.LOCK_WAIT_OPTION: self._lease_wait_s,
                    }
                )
                async with conn.begin():
                    if conn.dialect.name == "postgresql":
                        wait_ms = max(1, round(self._lease_wait_s * 1000))
                        await conn.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms:d}")
                    yield conn

    # -- writes, one transaction each (see UnitOfWork for the details) -----------------------

    async def add_incident(
        self, incident: Incident, actor: Actor, *, idempotency_key: str | None = None
    ) -> tuple[Incident, bool, list[Event]]:
        """Store a new incident unless it is a re-sent report: ``(stored, created, events)``.

        See :meth:`UnitOfWork.add_incident`.
        """
        async with self.transaction() as tx:
            return await tx.add_incident(incident, actor, idempotency_key=idempotency_key)

    async def update_incident(
        self, before: Incident, after: Incident, actor: Actor, action: str
    ) -> list[Event]:
        """Replace ``before`` by ``after``; see :meth:`UnitOfWork.update_incident`.

        Raises:
            StaleWrite: the stored incident is no longer ``before`` (nothing written).
            NotFound: no such incident.
        """
        async with self.transaction() as tx:
            return await tx.update_incident(before, after, actor, action)

    async def add_mission(
        self,
        mission: Mission,
        actor: Actor,
        *,
        incident_update: tuple[Incident, Incident] | None = None,
    ) -> list[Event]:
        """Store a new mission; see :meth:`UnitOfWork.add_mission`.

        Args:
            incident_update: ``(before, after)`` of its incident (e.g. to ``dispatching``),
                written first in the same transaction with the action
                ``incident.<after.status>``; its event comes first in the result.

        Raises:
            StaleWrite: the stored incident is no longer ``before`` (nothing written).
            NotFound: the incident is not stored.
        """
        async with self.transaction() as tx:
            out: list[Event] = []
            if incident_update is not None:
                before, after = incident_update
                action = f"incident.{after.status.value}"
                out += await tx.update_incident(before, after, actor, action)
            out += await tx.add_mission(mission, actor)
            return out

    async def update_mission(
        self, before: Mission, after: Mission, actor: Actor, action: str
    ) -> list[Event]:
        """Replace ``before`` by ``after``; see :meth:`UnitOfWork.update_mission`.

        Raises:
            StaleWrite: the stored mission is no longer ``before`` (nothing written).
            NotFound: no such mission.
        """
        async with self.transaction() as tx:
            return await tx.update_mission(before, after, actor, action)

    async def add_event(self, event: Event, actor: Actor) -> Event:
        """Store and audit an alert; see :meth:`UnitOfWork.add_event`."""
        async with self.transaction() as tx:
            return await tx.add_event(event, actor)

    async def add_user(self, name: str, role: Role | str, *, actor: Actor = SYSTEM) -> str:
        """Create a user; returns their new API token (store it: only its hash is kept).

        Raises:
            InvalidValue: a bad name (1-64 of letters, digits, ``_ . @ -``) or unknown role.
            DuplicateError: the name is taken (field ``name``).
        """
        async with self.transaction() as tx:
            return await tx.add_user(name, role, actor=actor)

    async def delete_user(self, name: str, *, actor: Actor = SYSTEM) -> bool:
        """Delete a user (their token stops working); False if there was none."""
        async with self.transaction() as tx:
            return await tx.delete_user(name, actor=actor)

    async def add_zones(
        self, docs: Sequence[ZoneDoc], actor: Actor, source: str
    ) -> list[ZoneRecord]:
        """Store zone documents ``(zone_id, name, feature)``, all or none; bumps the version.

        Raises:
            DuplicateError: a zone id repeated or already stored (field ``zone_id``).
            InvalidValue: a malformed entry.
        """
        async with self.transaction() as tx:
            return await tx.add_zones(docs, actor, source)

    async def delete_zone(self, zone_id: str, actor: Actor) -> bool:
        """Delete a zone (bumps the version); False (nothing written) if there is none."""
        async with self.transaction() as tx:
            return await tx.delete_zone(zone_id, actor)

    # -- leases and presence (not audited; see mission_control.store.leases) ------------------

    async def acquire_lease(self, name: str, holder: str) -> int | None:
        """Take ``name`` for ``holder`` if it is free or not stored yet: its new token, or
        ``None`` if another instance holds it."""
        async with self._lease_tx("acquire lease") as conn:
            return await leases_q.acquire(conn, name, holder, at=self._clock())

    async def renew_lease(self, name: str, holder: str) -> bool:
        """Bump the token of a lease ``holder`` holds; False if it does not hold it."""
        async with self._lease_tx("renew lease") as conn:
            return await leases_q.renew(conn, name, holder, at=self._clock())

    async def take_over_lease(
        self, name: str, holder: str, *, seen_holder: str | None, seen_token: int
    ) -> bool:
        """Compare-and-set: take ``name`` if it still has ``(seen_holder, seen_token)``."""
        async with self._lease_tx("take over lease") as conn:
            return await leases_q.take_over(
                conn, name, holder, seen_holder=seen_holder, seen_token=seen_token, at=self._clock()
            )

    async def release_lease(self, name: str, holder: str) -> bool:
        """Free a lease ``holder`` holds (others may take it at once); False if it did not."""
        async with self._lease_tx("release lease") as conn:
            return await leases_q.release(conn, name, holder, at=self._clock())

    async def set_lease_drone(self, name: str, holder: str, drone_id: int | None) -> bool:
        """Record the drone seen on a lease ``holder`` holds; False if it does not hold it."""
        async with self._lease_tx("set lease drone") as conn:
            return await leases_q.set_drone(conn, name, holder, drone_id, at=self._clock())

    async def list_leases(self) -> list[LeaseRow]:
        """Every stored lease, by name."""
        async with self._reading("list leases") as conn:
            return await leases_q.list_leases(conn)

    async def heartbeat(self, instance_id: str) -> None:
        """Announce that ``instance_id`` is alive (bumps its presence token)."""
        async with self._lease_tx("heartbeat") as conn:
            await leases_q.heartbeat(conn, instance_id, at=self._clock())

    async def forget_instance(self, instance_id: str, *, token: int | None = None) -> bool:
        """Delete a presence row (only if its token is ``token``, when given)."""
        async with self._lease_tx("forget instance") as conn:
            return await leases_q.forget_instance(conn, instance_id, token=token)

    async def list_instances(self) -> list[InstanceRow]:
        """Every presence row, by id."""
        async with self._reading("list instances") as conn:
            return await leases_q.list_instances(conn)

    # -- reads -------------------------------------------------------------------------------

    async def get_incident(self, incident_id: str) -> Incident | None:
        """The incident, or ``None``."""
        async with self._reading("get incident") as conn:
            return await reads.get_incident(conn, incident_id)

    async def list_incidents(
        self,
        *,
        status: IncidentStatus | Iterable[IncidentStatus] | None = None,
        reported_by: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Incident]:
        """Incidents, newest first, optionally of some statuses and/or one reporter.

        Raises:
            InvalidValue: an unknown status, ``limit`` outside 1..10000, negative offset.
        """
        async with self._reading("list incidents") as conn:
            return await reads.list_incidents(
                conn, status=status, reported_by=reported_by, limit=limit, offset=offset
            )

    async def get_mission(self, mission_id: str) -> Mission | None:
        """The mission, or ``None``."""
        async with self._reading("get mission") as conn:
            return await reads.get_mission(conn, mission_id)

    async def list_missions(
        self,
        *,
        state: MissionState | Iterable[MissionState] | None = None,
        incident_id: str | None = None,
        drone_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Mission]:
        """Missions, newest first, filtered by state(s), incident and/or drone.

        Raises:
            InvalidValue: an unknown state, ``limit`` outside 1..10000, negative offset.
        """
        async with self._reading("list missions") as conn:
            return await reads.list_missions(
                conn,
                state=state,
                incident_id=incident_id,
                drone_id=drone_id,
                limit=limit,
                offset=offset,
            )

    async def active_missions(self) -> list[Mission]:
        """Every non-terminal mission, oldest first: what a restarted service re-attaches."""
        async with self._reading("active missions") as conn:
            return await reads.active_missions(conn)

    async def events_since(self, seq: int, limit: int = EVENTS_PAGE) -> list[Event]:
        """Events with a sequence number above ``seq``, oldest first, at most ``limit``.

        Raises:
            InvalidValue: negative ``seq``, ``limit`` outside 1..10000.
        """
        async with self._reading("events since") as conn:
            return await reads.events_since(conn, seq, limit)

    async def last_event_seq(self) -> int:
        """The highest stored event sequence number (0 when there is none)."""
        async with self._reading("last event seq") as conn:
            return await reads.last_event_seq(conn)

    async def audit_entries(
        self, object_id: str | None = None, *, after_id: int = 0, limit: int = EVENTS_PAGE
    ) -> list[AuditEntry]:
        """Audit entries (of one object, or all) with id above ``after_id``, oldest first."""
        check_page(limit)
        async with self._reading("audit entries") as conn:
            return await audit.read_entries(
                conn, object_id=object_id, after_id=after_id, limit=limit
            )

    async def verify_audit(self) -> AuditReport:
        """Recompute the audit hash chain; see :func:`mission_control.store.audit.verify`."""
        async with self._reading("verify audit") as conn:
            return await audit.verify(conn)

    async def user_for_token(self, token: str) -> User | None:
        """The user holding this API token, or ``None``."""
        async with self._reading("user for token") as conn:
            return await users_q.user_for_token(conn, token)

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        async with self._reading("list users") as conn:
            return await users_q.list_users(conn)

    async def count_users(self) -> int:
        """How many users exist (0: the service should create the first admin)."""
        async with self._reading("count users") as conn:
            return await users_q.count_users(conn)

    async def list_zones(self) -> list[ZoneRecord]:
        """Every stored zone document, by id."""
        async with self._reading("list zones") as conn:
            return await zones_q.list_zones(conn)

    async def zones_version(self) -> int:
        """A number that grows with every zone change (0 for a new database)."""
        async with self._reading("zones version") as conn:
            return await zones_q.zones_version(conn)


class StoreOpening:
    """What :meth:`Store.open` returns: await it, or use it as an async context manager
    (which closes the store on exit)."""

    __slots__ = ("_coro", "_store")

    def __init__(self, coro: Coroutine[Any, Any, Store]) -> None:
        self._coro = coro
        self._store: Store | None = None

    def __await__(self) -> Generator[Any, None, Store]:
        return self._coro.__await__()

    async def __aenter__(self) -> Store:
        self._store = await self._coro
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.close()


async def verify_audit_url(url: str) -> AuditReport:
    """Open the database at ``url`` read-only (no migration), verify its audit chain, close.

    For ``mission-control audit verify``: ``asyncio.run(verify_audit_url(url))``.

    Raises:
        InvalidDatabaseURL, StoreUnavailable: see :meth:`Store.open`.
        SchemaError: the database has no (current) mission-control schema.
    """
    async with Store.open(url, migrate=False) as store:
        return await store.verify_audit()
