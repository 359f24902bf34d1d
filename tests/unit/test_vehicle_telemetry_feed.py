"""Telemetry ingestion without MAVSDK's network side: fake plugins call back from a thread.

The fakes stand in for MAVSDK's synchronous plugins (``subscribe_x(callback)`` returning a
handle, ``unsubscribe_x(handle)``, cached getters) and deliver MAVSDK's own value types, so
the feed's conversions, latest-wins hand-off, Modes combination and health feed are tested
as they run in the service.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from mavsdk.plugins.mavlink_direct.mavlink_direct import MavlinkMessage
from mavsdk.plugins.mission_raw.mission_raw import MissionProgress as MavProgress
from mavsdk.plugins.telemetry import telemetry as tel

from mission_control.bus import EventBus
from mission_control.vehicles.health import HealthThresholds, LinkHealth
from mission_control.vehicles.inbox import Inbox
from mission_control.vehicles.status_texts import StatusTextLog
from mission_control.vehicles.telemetry import TelemetryFeed, TelemetryKind
from mission_control.vehicles.types import (
    FenceStatus,
    FlightMode,
    Heading,
    LandedState,
    Modes,
    Position,
    StatusText,
    TelemetryEvent,
    VelocityNed,
)


class FakePlugin:
    """``subscribe_<name>(callback)`` / ``unsubscribe_<name>(handle)`` plus cached getters."""

    def __init__(self, **cached: Any) -> None:
        self.callbacks: dict[str, Callable[[Any, Any], None]] = {}
        self.cached = cached

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("subscribe_"):
            name = attr.removeprefix("subscribe_")

            def subscribe(*args: Any) -> str:
                # mavlink_direct: one subscription per message name
                key = f"message:{args[0]}" if name == "message" else name
                self.callbacks[key] = args[-1]
                return key

            return subscribe
        if attr.startswith("unsubscribe_"):
            return lambda handle: self.callbacks.pop(handle)
        if attr in self.cached:
            return lambda: self.cached[attr]
        raise AttributeError(attr)

    def emit(self, name: str, value: Any) -> None:
        """Call back from another thread, as MAVSDK does."""
        thread = threading.Thread(target=self.callbacks[name], args=(value, None))
        thread.start()
        thread.join()


class Wrapper:
    def __init__(self, plugin: FakePlugin) -> None:
        self._plugin = plugin


def make_feed(
    bus: EventBus[Any], now: float
) -> tuple[TelemetryFeed, FakePlugin, FakePlugin, FakePlugin, LinkHealth, Inbox]:
    t = FakePlugin(
        velocity_ned=tel.VelocityNed(1.0, 2.0, -0.5),
        heading=tel.Heading(90.0),
        flight_mode=tel.FlightMode.MISSION,
        health=tel.Health(True, True, True, True, True, True, True),
    )
    m, d = FakePlugin(), FakePlugin()
    health = LinkHealth(4, HealthThresholds(), now)
    inbox = Inbox(asyncio.get_running_loop(), batch_s=0.005)
    feed = TelemetryFeed(
        4,
        telemetry=Wrapper(t),
        mission_raw=Wrapper(m),
        direct=Wrapper(d),
        health=health,
        texts=StatusTextLog(8),
        bus=bus,
        inbox=inbox,
    )
    return feed, t, m, d, health, inbox


async def settle() -> None:
    await asyncio.sleep(0.05)


async def test_one_position_gives_position_velocity_and_heading_on_the_bus() -> None:
    bus: EventBus[Any] = EventBus()
    sub = bus.subscribe("vehicles/4/telemetry/#", maxsize=100)
    feed, t, *_ = make_feed(bus, 0.0)
    feed.start()
    t.emit("position", tel.Position(47.1, 8.5, 500.0, 12.0))
    await settle()
    got = {}
    while sub.pending:
        topic, event = sub.get_nowait()
        assert isinstance(event, TelemetryEvent) and event.system_id == 4
        got[topic] = event.sample
    assert set(got) == {f"vehicles/4/telemetry/{k}" for k in ("position", "velocity", "heading")}
    pos = feed.latest(TelemetryKind.POSITION)
    assert isinstance(pos, Position) and (pos.lat_deg, pos.alt_rel_home_m) == (47.1, 12.0)
    vel = feed.latest(TelemetryKind.VELOCITY)
    assert isinstance(vel, VelocityNed) and vel.east_m_s == 2.0
    assert vel.received_s == pos.received_s  # the same GLOBAL_POSITION_INT
    heading = feed.latest(TelemetryKind.HEADING)
    assert isinstance(heading, Heading) and heading.heading_deg == 90.0
    feed.stop()
    assert t.callbacks == {}


async def test_values_faster_than_the_loop_takes_them_are_latest_wins() -> None:
    bus: EventBus[Any] = EventBus()
    feed, t, *_, inbox = make_feed(bus, 0.0)
    feed.start()
    for i in range(50):  # within one batch
        t.emit("attitude_euler", tel.EulerAngle(0.0, 0.0, float(i)))
    await settle()
    att = feed.latest(TelemetryKind.ATTITUDE)
    assert att is not None and att.yaw_deg == 49.0  # type: ignore[union-attr]
    assert inbox.batches <= 2


async def test_heartbeats_feed_health_and_modes_combine_mode_armed_and_landed_state() -> None:
    bus: EventBus[Any] = EventBus()
    loop = asyncio.get_running_loop()
    feed, t, _, _, health, _ = make_feed(bus, loop.time())
    feed.start()
    t.emit("armed", True)
    t.emit("landed_state", tel.LandedState.IN_AIR)
    await settle()
    modes = feed.latest(TelemetryKind.MODES)
    assert isinstance(modes, Modes)
    assert (modes.flight_mode, modes.armed, modes.landed_state) == (
        FlightMode.MISSION,
        True,
        LandedState.IN_AIR,
    )
    assert health.heartbeat_age_s(loop.time()) < 0.2
    assert feed.latest(TelemetryKind.HEALTH) is not None
    waited = await feed.wait_modes(lambda m: m.landed_state is LandedState.IN_AIR, 0.1)
    assert waited == modes
    assert await feed.wait_modes(lambda m: not m.armed, 0.05) is None


async def test_every_status_text_is_kept_and_fence_status_comes_through_mavlink_direct() -> None:
    bus: EventBus[Any] = EventBus()
    texts = bus.subscribe("vehicles/4/telemetry/status_text", maxsize=10)
    feed, t, m, d, *_ = make_feed(bus, 0.0)
    feed.start()
    for words in ("one", "two", "three"):
        t.emit("status_text", tel.StatusText(tel.StatusTextType.WARNING, words))
    fence = '{"breach_status":1,"breach_count":1,"breach_type":3}'
    d.emit("message:FENCE_STATUS", MavlinkMessage("FENCE_STATUS", 4, 1, 0, 0, fence))
    d.emit(
        "message:FENCE_STATUS", MavlinkMessage("FENCE_STATUS", 9, 1, 0, 0, fence)
    )  # another vehicle
    m.emit("mission_progress", MavProgress(2, 5))
    await settle()
    said = [texts.get_nowait().event.sample for _ in range(texts.pending)]
    assert [(t.severity, t.text) for t in said if isinstance(t, StatusText)] == [
        ("warning", "one"),
        ("warning", "two"),
        ("warning", "three"),
    ]
    status = feed.latest(TelemetryKind.FENCE_STATUS)
    assert isinstance(status, FenceStatus) and status.breached and status.breach_type == "boundary"
    progress = feed.latest(TelemetryKind.MISSION_PROGRESS)
    assert progress is not None and (progress.current, progress.total) == (2, 5)  # type: ignore[union-attr]


async def test_the_announced_video_stream_is_kept_per_vehicle() -> None:
    """VIDEO_STREAM_INFORMATION (mavlink_direct) gives the link its camera stream; another
    vehicle's announcement and one without a URI are ignored."""
    feed, _t, _m, d, *_ = make_feed(EventBus(), 0.0)
    feed.start()
    assert feed.video_stream is None
    info = {
        "stream_id": 1,
        "type": 1,
        "encoding": 1,
        "framerate": 15.0,
        "resolution_h": 1280,
        "resolution_v": 720,
        "hfov": 80,
        "name": "sys 4 camera",
        "uri": "udp://127.0.0.1:5600",
    }
    msg = "message:VIDEO_STREAM_INFORMATION"
    d.emit(msg, MavlinkMessage("VIDEO_STREAM_INFORMATION", 9, 1, 0, 0, json.dumps(info)))
    d.emit(msg, MavlinkMessage("VIDEO_STREAM_INFORMATION", 4, 1, 0, 0, json.dumps(info)))
    await settle()
    got = feed.video_stream
    assert got is not None
    assert (got.uri, got.stream_type, got.encoding) == ("udp://127.0.0.1:5600", 1, 1)
    assert (got.width_px, got.height_px, got.fps, got.hfov_deg) == (1280, 720, 15.0, 80.0)
    no_uri = json.dumps({**info, "uri": ""})
    d.emit(msg, MavlinkMessage("VIDEO_STREAM_INFORMATION", 4, 1, 0, 0, no_uri))
    await settle()
    assert feed.video_stream == got
    feed.stop()


async def test_a_value_still_in_the_inbox_after_stop_is_dropped() -> None:
    bus: EventBus[Any] = EventBus()
    feed, t, *_ = make_feed(bus, 0.0)
    feed.start()
    callback = t.callbacks["position"]
    feed.stop()
    callback(tel.Position(47.0, 8.0, 500.0, 0.0), None)
    await settle()
    assert feed.latest(TelemetryKind.POSITION) is None


async def test_the_inbox_is_bounded_and_refuses_posts_once_closed() -> None:
    inbox = Inbox(asyncio.get_running_loop(), max_pending=2, batch_s=0.01)
    seen: list[Any] = []

    def keep(value: Any, _received_s: float) -> None:
        seen.append(value)

    for key in "abc":
        inbox.post(key, keep, key)
    inbox.post("a", keep, "a2")  # replaces a pending value: no new key
    await settle()
    assert seen == ["a2", "b"] and inbox.dropped == 1
    inbox.close()
    inbox.post("d", keep, "d")
    await settle()
    assert seen == ["a2", "b"]
