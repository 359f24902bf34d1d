"""The telemetry fan-out without sockets: a real event bus, the hub, and fake senders.

Covers the JSON form of every event, latest-wins per client, bounded buffers, the snapshot,
filters, rate limits, lag notices and the disconnect rules (``run`` raising typed errors).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mission_control.api.telemetry_hub import (
    ClientLagging,
    HubClosed,
    HubSettingsError,
    SendTimeout,
    TelemetryClient,
    TelemetryHub,
    TelemetryHubSettings,
)
from mission_control.api.telemetry_json import (
    KIND_BY_SAMPLE,
    KINDS,
    UnsupportedEvent,
    encode_json,
    telemetry_to_json,
)
from mission_control.bus import EventBus
from mission_control.errors import MissionControlError
from mission_control.vehicles.telemetry import TelemetryKind, link_topic, telemetry_topic
from mission_control.vehicles.types import (
    Attitude,
    Battery,
    FenceStatus,
    FlightMode,
    Gps,
    Heading,
    Health,
    Home,
    LandedState,
    LinkEvent,
    LinkState,
    MissionProgress,
    Modes,
    Position,
    Sample,
    StatusText,
    TelemetryEvent,
    VelocityNed,
)

WAIT_S = 3.0  # generous bound on every wait: a hang fails the test instead of the run
FAST = TelemetryHubSettings(lag_threshold_s=0.05, disconnect_after_s=0.4, send_timeout_s=2.0)


def position(drone: int, lat_deg: float, received_s: float | None = None) -> TelemetryEvent:
    now = time.monotonic() if received_s is None else received_s
    return TelemetryEvent(drone, Position(lat_deg, 8.5, 520.0, 30.0, now))


def battery(drone: int, pct: float) -> TelemetryEvent:
    return TelemetryEvent(drone, Battery(pct, 15.2, time.monotonic()))


def publish(bus: EventBus[Any], event: TelemetryEvent | LinkEvent) -> None:
    if isinstance(event, LinkEvent):
        bus.publish(link_topic(event.system_id), event)
    else:
        kind = KIND_BY_SAMPLE[type(event.sample)]
        bus.publish(telemetry_topic(event.system_id, kind), event)


async def settle(predicate: Callable[[], bool] = lambda: True) -> None:
    """Let the hub's task run (it needs a turn of the loop), then wait for ``predicate``."""
    async with asyncio.timeout(WAIT_S):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        while True:
            if predicate():
                return
            await asyncio.sleep(0.001)


@dataclass
class Screen:
    """A fake websocket: records every message it is sent, optionally slowly or never."""

    delay_s: float = 0.0
    block: bool = False
    messages: list[list[dict[str, Any]]] = field(default_factory=list)
    received_s: list[float] = field(default_factory=list)  # monotonic, per message

    async def send(self, text: str) -> None:
        if self.block:
            await asyncio.Event().wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.messages.append(json.loads(text))
        self.received_s.append(time.monotonic())

    def objects(self, kind: str = "position") -> list[dict[str, Any]]:
        return [o for m in self.messages for o in m if o["kind"] == kind]


@pytest.fixture
async def bus() -> AsyncIterator[EventBus[Any]]:
    async with EventBus[Any]() as b:
        yield b


@pytest.fixture
async def hub(bus: EventBus[Any]) -> AsyncIterator[TelemetryHub]:
    async with TelemetryHub(bus, FAST) as h:
        yield h


async def run_for(client: TelemetryClient, screen: Screen, seconds: float) -> None:
    """Run the client's sender for ``seconds``; any error it raises fails the test."""
    task = asyncio.create_task(client.run(screen.send), name=f"test-sender-{client.id}")
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if done:
            task.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def stream(bus: EventBus[Any], drones: int, hz: float, seconds: float) -> int:
    """Publish a position of every drone at ``hz`` for ``seconds``; returns the last lat."""
    step = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        step += 1
        for d in range(1, drones + 1):
            publish(bus, position(d, float(step)))
        await asyncio.sleep(1.0 / hz)
    return step


# -- JSON form -----------------------------------------------------------------------------------

NOW = time.monotonic()


@pytest.mark.parametrize(
    ("sample", "kind", "fields"),
    [
        (
            Position(47.1, 8.2, 520.5, 30.25, NOW),
            "position",
            {"lat_deg": 47.1, "lon_deg": 8.2, "alt_amsl_m": 520.5, "alt_rel_home_m": 30.25},
        ),
        (
            VelocityNed(1.0, -2.0, 0.5, NOW),
            "velocity",
            {"north_m_s": 1.0, "east_m_s": -2.0, "down_m_s": 0.5},
        ),
        (Heading(271.0, NOW), "heading", {"heading_deg": 271.0}),
        (
            Attitude(1.5, -3.0, 90.0, NOW),
            "attitude",
            {"roll_deg": 1.5, "pitch_deg": -3.0, "yaw_deg": 90.0},
        ),
        (Battery(math.nan, 15.1, NOW), "battery", {"remaining_pct": None, "voltage_v": 15.1}),
        (Gps("fix_3d", 12, NOW), "gps", {"fix_type": "fix_3d", "satellites": 12}),
        (
            Home(47.0, 8.0, math.inf, NOW),
            "home",
            {"lat_deg": 47.0, "lon_deg": 8.0, "alt_amsl_m": None},
        ),
        (MissionProgress(3, 9, NOW), "mission_progress", {"current": 3, "total": 9}),
        (
            FenceStatus(True, 2, "boundary", NOW),
            "fence_status",
            {"breached": True, "breach_count": 2, "breach_type": "boundary"},
        ),
        (
            Health(True, True, False, True, True, True, False, NOW),
            "health",
            {
                "gyro_ok": True,
                "accel_ok": True,
                "mag_ok": False,
                "local_position_ok": True,
                "global_position_ok": True,
                "home_position_ok": True,
                "armable": False,
            },
        ),
        (
            Modes(FlightMode.RETURN_TO_LAUNCH, True, LandedState.IN_AIR, NOW),
            "modes",
            {"flight_mode": "return_to_launch", "armed": True, "landed_state": "in_air"},
        ),
        (
            StatusText("critical", "Fence breached", NOW),
            "status_text",
            {"severity": "critical", "text": "Fence breached"},
        ),
    ],
)
def test_every_sample_becomes_a_flat_object_with_drone_id_kind_ts_and_its_unit_fields(
    sample: Sample, kind: str, fields: dict[str, Any]
) -> None:
    obj = telemetry_to_json(TelemetryEvent(12, sample))
    expected_ts = time.time() - (time.monotonic() - NOW)
    assert obj.pop("ts") == pytest.approx(expected_ts, abs=0.01)
    assert obj == {"drone_id": 12, "kind": kind, **fields}
    assert json.loads(encode_json({"ts": 1.0, **obj})) == {"ts": 1.0, **obj}  # NaN → null


def test_every_telemetry_kind_has_a_json_form_and_a_filter_name() -> None:
    assert {k.value for k in KIND_BY_SAMPLE.values()} == {k.value for k in TelemetryKind}
    assert {k.value for k in TelemetryKind} | {"link"} == KINDS


def test_ts_is_the_wall_time_the_message_was_received() -> None:
    obj = telemetry_to_json(position(1, 47.0, received_s=time.monotonic() - 2.5))
    assert obj["ts"] == pytest.approx(time.time() - 2.5, abs=0.01)


def test_a_link_event_has_state_previous_and_heartbeat_age() -> None:
    event = LinkEvent(4, LinkState.LOST, LinkState.DEGRADED, 3.25, time.monotonic() - 1.0)
    obj = telemetry_to_json(event)
    assert obj.pop("ts") == pytest.approx(time.time() - 1.0, abs=0.01)
    assert obj == {
        "drone_id": 4,
        "kind": "link",
        "state": "lost",
        "previous": "degraded",
        "heartbeat_age_s": 3.25,
    }
    new = telemetry_to_json(LinkEvent(5, LinkState.CONNECTED, None, 0.0, time.monotonic()))
    assert (new["state"], new["previous"]) == ("connected", None)


def test_an_unknown_event_is_refused_with_its_type_name() -> None:
    with pytest.raises(UnsupportedEvent) as info:
        telemetry_to_json("position")  # type: ignore[arg-type]
    assert info.value.type_name == "str"
    assert isinstance(info.value, MissionControlError)


# -- latest-wins, bounds, snapshot, filters -----------------------------------------------------


async def test_a_newer_sample_overwrites_the_unsent_one_of_the_same_drone_and_kind(
    bus: EventBus[Any], hub: TelemetryHub
) -> None:
    client, other = hub.connect(), hub.connect()
    for lat in (1.0, 2.0, 3.0):
        publish(bus, position(1, lat))
        publish(bus, position(2, lat + 10))
        await settle()
    publish(bus, battery(1, 80.0))
    await settle(lambda: client.pending == 3)
    assert client.superseded == 4
    batch = await client.next_batch()
    assert [e.text for e in batch] == [e.text for e in await other.next_batch()]
    assert all(a is b for a, b in zip(batch, hub._latest.values(), strict=True))  # encoded once
    objects = [json.loads(e.text) for e in batch]
    assert [(o["drone_id"], o["kind"]) for o in objects] == [
        (1, "position"),
        (2, "position"),
        (1, "battery"),
    ]
    assert [o.get("lat_deg") for o in objects] == [3.0, 13.0, None]
    assert client.pending == 0


async def test_a_never_reading_client_holds_one_object_per_drone_and_kind_after_100k_publishes(
    bus: EventBus[Any],
) -> None:
    async with TelemetryHub(bus) as hub:  # default lag rules: a loaded machine may be slow
        stalled = hub.connect()
        reader, screen = hub.connect(), Screen()
        sender = asyncio.create_task(reader.run(screen.send), name="test-reader")
        for i in range(10_000):  # 100k publishes, 10 per turn of the loop, 100 (drone, kind)s
            for d in range(i % 5 * 10, i % 5 * 10 + 10):
                publish(bus, position(d, float(i)) if i % 2 else battery(d, float(i % 100)))
            await asyncio.sleep(0)
            assert stalled.pending <= 100
        await settle(lambda: stalled.pending == 100 and reader.pending == 0)
        assert stalled.superseded == 100_000 - 100  # every publish reached it: kept the newest
        assert hub.snapshot_size == 100
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    newest = {(o["drone_id"], o["kind"]): o for o in screen.objects()}
    assert newest[(9, "position")]["lat_deg"] == 9_995.0  # the reader kept up to the end


async def test_a_new_client_first_gets_the_newest_of_every_kind_of_every_drone(
    bus: EventBus[Any], hub: TelemetryHub
) -> None:
    for lat in (1.0, 2.0):
        publish(bus, position(1, lat))
        publish(bus, position(2, lat + 10))
        await settle()
    publish(bus, battery(2, 55.0))
    publish(bus, LinkEvent(2, LinkState.DEGRADED, LinkState.CONNECTED, 2.0, time.monotonic()))
    await settle(lambda: hub.snapshot_size == 4)
    client = hub.connect()
    got = {
        (o["drone_id"], o["kind"]): o
        for o in map(json.loads, (e.text for e in await client.next_batch()))
    }
    assert set(got) == {(1, "position"), (2, "position"), (2, "battery"), (2, "link")}
    assert (got[1, "position"]["lat_deg"], got[2, "position"]["lat_deg"]) == (2.0, 12.0)
    assert (got[2, "battery"]["remaining_pct"], got[2, "link"]["state"]) == (55.0, "degraded")


async def test_filters_apply_to_the_snapshot_and_to_what_follows(
    bus: EventBus[Any], hub: TelemetryHub
) -> None:
    publish(bus, position(1, 1.0))
    publish(bus, battery(2, 70.0))
    await settle(lambda: hub.snapshot_size == 2)
    only_2 = hub.connect(drones={2})
    only_pos = hub.connect(kinds={"position"})
    both = hub.connect(drones=[1], kinds=["battery"])
    publish(bus, battery(1, 60.0))
    publish(bus, position(2, 2.0))
    await settle(lambda: only_2.pending == 2)
    keys = {c.id: sorted(e.key for e in await c.next_batch()) for c in (only_2, only_pos)}
    assert keys[only_2.id] == [(2, "battery"), (2, "position")]
    assert keys[only_pos.id] == [(1, "position"), (2, "position")]
    assert [e.key for e in await both.next_batch()] == [(1, "battery")]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kinds": {"position", "altitude"}}, "kinds"),
        ({"kinds": "position"}, "kinds"),
        ({"drones": {-1}}, "drones"),
        ({"drones": {"7"}}, "drones"),
        ({"max_hz": 0}, "max_hz"),
        ({"max_hz": math.nan}, "max_hz"),
    ],
)
async def test_a_bad_filter_is_refused_naming_it(
    hub: TelemetryHub, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(HubSettingsError) as info:
        hub.connect(**kwargs)
    assert info.value.field == field
    assert hub.client_count == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lag_threshold_s": 0}, "lag_threshold_s"),
        ({"disconnect_after_s": -1.0}, "disconnect_after_s"),
        ({"send_timeout_s": math.inf}, "send_timeout_s"),
        ({"close_timeout_s": True}, "close_timeout_s"),
        ({"bus_maxsize": 0}, "bus_maxsize"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(HubSettingsError) as info:
        TelemetryHubSettings(**kwargs)
    assert info.value.field == field


# -- senders: speed, rate limits, lag -----------------------------------------------------------


async def test_a_slow_client_does_not_delay_a_fast_one(bus: EventBus[Any]) -> None:
    async with TelemetryHub(bus) as hub:  # default lag rules: the slow one stays connected
        fast, slow = Screen(), Screen(delay_s=0.3)
        runs = [run_for(hub.connect(), s, 1.2) for s in (fast, slow)]
        runners = asyncio.gather(*runs)
        last = await stream(bus, drones=5, hz=100.0, seconds=0.8)
        await asyncio.sleep(0.05)
        assert fast.objects()[-1]["lat_deg"] == float(last)  # up to date now
        late = max(
            r - o["ts"] + (time.time() - time.monotonic())
            for m, r in zip(fast.messages, fast.received_s, strict=True)
            for o in m
        )
        assert late < 0.05  # from publish to the fast screen, whatever the slow one does
        assert len(fast.objects()) > 5 * 60  # ~all of the ~80 samples per drone
        assert 1 <= len(slow.messages) <= 4
        await runners


async def test_max_hz_caps_the_messages_and_keeps_the_newest(
    bus: EventBus[Any], hub: TelemetryHub
) -> None:
    screen = Screen()
    runner = asyncio.create_task(run_for(hub.connect(max_hz=10.0), screen, 0.8), name="test-run")
    last = await stream(bus, drones=2, hz=200.0, seconds=0.6)
    await runner
    assert 5 <= len(screen.messages) <= 9  # 0.8 s at 10 Hz, the snapshot included
    assert screen.objects()[-1]["lat_deg"] == float(last)


async def test_a_lagging_client_is_told_how_far_behind_and_what_it_skipped(
    bus: EventBus[Any], hub: TelemetryHub
) -> None:
    screen = Screen(delay_s=0.1)  # twice the lag threshold per send
    client = hub.connect()
    publisher = asyncio.create_task(stream(bus, drones=3, hz=100.0, seconds=2.0), name="test-pub")
    t0 = time.monotonic()
    with pytest.raises(ClientLagging) as info:
        async with asyncio.timeout(WAIT_S):
            await client.run(screen.send)
    lasted_s = time.monotonic() - t0
    publisher.cancel()
    await asyncio.gather(publisher, return_exceptions=True)
    notices = screen.objects("lag")
    assert notices and client.lag_notices == len(notices)
    assert all(
        m == [n]
        for m, n in zip([m for m in screen.messages if m[0]["kind"] == "lag"], notices, strict=True)
    )
    assert all(0.09 <= n["behind_s"] < 0.4 for n in notices)  # a send, or a notice and a send
    assert sum(n["skipped"] for n in notices) > 0
    assert sum(n["skipped"] for n in notices) <= client.superseded
    assert 0.4 < info.value.for_s < 0.7  # disconnect_after_s, plus a slow send or two
    assert info.value.window_s == 0.8
    assert info.value.behind_s == pytest.approx(0.3, abs=0.1)  # a notice and a batch
    assert 0.4 < lasted_s < 0.8


async def test_time_behind_counts_within_a_window_so_a_client_that_catches_up_stays(
    bus: EventBus[Any],
) -> None:
    settings = TelemetryHubSettings(lag_threshold_s=0.05, disconnect_after_s=0.5)
    async with TelemetryHub(bus, settings) as hub:  # behind > 0.5 s of the last 1 s: dropped
        screen = Screen()
        client = hub.connect()
        runner = asyncio.create_task(run_for(client, screen, 2.0), name="test-run")
        publisher = asyncio.create_task(
            stream(bus, drones=3, hz=100.0, seconds=1.9), name="test-pub"
        )
        t0 = time.monotonic()
        for delay_s, until_s in ((0.06, 0.25), (0.0, 1.35), (0.06, 1.6), (0.0, 2.0)):
            screen.delay_s = delay_s  # behind ~0.3 s, caught up 1 s, behind ~0.3 s, caught up
            await asyncio.sleep(t0 + until_s - time.monotonic())
        await runner  # would raise ClientLagging had both spells counted in one window
        await publisher
    assert client.lag_notices >= 4
    fresh = screen.messages[-20:]
    assert all(o["kind"] == "position" for m in fresh for o in m)


async def test_sends_held_up_by_a_full_buffer_count_as_behind_though_the_data_is_fresh(
    bus: EventBus[Any],
) -> None:
    settings = TelemetryHubSettings(
        lag_threshold_s=0.2, disconnect_after_s=0.3, blocked_send_s=0.01
    )
    async with TelemetryHub(bus, settings) as hub:
        screen = Screen(delay_s=0.03)  # each send waits for the socket, never long
        client = hub.connect()
        publisher = asyncio.create_task(
            stream(bus, drones=3, hz=100.0, seconds=2.0), name="test-pub"
        )
        t0 = time.monotonic()
        with pytest.raises(ClientLagging) as info:
            async with asyncio.timeout(WAIT_S):
                await client.run(screen.send)
        lasted_s = time.monotonic() - t0
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
    assert 0.3 < lasted_s < 0.5
    assert info.value.behind_s < 0.2
    assert client.lag_notices == 0  # no message was late when it left


async def test_old_snapshot_samples_do_not_count_as_lag(
    bus: EventBus[Any], hub: TelemetryHub
) -> None:
    publish(bus, position(1, 1.0, received_s=time.monotonic() - 60.0))  # e.g. home, long ago
    await settle(lambda: hub.snapshot_size == 1)
    await asyncio.sleep(0.2)  # four lag thresholds pass before anyone connects
    screen = Screen()
    await run_for(hub.connect(), screen, 0.1)
    assert [o["kind"] for m in screen.messages for o in m] == ["position"]


async def test_a_send_that_blocks_longer_than_the_timeout_ends_the_client(
    bus: EventBus[Any],
) -> None:
    settings = TelemetryHubSettings(send_timeout_s=0.1)
    async with TelemetryHub(bus, settings) as hub:
        publish(bus, position(1, 1.0))
        await settle(lambda: hub.snapshot_size == 1)
        client = hub.connect()
        t0 = time.monotonic()
        with pytest.raises(SendTimeout) as info:
            async with asyncio.timeout(WAIT_S):
                await client.run(Screen(block=True).send)
        assert 0.1 <= time.monotonic() - t0 < 0.5
        assert info.value.timeout_s == 0.1


# -- lifecycle -----------------------------------------------------------------------------------


async def test_stopping_the_hub_ends_every_client_and_refuses_new_ones(bus: EventBus[Any]) -> None:
    async with TelemetryHub(bus) as hub:
        client = hub.connect()
        runner = asyncio.create_task(client.run(Screen().send), name="test-run")
        await asyncio.sleep(0.01)
    with pytest.raises(HubClosed):
        await asyncio.wait_for(runner, WAIT_S)
    with pytest.raises(HubClosed):
        hub.connect()
    assert (hub.running, hub.client_count, bus.subscriber_count) == (False, 0, 0)


async def test_the_hub_stops_when_the_bus_closes(bus: EventBus[Any], hub: TelemetryHub) -> None:
    client = hub.connect()
    bus.close()
    with pytest.raises(HubClosed):
        await asyncio.wait_for(client.next_batch(), WAIT_S)
    assert not hub.running


async def test_disconnecting_a_client_stops_offering_it_anything(
    bus: EventBus[Any], hub: TelemetryHub
) -> None:
    client = hub.connect()
    hub.disconnect(client)
    hub.disconnect(client)  # idempotent
    publish(bus, position(1, 1.0))
    await settle(lambda: hub.snapshot_size == 1)
    assert (client.pending, client.closed, hub.client_count) == (0, True, 0)
