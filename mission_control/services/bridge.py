"""The MQTT bridge: incidents in, fleet state and events out, and other instances' news in.

Enabled by ``MC_MQTT_URL``. Topics are under ``mc/{site}/`` (see
:class:`mission_control.bus.messages.Topics` and the JSON Schemas beside it):

- ``incidents/new`` (QoS 1, persistent session): each message is validated and stored as
  an incident with its ``source`` and ``external_id`` — a repeat of the same pair is the
  same incident, so every instance can read every message and the database decides who
  stores it (the *database claim*: one incident, dispatched once). A message that cannot be
  an incident is answered on ``incidents/rejected`` with the reason; the message is acked
  only once it is stored or rejected, so one that was being stored when the service died
  is delivered again.
- out, for the drones whose links this instance holds: ``fleet/{drone}/telemetry`` (QoS 0,
  at most ``mqtt_telemetry_hz`` batches per drone per second, latest sample of each kind),
  ``fleet/{drone}/state`` (retained summary, on change and every ``mqtt_state_period_s``);
  and every event this instance stores: ``incidents/{id}/events``,
  ``missions/{id}/events``, ``alerts`` (QoS 1).
- in, from other instances: their telemetry, states and events (subscribed at QoS 0: the
  broker does not queue them while this instance is away — the database has the events,
  and ``/ws/events`` fills any gap from it). They are put on the local bus, so a screen on
  any instance sees every drone and every event.
- ``instances/{id}/status``: retained ``online``; the last will says ``offline``.
- ``instances/{id}/requests`` / ``replies``: a pilot's command for a drone linked to another
  instance is carried there (:meth:`MqttBridge.request`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mission_control.api.telemetry_json import telemetry_to_json
from mission_control.bus import EventBus
from mission_control.bus.messages import (
    CommandReply,
    CommandRequest,
    MessageError,
    Rejected,
    Topics,
    decode_command_reply,
    decode_command_request,
    decode_event,
    decode_incident,
    decode_state,
    decode_status,
    decode_telemetry,
    encode_command_reply,
    encode_command_request,
    encode_event,
    encode_rejected,
    encode_state,
    encode_status,
    encode_telemetry,
)
from mission_control.bus.mqtt import Incoming, MqttClient, MqttSettings, Will
from mission_control.domain.errors import DomainError, InvalidField
from mission_control.domain.events import Event, EventKind, event_topic
from mission_control.domain.incident import Incident, PatternKind
from mission_control.services.dispatcher import new_id
from mission_control.services.drones import DroneDirectory
from mission_control.services.remote import RemoteFleet
from mission_control.store import Actor, StoreUnavailable
from mission_control.vehicles.types import LinkEvent, TelemetryEvent

__all__ = ["MqttBridge", "RequestFailed", "Served"]

log = logging.getLogger(__name__)

Report = Callable[[Incident, Actor], Awaitable[tuple[Incident, bool]]]
Served = Callable[[CommandRequest], Awaitable[tuple[int, dict[str, Any]]]]
"""A request handler: the request → (HTTP-like status, body)."""

_RELAYED_MEMORY = 20_000  # event seqs remembered as relayed (not published back)
_STORE_RETRY_MAX_S = 5.0
_STALE_TELEMETRY_S = 1.0  # another instance's telemetry older than this is dropped


class RequestFailed(Exception):
    """Another instance did not answer a request in time (or could not be asked)."""


class MqttBridge:
    """Owns the MQTT client; ``async with`` starts and stops it with its tasks.

    Args:
        settings: the client's connection settings.
        topics: the topic names of this site.
        instance: this instance's name.
        bus: the local event bus.
        drones: the drone directory (which drones are local, their JSON).
        remote: where other instances' drones are kept.
        report: stores an incident and queues it for dispatch (``Services.report_incident``).
        clock: aware UTC now.
        telemetry_hz: telemetry batches per drone per second, at most.
        state_period_s: a drone's retained state is re-published at least this often.
        rejections: whether this instance answers on ``incidents/rejected`` (clustered: only
            the leading instance, so a bad message is answered once).
    """

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        *,
        instance: str,
        bus: EventBus[object],
        drones: DroneDirectory,
        remote: RemoteFleet | None,
        report: Report,
        clock: Callable[[], datetime],
        telemetry_hz: float,
        state_period_s: float,
        rejections: Callable[[], bool] = lambda: True,
    ) -> None:
        self.topics = topics
        self.instance = instance
        self._bus = bus
        self._drones = drones
        self._remote = remote
        self._report = report
        self._clock = clock
        self._period_s = 1.0 / telemetry_hz
        self._state_period_s = state_period_s
        self._rejections = rejections
        will = Will(topics.instance_status(instance), self._status(False), 1, True)
        self.client = MqttClient(_with_will(settings, will))
        self._tasks: list[asyncio.Task[None]] = []
        self._relayed: OrderedDict[int, None] = OrderedDict()
        self._served: dict[str, Served] = {}
        self._waiting: dict[str, asyncio.Future[CommandReply]] = {}
        self._state_sent: dict[int, tuple[float, dict[str, Any]]] = {}
        self.ingested = 0
        self.rejected = 0
        self.stale_batches = 0

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> MqttBridge:
        t = self.topics
        self.client.on(t.incidents_new, self._on_incident, qos=1)
        self.client.on(t.requests(self.instance), self._on_request, qos=1)
        self.client.on(t.replies(self.instance), self._on_reply, qos=0)
        self.client.on(t.telemetry_pattern, self._on_telemetry, qos=0)
        self.client.on(t.state_pattern, self._on_state, qos=0)
        self.client.on(t.status_pattern, self._on_status, qos=0)
        for pattern in (t.mission_events_pattern, t.incident_events_pattern, t.alerts):
            self.client.on(pattern, self._on_event, qos=0)
        self.client.on_connect(self._connected)
        await self.client.__aenter__()
        events = self._bus.subscribe("events/#", maxsize=10_000, policy="drop_oldest")
        samples = self._bus.subscribe(
            "vehicles/+/telemetry/+", maxsize=10_000, policy="latest_per_topic"
        )
        links = self._bus.subscribe("vehicles/+/link", maxsize=1_000, policy="drop_oldest")
        for name, run in (
            ("events out", self._events_out(events)),
            ("telemetry out", self._telemetry_out(samples, links)),
            ("state out", self._state_out()),
        ):
            self._tasks.append(asyncio.create_task(run, name=f"mqtt bridge: {name}"))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # a clean disconnect suppresses the will: say offline ourselves
        self.client.publish(
            self.topics.instance_status(self.instance), self._status(False), qos=1, retain=True
        )
        await self.client.__aexit__(None, None, None)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(RequestFailed("the service is stopping"))

    def _status(self, online: bool) -> bytes:
        return encode_status(self.instance, online, self._clock())

    async def _connected(self, session_present: bool) -> None:
        self.client.publish(
            self.topics.instance_status(self.instance), self._status(True), qos=1, retain=True
        )
        self._state_sent.clear()  # re-send every state: the broker may have lost them

    # -- incidents in --------------------------------------------------------------------------
    async def _on_incident(self, msg: Incoming) -> None:
        try:
            incident = self._incident(msg.payload)
        except Rejected as rejected:
            self._reject(rejected, msg)
            return
        actor = Actor(f"mqtt:{incident.source}"[:64], "system")
        delay = 0.2
        while True:  # the database is the only place an incident is safe: wait for it
            try:
                stored, created = await self._report(incident, actor)
                break
            except StoreUnavailable as exc:
                log.warning("MQTT incident %s: database unavailable, retrying: %s", incident, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _STORE_RETRY_MAX_S)
        self.ingested += created
        log.info(
            "MQTT incident %s/%s → %s (%s)",
            incident.source,
            incident.external_id,
            stored.id,
            "new" if created else "repeat",
        )

    def _incident(self, payload: bytes) -> Incident:
        message = decode_incident(payload)
        now = self._clock()
        try:
            return Incident(
                id=new_id("inc"),
                source=message.source,
                external_id=message.external_id,
                kind=message.kind,
                priority=message.priority,
                lat_deg=message.lat_deg,
                lon_deg=message.lon_deg,
                description=message.description,
                reported_by=f"mqtt:{message.source}"[:64],
                created_at=now,
                updated_at=now,
                pattern=None if message.pattern is None else PatternKind(message.pattern),
                radius_m=message.radius_m,
            )
        except InvalidField as exc:
            raise Rejected(
                f"{exc.field}: {exc.reason}",
                [{"field": exc.field, "reason": exc.reason}],
                message.source,
                message.external_id,
            ) from None
        except DomainError as exc:
            raise Rejected(str(exc), [], message.source, message.external_id) from None

    def _reject(self, rejected: Rejected, msg: Incoming) -> None:
        self.rejected += 1
        log.warning("MQTT incident rejected: %s", rejected.reason)
        if self._rejections():
            body = encode_rejected(
                rejected,
                topic=msg.topic,
                payload=msg.payload,
                instance=self.instance,
                at=self._clock(),
            )
            self.client.publish(self.topics.incidents_rejected, body, qos=1)

    # -- out: events, telemetry, state ---------------------------------------------------------
    async def _events_out(self, sub: Any) -> None:
        async for _, event in sub:
            if not isinstance(event, Event) or event.seq in self._relayed:
                continue
            body = encode_event(event, self.instance)
            kind = event.kind
            if kind in (EventKind.INCIDENT_CREATED, EventKind.INCIDENT_UPDATED):
                self.client.publish(self.topics.incident_events(event.subject_id), body, qos=1)
            elif kind in (EventKind.MISSION_CREATED, EventKind.MISSION_UPDATED):
                self.client.publish(self.topics.mission_events(event.subject_id), body, qos=1)
            else:
                self.client.publish(self.topics.alerts, body, qos=1)
                mission_id = event.payload.get("mission_id")
                if isinstance(mission_id, str):
                    self.client.publish(self.topics.mission_events(mission_id), body, qos=1)

    async def _telemetry_out(self, samples: Any, links: Any) -> None:
        pending: dict[int, dict[str, TelemetryEvent | LinkEvent]] = {}
        seq: dict[int, int] = {}

        def take(event: object) -> None:
            if isinstance(event, TelemetryEvent | LinkEvent) and self._drones.is_local(
                event.system_id
            ):
                key = "link" if isinstance(event, LinkEvent) else type(event.sample).__name__
                pending.setdefault(event.system_id, {})[key] = event

        while True:
            await asyncio.sleep(self._period_s)
            for sub in (samples, links):
                while True:
                    try:
                        take(sub.get_nowait().event)
                    except asyncio.QueueEmpty:
                        break
            batch, pending = pending, {}
            for drone_id, latest in batch.items():
                n = seq[drone_id] = seq.get(drone_id, 0) + 1
                objects = [telemetry_to_json(e) for e in latest.values()]
                body = encode_telemetry(drone_id, self.instance, n, objects)
                self.client.publish(self.topics.telemetry(drone_id), body, qos=0)

    async def _state_out(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self._state_period_s))
            with contextlib.suppress(Exception):
                self.publish_states()
            if self._remote is not None:
                self._remote.check()

    def publish_states(self, *, force: bool = False) -> None:
        """Publish the retained state of every local drone that changed (or is due)."""
        now = time.monotonic()
        for drone_id in self._drones.ids():
            if not self._drones.is_local(drone_id):
                continue
            doc = self._drones.to_json(drone_id)
            if doc is None:
                continue
            compare = {k: v for k, v in doc.items() if k != "heartbeat_age_s"}
            sent = self._state_sent.get(drone_id)
            if not force and sent is not None:
                sent_s, sent_doc = sent
                if sent_doc == compare and now - sent_s < self._state_period_s:
                    continue
            self._state_sent[drone_id] = (now, compare)
            body = encode_state(doc, self.instance, self._clock())
            self.client.publish(self.topics.state(drone_id), body, qos=1, retain=True)

    # -- in: other instances -------------------------------------------------------------------
    async def _on_telemetry(self, msg: Incoming) -> None:
        if self._remote is None:
            return
        drone_id = self.topics.parse_telemetry(msg.topic)
        if drone_id is None or self._drones.is_local(drone_id):
            return  # our own, echoed by the broker: not even decoded
        try:
            batch = decode_telemetry(msg.payload)
        except MessageError as exc:
            log.debug("bad telemetry on %s: %s", msg.topic, exc)
            return
        if batch.instance == self.instance or batch.drone_id != drone_id:
            return
        newest = max((_received_s(e) for e in batch.events), default=None)
        if newest is not None and time.monotonic() - newest > _STALE_TELEMETRY_S:
            # this instance is behind (overloaded): skip ahead rather than serve old news
            self.stale_batches += 1
            return
        self._remote.apply_telemetry(batch.drone_id, batch.instance, batch.events)

    async def _on_state(self, msg: Incoming) -> None:
        if self._remote is None or not msg.payload:
            return
        drone_id = self.topics.parse_state(msg.topic)
        if drone_id is None or self._drones.is_local(drone_id):
            return
        try:
            state = decode_state(msg.payload)
        except MessageError as exc:
            log.debug("bad drone state on %s: %s", msg.topic, exc)
            return
        if state.instance == self.instance or self._drones.is_local(state.drone_id):
            return
        self._remote.apply_state(state.drone_id, state.instance, state.to_json())

    async def _on_status(self, msg: Incoming) -> None:
        if self._remote is None or not msg.payload:
            return
        try:
            status = decode_status(msg.payload)
        except MessageError:
            return
        if status.instance != self.instance:
            self._remote.instance_status(status.instance, status.online)

    async def _on_event(self, msg: Incoming) -> None:
        try:
            event, instance = decode_event(msg.payload)
        except MessageError as exc:
            log.debug("bad event on %s: %s", msg.topic, exc)
            return
        if instance == self.instance or event.seq in self._relayed:
            return
        self._relayed[event.seq] = None
        if len(self._relayed) > _RELAYED_MEMORY:
            self._relayed.popitem(last=False)
        self._bus.publish(event_topic(event.kind), event)

    # -- requests between instances ------------------------------------------------------------
    def serve(self, op: str, handler: Served) -> None:
        """Answer requests ``op`` from other instances with ``handler``."""
        self._served[op] = handler

    async def request(
        self, instance: str, request: CommandRequest, *, timeout_s: float
    ) -> tuple[int, dict[str, Any]]:
        """Ask ``instance`` to run ``request`` (its id, reply topic and deadline are set
        here); returns its (status, body).

        Raises:
            RequestFailed: no answer within ``timeout_s`` (the request expires unanswered).
        """
        if not self.client.connected:
            raise RequestFailed("the MQTT broker is not connected")
        sent = replace(
            request,
            id=uuid.uuid4().hex,
            reply_to=self.topics.replies(self.instance),
            deadline=self._clock() + timedelta(seconds=timeout_s),
        )
        fut: asyncio.Future[CommandReply] = asyncio.get_running_loop().create_future()
        self._waiting[sent.id] = fut
        try:
            self.client.publish(self.topics.requests(instance), encode_command_request(sent), qos=1)
            async with asyncio.timeout(timeout_s):
                reply = await fut
        except TimeoutError:
            raise RequestFailed(
                f"instance {instance} did not answer within {timeout_s:g} s"
            ) from None
        finally:
            self._waiting.pop(sent.id, None)
        return reply.status, dict(reply.body)

    async def _on_request(self, msg: Incoming) -> None:
        try:
            request = decode_command_request(msg.payload)
        except MessageError as exc:
            log.warning("malformed request on %s: %s", msg.topic, exc)
            return
        if request.deadline < datetime.now(UTC):
            log.warning(
                "request %s (%s) arrived after its deadline: not run", request.id, request.op
            )
            return  # its sender has given up: a late pilot command must not fly
        handler = self._served.get(request.op)
        if handler is None:
            status, body = 400, {"detail": f"unknown request {request.op!r}"}
        else:
            try:
                status, body = await handler(request)
            except Exception as exc:  # answer, whatever happened
                log.exception("request %s (%s) failed", request.id, request.op)
                status, body = 500, {"detail": f"internal error on {self.instance}: {exc}"}
        reply = CommandReply(request.id, 200 <= status < 300, status, body)
        self.client.publish(request.reply_to, encode_command_reply(reply), qos=1)

    async def _on_reply(self, msg: Incoming) -> None:
        try:
            reply = decode_command_reply(msg.payload)
        except MessageError:
            return
        fut = self._waiting.get(reply.id)
        if fut is not None and not fut.done():
            fut.set_result(reply)


def _received_s(event: TelemetryEvent | LinkEvent) -> float:
    return event.sample.received_s if isinstance(event, TelemetryEvent) else event.at_s


def _with_will(settings: MqttSettings, will: Will) -> MqttSettings:
    return replace(settings, will=will)
