"""A resilient MQTT client on aiomqtt: persistent session, manual acks, bounded publishing.

:class:`MqttClient` is an async context manager. Entering starts a supervisor task and
returns at once (the service starts while the broker is down); the supervisor connects,
and after any loss reconnects forever with jittered exponential backoff. Each connection
is a fresh ``aiomqtt.Client`` (so a protocol fallback or a half-dead socket never leaks
into the next one) joining the same broker session:

- **Persistent session**: MQTT 5 with ``clean_start=False`` and a session expiry interval,
  or 3.1.1 with ``clean_session=False``, so QoS 1 messages for our subscriptions are kept
  by the broker while we are away. Subscriptions are re-sent on every connect.
- **Acknowledge after handling**: paho's manual-ack mode is switched on before connecting;
  a QoS 1 message gets its PUBACK only after its handler returned or raised, on the
  connection it came from. A handler that never completed (the process died, the task
  was cancelled) leaves the message unacknowledged, and the broker redelivers it. QoS 1
  is therefore at-least-once: handlers must tolerate duplicates.
- **Outgoing**: :meth:`MqttClient.publish` never blocks. Messages wait in one bounded queue
  (when full: the oldest QoS 0 message goes first, then the oldest QoS 1) and are sent in
  order, with at most ``max_inflight`` QoS 1 messages awaiting PUBACK. QoS 1 messages
  unconfirmed when a connection drops are sent again on the next one; QoS 0 messages are
  dropped while disconnected.

Incoming messages are handled one at a time in arrival order by the handler of the first
registered pattern that matches. Patterns should not overlap: Mosquitto delivers one copy
per matching subscription, and each copy goes to that first handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from mission_control.bus.memory import (
    BusError,
    SubscriptionError,
    TopicError,
    topic_matches,
    validate_topic,
)
from mission_control.bus.mqtt_url import (
    MqttAddress,
    MqttConfigError,
    MqttSettings,
    Outbox,
    Will,
    parse_mqtt_url,
    pattern_for_matching,
    tls_context,
)

__all__ = [
    "Incoming",
    "MqttAddress",
    "MqttClient",
    "MqttConfigError",
    "MqttSettings",
    "Will",
    "parse_mqtt_url",
]

log = logging.getLogger(__name__)

_UNSUPPORTED_PROTOCOL = 0x84  # CONNACK reason; paho maps a 3.1.1 broker's return code 1 to it
_QOS0_WINDOW = 256  # QoS 0 messages handed to paho but not yet written to the socket
_YIELD_EVERY = 64  # messages handed to paho before the publisher lets other tasks run
_FLUSH_S = 2.0  # on exit, how long to wait for queued messages to be confirmed


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received message."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


Handler = Callable[[Incoming], Awaitable[None]]
ConnectCallback = Callable[[bool], Awaitable[None] | None]


class _Link:
    """One connection: a fresh aiomqtt client in manual-ack mode, and its state.

    Wraps three paho callbacks (after aiomqtt's own) to learn the session-present flag,
    PUBACKs, and a socket closed before CONNACK (which aiomqtt would only notice at its
    timeout). paho calls them on the loop's thread, from aiomqtt's reader/writer callbacks.
    """

    def __init__(self, client: aiomqtt.Client, protocol: str, owner: MqttClient) -> None:
        self.client, self.paho, self.protocol, self.owner = client, client._client, protocol, owner
        self.up = False  # CONNACK accepted, not lost since
        self.ready = False  # ... and subscribed: `MqttClient.connected`
        self.established = False  # was ready at some point
        self.session_present = False
        self.lost = asyncio.Event()
        self.lost_reason = "connection closed"
        self.paho.manual_ack_set(True)  # PUBACK only from paho.ack(), after the handler
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_publish = self._on_publish

    def _on_connect(
        self, c: paho.Client, data: Any, flags: paho.ConnectFlags, reason: ReasonCode, p: Any
    ) -> None:
        self.client._on_connect(c, data, flags, reason, p)
        if not reason.is_failure:
            self.up, self.session_present = True, flags.session_present

    def _on_disconnect(
        self, c: paho.Client, data: Any, flags: paho.DisconnectFlags, reason: ReasonCode, p: Any
    ) -> None:
        self.client._on_disconnect(c, data, flags, reason, p)
        self.up = self.ready = False
        if flags.is_disconnect_packet_from_server:
            self.lost_reason = f"the broker disconnected us: {reason}"
        elif reason.value == 0x80:  # paho's code for a dropped socket or a keepalive timeout
            self.lost_reason = "connection lost"
        else:
            self.lost_reason = str(reason)
        self.lost.set()
        self.fail_connect(f"closed before CONNACK ({reason})")

    def fail_connect(self, reason: str) -> None:
        """End aiomqtt's wait for CONNACK now, if it is still waiting."""
        connecting = self.client._connected
        if not connecting.done():
            connecting.set_exception(aiomqtt.MqttError(reason))
            connecting.exception()  # retrieved: aiomqtt may not get to await it

    def _on_publish(
        self, c: paho.Client, data: Any, mid: int, reason: ReasonCode, p: Properties
    ) -> None:
        self.client._on_publish(c, data, mid, reason, p)
        self.owner._published(self, mid, reason)

    def close_socket(self) -> None:
        """Close the socket if still open (idempotent): after a failed or abandoned connect
        aiomqtt leaves it open and registered with the loop."""
        self.paho._sock_close()


class MqttClient:
    """A resilient MQTT client; see the module docstring for the guarantees.

    Register handlers with :meth:`on` and :meth:`on_connect`, then ``async with`` it.

    Raises:
        MqttConfigError: the TLS CA file cannot be loaded (other settings are checked when
            :class:`MqttSettings` is built).
    """

    def __init__(self, settings: MqttSettings) -> None:
        self._settings = settings
        self._address = parse_mqtt_url(settings.url)
        self._where = f"{self._address.host}:{self._address.port}"
        self._tls = tls_context(settings) if self._address.tls else None
        self._routes: list[tuple[str, Handler]] = []  # (topic filter, handler)
        self._sub_qos: dict[str, int] = {}  # what to subscribe, by pattern
        self._connect_callbacks: list[ConnectCallback] = []
        self._outbox = Outbox(settings.queue_size, settings.max_inflight, _QOS0_WINDOW)
        self._wake = asyncio.Event()  # outgoing work or a free send window
        self._inbox: deque[tuple[_Link, aiomqtt.Message]] = deque()
        self._inbox_ready = asyncio.Event()
        self._link: _Link | None = None  # the current connection, from CONNACK on
        self._ready = asyncio.Event()  # set while `connected`
        self._protocol: str | None = None
        self._v5_refused = False  # "auto" learned that this broker refuses MQTT 5
        self._tasks: list[asyncio.Task[None]] = []
        self._started = self._closed = False
        self._connections = 0
        self._counts = dict.fromkeys(
            ("published", "dropped", "received", "handler_errors", "reconnects"), 0
        )

    # -- registration and state -------------------------------------------------------------

    def on(self, pattern: str, handler: Handler, *, qos: int = 0) -> None:
        """Handle messages on topics matching ``pattern`` (MQTT wildcards; ``$share/g/…``).

        Raises:
            TopicError: the pattern is malformed.
            SubscriptionError: ``qos`` is not 0 or 1 (QoS 2 would defeat ack-after-handling).
            BusError: the client was already entered.
        """
        self._check_not_started("on")
        if qos not in (0, 1):
            raise SubscriptionError("qos", f"{qos!r} must be 0 or 1")
        self._routes.append((pattern_for_matching(pattern), handler))
        self._sub_qos[pattern] = max(qos, self._sub_qos.get(pattern, 0))

    def on_connect(self, callback: ConnectCallback) -> None:
        """Call ``callback(session_present)`` after every (re)connect, once subscribed."""
        self._check_not_started("on_connect")
        self._connect_callbacks.append(callback)

    @property
    def connected(self) -> bool:
        """Connected and subscribed."""
        return self._link is not None and self._link.ready

    @property
    def protocol(self) -> str | None:
        """``"5"`` or ``"3.1.1"``: the protocol of the current or last connection."""
        return self._protocol

    @property
    def stats(self) -> dict[str, int]:
        """Counters since creation; ``queued``: outgoing messages not yet confirmed."""
        dropped = self._counts["dropped"] + self._outbox.dropped
        return {**self._counts, "dropped": dropped, "queued": len(self._outbox)}

    async def wait_connected(self, timeout_s: float) -> None:
        """Return once connected and subscribed.

        Raises:
            TimeoutError: not connected within ``timeout_s`` seconds.
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        except TimeoutError:
            raise TimeoutError(
                f"MQTT client {self._settings.client_id!r}: not connected to {self._where} "
                f"within {timeout_s} s"
            ) from None

    # -- publishing ---------------------------------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, *, qos: Literal[0, 1] = 0, retain: bool = False
    ) -> bool:
        """Queue a message; never blocks. Returns False if it was dropped right away.

        QoS 0 is dropped while disconnected. When the queue is full the oldest queued QoS 0
        message is dropped, else the oldest QoS 1 one (all drops are counted in ``stats``).

        Raises:
            TopicError: the topic is empty or contains a wildcard or NUL.
            ValueError: ``qos`` is not 0 or 1.
        """
        validate_topic(topic)
        if qos not in (0, 1):
            raise ValueError(f"qos {qos!r} must be 0 or 1")
        if self._closed or (qos == 0 and not self.connected):
            self._counts["dropped"] += 1
            return False
        self._wake.set()
        return self._outbox.put(topic, payload, qos, retain)

    async def _publish_loop(self, link: _Link) -> None:
        handed = 0
        while True:
            message = self._outbox.take()
            if message is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                info = link.paho.publish(
                    message.topic, message.payload, message.qos, message.retain
                )
            except ValueError as exc:  # e.g. a payload over MQTT's 256 MiB: never sendable
                self._counts["dropped"] += 1
                log.error("MQTT publish to %r dropped: %s", message.topic, exc)
                continue
            if info.rc != paho.MQTT_ERR_SUCCESS:
                self._outbox.put_back(message)
                return  # the connection is going down: end it
            self._outbox.sent(message, info.mid)
            handed += 1
            if handed % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _published(self, link: _Link, mid: int, reason: ReasonCode) -> None:
        if link is not self._link:
            return  # a late callback from a connection already given up
        message = self._outbox.confirmed(mid)
        if message is not None and reason.is_failure:  # MQTT 5: e.g. not authorised
            self._counts["dropped"] += 1
            log.warning("MQTT broker refused a publish to %r: %s", message.topic, reason)
        else:
            self._counts["published"] += 1
        self._wake.set()

    # -- receiving ----------------------------------------------------------------------------

    async def _read_loop(self, link: _Link) -> None:
        try:
            async for message in link.client.messages:
                self._counts["received"] += 1
                if message.qos == 0 and len(self._inbox) >= self._settings.queue_size:
                    self._counts["dropped"] += 1  # QoS 1 is bounded by the broker's window
                    continue
                self._inbox.append((link, message))
                self._inbox_ready.set()
        except aiomqtt.MqttError:
            return  # disconnected

    async def _dispatch_loop(self) -> None:
        while True:
            if not self._inbox:
                self._inbox_ready.clear()
                await self._inbox_ready.wait()
                continue
            link, message = self._inbox.popleft()
            topic = message.topic.value
            handler = next((h for f, h in self._routes if _matches(f, topic)), None)
            if handler is not None:
                try:
                    await handler(Incoming(topic, message.payload, message.qos, message.retain))
                except Exception:
                    self._counts["handler_errors"] += 1
                    log.exception("MQTT handler failed for a message on %r", topic)
            # Cancellation (BaseException) skips this: no ack, so the broker redelivers.
            # A message from a connection since lost is redelivered anyway: no ack either.
            if message.qos and link.up:
                link.paho.ack(message.mid, message.qos)

    # -- connection supervision -----------------------------------------------------------------
    async def _supervise(self) -> None:
        settings = self._settings
        delay_s = settings.reconnect_min_s
        last_failure: str | None = None
        while True:
            protocol = settings.protocol
            if protocol == "auto":
                protocol = "3.1.1" if self._v5_refused else "5"
            link: _Link | None = None
            try:
                link = self._new_link(protocol)
                reason = await self._run_link(link)
            except MqttConnectError as exc:
                if protocol == "5" and settings.protocol == "auto" and _refuses_v5(exc):
                    log.info("MQTT broker %s refuses MQTT 5; using 3.1.1", self._where)
                    self._v5_refused = True
                    continue
                reason = f"refused: {exc}"
            except (aiomqtt.MqttError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:
                log.exception("MQTT connection to %s failed unexpectedly", self._where)
                reason = f"{type(exc).__name__}: {exc}"
            if link is not None and link.established:
                log.warning("MQTT connection to %s lost (%s); reconnecting", self._where, reason)
                delay_s, last_failure = settings.reconnect_min_s, None
            elif reason != last_failure:
                log.warning("MQTT broker %s unavailable (%s); retrying", self._where, reason)
                last_failure = reason
            else:
                log.debug("MQTT broker %s still unavailable (%s)", self._where, reason)
            await asyncio.sleep(random.uniform(delay_s / 2, delay_s))
            delay_s = min(delay_s * 2, settings.reconnect_max_s)

    def _new_link(self, protocol: str) -> _Link:
        settings, address = self._settings, self._address
        v5 = protocol == "5"
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = settings.session_expiry_s
        will = settings.will
        client = aiomqtt.Client(
            address.host,
            address.port,
            username=settings.username if settings.username is not None else address.username,
            password=settings.password if settings.password is not None else address.password,
            identifier=settings.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain) if will else None,
            clean_session=None if v5 else False,
            clean_start=False if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            keepalive=settings.keepalive_s,
            timeout=settings.connect_timeout_s,
            max_inflight_messages=settings.max_inflight,
            properties=properties,
            tls_context=self._tls,
        )
        client._client.connect_timeout = settings.connect_timeout_s
        return _Link(client, protocol, self)

    async def _run_link(self, link: _Link) -> str:
        """Connect, run until the connection is lost; return why. Raises on connect errors."""
        try:
            enter = asyncio.ensure_future(link.client.__aenter__())
            try:
                await asyncio.shield(enter)
            except asyncio.CancelledError:
                # The TCP connect runs in a worker thread that cannot be interrupted: let it
                # end (bounded by connect_timeout_s), stop waiting for CONNACK, and if it
                # connected after all say goodbye, so no socket is left open and no will sent.
                link.fail_connect("cancelled")
                with contextlib.suppress(Exception):
                    await enter
                    await link.client.__aexit__(None, None, None)
                raise
            try:
                return await self._session(link)
            finally:
                with contextlib.suppress(aiomqtt.MqttError):  # graceful: no will is sent
                    await link.client.__aexit__(None, None, None)
        finally:
            link.up = link.ready = False
            if self._link is link:
                self._link = None
                self._ready.clear()
                self._outbox.connection_lost()
            link.close_socket()

    async def _session(self, link: _Link) -> str:
        self._link, self._protocol = link, link.protocol
        lost = asyncio.create_task(link.lost.wait(), name="mqtt-lost")
        reader = asyncio.create_task(self._read_loop(link), name="mqtt-reader")
        tasks: list[asyncio.Task[Any]] = [lost, reader]
        try:
            if self._sub_qos:
                subscribe = asyncio.create_task(
                    link.client.subscribe(list(self._sub_qos.items())), name="mqtt-subscribe"
                )
                tasks.append(subscribe)
                await asyncio.wait((subscribe, lost, reader), return_when=asyncio.FIRST_COMPLETED)
                if not subscribe.done():
                    return link.lost_reason
                codes = subscribe.result()
                for pattern, code in zip(self._sub_qos, codes, strict=False):
                    if isinstance(code, ReasonCode) and code.is_failure:
                        log.error("MQTT broker refused subscription %r: %s", pattern, code)
            self._counts["reconnects"] += self._connections > 0
            self._connections += 1
            link.ready = link.established = True
            self._ready.set()
            log.info(
                "MQTT connected to %s (MQTT %s, session present: %s)",
                self._where, link.protocol, link.session_present,
            )  # fmt: skip
            publisher = asyncio.create_task(self._publish_loop(link), name="mqtt-publisher")
            notify = self._notify_connect(link.session_present)
            tasks += [publisher, asyncio.create_task(notify, name="mqtt-on-connect")]
            ending = (lost, reader, publisher)
            done, _ = await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a crashed publisher ends the connection, and is logged
            return link.lost_reason
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _notify_connect(self, session_present: bool) -> None:
        for callback in self._connect_callbacks:
            try:
                result = callback(session_present)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("MQTT on_connect callback %r failed", callback)

    # -- lifecycle ------------------------------------------------------------------------

    def _check_not_started(self, what: str) -> None:
        if self._started:
            raise BusError(f"MqttClient.{what}() must be called before entering the client")

    async def __aenter__(self) -> Self:
        self._check_not_started("__aenter__")
        self._started = True
        name = self._settings.client_id
        self._tasks = [
            asyncio.create_task(self._supervise(), name=f"mqtt-supervisor:{name}"),
            asyncio.create_task(self._dispatch_loop(), name=f"mqtt-dispatch:{name}"),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            async with asyncio.timeout(_FLUSH_S):
                while self.connected and self._outbox:  # noqa: ASYNC110 (short, bounded)
                    await asyncio.sleep(0.01)
        except TimeoutError:
            log.warning("MQTT client closed with %d messages unconfirmed", len(self._outbox))
        finally:
            self._closed = True
            for task in reversed(self._tasks):  # handlers first (no ack), then disconnect
                task.cancel()
            for result in await asyncio.gather(*self._tasks, return_exceptions=True):
                if not isinstance(result, asyncio.CancelledError | None):
                    log.error("MQTT client task failed", exc_info=result)


def _refuses_v5(exc: MqttConnectError) -> bool:
    rc = exc.rc
    return rc == 1 if isinstance(rc, int) else getattr(rc, "value", None) == _UNSUPPORTED_PROTOCOL


def _matches(topic_filter: str, topic: str) -> bool:
    try:
        return topic_matches(topic_filter, topic)
    except TopicError:
        return False
