"""Every vehicle the ground station hears: one MAVSDK instance, one link per system id.

:class:`VehicleFleet` is an async context manager. On entry it

- sends MAVSDK's log lines to the ``"mavsdk"`` logger (instead of coloured stdout);
- gives the running loop a larger default executor for its lifetime (MAVSDK's asyncio API
  runs every blocking call there; the stock ``cpu + 4`` threads let a few calls to a dead
  vehicle delay everyone) that also knows which calls are still running;
- makes one ``Mavsdk`` ground station (component type GROUND_STATION, system 245) and
  adds every configured connection;
- discovers vehicles (MAVSDK's new-system notifications, plus a periodic re-read of the
  system list as a backstop) and makes a :class:`VehicleLink` per system id with an
  autopilot component that sent a HEARTBEAT; its discovery is published as CONNECTED on
  ``vehicles/{id}/link``;
- evaluates every link's health every ``health_period_s`` (state changes are published).

A vehicle that restarts with the same system id comes back on the same link (MAVSDK reuses
its ``System``): LOST → CONNECTED.

On exit, in order: the fleet's tasks are cancelled and awaited; the links close (their
streams stop, their running MAVSDK calls are given ``drain_timeout_s`` to return); any
other MAVSDK call still in the executor gets the same; only then is the MAVSDK instance
destroyed (destroying it under a running call strands that thread and hangs interpreter
exit), and the previous executor restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar

import mavsdk
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk, MavsdkConnectionError

from mission_control.vehicles.errors import UnknownVehicle, VehicleConnectionError
from mission_control.vehicles.inbox import Inbox
from mission_control.vehicles.link import VehicleLink
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.telemetry import EventPublisher
from mission_control.vehicles.types import VehicleIdentity

T = TypeVar("T")

MAVSDK_LOGGER = logging.getLogger("mavsdk")
_log = logging.getLogger(__name__)
_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def _forward_mavsdk_log(level: Any, message: str, file: str | None, line: int) -> bool:
    """MAVSDK's log callback: to :mod:`logging`; True keeps the line off stdout."""
    MAVSDK_LOGGER.log(_LOG_LEVELS.get(int(level), logging.INFO), "%s (%s:%s)", message, file, line)
    return True


class _TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that knows which submitted calls have not returned yet."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="mavsdk-call")
        self._pending: set[Future[Any]] = set()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = super().submit(fn, *args, **kwargs)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def running(self) -> list[Future[Any]]:
        return [f for f in list(self._pending) if not f.done()]


class VehicleFleet:
    """The vehicle links of one service instance (``async with VehicleFleet(s, bus) as f``).

    Args:
        settings: connections, timeouts and limits.
        bus: where telemetry and link events are published.

    Raises (on entry):
        VehicleConnectionError: a connection URL could not be opened (it names the URL).
    """

    def __init__(self, settings: VehicleLinkSettings, bus: EventPublisher) -> None:
        self.settings = settings
        self._bus = bus
        self._links: dict[int, VehicleLink] = {}
        self._mavsdk: Any = None
        self._configuration: Any = None
        self._executor: _TrackingExecutor | None = None
        self._previous_executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inbox: Inbox | None = None
        self._systems_changed = asyncio.Event()
        self._links_changed = asyncio.Event()

    # -- what it offers ------------------------------------------------------------------------

    def get(self, system_id: int) -> VehicleLink:
        """The link of vehicle ``system_id``.

        Raises:
            UnknownVehicle: never heard from.
        """
        link = self._links.get(system_id)
        if link is None:
            raise UnknownVehicle(system_id)
        return link

    @property
    def links(self) -> Mapping[int, VehicleLink]:
        """Every vehicle discovered so far, by system id (read-only view; links are kept
        when a vehicle goes silent, so it can come back)."""
        return MappingProxyType(self._links)

    @property
    def identities(self) -> dict[int, VehicleIdentity]:
        """Who each discovered vehicle is, by system id."""
        return {sid: link.identity for sid, link in self._links.items()}

    async def wait_for(self, count: int, timeout_s: float) -> list[int]:
        """Wait until at least ``count`` vehicles are discovered; return their system ids.

        Raises:
            TimeoutError: fewer were discovered within ``timeout_s`` (the message lists them).
        """
        try:
            async with asyncio.timeout(timeout_s):
                while len(self._links) < count:
                    await self._links_changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"waited {timeout_s:g} s for {count} vehicle(s); "
                f"discovered: {sorted(self._links) or 'none'}"
            ) from None
        return sorted(self._links)

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _open(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._inbox = Inbox(loop, batch_s=self.settings.telemetry_batch_s)
        mavsdk.log_subscribe(_forward_mavsdk_log)  # process-wide; before Mavsdk() is made
        self._executor = _TrackingExecutor(self.settings.executor_threads)
        # No public getter for the loop's default executor (None until first used).
        self._previous_executor = getattr(loop, "_default_executor", None)
        loop.set_default_executor(self._executor)
        self._configuration = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        self._mavsdk = Mavsdk(self._configuration)
        for url in self.settings.connection_urls:
            try:
                await self._mavsdk.add_any_connection(url)
            except MavsdkConnectionError as exc:
                raise VehicleConnectionError(url, str(exc)) from None
        for name, run in (
            ("new systems", self._watch_new_systems),
            ("discovery", self._discover),
            ("link health", self._supervise),
        ):
            self._tasks.append(asyncio.create_task(run(), name=f"vehicle fleet: {name}"))

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        left = sum(await asyncio.gather(*(link.close() for link in self._links.values())))
        if self._inbox is not None:
            self._inbox.close()
        executor, self._executor = self._executor, None
        if executor is not None:
            left = await self._drain(executor)
        if left:
            _log.error(
                "%d MAVSDK call(s) still running after %g s; destroying MAVSDK anyway "
                "(their threads are left behind)",
                left,
                self.settings.drain_timeout_s,
            )
        if self._mavsdk is not None:
            self._mavsdk.destroy()
            self._mavsdk = None
        if self._configuration is not None:
            self._configuration.destroy()
            self._configuration = None
        if self._loop is not None and executor is not None:
            if self._previous_executor is not None:
                self._loop.set_default_executor(self._previous_executor)
            else:  # set_default_executor(None) is refused; the loop makes one lazily
                self._loop._default_executor = None  # type: ignore[attr-defined]
            executor.shutdown(wait=not left, cancel_futures=True)

    async def _drain(self, executor: _TrackingExecutor) -> int:
        running = executor.running()
        if running:
            futures = [asyncio.wrap_future(f) for f in running]
            done, _ = await asyncio.wait(futures, timeout=self.settings.drain_timeout_s)
            for future in done:
                if not future.cancelled():
                    future.exception()  # the outcome belonged to the (gone) caller
        return len(executor.running())

    # -- tasks ------------------------------------------------------------------------------------

    async def _watch_new_systems(self) -> None:
        """MAVSDK's notification (new system, or one's heartbeats timed out) → re-read."""
        stream = self._mavsdk.on_new_system()
        try:
            async for _ in stream:
                self._systems_changed.set()
        finally:
            await stream.aclose()

    async def _discover(self) -> None:
        period = self.settings.discovery_period_s
        while True:
            self._systems_changed.clear()
            await self._sync_systems()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._systems_changed.wait()

    async def _sync_systems(self) -> None:
        for system in await self._mavsdk.get_systems():
            system_id = int(await system.get_system_id())
            if system_id in self._links:
                continue
            if not (await system.has_autopilot() and await system.is_connected()):
                # not a vehicle (another ground station, a camera), or no HEARTBEAT yet:
                # until one, MAVSDK does not know the autopilot and vehicle type
                continue
            now = time.monotonic()
            assert self._inbox is not None
            link = VehicleLink(system, system_id, self.settings, self._bus, self._inbox, now_s=now)
            self._links[system_id] = link
            link.start()
            link.announce(now)
            _log.info("vehicle %d discovered", system_id)
            changed, self._links_changed = self._links_changed, asyncio.Event()
            changed.set()

    async def _supervise(self) -> None:
        period = self.settings.health_period_s
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for link in list(self._links.values()):
                event = link.check_health(now)
                if event is not None:
                    _log.info(
                        "vehicle %d link %s (was %s; heartbeat %.1f s ago)",
                        event.system_id,
                        event.state.value,
                        event.previous.value if event.previous else "-",
                        event.heartbeat_age_s,
                    )
