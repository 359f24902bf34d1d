"""Which service instance owns each vehicle link (and each singleton job): the lease keeper.

Several instances share one database. Each named lease (``link:<url>``, ``dispatcher``) is
held by at most one instance, which renews it every beat; when the holder dies another
instance takes it over. :class:`LeaseKeeper` is one instance's side of that::

    async with LeaseKeeper(store, "mc-1", balanced=[f"link:{u}" for u in urls],
                           singletons=["dispatcher"], on_acquired=start, on_lost=stop):
        ...   # start(info) / stop(name) are awaited as leases come and go

**Expiry by observation.** Machines' clocks may disagree, so no decision compares
timestamps. A lease row carries a ``token`` bumped by every renewal; the keeper remembers,
per lease, the ``(holder, token)`` pair it last saw and its own ``time.monotonic()`` when
that pair first appeared. A pair unchanged for ``ttl_s`` means the holder stopped renewing:
the keeper takes the lease with a compare-and-set on that exact pair, so at most one
instance wins and a holder that renewed meanwhile keeps it. A released (holder ``NULL``) or
missing lease is free at once. Presence works the same way (``instances.token``): an
instance is live while its token changed within ``ttl_s``.

**Self-fencing.** A holder whose renewals have not succeeded for ``0.75 * ttl_s`` (database
errors, timeouts) gives the lease up locally (``on_lost``) *before* anyone else can take
it: others wait ``ttl_s`` from a moment after the last successful renewal began. The margin
(``0.25 * ttl_s``, 2 s by default) is what ``on_lost`` has to stop using the link. A renewal
that finds another holder also calls ``on_lost``.

**Balance without stealing.** Each instance takes at most ``ceil(len(balanced) / live
instances)`` balanced leases, so instances that see each other at start-up split the links.
A healthy lease is never taken from a live holder to rebalance later: moving a link means
disconnecting the ground station from a drone that may be flying a mission, a risk not
worth an even spread; links move only when their holder stops or dies. Instances that
start at the same moment see each other only if each has announced itself
(:meth:`LeaseKeeper.announce`, also done on enter) before the other's first beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn, Protocol, TypeVar

from mission_control.services.errors import ServiceError
from mission_control.store import StoreError
from mission_control.store.leases import InstanceRow, LeaseRow

__all__ = ["LeaseInfo", "LeaseKeeper", "LeaseNotHeld", "LeaseStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FENCE_FRACTION = 0.75
"""A held lease not renewed for this fraction of the TTL is given up (see the module doc)."""

FORGET_PEER_TTLS = 10
"""A presence row unchanged for this many TTLs is deleted (an instance that died long ago)."""


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A lease as stored.

    Attributes:
        name: ``link:<url>``, ``dispatcher`` ...
        holder: the holding instance's id, ``None`` when free.
        token: its change counter.
        drone_id: the MAVLink system id last seen on the link (by any holder), if any.
    """

    name: str
    holder: str | None
    token: int
    drone_id: int | None


class LeaseNotHeld(ServiceError):
    """This instance does not hold the lease (any more).

    Attributes:
        name: the lease.
        instance_id: this instance.
    """

    def __init__(self, name: str, instance_id: str) -> None:
        super().__init__(f"instance {instance_id!r} does not hold the lease {name!r}")
        self.name = name
        self.instance_id = instance_id


class LeaseStore(Protocol):
    """What the keeper needs of :class:`mission_control.store.Store`."""

    async def acquire_lease(self, name: str, holder: str) -> int | None: ...
    async def renew_lease(self, name: str, holder: str) -> bool: ...
    async def take_over_lease(
        self, name: str, holder: str, *, seen_holder: str | None, seen_token: int
    ) -> bool: ...
    async def release_lease(self, name: str, holder: str) -> bool: ...
    async def set_lease_drone(self, name: str, holder: str, drone_id: int | None) -> bool: ...
    async def list_leases(self) -> list[LeaseRow]: ...
    async def heartbeat(self, instance_id: str) -> None: ...
    async def forget_instance(self, instance_id: str, *, token: int | None = None) -> bool: ...
    async def list_instances(self) -> list[InstanceRow]: ...


@dataclass(slots=True)
class _Seen:
    """An observed ``(holder, token)`` pair and the monotonic time it first appeared."""

    holder: str | None
    token: int
    since_s: float


class _Skip(Exception):
    """A database call failed: the rest of this beat's database work is skipped."""


def _info(row: LeaseRow) -> LeaseInfo:
    return LeaseInfo(row.name, row.holder, row.token, row.drone_id)


class LeaseKeeper:
    """Holds, renews and takes over this instance's share of the named leases.

    Args:
        store: the shared database (a :class:`~mission_control.store.Store`).
        instance_id: this instance's id, unique among the instances sharing the database.
        balanced: leases spread over the live instances (one per vehicle link).
        singletons: leases any instance may hold (e.g. ``dispatcher``).
        ttl_s: how long a lease stays unrenewed before another instance takes it over.
        period_s: the beat (presence, renewals, take-overs); default ``ttl_s / 4``, at most
            ``ttl_s / 2``.
        settle_s: after start-up, leave balanced leases alone this long (at most ``ttl_s``)
            so instances started together see each other and split them.
        on_acquired: awaited (on the keeper's task) when a lease is taken; if it raises,
            the lease is released and left alone for ``ttl_s``.
        on_lost: awaited when a lease is lost (taken over, fenced) or given up on exit, before
            it is released. Both callbacks should return quickly (well under
            ``ttl_s / 4``): renewals wait for them. Their exceptions are logged.

    Raises:
        ValueError: a bad TTL or period, a lease named twice or in both lists.
    """

    def __init__(
        self,
        store: LeaseStore,
        instance_id: str,
        *,
        balanced: Sequence[str],
        singletons: Sequence[str] = (),
        ttl_s: float = 8.0,
        period_s: float | None = None,
        settle_s: float = 0.0,
        on_acquired: Callable[[LeaseInfo], Awaitable[None]],
        on_lost: Callable[[str], Awaitable[None]],
    ) -> None:
        period = ttl_s / 4 if period_s is None else period_s
        if not (math.isfinite(ttl_s) and ttl_s > 0):
            raise ValueError(f"ttl_s must be a positive number of seconds, not {ttl_s!r}")
        if not (0 < period <= ttl_s / 2):
            raise ValueError(f"period_s must be in (0, ttl_s / 2 = {ttl_s / 2}], not {period!r}")
        names = [*balanced, *singletons]
        if len(set(names)) != len(names):
            raise ValueError("a lease is named twice (balanced and singletons must be distinct)")
        if not instance_id:
            raise ValueError("instance_id must not be empty")
        self._store = store
        self._id = instance_id
        self._balanced = tuple(balanced)
        self._singletons = tuple(singletons)
        self._ttl_s = ttl_s
        self._period_s = period
        self._settle_s = min(settle_s, ttl_s)
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._held: dict[str, float] = {}  # name -> monotonic start of its last good renewal
        self._seen: dict[str, _Seen] = {}  # leases, as last observed
        self._peers: dict[str, _Seen] = {}  # other instances' presence, as last observed
        self._cooling: dict[str, float] = {}  # name -> monotonic time it may be taken again
        self._failing: set[str] = set()  # kinds of store call failing now (for the log)
        self._stragglers: set[asyncio.Task[Any]] = set()  # store calls that outlived their wait
        self._task: asyncio.Task[None] | None = None
        self._first_beat = asyncio.Event()
        self._entered_s = -math.inf

    # -- lifecycle ---------------------------------------------------------------------

    async def announce(self) -> None:
        """Write this instance's presence now (done on enter too). Instances that start
        together split the balanced leases only if each announced itself before the
        other's first beat: call this early in start-up.

        Raises:
            StoreError: the database failed.
        """
        await self._store.heartbeat(self._id)

    async def __aenter__(self) -> LeaseKeeper:
        """Start beating; returns after the first beat (its leases are held by then)."""
        if self._task is not None:
            raise RuntimeError("this LeaseKeeper is already running")
        self._first_beat.clear()
        self._entered_s = time.monotonic()
        with contextlib.suppress(StoreError):
            await self.announce()  # the first beat retries it and logs a failure
        task = asyncio.create_task(self._run(), name=f"lease-keeper[{self._id}]")
        self._task = task
        first = asyncio.create_task(self._first_beat.wait(), name="lease-keeper-first-beat")
        try:
            await asyncio.wait({task, first}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            await self._stop()
            raise
        finally:
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
        if task.done():  # only a bug ends the loop: show it
            self._task = None
            task.result()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop beating; for every held lease await ``on_lost`` then release it (others
        take it over at once); remove this instance's presence."""
        await self._stop()
        for name in sorted(self._held):
            del self._held[name]
            await self._callback(self._on_lost(name), f"on_lost({name!r}) on exit")
            with contextlib.suppress(_Skip):
                await self._db("release", self._store.release_lease(name, self._id))
        with contextlib.suppress(_Skip):
            await self._db("forget presence", self._store.forget_instance(self._id))

    async def abandon(self) -> None:
        """Stop beating *without* releasing anything or calling back, as if the process had
        been killed: the leases expire after ``ttl_s`` (for tests of take-over)."""
        await self._stop()
        self._held.clear()

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for straggler in list(self._stragglers):  # store calls that outlived their wait
            straggler.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await straggler

    # -- queries -----------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        """This instance's id."""
        return self._id

    @property
    def held(self) -> frozenset[str]:
        """The leases this instance holds now."""
        return frozenset(self._held)

    def holds(self, name: str) -> bool:
        """True if this instance holds ``name`` now."""
        return name in self._held

    def live_instances(self) -> frozenset[str]:
        """Instances seen alive within ``ttl_s`` (as last observed), this one included."""
        return self._live(time.monotonic())

    def _live(self, now: float) -> frozenset[str]:
        live = {peer for peer, seen in self._peers.items() if now - seen.since_s < self._ttl_s}
        return frozenset({self._id, *live})

    async def leases(self) -> list[LeaseInfo]:
        """Every stored lease, read now.

        Raises:
            StoreError: the database failed.
        """
        return [_info(row) for row in await self._store.list_leases()]

    async def holder_of_drone(self, drone_id: int) -> str | None:
        """The instance holding the lease on which ``drone_id`` was last seen, read now
        (``None`` if no held lease has it).

        Raises:
            StoreError: the database failed.
        """
        for row in await self._store.list_leases():
            if row.drone_id == drone_id and row.holder is not None:
                return row.holder
        return None

    async def set_drone(self, name: str, drone_id: int) -> None:
        """Record the MAVLink system id seen on a held link, for :meth:`holder_of_drone`.

        Raises:
            LeaseNotHeld: this instance does not hold ``name``.
            StoreError: the database failed.
        """
        if name not in self._held or not await self._store.set_lease_drone(
            name, self._id, drone_id
        ):
            raise LeaseNotHeld(name, self._id)

    # -- the beat ----------------------------------------------------------------------

    async def _run(self) -> None:
        next_s = time.monotonic()
        while True:
            try:
                await self._beat()
            except Exception:  # a bug; the keeper must go on renewing regardless
                log.exception("lease keeper %s: a beat failed", self._id)
            self._first_beat.set()
            next_s = max(next_s + self._period_s, time.monotonic())
            # sleep until the next beat, waking to fence a lease whose time is up
            while (now := time.monotonic()) < next_s:
                await asyncio.sleep(min(next_s, self._fence_deadline()) - now)
                await self._fence_overdue()

    async def _beat(self) -> None:
        await self._fence_overdue()
        # Each phase stops at its first database failure (logged); the next beat retries.
        # Presence is written before renewals, and others' leases are read before their
        # presence, at one observation time: so a dead holder's presence expires no later
        # than its leases, and quota never holds back the take-over of its links.
        for phase in (self._heartbeat, self._renew, self._observe_and_take):
            with contextlib.suppress(_Skip):
                await phase()
        await self._fence_overdue()

    async def _heartbeat(self) -> None:
        await self._db("heartbeat", self._store.heartbeat(self._id))

    async def _observe_instances(self, now: float) -> None:
        rows = await self._db("list instances", self._store.list_instances())
        present = {row.id: row for row in rows if row.id != self._id}
        for peer in set(self._peers) - set(present):
            del self._peers[peer]
        for peer, row in present.items():
            seen = self._peers.get(peer)
            if seen is None or seen.token != row.token:
                self._peers[peer] = _Seen(peer, row.token, now)
            elif now - seen.since_s >= FORGET_PEER_TTLS * self._ttl_s:
                # dead long ago: forget it (only if it did not come back meanwhile)
                await self._db(
                    "forget instance", self._store.forget_instance(peer, token=row.token)
                )

    async def _renew(self) -> None:
        for name in sorted(self._held):
            started_s = time.monotonic()
            if await self._db("renew", self._store.renew_lease(name, self._id)):
                self._held[name] = started_s
            else:
                await self._lose(name, "another instance holds it now")
            await self._fence_overdue()

    async def _observe_and_take(self) -> None:
        rows = {row.name: row for row in await self._db("list leases", self._store.list_leases())}
        now = time.monotonic()
        for name in set(self._seen) - set(rows):
            del self._seen[name]
        for name, row in rows.items():
            seen = self._seen.get(name)
            if seen is None or (seen.holder, seen.token) != (row.holder, row.token):
                self._seen[name] = _Seen(row.holder, row.token, now)
        await self._observe_instances(now)
        for name in sorted(self._held):
            mine = rows.get(name)
            if mine is None or mine.holder != self._id:
                await self._lose(name, "its row shows another holder")
        for name in self._singletons:
            if name not in self._held and self._takeable(name, rows.get(name), now):
                await self._take(name, rows.get(name))
        room = self._balanced_room(now)
        candidates = [
            name
            for name in self._balanced
            if name not in self._held and self._takeable(name, rows.get(name), now)
        ]
        # our own rows first (continuity after a fence or a restart), then free, then expired
        candidates.sort(key=lambda name: self._preference(rows.get(name)))
        for name in candidates:
            if room <= 0:
                break
            if await self._take(name, rows.get(name)):
                room -= 1

    def _balanced_room(self, now: float) -> int:
        if not self._balanced:
            return 0
        if now - self._entered_s < self._settle_s:
            # instances started together see each other's presence before any takes
            # links, so they split them (there is no rebalancing later)
            return 0
        quota = math.ceil(len(self._balanced) / len(self._live(now)))
        return quota - sum(1 for name in self._balanced if name in self._held)

    def _preference(self, row: LeaseRow | None) -> int:
        if row is not None and row.holder == self._id:
            return 0
        return 1 if row is None or row.holder is None else 2

    def _takeable(self, name: str, row: LeaseRow | None, now: float) -> bool:
        if self._cooling.get(name, 0.0) > now:
            return False
        self._cooling.pop(name, None)
        if row is None or row.holder is None or row.holder == self._id:
            return True
        return now - self._seen[name].since_s >= self._ttl_s

    async def _take(self, name: str, row: LeaseRow | None) -> bool:
        started_s = time.monotonic()
        if row is None:
            token = await self._db("acquire", self._store.acquire_lease(name, self._id))
            if token is None:
                return False
            info = LeaseInfo(name, self._id, token, None)
        else:
            taken = await self._db(
                "take over",
                self._store.take_over_lease(
                    name, self._id, seen_holder=row.holder, seen_token=row.token
                ),
            )
            if not taken:
                return False
            info = LeaseInfo(name, self._id, row.token + 1, row.drone_id)
            if row.holder is not None and row.holder != self._id:
                log.warning("took over the lease %s from %s (expired)", name, row.holder)
        self._held[name] = started_s
        log.info("instance %s holds the lease %s", self._id, name)
        if not await self._callback(self._on_acquired(info), f"on_acquired({name!r})"):
            # let another instance try: release it and leave it alone for a TTL
            self._held.pop(name, None)
            self._cooling[name] = time.monotonic() + self._ttl_s
            await self._db("release", self._store.release_lease(name, self._id))
            return False
        return True

    # -- fencing, callbacks, database calls --------------------------------------------

    def _fence_deadline(self) -> float:
        """The monotonic time at which the next held lease must be given up."""
        limit_s = FENCE_FRACTION * self._ttl_s
        return min((last_s + limit_s for last_s in self._held.values()), default=math.inf)

    async def _fence_overdue(self) -> None:
        now = time.monotonic()
        limit_s = FENCE_FRACTION * self._ttl_s
        for name, last_s in sorted(self._held.items()):
            if now - last_s > limit_s and name in self._held:
                await self._lose(name, f"not renewed for {now - last_s:.1f} s")

    async def _lose(self, name: str, why: str) -> None:
        if self._held.pop(name, None) is None:
            return
        log.warning("instance %s lost the lease %s: %s", self._id, name, why)
        await self._callback(self._on_lost(name), f"on_lost({name!r})")

    async def _callback(self, call: Awaitable[None], what: str) -> bool:
        try:
            await call
        except Exception:
            log.exception("lease keeper %s: %s failed", self._id, what)
            return False
        return True

    async def _db(self, what: str, call: Coroutine[Any, Any, T]) -> T:
        """Run a store call in a task of its own and wait for it at most one period, and
        never past the next fencing deadline.

        A call still running then is left to finish on its own (it is tracked, and
        cancelled on stop): waiting would delay fencing, and cancelling does not help, as
        a SQLite connection finishes its pending work before it can roll back. While such
        a straggler runs no new call starts: they would only queue behind it.

        Raises:
            _Skip: it failed, timed out or was not started (logged).
        """
        timeout_s = min(self._period_s, self._fence_deadline() - time.monotonic())
        if self._stragglers or timeout_s <= 0:
            call.close()
            log.debug("lease keeper %s: %s skipped (a call is still running)", self._id, what)
            raise _Skip(what)
        task = asyncio.create_task(call, name=f"lease-keeper[{self._id}] {what}")
        try:
            await asyncio.wait({task}, timeout=timeout_s)
        finally:
            if not task.done():
                self._stragglers.add(task)
                task.add_done_callback(self._straggler_done)
        if not task.done():
            self._failed(what, f"no answer within {timeout_s:.2f} s")
        try:
            result = task.result()
        except StoreError as exc:
            self._failed(what, str(exc))
        if what in self._failing:
            self._failing.discard(what)
            log.info("lease keeper %s: %s works again", self._id, what)
        return result

    def _failed(self, what: str, reason: str) -> NoReturn:
        # one warning per kind of call until it works again (a database outage fails every
        # call every beat)
        level = logging.DEBUG if what in self._failing else logging.WARNING
        log.log(level, "lease keeper %s: %s failed: %s", self._id, what, reason)
        self._failing.add(what)
        raise _Skip(what)

    def _straggler_done(self, task: asyncio.Task[Any]) -> None:
        self._stragglers.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("lease keeper %s: a late database call failed: %s", self._id, exc)
