"""One vehicle's MAVSDK telemetry as typed, latest-wins samples on the bus.

MAVSDK calls each subscription's callback on its own thread. The feed subscribes through
MAVSDK's *synchronous* plugin callbacks (the ``_plugin`` behind each asyncio wrapper: the
wrapper's async generators put every value in an unbounded queue and wake the loop for
each, which costs most of a core for a fleet — see :mod:`~mission_control.vehicles.inbox`)
and posts each value to the fleet's :class:`Inbox`, latest-wins per vehicle and stream.
On the loop, each value is converted (:mod:`~mission_control.vehicles.convert`), kept as the
newest of its kind (:meth:`TelemetryFeed.latest`) and published as a
:class:`TelemetryEvent` on ``vehicles/{id}/telemetry/{kind}``; publishing never blocks.

Values that arrive in the same MAVLink message are read together, from MAVSDK's cache,
instead of through callbacks of their own: velocity and heading with each position
(GLOBAL_POSITION_INT), flight mode and health with each heartbeat. Flight mode, armed and
landed state are combined into one :class:`Modes`, published on every heartbeat and on
every change. The ``armed`` callback fires on every autopilot HEARTBEAT, so it is also the
link's heartbeat for :class:`LinkHealth`; every value counts towards its message rate.
FENCE_STATUS, which MAVSDK's telemetry does not decode, comes through ``mavlink_direct``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from mission_control.vehicles import convert
from mission_control.vehicles.health import LinkHealth
from mission_control.vehicles.inbox import Inbox
from mission_control.vehicles.status_texts import StatusTextLog
from mission_control.vehicles.types import (
    FlightMode,
    LandedState,
    LinkEvent,
    Modes,
    Sample,
    TelemetryEvent,
    VideoStreamInfo,
)

Handler = Callable[[Any, float], None]
Convert = Callable[[Any, float], Sample]


class TelemetryKind(StrEnum):
    """What a telemetry sample is; the last level of its bus topic."""

    POSITION = "position"
    VELOCITY = "velocity"
    HEADING = "heading"
    ATTITUDE = "attitude"
    BATTERY = "battery"
    MODES = "modes"
    GPS = "gps"
    HOME = "home"
    HEALTH = "health"
    MISSION_PROGRESS = "mission_progress"
    STATUS_TEXT = "status_text"
    FENCE_STATUS = "fence_status"


class EventPublisher(Protocol):
    """Where vehicle events go (an ``EventBus``): synchronous, never blocks."""

    def publish(self, topic: str, event: TelemetryEvent | LinkEvent) -> None: ...


def telemetry_topic(system_id: int, kind: TelemetryKind) -> str:
    """``vehicles/{id}/telemetry/{kind}``."""
    return f"vehicles/{system_id}/telemetry/{kind.value}"


def link_topic(system_id: int) -> str:
    """``vehicles/{id}/link``."""
    return f"vehicles/{system_id}/link"


class TelemetryFeed:
    """The telemetry subscriptions of one vehicle (started and stopped by its link).

    Args:
        system_id: the vehicle.
        telemetry, mission_raw, direct: its MAVSDK ``TelemetryAsync``, ``MissionRawAsync``
            and ``MavlinkDirectAsync`` plugins.
        health: fed with heartbeats and message arrivals.
        texts: where STATUSTEXTs are kept (for refusal reasons).
        bus: where samples are published.
        inbox: hands values from MAVSDK's thread to the loop.
    """

    def __init__(
        self,
        system_id: int,
        *,
        telemetry: Any,
        mission_raw: Any,
        direct: Any,
        health: LinkHealth,
        texts: StatusTextLog,
        bus: EventPublisher,
        inbox: Inbox,
    ) -> None:
        self.system_id = system_id
        # MAVSDK's synchronous plugins behind the asyncio wrappers (see the module docstring)
        self._tel = telemetry._plugin
        self._mission = mission_raw._plugin
        self._direct = direct._plugin
        self._health = health
        self._texts = texts
        self._bus = bus
        self._inbox = inbox
        self._latest: dict[TelemetryKind, Sample] = {}
        self._topics = {kind: telemetry_topic(system_id, kind) for kind in TelemetryKind}
        self._flight_mode = FlightMode.UNKNOWN
        self._armed = False
        self._landed = LandedState.UNKNOWN
        self._modes_changed = asyncio.Event()
        self._subscriptions: list[tuple[Callable[[Any], None], Any]] = []
        self._texts_posted = 0
        self._running = False
        self.video_stream: VideoStreamInfo | None = None
        """The camera stream the vehicle last announced (VIDEO_STREAM_INFORMATION)."""

    def start(self) -> None:
        """Subscribe to every stream (idempotent)."""
        if self._running:
            return
        self._running = True
        t, m, K, c = self._tel, self._mission, TelemetryKind, convert
        streams: list[tuple[Any, str, Handler]] = [  # plugin, MAVSDK stream name, handler
            (t, "position", self._on_position),
            (t, "armed", self._on_heartbeat),
            (t, "landed_state", self._on_landed),
            (t, "attitude_euler", self._sample(K.ATTITUDE, c.attitude)),
            (t, "battery", self._sample(K.BATTERY, c.battery)),
            (t, "gps_info", self._sample(K.GPS, c.gps)),
            (t, "home", self._sample(K.HOME, c.home)),
            (m, "mission_progress", self._sample(K.MISSION_PROGRESS, c.mission_progress)),
        ]
        for plugin, name, handler in streams:
            callback = self._poster((self.system_id, name), handler)
            handle = getattr(plugin, f"subscribe_{name}")(callback)
            self._subscriptions.append((getattr(plugin, f"unsubscribe_{name}"), handle))
        handle = t.subscribe_status_text(self._post_status_text)
        self._subscriptions.append((t.unsubscribe_status_text, handle))
        handle = self._direct.subscribe_message("FENCE_STATUS", self._post_fence_status)
        self._subscriptions.append((self._direct.unsubscribe_message, handle))
        handle = self._direct.subscribe_message("VIDEO_STREAM_INFORMATION", self._post_video)
        self._subscriptions.append((self._direct.unsubscribe_message, handle))

    def stop(self) -> None:
        """Unsubscribe everything (MAVSDK waits for a callback that is running)."""
        self._running = False
        for unsubscribe, handle in self._subscriptions:
            unsubscribe(handle)
        self._subscriptions.clear()

    def latest(self, kind: TelemetryKind) -> Sample | None:
        return self._latest.get(kind)

    def cached_flight_mode(self) -> FlightMode:
        """The flight mode in MAVSDK's cache right now (what its own ``arm()`` looks at)."""
        return convert.flight_mode(self._tel.flight_mode())

    async def wait_modes(self, accept: Callable[[Modes], bool], timeout_s: float) -> Modes | None:
        """The first :class:`Modes` (the current one or a coming one) ``accept`` takes, or None
        after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            modes = self._latest.get(TelemetryKind.MODES)
            if isinstance(modes, Modes) and accept(modes):
                return modes
            if loop.time() >= deadline:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._modes_changed.wait()

    # -- MAVSDK's thread ---------------------------------------------------------------------

    def _poster(self, key: tuple[int, str], handler: Handler) -> Callable[[Any, Any], None]:
        post, deliver = self._inbox.post, self._deliverer(handler)

        def callback(value: Any, _user_data: Any) -> None:
            post(key, deliver, value)

        return callback

    def _post_status_text(self, value: Any, _user_data: Any) -> None:
        self._texts_posted += 1  # each text is kept: a key of its own
        key = (self.system_id, "status_text", self._texts_posted)
        self._inbox.post(key, self._deliverer(self._on_status_text), value)

    def _post_fence_status(self, message: Any, _user_data: Any) -> None:
        if message.system_id == self.system_id:  # filtered here: latest-wins per key
            deliver = self._deliverer(self._on_fence_status)
            self._inbox.post((self.system_id, "fence_status"), deliver, message)

    def _post_video(self, message: Any, _user_data: Any) -> None:
        if message.system_id == self.system_id:
            deliver = self._deliverer(self._on_video_stream)
            self._inbox.post((self.system_id, "video_stream"), deliver, message)

    # -- the loop ----------------------------------------------------------------------------

    def _deliverer(self, handler: Handler) -> Handler:
        def deliver(value: Any, received_s: float) -> None:
            if self._running:  # a value may still be in the inbox after stop()
                self._health.message(received_s)
                handler(value, received_s)

        return deliver

    def _sample(self, kind: TelemetryKind, make: Convert) -> Handler:
        def handle(value: Any, now: float) -> None:
            self._store(kind, make(value, now))

        return handle

    def _store(self, kind: TelemetryKind, sample: Sample) -> None:
        self._latest[kind] = sample
        self._bus.publish(self._topics[kind], TelemetryEvent(self.system_id, sample))

    def _store_modes(self, now: float) -> None:
        self._store(TelemetryKind.MODES, Modes(self._flight_mode, self._armed, self._landed, now))
        changed, self._modes_changed = self._modes_changed, asyncio.Event()
        changed.set()

    def _on_position(self, value: Any, now: float) -> None:
        # velocity and heading come in the same GLOBAL_POSITION_INT: read from MAVSDK's cache
        self._store(TelemetryKind.POSITION, convert.position(value, now))
        self._store(TelemetryKind.VELOCITY, convert.velocity(self._tel.velocity_ned(), now))
        self._store(TelemetryKind.HEADING, convert.heading(self._tel.heading(), now))

    def _on_heartbeat(self, armed: Any, now: float) -> None:
        # flight mode comes in the same HEARTBEAT; MAVSDK updates health on each one too
        self._health.heartbeat(now)
        self._armed = bool(armed)
        self._flight_mode = convert.flight_mode(self._tel.flight_mode())
        self._store(TelemetryKind.HEALTH, convert.health(self._tel.health(), now))
        self._store_modes(now)

    def _on_landed(self, state: Any, now: float) -> None:
        new = convert.landed_state(state)
        if new is not self._landed:
            self._landed = new
            self._store_modes(now)

    def _on_status_text(self, value: Any, now: float) -> None:
        text = convert.status_text(value, now)
        self._texts.add(text)
        self._store(TelemetryKind.STATUS_TEXT, text)

    def _on_video_stream(self, message: Any, now: float) -> None:
        info = convert.video_stream_info(message.fields_json, now)
        if info is not None:
            self.video_stream = info

    def _on_fence_status(self, message: Any, now: float) -> None:
        sample = convert.fence_status_json(message.fields_json, now)
        self._store(TelemetryKind.FENCE_STATUS, sample)
