"""Vehicle-link leases against real databases: SQLite (a temporary file) and PostgreSQL.

Each keeper gets its own :class:`Store` (its own connections), as separate processes would;
one test runs the victim in a real subprocess and SIGKILLs it. PostgreSQL comes from
``MC_TEST_POSTGRES_URL`` (a throwaway database per test, as in ``test_store.py``); the
cases fail if it is unreachable unless ``MC_TEST_POSTGRES=skip``. TTLs are short (1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from test_store import ANN, PAT, incident, mission, step

from mission_control.domain.mission import MissionState
from mission_control.services.leases import LeaseInfo, LeaseKeeper, LeaseNotHeld
from mission_control.store import DuplicateError, Store, StoreUnavailable, UnitOfWork
from mission_control.store.engine import hide_password, normalise_url
from mission_control.store.models import ACTIVE_MISSION_SQL, missions

pytestmark = pytest.mark.integration

PG_URL = os.environ.get("MC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[2]
TTL_S = 1.0
PERIOD_S = 0.25
SLACK_S = 0.15  # scheduling and database latency allowed on top of the designed bounds
LINKS = tuple(f"link:udpout://10.0.0.{n}:14540" for n in range(1, 5))
DISPATCHER = "dispatcher"


# -- databases ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[str]:
    """The URL of a new empty database ``mc_test_<random>``, dropped afterwards."""
    dsn = normalise_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {hide_password(PG_URL)} is unreachable ({exc}); start it or set MC_TEST_POSTGRES=skip"
        if os.environ.get("MC_TEST_POSTGRES") == "skip":
            pytest.skip(message)
        pytest.fail(message)
    name = f"mc_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield normalise_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind, migrated once (so keepers open it concurrently)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/mc.db"
        async with Store.open(url):
            pass
        yield url
        return
    async with throwaway_postgres() as url:
        async with Store.open(url):
            pass
        yield url


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[list[Store]]:
    """Three stores on one database (three "processes")."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Store.open(db_url)) for _ in range(3)]


# -- helpers -----------------------------------------------------------------------------------


class Recorder:
    """Callbacks that record what a keeper reported and when (monotonic seconds)."""

    def __init__(self, fail_acquire: Sequence[str] = ()) -> None:
        self.acquired: list[tuple[LeaseInfo, float]] = []
        self.lost: list[tuple[str, float]] = []
        self._fail_acquire = set(fail_acquire)

    async def on_acquired(self, info: LeaseInfo) -> None:
        self.acquired.append((info, time.monotonic()))
        if info.name in self._fail_acquire:
            raise RuntimeError(f"cannot open {info.name}")

    async def on_lost(self, name: str) -> None:
        self.lost.append((name, time.monotonic()))


class Probe:
    """A store wrapper: records when each call starts; calls named in ``failing`` raise
    :class:`StoreUnavailable` (a database that went away)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[tuple[str, float, tuple[Any, ...]]] = []
        self.failing: set[str] = set()

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        target = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, time.monotonic(), args))
            if name in self.failing:
                raise StoreUnavailable("probe://", "injected failure")
            return await target(*args, **kwargs)

        return call

    def last(self, name: str, *args: Any) -> float:
        """When the last call of ``name`` (with arguments starting with ``args``) began."""
        return max(at for n, at, a in self.calls if n == name and a[: len(args)] == args)

    async def after_beat(self) -> None:
        """Wait until a beat's renewals have completed (a later ``list_leases`` began)."""
        mark = time.monotonic()
        await wait_for(lambda: any(n == "renew_lease" and at > mark for n, at, _ in self.calls))
        renewed = self.last("renew_lease")
        await wait_for(lambda: any(n == "list_leases" and at > renewed for n, at, _ in self.calls))


def keeper(
    store: Any,
    name: str,
    recorder: Recorder,
    *,
    balanced: Sequence[str] = LINKS,
    singletons: Sequence[str] = (DISPATCHER,),
) -> LeaseKeeper:
    return LeaseKeeper(
        store,
        name,
        balanced=balanced,
        singletons=singletons,
        ttl_s=TTL_S,
        period_s=PERIOD_S,
        on_acquired=recorder.on_acquired,
        on_lost=recorder.on_lost,
    )


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    """Poll ``condition`` every 10 ms; the monotonic time it became true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
    return time.monotonic()


async def holders(store: Store) -> dict[str, str | None]:
    return {row.name: row.holder for row in await store.list_leases()}


# -- store operations --------------------------------------------------------------------------


async def test_lease_operations_are_compare_and_set(stores: list[Store]) -> None:
    s = stores[0]
    assert await s.acquire_lease("L", "a") == 1  # created
    assert await s.acquire_lease("L", "b") is None  # held
    assert await s.renew_lease("L", "a") and not await s.renew_lease("L", "b")
    [row] = await s.list_leases()
    assert (row.holder, row.token, row.drone_id) == ("a", 2, None)
    assert not await s.take_over_lease("L", "b", seen_holder="a", seen_token=1)  # stale pair
    assert await s.take_over_lease("L", "b", seen_holder="a", seen_token=2)
    assert not await s.set_lease_drone("L", "a", 7) and await s.set_lease_drone("L", "b", 7)
    assert not await s.release_lease("L", "a") and await s.release_lease("L", "b")
    [row] = await s.list_leases()
    assert (row.holder, row.token, row.drone_id) == (None, 4, 7)
    assert await s.acquire_lease("L", "c") == 5  # free: taken at once
    await s.heartbeat("a")
    await s.heartbeat("a")
    [presence] = await s.list_instances()
    assert (presence.id, presence.token) == ("a", 2)
    assert not await s.forget_instance("a", token=1) and await s.forget_instance("a", token=2)
    assert await s.list_instances() == []


async def test_many_concurrent_take_overs_exactly_one_wins(db_url: str) -> None:
    """20 contenders on three connection pools race to create a missing lease, then to take
    the same observed (holder, token): one wins each race. (Long lock waits: on SQLite
    twenty writers queue for the one write lock, and this test is about the outcome.)"""
    async with contextlib.AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(Store.open(db_url, lease_wait_s=30.0)) for _ in range(3)
        ]
        created = await asyncio.gather(
            *(stores[n % 3].acquire_lease("L", f"c{n}") for n in range(20))
        )
        assert sum(token is not None for token in created) == 1
        [row] = await stores[0].list_leases()
        won = await asyncio.gather(
            *(
                stores[n % 3].take_over_lease(
                    "L", f"t{n}", seen_holder=row.holder, seen_token=row.token
                )
                for n in range(20)
            )
        )
        assert won.count(True) == 1
        [after] = await stores[0].list_leases()
        assert after.holder == f"t{won.index(True)}" and after.token == row.token + 1


# -- the keeper --------------------------------------------------------------------------------


async def test_two_keepers_split_the_links_and_one_holds_the_singleton(stores: list[Store]) -> None:
    ra, rb = Recorder(), Recorder()
    a, b = keeper(stores[0], "a", ra), keeper(stores[1], "b", rb)
    await asyncio.gather(a.announce(), b.announce())  # both started
    async with a, b:
        assert a.live_instances() == b.live_instances() == {"a", "b"}
        assert len(a.held & set(LINKS)) == 2 and len(b.held & set(LINKS)) == 2
        assert a.holds(DISPATCHER) != b.holds(DISPATCHER)
        await asyncio.sleep(3 * PERIOD_S)  # stable: nothing moves between healthy holders
        stored = await holders(stores[2])
        assert {n for n, h in stored.items() if h == "a"} == a.held
        assert {n for n, h in stored.items() if h == "b"} == b.held
        assert sorted(info.name for info, _ in ra.acquired) == sorted(a.held)
        assert ra.lost == rb.lost == []


async def test_a_single_keeper_holds_everything_after_enter(stores: list[Store]) -> None:
    recorder = Recorder()
    async with keeper(stores[0], "solo", recorder) as solo:
        assert solo.held == {*LINKS, DISPATCHER}  # the first beat ran before enter returned
        assert {info.token for info, _ in recorder.acquired} == {1}


async def test_graceful_exit_releases_and_the_other_takes_over_within_a_period(
    stores: list[Store],
) -> None:
    ra, rb = Recorder(), Recorder()
    a, b = keeper(stores[0], "a", ra), keeper(stores[1], "b", rb)
    await asyncio.gather(a.announce(), b.announce())
    async with a:
        await b.__aenter__()
        b_held = b.held
        assert b_held and len(a.held & set(LINKS)) == 2
        await b.__aexit__(None, None, None)
        exited = time.monotonic()
        assert sorted(name for name, _ in rb.lost) == sorted(b_held)  # stopped before release
        assert "b" not in (await holders(stores[2])).values()
        took = await wait_for(lambda: a.held == {*LINKS, DISPATCHER})
        assert took - exited <= PERIOD_S + SLACK_S
        assert a.live_instances() == {"a"}


async def test_an_abandoned_keepers_leases_are_taken_over_after_the_ttl(
    stores: list[Store],
) -> None:
    """Not before TTL after its last renewal began, and within TTL + 2 periods of its end."""
    rv, rs = Recorder(), Recorder()
    probe = Probe(stores[0])
    victim = keeper(probe, "victim", rv)
    await victim.__aenter__()
    assert victim.held == {*LINKS, DISPATCHER}
    async with keeper(stores[1], "survivor", rs) as survivor:
        assert survivor.held == set()  # nothing free, nothing stolen
        await probe.after_beat()
        last_renewal = probe.last("renew_lease")
        await victim.abandon()  # as kill -9: no release, no presence removal
        killed = time.monotonic()
        await wait_for(lambda: survivor.held == {*LINKS, DISPATCHER}, timeout_s=TTL_S + 3)
        times = [at for _, at in rs.acquired]
        assert min(times) >= last_renewal + TTL_S
        assert max(times) <= killed + TTL_S + 2 * PERIOD_S + SLACK_S
        assert set((await holders(stores[2])).values()) == {"survivor"}
        assert rv.lost == []  # it never knew


SUBPROCESS_KEEPER = """
import asyncio, sys
from mission_control.services.leases import LeaseKeeper
from mission_control.store import Store

async def main(url, ttl_s, period_s, names):
    async def acquired(info):
        pass
    async def lost(name):
        pass
    async with Store.open(url) as store:
        async with LeaseKeeper(store, "victim", balanced=names, ttl_s=ttl_s, period_s=period_s,
                               on_acquired=acquired, on_lost=lost) as keeper:
            print("holding", len(keeper.held), flush=True)
            await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]))
"""


async def test_a_sigkilled_keeper_process_loses_its_links_after_the_ttl(
    stores: list[Store], db_url: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUBPROCESS_KEEPER,
        db_url,
        str(TTL_S),
        str(PERIOD_S),
        *LINKS,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line.split() == [b"holding", str(len(LINKS)).encode()]
        recorder = Recorder()
        async with keeper(stores[0], "survivor", recorder, singletons=()) as survivor:
            await asyncio.sleep(PERIOD_S)
            assert survivor.held == set() and survivor.live_instances() == {"victim", "survivor"}
            proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            took = await wait_for(lambda: survivor.held == set(LINKS), timeout_s=TTL_S + 3)
            # its last renewal began at most a period (plus a beat) before the kill
            assert TTL_S - PERIOD_S - SLACK_S <= took - killed <= TTL_S + 2 * PERIOD_S + SLACK_S
            assert survivor.live_instances() == {"survivor"}
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.stdout.read()
        await proc.wait()


async def test_a_renewal_that_finds_another_holder_calls_on_lost(stores: list[Store]) -> None:
    recorder = Recorder()
    async with keeper(stores[0], "a", recorder, balanced=()) as a:
        assert a.holds(DISPATCHER)
        while True:  # an intruder's compare-and-set (retried if a renewal came between)
            [row] = await stores[1].list_leases()
            if await stores[1].take_over_lease(
                DISPATCHER, "intruder", seen_holder="a", seen_token=row.token
            ):
                break
        taken = time.monotonic()
        lost_at = await wait_for(lambda: bool(recorder.lost))
        assert [name for name, _ in recorder.lost] == [DISPATCHER] and not a.holds(DISPATCHER)
        assert lost_at - taken <= PERIOD_S + SLACK_S
        await asyncio.sleep(TTL_S / 2)
        assert (await holders(stores[1]))[DISPATCHER] == "intruder"  # not taken back early


async def test_database_errors_fence_the_holder_and_never_stop_the_keeper(
    stores: list[Store],
) -> None:
    """Unrenewed for 0.75 TTL: on_lost; when the database answers again, it takes the
    (still its own) leases back."""
    recorder = Recorder()
    probe = Probe(stores[0])
    async with keeper(probe, "a", recorder, balanced=LINKS[:2], singletons=()) as a:
        await probe.after_beat()
        last_ok = {name: probe.last("renew_lease", name) for name in LINKS[:2]}
        probe.failing = {"renew_lease", "heartbeat", "list_leases", "list_instances"}
        await wait_for(lambda: len(recorder.lost) == 2)
        assert a.held == set()
        for name, at in recorder.lost:  # the keeper's clock starts just before the probe's
            assert 0.75 * TTL_S - 0.01 <= at - last_ok[name] <= 0.75 * TTL_S + SLACK_S
        probe.failing = set()
        await wait_for(lambda: a.held == set(LINKS[:2]), timeout_s=2 * PERIOD_S + SLACK_S + 1)
        assert len(recorder.acquired) == 4  # twice each: re-adopted by compare-and-set


async def test_a_writer_holding_the_lock_fences_the_holder_on_time(
    stores: list[Store], db_url: str
) -> None:
    """A renewal stuck behind another transaction's lock (SQLite: the write lock;
    PostgreSQL: the row lock) does not delay fencing; the lease comes back after."""
    recorder = Recorder()
    probe = Probe(stores[0])
    async with keeper(probe, "a", recorder, balanced=LINKS[:1], singletons=()) as a:
        engine = create_async_engine(normalise_url(db_url))
        try:
            async with engine.connect() as conn:
                await probe.after_beat()
                last_ok = probe.last("renew_lease")
                if db_url.startswith("sqlite"):
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    await conn.exec_driver_sql("UPDATE leases SET drone_id = 1")
                else:
                    await conn.begin()
                    await conn.execute(sa.text("SELECT name FROM leases FOR UPDATE"))
                lost_at = await wait_for(lambda: bool(recorder.lost))
                assert lost_at - last_ok <= 0.75 * TTL_S + SLACK_S and a.held == set()
                await conn.rollback()
                unlocked = time.monotonic()
        finally:
            await engine.dispose()
        back = await wait_for(lambda: a.held == {LINKS[0]})
        assert back - unlocked <= 1.0 + 2 * PERIOD_S + SLACK_S  # the stuck call's wait, a beat


async def test_a_failing_on_acquired_releases_the_lease_for_another_instance(
    stores: list[Store],
) -> None:
    ra, rb = Recorder(fail_acquire=[DISPATCHER]), Recorder()
    async with keeper(stores[0], "a", ra, balanced=()) as a:
        assert not a.holds(DISPATCHER)
        assert (await holders(stores[2]))[DISPATCHER] is None  # released at once
        async with keeper(stores[1], "b", rb, balanced=()) as b:
            assert b.holds(DISPATCHER)
            await asyncio.sleep(2 * PERIOD_S)
            assert [info.name for info, _ in ra.acquired] == [DISPATCHER]  # a keeps beating
            assert b.holds(DISPATCHER) and not a.holds(DISPATCHER)


async def test_set_drone_and_holder_of_drone(stores: list[Store]) -> None:
    ra, rb = Recorder(), Recorder()
    a, b = keeper(stores[0], "a", ra, singletons=()), keeper(stores[1], "b", rb, singletons=())
    await asyncio.gather(a.announce(), b.announce())
    async with a, b:
        mine, theirs = sorted(a.held)[0], sorted(b.held)[0]
        await a.set_drone(mine, 7)
        await b.set_drone(theirs, 8)
        assert await b.holder_of_drone(7) == "a" and await a.holder_of_drone(8) == "b"
        assert await a.holder_of_drone(99) is None
        with pytest.raises(LeaseNotHeld, match=theirs):
            await a.set_drone(theirs, 9)
        leases = {info.name: info for info in await a.leases()}
        assert leases[mine].drone_id == 7 and leases[mine].holder == "a"
        assert leases[theirs].drone_id == 8


def test_bad_keeper_settings_are_refused() -> None:
    async def nothing(_: Any) -> None:
        pass

    def make(**kwargs: Any) -> LeaseKeeper:
        args: dict[str, Any] = {"balanced": LINKS, "on_acquired": nothing, "on_lost": nothing}
        return LeaseKeeper(Probe(None), "a", **(args | kwargs))  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="period_s"):
        make(ttl_s=1.0, period_s=0.6)
    with pytest.raises(ValueError, match="ttl_s"):
        make(ttl_s=0.0)
    with pytest.raises(ValueError, match="twice"):
        make(singletons=[LINKS[0]])
    assert math.isclose(make(ttl_s=8.0)._period_s, 2.0)


# -- one active mission per drone --------------------------------------------------------------


async def test_one_active_mission_per_drone(stores: list[Store], db_url: str) -> None:
    s = stores[0]
    await s.add_incident(incident(), ANN)
    first = mission(1, drone_id=3)
    await s.add_mission(first, ANN)
    with pytest.raises(DuplicateError, match="m-1") as refused:
        await s.add_mission(mission(2, drone_id=3), ANN)
    assert refused.value.field == "drone_id" and refused.value.value == "3"
    assert await s.get_mission("m-2") is None and (await s.verify_audit()).ok
    await s.add_mission(mission(3, drone_id=4), ANN)  # another drone: fine
    await s.update_mission(first, step(first, MissionState.REJECTED), PAT, "mission.reject")
    await s.add_mission(mission(2, drone_id=3), ANN)  # the first one ended
    assert {m.id for m in await s.active_missions()} == {"m-2", "m-3"}

    # the database itself refuses a second active row (a writer bypassing the store)
    engine = create_async_engine(normalise_url(db_url))
    try:
        async with engine.begin() as conn:
            row = dict(
                (await conn.execute(sa.select(missions).where(missions.c.id == "m-2")))
                .mappings()
                .one()
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(sa.insert(missions).values(row | {"id": "m-x"}))
    finally:
        await engine.dispose()


async def test_the_index_violation_is_reported_as_duplicate_drone(
    stores: list[Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the check under the lock missed it, the index's refusal becomes the same error."""
    s = stores[0]
    await s.add_incident(incident(), ANN)
    await s.add_mission(mission(1, drone_id=3), ANN)
    real = UnitOfWork._active_mission_of
    calls = 0

    async def blind_once(self: UnitOfWork, drone_id: int) -> str | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await real(self, drone_id)

    monkeypatch.setattr(UnitOfWork, "_active_mission_of", blind_once)
    with pytest.raises(DuplicateError, match="m-1") as refused:
        await s.add_mission(mission(2, drone_id=3), ANN)
    assert refused.value.field == "drone_id" and calls == 2
    assert await s.get_mission("m-2") is None and (await s.verify_audit()).ok


def test_the_frozen_migration_index_matches_the_terminal_states() -> None:
    path = ROOT / "mission_control/store/migrations/versions/0002_leases.py"
    spec = importlib.util.spec_from_file_location("mc_migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ACTIVE_MISSION == ACTIVE_MISSION_SQL
