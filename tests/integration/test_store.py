"""The store against real databases: SQLite (a temporary file) and PostgreSQL.

PostgreSQL comes from ``MC_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); every test gets a throwaway
database ``mc_test_<random>``, dropped afterwards, so parallel runs do not clash. If the
server is unreachable the PostgreSQL cases FAIL, unless ``MC_TEST_POSTGRES=skip``.
Tampering is done with raw SQL through a separate engine, as an intruder would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition
from flight_plans.patterns import orbit, with_takeoff_and_rtl
from flight_plans.plan import Fence, FenceCircle, FencePolygon, Plan, RallyPoint
from mission_control.domain.events import Event, EventKind
from mission_control.domain.incident import Incident, IncidentStatus, PatternKind
from mission_control.domain.mission import Mission, MissionState
from mission_control.store import (
    Actor,
    DuplicateError,
    InvalidDatabaseURL,
    InvalidValue,
    NotFound,
    Role,
    SchemaError,
    StaleWrite,
    Store,
    StoreError,
    StoreUnavailable,
    UnitOfWork,
    verify_audit_url,
)
from mission_control.store.engine import hide_password, normalise_url
from mission_control.store.models import metadata

pytestmark = pytest.mark.integration

PG_URL = os.environ.get("MC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ANN = Actor("ann", "responder")
PAT = Actor("pat", "pilot")


class Ticker:
    """A clock that advances 1 ms per reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


# -- databases ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def postgres_admin() -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test server's admin database; fails (or skips) if unreachable."""
    dsn = normalise_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {hide_password(PG_URL)} is unreachable ({exc}); start it or set MC_TEST_POSTGRES=skip"
        if os.environ.get("MC_TEST_POSTGRES") == "skip":
            pytest.skip(message)
        pytest.fail(message)
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[str]:
    """The URL of a new empty database ``mc_test_<random>``, dropped afterwards."""
    name = f"mc_test_{uuid.uuid4().hex[:12]}"
    async with postgres_admin() as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield normalise_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind (SQLite: its directory does not exist yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/not/yet/created/mc.db"
        return
    async with throwaway_postgres() as url:
        yield url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with Store.open(db_url, clock=Ticker()) as s:
        yield s


async def raw(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run SQL outside the store (each statement committed); rows of the last one."""
    engine = create_async_engine(normalise_url(url))
    rows: list[tuple[Any, ...]] = []
    try:
        for statement in statements:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(statement))
                rows = [tuple(r) for r in result] if result.returns_rows else []
    finally:
        await engine.dispose()
    return rows


async def count(url: str, table: str) -> int:
    return int((await raw(url, f"SELECT count(*) FROM {table}"))[0][0])


# -- values ------------------------------------------------------------------------------------


def incident(n: int = 1, **changes: Any) -> Incident:
    base = Incident(
        id=f"inc-{n}",
        source="cad",
        external_id=f"CAD-{n}",
        kind="fire",
        priority=2,
        lat_deg=47.3977 + n * 1e-4,
        lon_deg=8.5456,
        reported_by="ann",
        created_at=T0 + timedelta(seconds=n),
        updated_at=T0 + timedelta(seconds=n),
        description="smoke over the rail yard — «urgent»",
        pattern=PatternKind.ORBIT,
        radius_m=120.0,
    )
    return replace(base, **changes)


def plan() -> Plan:
    home = HomePosition(47.397743, 8.545594, 488.25)
    fragment = orbit(GeoPoint(47.4001, 8.5501), radius_m=80.0, alt_rel_m=60.0, turns=1.0)
    fence = Fence(
        (
            FencePolygon(
                GeoPolygon.from_lat_lon(
                    [(47.38, 8.53), (47.42, 8.53), (47.42, 8.57), (47.38, 8.57)]
                )
            ),
            FencePolygon(
                GeoPolygon.from_lat_lon([(47.395, 8.548), (47.396, 8.548), (47.396, 8.549)]),
                inclusion=False,
            ),
        ),
        (
            FenceCircle(GeoCircle(GeoPoint(47.40, 8.55), 2500.0)),
            FenceCircle(GeoCircle(GeoPoint(47.401, 8.551), 25.5), inclusion=False),
        ),
    )
    mission = with_takeoff_and_rtl(fragment, home, takeoff_alt_rel_m=30.0)
    return Plan(mission, fence, (RallyPoint(47.398, 8.546, 30.0),))


def mission(n: int = 1, incident_id: str = "inc-1", drone_id: int = 3) -> Mission:
    return Mission(
        id=f"m-{n}",
        incident_id=incident_id,
        drone_id=drone_id,
        plan=plan(),
        airspace_report={"ok": True, "violations": [], "legs_checked": 14, "zones_version": 2},
        created_at=T0 + timedelta(minutes=n),
        updated_at=T0 + timedelta(minutes=n),
        expires_at=T0 + timedelta(minutes=n + 2),
        eta_s=95.5,
        station_item=4,
        notes=("detour west of the hospital pad",),
        authorisations={"LSZH-CTR": "AUTH-42"},
    )


def step(m: Mission, state: MissionState, by: str = "pat", seconds: int = 10) -> Mission:
    return m.transition(
        state, at=m.updated_at + timedelta(seconds=seconds), by=by, reason=f"to {state}"
    )


# -- schema ------------------------------------------------------------------------------------


async def test_migrations_build_the_schema_and_reopening_changes_nothing(db_url: str) -> None:
    async with Store.open(db_url) as s:
        await s.add_incident(incident(), ANN)
    assert await raw(db_url, "SELECT version_num FROM alembic_version") == [("0003",)]
    if db_url.startswith("sqlite"):
        assert await raw(db_url, "PRAGMA journal_mode") == [("wal",)]
    async with Store.open(db_url) as s:  # at head already: a no-op, data kept
        assert await s.get_incident("inc-1") == incident()
    assert await raw(db_url, "SELECT version_num FROM alembic_version") == [("0003",)]


async def test_the_migrated_schema_matches_the_models(store: Store, db_url: str) -> None:
    engine = create_async_engine(normalise_url(db_url))

    def diff(conn: sa.Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_a_database_from_a_newer_version_is_refused_with_schema_error(db_url: str) -> None:
    async with Store.open(db_url):
        pass
    await raw(db_url, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaError, match="9999"):
        await Store.open(db_url)
    with pytest.raises(SchemaError, match="9999"):
        await verify_audit_url(db_url)


async def test_read_only_open_refuses_an_unmigrated_database(db_url: str) -> None:
    with pytest.raises(SchemaError, match="no mission-control schema"):
        await verify_audit_url(db_url)


# -- round trips -------------------------------------------------------------------------------


async def test_incident_round_trips_equal(store: Store) -> None:
    full = incident(status=IncidentStatus.UNSERVICEABLE, status_reason="no drone in range")
    bare = incident(2, external_id=None, pattern=None, radius_m=None, description="")
    for i in (full, bare):
        assert (await store.add_incident(i, ANN))[1] is True
        assert await store.get_incident(i.id) == i
    assert await store.get_incident("nope") is None


async def test_mission_with_items_home_fence_and_history_round_trips_equal(store: Store) -> None:
    await store.add_incident(incident(), ANN)
    m = mission()
    await store.add_mission(m, ANN)
    assert await store.get_mission(m.id) == m
    approved = step(m, MissionState.APPROVED)
    await store.update_mission(m, approved, PAT, "mission.approve")
    back = await store.get_mission(m.id)
    assert back == approved
    assert (
        back is not None and back.plan.fence == plan().fence and len(back.plan.fence.circles) == 2
    )
    assert (
        back.plan.mission.home == plan().mission.home
        and back.plan.rally_points == plan().rally_points
    )
    assert back.approved_by == "pat" and [t.to_state for t in back.history] == [
        MissionState.APPROVED
    ]


async def test_a_mission_needs_its_incident_and_a_unique_id(store: Store, db_url: str) -> None:
    with pytest.raises(NotFound, match="inc-1"):
        await store.add_mission(mission(), ANN)
    await store.add_incident(incident(), ANN)
    await store.add_mission(mission(), ANN)
    with pytest.raises(DuplicateError) as info:
        await store.add_mission(mission(), ANN)
    assert info.value.field == "id"
    assert await count(db_url, "missions") == 1


async def test_a_plan_with_a_non_json_report_is_refused_and_nothing_written(
    store: Store, db_url: str
) -> None:
    await store.add_incident(incident(), ANN)
    bad = replace(mission(), airspace_report={"ok": True, "margin_m": math.nan})
    with pytest.raises(InvalidValue, match="airspace_report"):
        await store.add_mission(bad, ANN)
    assert await count(db_url, "missions") == 0 and await store.last_event_seq() == 1


# -- idempotency -------------------------------------------------------------------------------


async def test_a_resent_report_with_the_same_external_id_is_stored_once(
    store: Store, db_url: str
) -> None:
    first, created, events = await store.add_incident(incident(), ANN)
    resent = incident(99, external_id="CAD-1")  # another id, same (source, external_id)
    again, created_again, events_again = await store.add_incident(resent, PAT)
    assert (created, created_again) == (True, False)
    assert again == first and events_again == [] and len(events) == 1
    assert await count(db_url, "incidents") == 1 and await count(db_url, "audit_log") == 1


async def test_the_same_idempotency_key_of_one_actor_is_stored_once(
    store: Store, db_url: str
) -> None:
    a = incident(1, external_id=None)
    b = incident(2, external_id=None)
    assert (await store.add_incident(a, ANN, idempotency_key="k-1"))[1] is True
    got, created, _ = await store.add_incident(b, ANN, idempotency_key="k-1")
    assert got == a and created is False
    # the same key from another actor is another request
    assert (await store.add_incident(b, PAT, idempotency_key="k-1"))[1] is True
    assert await count(db_url, "incidents") == 2 and await store.last_event_seq() == 2


async def test_concurrent_resent_reports_create_exactly_one_incident(
    store: Store, db_url: str
) -> None:
    copies = [incident(n, external_id="CAD-SAME") for n in range(1, 11)]
    results = await asyncio.gather(*(store.add_incident(c, ANN) for c in copies))
    assert sum(created for _, created, _ in results) == 1
    assert len({stored.id for stored, _, _ in results}) == 1
    assert await count(db_url, "incidents") == 1 and await count(db_url, "events") == 1


# -- optimistic concurrency and transactions ---------------------------------------------------


async def test_a_stale_incident_update_is_refused_and_writes_nothing(
    store: Store, db_url: str
) -> None:
    a = incident()
    await store.add_incident(a, ANN)
    b = a.transition(IncidentStatus.DISPATCHING, at=T0 + timedelta(minutes=1))
    await store.update_incident(a, b, ANN, "incident.dispatching")
    c = a.transition(IncidentStatus.CLOSED, at=T0 + timedelta(minutes=2))
    audit_before, seq_before = await count(db_url, "audit_log"), await store.last_event_seq()
    with pytest.raises(StaleWrite) as info:
        await store.update_incident(a, c, PAT, "incident.closed")
    assert (info.value.kind, info.value.object_id) == ("incident", "inc-1")
    assert await store.get_incident("inc-1") == b
    assert (
        await count(db_url, "audit_log") == audit_before
        and await store.last_event_seq() == seq_before
    )
    with pytest.raises(NotFound):
        await store.update_incident(incident(5), incident(5, priority=1), ANN, "incident.edit")


async def test_a_stale_mission_update_is_refused_and_writes_nothing(
    store: Store, db_url: str
) -> None:
    await store.add_incident(incident(), ANN)
    m = mission()
    await store.add_mission(m, ANN)
    approved = step(m, MissionState.APPROVED, by="pat")
    rejected = step(m, MissionState.REJECTED, by="kim")
    await store.update_mission(m, approved, PAT, "mission.approve")
    seq = await store.last_event_seq()
    with pytest.raises(StaleWrite):
        await store.update_mission(m, rejected, Actor("kim", "pilot"), "mission.reject")
    assert await store.get_mission("m-1") == approved and await store.last_event_seq() == seq
    # the value read back is a valid `before` (its etag survives the plan's reload)
    reread = await store.get_mission("m-1")
    assert reread is not None
    await store.update_mission(reread, step(reread, MissionState.UPLOADING), PAT, "mission.upload")


async def test_incident_dispatch_and_mission_creation_commit_together(
    store: Store, db_url: str
) -> None:
    i = incident()
    await store.add_incident(i, ANN)
    dispatching = i.transition(IncidentStatus.DISPATCHING, at=T0 + timedelta(minutes=1))
    events = await store.add_mission(mission(), PAT, incident_update=(i, dispatching))
    assert [e.kind for e in events] == [EventKind.INCIDENT_UPDATED, EventKind.MISSION_CREATED]
    assert events[0].seq < events[1].seq
    assert await store.get_incident(i.id) == dispatching
    # the same with a stale incident: the mission is not written either
    with pytest.raises(StaleWrite):
        await store.add_mission(mission(2), PAT, incident_update=(i, dispatching))
    assert await store.get_mission("m-2") is None


async def test_a_failing_unit_of_work_rolls_everything_back(store: Store, db_url: str) -> None:
    i = incident()
    await store.add_incident(i, ANN)
    dispatching = i.transition(IncidentStatus.DISPATCHING, at=T0 + timedelta(minutes=1))
    seen: list[UnitOfWork] = []

    async def dispatch_then_fail() -> None:
        async with store.transaction() as tx:
            seen.append(tx)
            await tx.update_incident(i, dispatching, PAT, "incident.dispatching")
            await tx.add_mission(mission(), PAT)
            kinds = [e.kind for e in tx.events]
            assert kinds == [EventKind.INCIDENT_UPDATED, EventKind.MISSION_CREATED]
            raise RuntimeError("vehicle gone")

    with pytest.raises(RuntimeError, match="vehicle gone"):
        await dispatch_then_fail()
    assert await store.get_incident(i.id) == i and await store.get_mission("m-1") is None
    assert await count(db_url, "audit_log") == 1 and (await store.verify_audit()).ok
    with pytest.raises(StoreError, match="ended"):
        await seen[0].add_mission(mission(), PAT)


async def test_the_callers_own_errors_leave_a_transaction_untranslated(store: Store) -> None:
    """An OSError of the caller's code (a vehicle socket) is not reported as the database."""

    async def fail_inside() -> None:
        async with store.transaction() as tx:
            await tx.add_incident(incident(), ANN)
            raise ConnectionResetError("vehicle link reset")

    with pytest.raises(ConnectionResetError):
        await fail_inside()
    assert await store.get_incident("inc-1") is None


# -- events ------------------------------------------------------------------------------------


async def test_events_get_increasing_seq_and_replay_from_any_point(store: Store) -> None:
    written: list[Event] = []
    for n in range(1, 6):
        written += (await store.add_incident(incident(n), ANN))[2]
    alert = Event(EventKind.ALERT, "m-9", T0, {"severity": "critical", "text": "battery 14 %"})
    written.append(await store.add_event(alert, PAT))
    seqs = [e.seq for e in written]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6 and seqs[0] >= 1
    assert await store.events_since(0) == written
    assert await store.events_since(seqs[2]) == written[3:]
    assert await store.events_since(seqs[0], limit=2) == written[1:3]
    assert await store.last_event_seq() == seqs[-1]
    with pytest.raises(InvalidValue, match="kind"):
        await store.add_event(replace(alert, kind=EventKind.MISSION_UPDATED), PAT)


async def test_concurrent_writers_keep_seq_order_and_one_audit_chain(store: Store) -> None:
    await asyncio.gather(*(store.add_incident(incident(n), ANN) for n in range(1, 21)))
    events = await store.events_since(0)
    assert len(events) == 20 and [e.seq for e in events] == sorted({e.seq for e in events})
    report = await store.verify_audit()
    assert report.ok and report.entries == 20


async def test_two_service_instances_on_one_database_keep_one_chain_and_seq_order(
    db_url: str,
) -> None:
    """Writers in different processes serialise on the state row, not only the asyncio lock."""
    async with Store.open(db_url) as one, Store.open(db_url) as two:
        writes = [(one if n % 2 else two).add_incident(incident(n), ANN) for n in range(1, 31)]
        results = await asyncio.gather(*writes)
        report = await two.verify_audit()
        events = await one.events_since(0)
    assert report.ok and report.entries == 30, report.reason
    assert [e.seq for e in events] == sorted(e.seq for _, _, (e,) in results)
    assert len(events) == 30


# -- restart -----------------------------------------------------------------------------------


async def test_data_survives_a_restart_and_only_active_missions_are_recovered(db_url: str) -> None:
    async with Store.open(db_url) as s:
        await s.add_incident(incident(), ANN)
        m1, m2, m3 = mission(1), mission(2, drone_id=4), mission(3, drone_id=5)
        for m in (m1, m2, m3):
            await s.add_mission(m, ANN)
        flying = step(
            step(step(step(m1, MissionState.APPROVED), MissionState.UPLOADING), MissionState.READY),
            MissionState.IN_FLIGHT,
        )
        await s.update_mission(m1, flying, PAT, "mission.fly")
        await s.update_mission(m3, step(m3, MissionState.REJECTED), PAT, "mission.reject")
        last = await s.last_event_seq()
    async with Store.open(db_url) as s:
        assert await s.active_missions() == [flying, m2]
        assert await s.get_mission("m-3") is not None
        assert [m.id for m in await s.list_missions(state={MissionState.REJECTED})] == ["m-3"]
        new = await s.add_mission(mission(4, drone_id=6), ANN)  # drone 3 is flying m-1
        assert new[0].seq > last and (await s.verify_audit()).ok


async def test_list_filters_and_pages(store: Store) -> None:
    for n in range(1, 5):
        await store.add_incident(incident(n, reported_by="ann" if n % 2 else "bob"), ANN)
    for n, drone in ((1, 3), (2, 4), (3, 3)):
        await store.add_mission(mission(n, drone_id=drone), ANN)
        if n == 1:  # one active mission per drone: m-1 ends before m-3 takes drone 3
            await store.update_mission(
                mission(1), step(mission(1), MissionState.REJECTED), PAT, "mission.reject"
            )
    assert [i.id for i in await store.list_incidents()] == ["inc-4", "inc-3", "inc-2", "inc-1"]
    assert [i.id for i in await store.list_incidents(reported_by="bob")] == ["inc-4", "inc-2"]
    assert [i.id for i in await store.list_incidents(limit=2, offset=1)] == ["inc-3", "inc-2"]
    assert await store.list_incidents(status=IncidentStatus.CLOSED) == []
    assert [m.id for m in await store.list_missions(drone_id=3)] == ["m-3", "m-1"]
    assert [
        m.id
        for m in await store.list_missions(
            state=MissionState.PENDING_APPROVAL, incident_id="inc-1", limit=1
        )
    ] == ["m-3"]
    with pytest.raises(InvalidValue, match="state"):
        await store.list_missions(state={"flying"})  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="limit"):
        await store.list_incidents(limit=0)


# -- audit -------------------------------------------------------------------------------------


async def populate(store: Store) -> None:
    i = incident()
    await store.add_incident(i, ANN)  # 1
    await store.update_incident(
        i, i.transition(IncidentStatus.CLOSED, at=T0 + timedelta(hours=1)), PAT, "incident.close"
    )  # 2
    await store.add_user("kim", Role.VIEWER, actor=Actor("root", "admin"))  # 3
    await store.add_zones(
        [("z-1", "Hospital", {"type": "Feature", "properties": {}, "geometry": None})], PAT, "api"
    )  # 4
    await store.delete_zone("z-1", PAT)  # 5


async def test_the_audit_log_records_who_what_and_the_change(store: Store) -> None:
    await populate(store)
    entries = await store.audit_entries()
    assert [(e.id, e.actor, e.role, e.action) for e in entries] == [
        (1, "ann", "responder", "incident.create"),
        (2, "pat", "pilot", "incident.close"),
        (3, "root", "admin", "user.add"),
        (4, "pat", "pilot", "zone.add"),
        (5, "pat", "pilot", "zone.delete"),
    ]
    assert entries[1].before == {"status": "open", "updated_at": "2025-03-01T12:00:01.000000+00:00"}
    assert entries[1].after is not None and entries[1].after["status"] == "closed"
    assert (
        entries[0].before is None
        and entries[0].after is not None
        and entries[0].after["kind"] == "fire"
    )
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
    assert [e.id for e in await store.audit_entries("inc-1")] == [1, 2]
    assert entries[0].at.tzinfo is not None and entries[0].at < entries[1].at
    report = await store.verify_audit()
    assert (report.ok, report.entries, report.first_bad_id, report.head_hash) == (
        True,
        5,
        None,
        entries[-1].hash,
    )


async def drop_guards(url: str) -> None:
    if url.startswith("sqlite"):
        await raw(url, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")
    else:
        await raw(url, "DROP TRIGGER audit_log_no_update_delete ON audit_log")


async def test_triggers_refuse_to_rewrite_the_audit_log(store: Store, db_url: str) -> None:
    await populate(store)
    for statement in (
        "UPDATE audit_log SET actor = 'mallory' WHERE id = 2",
        "DELETE FROM audit_log WHERE id = 2",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await raw(db_url, statement)
    assert (await store.verify_audit()).ok


FIELD_EDITS = {
    "actor": "'mallory'",
    "role": "'admin'",
    "action": "'incident.create'",
    "object_type": "'mission'",
    "object_id": "'inc-2'",
    "before": "NULL",
    "after": """'{"status":"open"}'""",
    "at": "'2025-03-01 12:00:00'",
    "prev_hash": "'" + "1" * 64 + "'",
    "hash": "'" + "2" * 64 + "'",
}


async def test_editing_any_field_of_an_audit_entry_is_detected(store: Store, db_url: str) -> None:
    await populate(store)
    await drop_guards(db_url)
    for column, value in FIELD_EDITS.items():
        (original,) = await raw(db_url, f"SELECT {column} FROM audit_log WHERE id = 2")
        await raw(db_url, f"UPDATE audit_log SET {column} = {value} WHERE id = 2")
        report = await verify_audit_url(db_url)
        assert (report.ok, report.first_bad_id) == (False, 2), column
        await raw(db_url, f"UPDATE audit_log SET {column} = {_literal(original[0])} WHERE id = 2")
        assert (await verify_audit_url(db_url)).ok, f"restoring {column} should heal the chain"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
        return f"'{text}'"
    return "'" + str(value).replace("'", "''") + "'"


@pytest.mark.parametrize(
    ("tamper", "first_bad_id", "reason"),
    [
        (["DELETE FROM audit_log WHERE id = 3"], 3, "missing"),
        (
            [
                "UPDATE audit_log SET id = 100 WHERE id = 2",
                "UPDATE audit_log SET id = 2 WHERE id = 3",
                "UPDATE audit_log SET id = 3 WHERE id = 100",
            ],
            2,
            "reordered",
        ),
        (["DELETE FROM audit_log WHERE id = 5"], 5, "missing"),
    ],
    ids=["delete-middle", "reorder", "delete-last"],
)
async def test_deleting_or_reordering_audit_entries_is_detected(
    store: Store, db_url: str, tamper: list[str], first_bad_id: int, reason: str
) -> None:
    await populate(store)
    await drop_guards(db_url)
    await raw(db_url, *tamper)
    report = await store.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, first_bad_id)
    assert reason in report.reason


# -- users and zones ---------------------------------------------------------------------------


async def test_user_tokens_round_trip_and_only_their_hash_is_stored(
    store: Store, db_url: str
) -> None:
    token = await store.add_user("pat", "pilot")
    user = await store.user_for_token(token)
    assert user is not None and (user.name, user.role) == ("pat", Role.PILOT)
    assert user.actor() == PAT
    assert (
        await store.user_for_token(token + "x") is None and await store.user_for_token("") is None
    )
    stored = await raw(db_url, "SELECT token_sha256 FROM users")
    assert (
        stored[0][0] != token
        and len(stored[0][0]) == 64
        and token not in str(await raw(db_url, "SELECT * FROM users"))
    )
    assert token not in str(await raw(db_url, "SELECT * FROM audit_log"))
    with pytest.raises(DuplicateError) as info:
        await store.add_user("pat", "admin")
    assert info.value.field == "name"
    with pytest.raises(InvalidValue, match="role"):
        await store.add_user("kim", "superuser")
    await store.add_user("ann", Role.RESPONDER)
    assert [(u.name, u.role) for u in await store.list_users()] == [
        ("ann", Role.RESPONDER),
        ("pat", Role.PILOT),
    ]
    assert await store.count_users() == 2
    assert await store.delete_user("pat") is True and await store.delete_user("pat") is False
    assert await store.user_for_token(token) is None and await store.count_users() == 1


FEATURE = {
    "type": "Feature",
    "properties": {"floor_m": 0, "name": "Spital"},
    "geometry": {"type": "Point", "coordinates": [8.55, 47.4]},
}


async def test_zones_add_list_delete_and_bump_the_version(store: Store, db_url: str) -> None:
    assert await store.zones_version() == 0 and await store.list_zones() == []
    added = await store.add_zones(
        [("z-2", "Spital", FEATURE), ("z-1", "Airport", {"type": "Feature"})], PAT, "ed269.json"
    )
    assert [z.zone_id for z in added] == ["z-2", "z-1"]
    listed = await store.list_zones()
    assert [(z.zone_id, z.name, z.source, z.created_by) for z in listed] == [
        ("z-1", "Airport", "ed269.json", "pat"),
        ("z-2", "Spital", "ed269.json", "pat"),
    ]
    assert listed[1].feature == FEATURE
    assert await store.zones_version() == 1
    for docs in (
        [("z-3", "New", FEATURE), ("z-1", "Again", FEATURE)],
        [("z-4", "A", FEATURE), ("z-4", "B", FEATURE)],
    ):
        with pytest.raises(DuplicateError) as info:
            await store.add_zones(docs, PAT, "api")
        assert info.value.field == "zone_id"
    assert len(await store.list_zones()) == 2 and await store.zones_version() == 1
    assert await store.delete_zone("z-1", PAT) is True and await store.zones_version() == 2
    assert await store.delete_zone("z-1", PAT) is False and await store.zones_version() == 2
    assert [z.zone_id for z in await store.list_zones()] == ["z-2"]
    assert [e.action for e in await store.audit_entries("z-1")] == ["zone.add", "zone.delete"]


# -- opening -----------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("url", ["nonsense", "mysql://u@localhost/db", "sqlite://"])
async def test_a_bad_url_gives_a_store_error(url: str) -> None:
    with pytest.raises(InvalidDatabaseURL):
        await Store.open(url)


async def test_unreachable_databases_give_store_unavailable(tmp_path: Path) -> None:
    urls: list[str] = [
        f"postgresql://postgres:pw@127.0.0.1:{_closed_port()}/mc",
        normalise_url(PG_URL)
        .set(database=f"mc_missing_{uuid.uuid4().hex[:8]}")
        .render_as_string(hide_password=False),
        f"sqlite:///{tmp_path}",  # a directory, not a file
    ]
    async with postgres_admin():  # the server is up: only the URLs are wrong
        pass
    for url in urls:
        with pytest.raises(StoreUnavailable) as info:
            await Store.open(url, connect_timeout_s=5)
        assert type(info.value).__module__.startswith("mission_control"), url
        assert "pw@" not in str(info.value)


async def test_a_closed_store_refuses_use(db_url: str) -> None:
    s = await Store.open(db_url)
    assert await s.ping() is True and s.dialect in ("sqlite", "postgresql")
    await s.close()
    await s.close()
    with pytest.raises(StoreError, match="closed"):
        await s.get_incident("inc-1")
