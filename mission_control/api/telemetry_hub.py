"""``/ws/telemetry``: every drone's telemetry to every screen, latest-wins, laggards skipped.

Wire format (server → client; what the client sends is read and ignored):

- every message is a text frame holding a JSON **array** of objects, each with a ``kind``;
- vehicle objects are those of :mod:`mission_control.api.telemetry_json`: ``drone_id``,
  ``kind``, ``ts`` (UNIX seconds at which the service received the MAVLink message) and the
  sample's unit-suffixed fields, e.g.
  ``[{"drone_id":7,"kind":"position","ts":1767225600.12,"lat_deg":47.39,...},...]``;
- the first message after connecting is the snapshot: the newest object of every kind of
  every drone (the filters applied), so a new screen is not blank;
- each later message holds what changed since the previous one, at most one object per
  (drone, kind), the newest: a client that reads slowly skips intermediate samples;
- ``[{"kind":"lag","skipped":N,"behind_s":X}]`` says the client was ``X`` seconds behind
  and ``N`` samples were replaced by newer ones before they could be sent (since the last
  such notice); a screen may show it;
- close codes: 1013 (try again later) when the client was behind for more than
  ``disconnect_after_s`` within twice that, when one send blocked longer than
  ``send_timeout_s``, or when the hub is not running; 1001 when the service stops; 1008
  when a filter is invalid (the reason names it). Reconnecting starts with a snapshot.

One message per wake-up instead of one per object: with 100 drones × 10 Hz to 100 clients
it is what keeps the server near its targets (``benchmarks/bench_ws_telemetry.py``).

Design (ARCHITECTURE invariant 5): :class:`TelemetryHub` holds one bus subscription and
encodes each event once, on arrival. Each :class:`TelemetryClient` has its own pending dict
keyed by (drone, kind), which a newer object overwrites, and an :class:`asyncio.Event` that
wakes its sender; a slow or dead client's dict holds at most one object per (drone, kind),
whatever its speed, and no client ever waits for another.

Lag: after each send the client measures how long it had been behind: since the first
object of that message arrived at the hub while nothing else was pending for the client
(or since it connected, or its ``max_hz`` pause ended: a ``home`` sent once a minute is old
but not late). Above ``lag_threshold_s`` it counts a skip and sends a lag notice; since the
dict is latest-wins, the next message is fresh again. That measure cannot see data already
queued in socket buffers (the kernel's hold megabytes): a client that reads too slowly fills
them and is then served fresh data that waits seconds behind stale data. So a send held up
by a full buffer (longer than ``blocked_send_s``) also counts as time behind, without a
notice. A client behind for more than ``disconnect_after_s`` in all within the last twice
that is disconnected: one behind all the time after ``disconnect_after_s``, one behind 3/4
of the time after ~1.3 × that. Even so, a client reading one message per 0.3 s (with
1 KB status texts from 100 drones) filled ~20 MB of loopback buffers unseen for 9 s and
was then behind only about half the time, 13 s stale: uvicorn's keepalive pings
(``ws_ping_interval=2, ws_ping_timeout=3``) dropped it at 10 s, as the pong waits behind
the backlog. A browser reads its socket at once and queues messages in the page, out of
the server's sight: the page should compare ``ts`` with its clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from mission_control.api.telemetry_client import (
    ClientLagging,
    Entry,
    HubClosed,
    HubSettingsError,
    Key,
    SendTimeout,
    TelemetryClient,
    TelemetryHubSettings,
)
from mission_control.api.telemetry_json import (
    KINDS,
    UnsupportedEvent,
    encode_json,
    telemetry_to_json,
)
from mission_control.bus import EventBus, Subscription
from mission_control.vehicles.types import LinkEvent, TelemetryEvent

__all__ = [
    "ClientLagging",
    "HubClosed",
    "HubSettingsError",
    "SendTimeout",
    "TelemetryClient",
    "TelemetryHub",
    "TelemetryHubSettings",
    "serve_telemetry",
]

_log = logging.getLogger(__name__)

VEHICLE_TOPICS = "vehicles/#"
"""The hub's subscription: telemetry (``vehicles/{id}/telemetry/{kind}``) and link changes
(``vehicles/{id}/link``); other events under ``vehicles/`` are ignored."""

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013


def _filters(
    drones: Iterable[int] | None, kinds: Iterable[str] | None, max_hz: float | None
) -> tuple[frozenset[int] | None, frozenset[str] | None, float | None]:
    if drones is not None:
        drones = frozenset(drones)
        for d in drones:
            if isinstance(d, bool) or not isinstance(d, int) or d < 0:
                raise HubSettingsError("drones", f"{d!r} is not a system id (an integer >= 0)")
    if kinds is not None:
        if isinstance(kinds, str):
            raise HubSettingsError("kinds", f"{kinds!r}: give a collection of kinds")
        kinds = frozenset(kinds)
        unknown = sorted(str(k) for k in kinds - KINDS)
        if unknown:
            raise HubSettingsError("kinds", f"unknown {unknown}; known: {sorted(KINDS)}")
    if max_hz is not None and (
        isinstance(max_hz, bool)
        or not isinstance(max_hz, int | float)
        or not (math.isfinite(max_hz) and max_hz > 0)
    ):
        raise HubSettingsError("max_hz", f"{max_hz!r} must be a finite number > 0")
    return drones, kinds, max_hz


class TelemetryHub:
    """Fans vehicle telemetry from the bus out to websocket clients, latest-wins per client.

    An async context manager: entering subscribes to the bus and starts the hub's one task
    (named ``telemetry-hub``); leaving cancels and awaits it, unsubscribes and closes every
    client (their senders end with :class:`HubClosed`). If the bus closes, the hub stops too.

    Args:
        bus: where vehicle events are published.
        settings: lag and timeout knobs.
    """

    def __init__(self, bus: EventBus[Any], settings: TelemetryHubSettings | None = None) -> None:
        self._bus = bus
        self.settings = settings if settings is not None else TelemetryHubSettings()
        self._latest: dict[Key, Entry] = {}
        self._clients: dict[int, TelemetryClient] = {}
        self._next_id = 1
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self.ignored = 0  # vehicle events that could not be encoded (logged)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def snapshot_size(self) -> int:
        """(drone, kind) pairs with a newest object kept for new clients."""
        return len(self._latest)

    def connect(
        self,
        *,
        drones: Iterable[int] | None = None,
        kinds: Iterable[str] | None = None,
        max_hz: float | None = None,
    ) -> TelemetryClient:
        """Register a client; everything pending for it starts as the current snapshot.

        Args:
            drones: only these system ids (None: all).
            kinds: only these kinds (``"position"``, ..., ``"link"``; None: all).
            max_hz: at most this many messages per second (so at most this rate per drone
                and kind); None: as fast as objects come and the client reads.

        Raises:
            HubClosed: the hub is not running.
            HubSettingsError: a filter is invalid (``field`` names it).
        """
        drone_set, kind_set, hz = _filters(drones, kinds, max_hz)
        if not self._running:
            raise HubClosed("the telemetry hub is not running")
        client = TelemetryClient(
            self._next_id,
            self.settings,
            drones=drone_set,
            kinds=kind_set,
            max_hz=hz,
            snapshot=self._latest.values(),
        )
        self._next_id += 1
        self._clients[client.id] = client
        return client

    def disconnect(self, client: TelemetryClient) -> None:
        """Unregister a client and close it (idempotent)."""
        self._clients.pop(client.id, None)
        client.close()

    async def __aenter__(self) -> Self:
        if self._task is not None:
            raise HubClosed("a telemetry hub runs once")
        sub = self._bus.subscribe(
            VEHICLE_TOPICS, maxsize=self.settings.bus_maxsize, policy="latest_per_topic"
        )
        self._running = not sub.closed
        self._task = asyncio.create_task(self._pump(sub), name="telemetry-hub")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _pump(self, sub: Subscription[Any]) -> None:
        try:
            async for _topic, event in sub:
                if isinstance(event, TelemetryEvent | LinkEvent):
                    self._ingest(event)
        finally:
            self._running = False
            sub.close()
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _ingest(self, event: TelemetryEvent | LinkEvent) -> None:
        try:
            obj = telemetry_to_json(event)
            text = encode_json(obj)
        except (UnsupportedEvent, ValueError, TypeError) as exc:
            self.ignored += 1
            _log.warning("telemetry hub: cannot encode %r: %s", event, exc)
            return
        key = (event.system_id, obj["kind"])
        entry = Entry(key, text, time.monotonic())
        self._latest[key] = entry
        for client in self._clients.values():
            client.offer(entry)


async def serve_telemetry(
    websocket: WebSocket,
    hub: TelemetryHub,
    *,
    drones: Iterable[int] | None = None,
    kinds: Iterable[str] | None = None,
    max_hz: float | None = None,
) -> None:
    """Serve one ``/ws/telemetry`` connection for its whole life (authentication is the
    caller's).

    Accepts the socket, registers a client (the snapshot is its first message), sends until
    the client goes away, and always unregisters. Closes with 1008 when a filter is invalid,
    1013 when the hub is not running, the client stayed behind or a send blocked too long
    (see :class:`TelemetryHubSettings`), 1001 when the hub stops. The client's own messages
    are read and ignored. Two tasks are owned here (named ``telemetry-ws-{id}-send`` and
    ``-receive``), cancelled and awaited before returning.

    Args:
        drones, kinds, max_hz: the client's filters (see :meth:`TelemetryHub.connect`).

    Raises:
        Exception: only a bug's (a disconnecting client returns normally).
    """
    close_timeout_s = hub.settings.close_timeout_s
    try:
        await websocket.accept()
    except (WebSocketDisconnect, OSError):
        return  # gone during the handshake
    try:
        client = hub.connect(drones=drones, kinds=kinds, max_hz=max_hz)
    except HubSettingsError as exc:
        await _close(websocket, CLOSE_POLICY_VIOLATION, str(exc), close_timeout_s)
        return
    except HubClosed:
        await _close(websocket, CLOSE_TRY_AGAIN_LATER, "telemetry not running", close_timeout_s)
        return
    sender = asyncio.create_task(
        client.run(websocket.send_text), name=f"telemetry-ws-{client.id}-send"
    )
    receiver = asyncio.create_task(
        _until_disconnect(websocket), name=f"telemetry-ws-{client.id}-receive"
    )
    try:
        await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sender.cancel()
        receiver.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
        hub.disconnect(client)  # before closing, which may take close_timeout_s
    if sender.cancelled():
        return  # the client went away (the receiver saw it)
    failure = sender.exception()
    if isinstance(failure, ClientLagging | SendTimeout):
        _log.info("telemetry websocket: closing %s: %s", websocket.client, failure)
        await _close(websocket, CLOSE_TRY_AGAIN_LATER, str(failure), close_timeout_s)
    elif isinstance(failure, HubClosed):
        await _close(websocket, CLOSE_GOING_AWAY, "telemetry stopping", close_timeout_s)
    elif failure is not None and not isinstance(failure, WebSocketDisconnect):
        raise failure


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _close(websocket: WebSocket, code: int, reason: str, timeout_s: float) -> None:
    # a socket whose send is blocked cannot take the close frame either: give up after a while
    with contextlib.suppress(TimeoutError, WebSocketDisconnect, WebSocketDisconnected):
        async with asyncio.timeout(timeout_s):
            await websocket.close(code, reason[:120])  # a close reason fits in 123 bytes
