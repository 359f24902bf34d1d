"""Every vehicle the ground station hears: one MAVSDK instance, one link per system id.

:class:`VehicleFleet` is an async context manager. On entry it

- sends MAVSDK's log lines to the ``"mavsdk"`` logger (instead of coloured stdout);
- gives the running loop a larger default executor for its lifetime (MAVSDK's asyncio API
  runs every blocking call there; the stock ``cpu + 4`` threads let a few calls to a dead
  vehicle delay everyone) that also knows which calls are still running;
- makes one ``Mavsdk`` ground station (component type GROUND_STATION, system 245) and
  adds every configured connection (there may be none);
- discovers vehicles (MAVSDK's new-system notifications, plus a periodic re-read of the
  system list as a backstop) and makes a :class:`VehicleLink` per system id with an
  autopilot component that sent a HEARTBEAT; its discovery is published as CONNECTED on
  ``vehicles/{id}/link``;
- evaluates every link's health every ``health_period_s`` (state changes are published).

A vehicle that restarts with the same system id comes back on the same link (MAVSDK reuses
its ``System``): LOST → CONNECTED.

Connections can also be opened and closed while the fleet runs (:meth:`VehicleFleet.attach`,
:meth:`VehicleFleet.detach`: one URL per vehicle, e.g. the vehicles whose lease this
instance holds). MAVSDK does not say on which connection a system was heard, so attribution
is by time: attach and detach calls are serialised, and an attach takes the first vehicle
that starts being heard after its connection was added and that no other attached URL
claims. Systems heard on the configured connections while an attach waits are therefore
ambiguous; a fleet that attaches should not also have configured URLs carrying vehicles.

What MAVSDK 4.1 does, measured against the simulator (and why the code looks as it does):

- ``add_any_connection`` returns a handle (an int); ``remove_connection(handle)`` closes the
  socket at once and is idempotent. A bad URL fails with CONNECTION_URL_INVALID (or
  DESTINATION_IP_UNKNOWN), which :meth:`~VehicleFleet.attach` raises as
  :class:`VehicleConnectionError`.
- After ``remove_connection`` the vehicle's ``System`` stays in ``get_systems()`` for good,
  and keeps reporting ``is_connected()`` True until MAVSDK's heartbeat timeout (~3 s after
  the last heartbeat), then False (``on_new_system`` fires then). Commands to it time out
  (``arm``: TIMEOUT after 2 s). So the discovery loop alone would re-create a detached
  vehicle's link at once: detached system ids are kept out of discovery until an attach
  takes them again.
- Adding a connection to the same vehicle again brings back the *same* ``System``: it is
  connected again, and subscriptions made on it earlier see its new heartbeats. If that
  happens within the ~3 s above, MAVSDK reports nothing (no ``on_new_system``, no
  connection-state change: it never noticed the gap). A detached system that still counts
  as connected is therefore only taken by an attach once a heartbeat of it arrives after
  the new connection was added (a short-lived telemetry subscription watches for one).

On exit, in order: the fleet's tasks are cancelled and awaited; the links close (their
streams stop, their running MAVSDK calls are given ``drain_timeout_s`` to return; a link
still asking for its identity is first given until its ``identity_timeout_s`` runs out,
because ``VehicleLink.close`` does not wait for that query and destroying the Info plugin
under it aborts the process); any
other MAVSDK call still in the executor gets the same; only then is the MAVSDK instance
destroyed (destroying it under a running call strands that thread and hangs interpreter
exit), and the previous executor restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar

import mavsdk
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk, MavsdkConnectionError
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync

from mission_control.vehicles.errors import UnknownVehicle, VehicleConnectionError
from mission_control.vehicles.inbox import Inbox
from mission_control.vehicles.link import VehicleLink
from mission_control.vehicles.settings import MAX_CONNECTIONS_PER_PROCESS, VehicleLinkSettings
from mission_control.vehicles.telemetry import EventPublisher, link_topic
from mission_control.vehicles.types import LinkEvent, LinkState, VehicleIdentity

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


@dataclass(slots=True)
class _Attachment:
    """A connection opened by :meth:`VehicleFleet.attach`."""

    url: str
    handle: Any
    expected: int | None
    system_id: int | None = None


def _identified(identity: VehicleIdentity) -> bool:
    """What ``VehicleLink`` keeps asking for until it knows it (or gives up)."""
    return identity.firmware_version is not None and identity.autopilot != "unknown"


class _HeartbeatProbe:
    """Tells whether a system's HEARTBEAT arrived since the probe started.

    MAVSDK's telemetry ``armed`` callback fires on every autopilot HEARTBEAT and not on
    subscribing (measured), so its first call is a heartbeat received after this started.
    """

    def __init__(self, system: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._telemetry = TelemetryAsync(system)
        self._plugin = self._telemetry._plugin  # the synchronous plugin: a plain callback
        self.heard = False

        def on_heartbeat(_armed: Any, _user_data: Any) -> None:  # MAVSDK's thread
            loop.call_soon_threadsafe(self._mark)

        self._callback = on_heartbeat
        self._handle = self._plugin.subscribe_armed(on_heartbeat)

    def _mark(self) -> None:
        self.heard = True

    def close(self) -> None:
        self._plugin.unsubscribe_armed(self._handle)
        self._telemetry.destroy()


class VehicleFleet:
    """The vehicle links of one service instance (``async with VehicleFleet(s, bus) as f``).

    Args:
        settings: connections, timeouts and limits.
        bus: where telemetry and link events are published.
        connection_urls: the connections opened on entry (and kept until exit); None:
            ``settings.connection_urls``; ``()``: none, vehicles are then
            :meth:`attach`-ed while the fleet runs.

    Raises (on entry):
        VehicleConnectionError: a connection URL could not be opened (it names the URL).
    """

    def __init__(
        self,
        settings: VehicleLinkSettings,
        bus: EventPublisher,
        *,
        connection_urls: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.connection_urls: tuple[str, ...] = (
            settings.connection_urls if connection_urls is None else tuple(connection_urls)
        )
        self._bus = bus
        self._links: dict[int, VehicleLink] = {}
        # attach/detach: connections by URL (in attach order), who claimed which system id,
        # and detached system ids (True once MAVSDK no longer counts them as connected)
        self._attached: dict[str, _Attachment] = {}
        self._claimed: dict[int, str] = {}
        self._detached: dict[int, bool] = {}
        self._attach_lock = asyncio.Lock()
        self._attaching = False
        self._link_started: dict[int, float] = {}  # monotonic s, until identified or closed
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

    @property
    def attached(self) -> Mapping[str, int | None]:
        """Every attached URL (in attach order) and its vehicle's system id (None: nothing
        attributed to it yet)."""
        return MappingProxyType({url: a.system_id for url, a in self._attached.items()})

    def url_of(self, system_id: int) -> str | None:
        """The attached URL vehicle ``system_id`` was attributed to (None: not attached,
        e.g. heard on a configured connection)."""
        return self._claimed.get(system_id)

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

    # -- connections at runtime -----------------------------------------------------------------

    async def attach(
        self, url: str, *, expect_system_id: int | None = None, timeout_s: float = 5.0
    ) -> int | None:
        """Open a connection to one vehicle and return its system id.

        The vehicle is ``expect_system_id`` once that system is heard, else the first
        vehicle that starts being heard after the connection was added and that no other
        attached URL claims (attach and detach calls run one at a time). Its link is made
        at once (published CONNECTED on ``vehicles/{id}/link``). Attaching a URL that is
        attached already opens nothing and returns what it carries.

        Args:
            url: a MAVSDK connection URL, e.g. ``udpout://10.0.0.7:14600``.
            expect_system_id: the vehicle's system id, if known (e.g. from its lease).
            timeout_s: how long to wait for the vehicle to be heard.

        Returns:
            The system id, or None if nothing was heard within ``timeout_s``: the
            connection stays open, and the next vehicle discovered while no attach runs
            (the expected one, if given) is attributed to the oldest such URL.

        Raises:
            VehicleConnectionError: the URL could not be opened (bad URL, port in use), is
                a configured connection, the fleet is not running or has too many
                connections, or ``expect_system_id`` is attached on another URL or linked
                through a configured connection.
            ValueError: ``timeout_s`` is not a positive number or ``expect_system_id`` is
                not 1..255.
        """
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if expect_system_id is not None and not (
            isinstance(expect_system_id, int) and 1 <= expect_system_id <= 255
        ):
            raise ValueError(f"expect_system_id must be 1..255, got {expect_system_id!r}")
        if url in self.connection_urls:
            raise VehicleConnectionError(url, "a configured connection (opened at start-up)")
        async with self._attach_lock:
            if self._mavsdk is None or self._loop is None:
                raise VehicleConnectionError(url, "the vehicle fleet is not running")
            known = self._attached.get(url)
            if known is not None:
                if expect_system_id not in (None, known.system_id, known.expected):
                    raise VehicleConnectionError(
                        url, f"attached already, to system {known.system_id or known.expected}"
                    )
                return known.system_id
            if expect_system_id is not None:
                self._check_free(url, expect_system_id)
            if len(self.connection_urls) + len(self._attached) >= MAX_CONNECTIONS_PER_PROCESS:
                raise VehicleConnectionError(
                    url,
                    f"{MAX_CONNECTIONS_PER_PROCESS} connections open: MAVSDK runs out of MAVLink "
                    "channels above ~31 per process",
                )
            before = await self._connected_system_ids()
            self._attaching = True  # discovery leaves new systems to this attach
            try:
                try:
                    handle = await self._mavsdk.add_any_connection(url)
                except MavsdkConnectionError as exc:
                    raise VehicleConnectionError(url, str(exc)) from None
                attachment = _Attachment(url, handle, expect_system_id)
                self._attached[url] = attachment
                found = await self._attribute(attachment, before, timeout_s)
                if found is not None:
                    self._claim(attachment, *found)
                else:
                    _log.warning("%s: no vehicle heard within %g s", url, timeout_s)
            finally:
                self._attaching = False
                self._systems_changed.set()
            return attachment.system_id

    async def detach(self, url: str) -> int | None:
        """Close an attached connection; return the system id it carried (None: none was
        attributed to it, or ``url`` is not attached).

        The vehicle's link is published LOST on ``vehicles/{id}/link`` (screens see it
        leave), closed (its running calls get ``settings.drain_timeout_s``) and forgotten:
        it leaves :attr:`links`, and a later :meth:`attach` makes a fresh link. Until then
        discovery ignores the vehicle, even where another connection still hears it.

        Raises:
            VehicleConnectionError: ``url`` is a configured connection (those stay open).
        """
        if url in self.connection_urls:
            raise VehicleConnectionError(url, "a configured connection cannot be detached")
        async with self._attach_lock:
            attachment = self._attached.pop(url, None)
            if attachment is None:
                return None
            system_id = attachment.system_id
            link = None
            if system_id is not None:
                del self._claimed[system_id]
                self._detached[system_id] = False
                link = self._links.pop(system_id, None)
            if link is not None:
                now = time.monotonic()
                sid, age_s = link.system_id, link.heartbeat_age_s(now)
                event = LinkEvent(sid, LinkState.LOST, link.state, age_s, now)
                self._bus.publish(link_topic(sid), event)
                await self._identity_settled(link)
                left = await link.close()
                if left:
                    _log.error("vehicle %d: %d call(s) still running at detach", sid, left)
            if self._mavsdk is not None:
                await self._mavsdk.remove_connection(attachment.handle)
            _log.info("%s detached (vehicle %s)", url, system_id)
            return system_id

    async def _identity_settled(self, link: VehicleLink) -> None:
        """Wait until the link no longer asks for its identity (at most until its
        ``settings.identity_timeout_s`` has run out, plus 1 s).

        That query (Info ``get_version``, repeated every 0.5 s until the firmware version
        is known) is not among the calls ``VehicleLink.close`` waits for, and destroying the
        Info plugin under it aborts the process: seen when a link was closed a second after
        it was made. Once the identity is complete the query has returned for good.
        """
        started = self._link_started.pop(link.system_id, None)
        if started is None:
            return
        deadline = started + self.settings.identity_timeout_s + 1.0
        if not _identified(link.identity):
            _log.debug("vehicle %d: closing once its identity query ends", link.system_id)
        while not _identified(link.identity):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(0.1, left))

    def _check_free(self, url: str, system_id: int) -> None:
        other = self._claimed.get(system_id)
        if other is not None:
            raise VehicleConnectionError(url, f"system {system_id} is attached on {other}")
        if system_id in self._links:
            raise VehicleConnectionError(
                url, f"system {system_id} is linked through a configured connection"
            )

    async def _connected_system_ids(self) -> set[int]:
        return {
            int(await system.get_system_id())
            for system in await self._mavsdk.get_systems()
            if await system.is_connected()
        }

    async def _attribute(
        self, attachment: _Attachment, before: set[int], timeout_s: float
    ) -> tuple[int, Any] | None:
        """The vehicle newly heard since ``attachment`` was added: (system id, System)."""
        assert self._loop is not None
        deadline = self._loop.time() + timeout_s
        probes: dict[int, _HeartbeatProbe] = {}
        try:
            while True:
                for system in await self._mavsdk.get_systems():
                    system_id = int(await system.get_system_id())
                    if attachment.expected not in (None, system_id):
                        continue
                    if system_id in self._claimed or system_id in self._links:
                        continue
                    if not (await system.has_autopilot() and await system.is_connected()):
                        continue
                    if system_id in before:
                        if system_id not in self._detached:
                            if attachment.expected is None:
                                continue  # heard on another connection before this one
                        elif system_id not in probes:  # connected: maybe only not timed out
                            _log.debug("vehicle %d: detached, waiting for a heartbeat", system_id)
                            probes[system_id] = _HeartbeatProbe(system, self._loop)
                            continue
                        elif not probes[system_id].heard:
                            continue
                    return system_id, system
                left = deadline - self._loop.time()
                if left <= 0:
                    return None
                await asyncio.sleep(min(0.05, left))
        finally:
            for probe in probes.values():
                probe.close()

    def _claim(self, attachment: _Attachment, system_id: int, system: Any) -> None:
        attachment.system_id = system_id
        self._claimed[system_id] = attachment.url
        self._detached.pop(system_id, None)
        _log.info("%s carries vehicle %d", attachment.url, system_id)
        if system_id not in self._links:
            self._add_link(system, system_id)

    def _pending_for(self, system_id: int) -> _Attachment | None:
        """The attached URL a vehicle discovered later belongs to: the one expecting it,
        else the oldest one still waiting without an expectation."""
        waiting = [a for a in self._attached.values() if a.system_id is None]
        for attachment in waiting:
            if attachment.expected == system_id:
                return attachment
        return next((a for a in waiting if a.expected is None), None)

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
        for url in self.connection_urls:
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
        links = list(self._links.values())
        await asyncio.gather(*(self._identity_settled(link) for link in links))
        left = sum(await asyncio.gather(*(link.close() for link in links)))
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
            connected = await system.is_connected()
            if not connected and system_id in self._detached:
                self._detached[system_id] = True  # heard again from now on = heard anew
            if not (connected and await system.has_autopilot()):
                # not a vehicle (another ground station, a camera), or no HEARTBEAT yet:
                # until one, MAVSDK does not know the autopilot and vehicle type
                continue
            if system_id not in self._claimed:
                if self._attaching:
                    continue  # the running attach decides whose it is
                gone = self._detached.get(system_id)
                if gone is False:
                    continue  # detached, and MAVSDK has not timed it out yet
                pending = self._pending_for(system_id)
                if pending is not None:
                    self._claim(pending, system_id, system)
                    continue
                if gone is not None:
                    continue  # detached: only an attach brings it back
            self._add_link(system, system_id)

    def _add_link(self, system: Any, system_id: int) -> None:
        now = time.monotonic()
        assert self._inbox is not None
        link = VehicleLink(system, system_id, self.settings, self._bus, self._inbox, now_s=now)
        self._links[system_id] = link
        self._link_started[system_id] = now
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
