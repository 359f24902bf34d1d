"""Helpers for integration tests that fly the simulated fleet through real MAVSDK.

* :func:`free_udp_port` picks a loopback UDP port for a test.
* :func:`ground_station` runs a MAVSDK 4.x ground station on that port, with MAVSDK's own
  log lines sent to :mod:`logging` instead of stdout, and with a larger default executor
  on the running loop (MAVSDK's asyncio API runs every blocking call in it).
* :class:`LossyUdpProxy` sits between vehicles and the ground station and drops datagrams
  on purpose, deterministically for a given seed.
* :func:`wait_until` and :func:`first` bound every wait with a timeout and say what was
  awaited when it runs out.

MAVSDK facts these helpers rely on are in ``/work/shared/FIELD-NOTES.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import random
import socket
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import mavsdk
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk, System

T = TypeVar("T")

Address = tuple[str, int]

MAVSDK_LOGGER = logging.getLogger("mavsdk")
_log = logging.getLogger(__name__)

# MAVSDK log levels (mavsdk.LogLevel: DEBUG=0 .. ERROR=3) to logging levels.
_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port on ``host`` that was free a moment ago.

    The port is released before it is returned, so another process can take it in between;
    on a test machine that race is rare enough to live with.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------------------
# Waiting with a timeout
# --------------------------------------------------------------------------------------


def _describe(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)


async def wait_until(
    predicate_or_async_fn: Callable[[], Any],
    timeout_s: float,
    *,
    interval_s: float = 0.05,
    what: str | None = None,
) -> Any:
    """Poll a condition until it is truthy and return its value.

    Args:
        predicate_or_async_fn: a function of no arguments returning a value, or an
            awaitable of one (an ``async def`` works); it is called every ``interval_s``.
        timeout_s: how long to keep polling, in seconds.
        interval_s: pause between two polls, in seconds.
        what: words for the error message; the function's name by default.

    Raises:
        TimeoutError: the condition stayed falsy for ``timeout_s``; the message names it
            and the last value seen.
    """
    description = what or f"{_describe(predicate_or_async_fn)}() to return a truthy value"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Any = None
    while True:
        last = predicate_or_async_fn()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"waited {timeout_s:g} s for {description}; last value: {last!r}")
        await asyncio.sleep(min(interval_s, remaining))


async def first(
    async_iterable: AsyncIterable[T],
    predicate: Callable[[T], Any],
    timeout_s: float,
    *,
    what: str | None = None,
) -> T:
    """The first item of a stream (e.g. a MAVSDK telemetry subscription) that matches.

    The stream is closed (``aclose()``) before this returns or raises, so a MAVSDK
    subscription is unsubscribed at once rather than when the garbage collector runs.

    Args:
        async_iterable: the stream, e.g. ``telemetry.subscribe_position()``.
        predicate: called with each item; may return an awaitable.
        timeout_s: how long to wait for a matching item, in seconds.
        what: words for the error message; the predicate's name by default.

    Raises:
        TimeoutError: nothing matched within ``timeout_s``; the message names the
            predicate, the stream, how many items came and the last one.
    """
    description = what or _describe(predicate)
    iterator = aiter(async_iterable)
    seen = 0
    last: T | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async for item in iterator:
                seen += 1
                last = item
                verdict = predicate(item)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if verdict:
                    return item
    except TimeoutError:
        raise TimeoutError(
            f"waited {timeout_s:g} s for an item matching {description} from "
            f"{_describe(async_iterable)}; got {seen} item(s), last: {_show(last)}"
        ) from None
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    raise LookupError(
        f"{_describe(async_iterable)} ended after {seen} item(s) without one matching "
        f"{description}; last: {_show(last)}"
    )


def _show(item: object) -> str:
    # MAVSDK value types define __str__ (with every field) but not __repr__.
    return str(item) if item is not None else "None"


# --------------------------------------------------------------------------------------
# MAVSDK ground station
# --------------------------------------------------------------------------------------


def _forward_mavsdk_log(level: Any, message: str, file: str | None, line: int) -> bool:
    """MAVSDK log callback: hand the line to :mod:`logging`; True keeps it off stdout."""
    MAVSDK_LOGGER.log(
        _LOG_LEVELS.get(int(level), logging.INFO),
        "%s (%s:%s)",
        message,
        file or "?",
        line,
    )
    return True


class _TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that knows which submitted calls have not finished yet.

    MAVSDK's asyncio wrapper runs each blocking call (``arm()``, ``upload_mission()``...)
    in the loop's default executor. A call still waiting inside MAVSDK when the instance is
    destroyed never returns, so teardown first lets these calls run out.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="mavsdk-call")
        self._pending: set[Future[Any]] = set()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = super().submit(fn, *args, **kwargs)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def pending(self) -> list[Future[Any]]:
        return [future for future in list(self._pending) if not future.done()]


class GroundStation:
    """A running MAVSDK ground station; made by :func:`ground_station`.

    Attributes:
        mavsdk: the ``mavsdk.asyncio.Mavsdk`` instance (``get_systems()``,
            ``on_new_system()``...).
        url: the connection it listens on, e.g. ``"udpin://127.0.0.1:14540"``.
        port: the UDP port of ``url``.
    """

    def __init__(self, mavsdk_instance: Mavsdk, url: str, port: int) -> None:
        self.mavsdk = mavsdk_instance
        self.url = url
        self.port = port

    async def connected_systems(self) -> dict[int, System]:
        """The systems heard from whose heartbeats have not timed out, by system id."""
        systems: dict[int, System] = {}
        for system in await self.mavsdk.get_systems():
            if await system.is_connected():
                systems[await system.get_system_id()] = system
        return systems

    async def wait_systems(
        self, n: int, timeout_s: float, *, interval_s: float = 0.1
    ) -> dict[int, System]:
        """Wait until at least ``n`` systems are connected and return them by system id.

        MAVSDK creates a system on the first message from a new system id and calls it
        connected from its first HEARTBEAT until 3 s without one. The returned
        ``mavsdk.asyncio.System`` objects take plugins, e.g. ``TelemetryAsync(system)``.

        Raises:
            TimeoutError: fewer than ``n`` systems connected within ``timeout_s``; the
                message lists the ones that did.
        """
        seen: dict[int, System] = {}

        async def enough() -> bool:
            nonlocal seen
            seen = await self.connected_systems()
            return len(seen) >= n

        try:
            await wait_until(enough, timeout_s, interval_s=interval_s)
        except TimeoutError:
            raise TimeoutError(
                f"waited {timeout_s:g} s for {n} MAVLink system(s) on {self.url}; "
                f"connected: {sorted(seen) or 'none'}"
            ) from None
        return seen


@contextlib.asynccontextmanager
async def ground_station(
    port: int,
    *,
    host: str = "127.0.0.1",
    executor_threads: int = 64,
    drain_timeout_s: float = 10.0,
) -> AsyncIterator[GroundStation]:
    """Run a MAVSDK ground station listening on ``udpin://host:port``.

    For its lifetime the running loop's default executor is a pool of
    ``executor_threads`` threads (MAVSDK's asyncio API runs every blocking call there; the
    stock pool of ``cpu + 4`` threads lets a few calls to a dead vehicle delay everyone);
    the previous default executor is restored on exit. MAVSDK's log lines go to the
    ``"mavsdk"`` logger instead of stdout; that setting is process-wide and stays.

    On exit, MAVSDK calls still running get up to ``drain_timeout_s`` to finish (each
    has its own timeout inside MAVSDK: commands ~2 s, parameters ~3 s, mission transfers
    ~2.5 s) before the instance is destroyed; a call that outlives that is left behind
    and logged as an error.

    Raises:
        mavsdk.asyncio.MavsdkConnectionError: the port could not be opened.
    """
    loop = asyncio.get_running_loop()
    mavsdk.log_subscribe(_forward_mavsdk_log)

    executor = _TrackingExecutor(executor_threads)
    # No public getter exists for the loop's default executor (None until first used).
    previous_executor: ThreadPoolExecutor | None = getattr(loop, "_default_executor", None)
    loop.set_default_executor(executor)

    url = f"udpin://{host}:{port}"
    configuration: Configuration | None = None
    instance: Mavsdk | None = None
    try:
        configuration = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        instance = Mavsdk(configuration)
        await instance.add_any_connection(url)
        yield GroundStation(instance, url, port)
    finally:
        try:
            await _drain(executor, drain_timeout_s)
        finally:
            if instance is not None:
                instance.destroy()
            if configuration is not None:
                configuration.destroy()
            _restore_default_executor(loop, previous_executor)
            left = executor.pending()
            if left:
                _log.error(
                    "%d MAVSDK call(s) still running after %g s; their threads are left behind",
                    len(left),
                    drain_timeout_s,
                )
            executor.shutdown(wait=not left, cancel_futures=True)


async def _drain(executor: _TrackingExecutor, timeout_s: float) -> None:
    pending = executor.pending()
    if not pending:
        return
    done, not_done = await asyncio.wait(
        [asyncio.wrap_future(f) for f in pending], timeout=timeout_s
    )
    for future in done:
        if not future.cancelled():
            # Mark the outcome as seen: it belongs to whoever made the call, not to us.
            future.exception()
    for future in not_done:
        future.cancel()


def _restore_default_executor(
    loop: asyncio.AbstractEventLoop, previous: ThreadPoolExecutor | None
) -> None:
    if previous is not None:
        loop.set_default_executor(previous)
    else:
        # set_default_executor() refuses None; the loop creates a fresh pool lazily.
        loop._default_executor = None  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------
# Lossy UDP proxy
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkCounts:
    """Datagrams the proxy saw in one direction; ``received == forwarded + dropped``."""

    received: int
    forwarded: int
    dropped: int


@dataclass(slots=True)
class _Counter:
    received: int = 0
    forwarded: int = 0
    dropped: int = 0

    def snapshot(self) -> LinkCounts:
        return LinkCounts(self.received, self.forwarded, self.dropped)


def _check_probability(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


class _VehicleSide(asyncio.DatagramProtocol):
    """The socket vehicles send to; hands datagrams to the proxy."""

    def __init__(self, proxy: LossyUdpProxy) -> None:
        self._proxy = proxy

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._proxy._from_vehicle(data, addr)

    def error_received(self, exc: Exception) -> None:
        _log.debug("proxy vehicle side: %s", exc)


class _GcsSide(asyncio.DatagramProtocol):
    """One socket per vehicle towards the ground station, like a NAT mapping."""

    def __init__(self, proxy: LossyUdpProxy, vehicle: Address) -> None:
        self._proxy = proxy
        self._vehicle = vehicle

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._proxy._from_gcs(data, addr, self._vehicle)

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" while the ground station is not listening yet.
        _log.debug("proxy link for %s: %s", self._vehicle, exc)


@dataclass(slots=True)
class _Link:
    transport: asyncio.DatagramTransport | None = None
    backlog: list[bytes] | None = None


class LossyUdpProxy:
    """A UDP relay between vehicles and a ground station that drops datagrams at random.

    Vehicles send to :attr:`vehicle_port`; each vehicle address gets its own socket
    towards ``gcs_addr``, so the ground station sees one peer per vehicle and its replies
    go back to the vehicle they were meant for. Each datagram is dropped with probability
    ``drop_to_gcs`` (vehicle to ground station) or ``drop_to_vehicle`` (the other way),
    decided by a ``random.Random`` per direction seeded from ``seed``; both probabilities
    can be changed while the proxy runs (1.0 cuts the link). Asyncio only, no threads.

    Usage::

        async with LossyUdpProxy(("127.0.0.1", gcs_port), drop_to_gcs=0.2) as proxy:
            vehicle.send_to(("127.0.0.1", proxy.vehicle_port))
    """

    #: Datagrams held per vehicle while its socket towards the ground station opens.
    BACKLOG_MAX = 256

    def __init__(
        self,
        gcs_addr: Address,
        *,
        host: str = "127.0.0.1",
        vehicle_port: int = 0,
        drop_to_gcs: float = 0.0,
        drop_to_vehicle: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.gcs_addr = gcs_addr
        self.host = host
        self._requested_port = vehicle_port
        self.drop_to_gcs = drop_to_gcs
        self.drop_to_vehicle = drop_to_vehicle
        self._rng_to_gcs = random.Random(f"{seed}:to_gcs")
        self._rng_to_vehicle = random.Random(f"{seed}:to_vehicle")
        self._to_gcs = _Counter()
        self._to_vehicle = _Counter()
        self._vehicle_side: asyncio.DatagramTransport | None = None
        self._links: dict[Address, _Link] = {}
        self._openers: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- settings ----------------------------------------------------------------------

    @property
    def drop_to_gcs(self) -> float:
        """Probability that a vehicle's datagram is dropped on its way to the GCS."""
        return self._drop_to_gcs

    @drop_to_gcs.setter
    def drop_to_gcs(self, value: float) -> None:
        self._drop_to_gcs = _check_probability("drop_to_gcs", value)

    @property
    def drop_to_vehicle(self) -> float:
        """Probability that a GCS datagram is dropped on its way to a vehicle."""
        return self._drop_to_vehicle

    @drop_to_vehicle.setter
    def drop_to_vehicle(self, value: float) -> None:
        self._drop_to_vehicle = _check_probability("drop_to_vehicle", value)

    # -- state -------------------------------------------------------------------------

    @property
    def vehicle_port(self) -> int:
        """The UDP port vehicles send to (known once the proxy is started)."""
        if self._vehicle_side is None:
            raise RuntimeError("LossyUdpProxy is not started; use 'async with'")
        port: int = self._vehicle_side.get_extra_info("sockname")[1]
        return port

    @property
    def vehicle_addr(self) -> Address:
        """``(host, vehicle_port)``."""
        return (self.host, self.vehicle_port)

    @property
    def vehicles(self) -> list[Address]:
        """Vehicle addresses heard from, in order of first datagram."""
        return list(self._links)

    @property
    def to_gcs(self) -> LinkCounts:
        """Counts of datagrams from vehicles towards the ground station."""
        return self._to_gcs.snapshot()

    @property
    def to_vehicle(self) -> LinkCounts:
        """Counts of datagrams from the ground station towards vehicles."""
        return self._to_vehicle.snapshot()

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> LossyUdpProxy:
        loop = asyncio.get_running_loop()
        self._vehicle_side, _ = await loop.create_datagram_endpoint(
            lambda: _VehicleSide(self), local_addr=(self.host, self._requested_port)
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop relaying and close every socket. Idempotent."""
        self._closed = True
        openers = list(self._openers)
        for task in openers:
            task.cancel()
        await asyncio.gather(*openers, return_exceptions=True)
        for link in self._links.values():
            if link.transport is not None:
                link.transport.close()
        if self._vehicle_side is not None:
            self._vehicle_side.close()

    # -- relaying ----------------------------------------------------------------------

    def _from_vehicle(self, data: bytes, vehicle: Address) -> None:
        if self._closed:
            return
        self._to_gcs.received += 1
        if self._rng_to_gcs.random() < self._drop_to_gcs:
            self._to_gcs.dropped += 1
            return
        link = self._links.get(vehicle)
        if link is None:
            link = self._links[vehicle] = _Link(backlog=[])
            self._open_link(vehicle, link)
        if link.transport is not None:
            link.transport.sendto(data, self.gcs_addr)
            self._to_gcs.forwarded += 1
        elif link.backlog is not None and len(link.backlog) < self.BACKLOG_MAX:
            link.backlog.append(data)
        else:
            self._to_gcs.dropped += 1

    def _open_link(self, vehicle: Address, link: _Link) -> None:
        task = asyncio.get_running_loop().create_task(
            self._open(vehicle, link), name=f"LossyUdpProxy link for {vehicle[0]}:{vehicle[1]}"
        )
        self._openers.add(task)
        task.add_done_callback(self._openers.discard)

    async def _open(self, vehicle: Address, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _GcsSide(self, vehicle), local_addr=(self.host, 0)
            )
        except OSError:
            _log.exception("proxy could not open a socket for vehicle %s", vehicle)
            self._to_gcs.dropped += len(link.backlog or ())
            link.backlog = None
            return
        if self._closed:
            transport.close()
            return
        link.transport = transport
        for data in link.backlog or ():
            transport.sendto(data, self.gcs_addr)
            self._to_gcs.forwarded += 1
        link.backlog = None

    def _from_gcs(self, data: bytes, addr: Address, vehicle: Address) -> None:
        if self._closed or addr[1] != self.gcs_addr[1]:
            return
        self._to_vehicle.received += 1
        if self._rng_to_vehicle.random() < self._drop_to_vehicle:
            self._to_vehicle.dropped += 1
            return
        if self._vehicle_side is None:
            self._to_vehicle.dropped += 1
            return
        self._vehicle_side.sendto(data, vehicle)
        self._to_vehicle.forwarded += 1
