"""``/ws/telemetry`` over real sockets: uvicorn in-process on a free port, ``websockets`` clients.

The app is a one-route FastAPI app built here (the service's own route, with its
authentication, lives in ``mission_control/api/ws.py``); telemetry is published on a real
in-process event bus, as the vehicle links do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mission_control.api.telemetry_hub import TelemetryHub, TelemetryHubSettings, serve_telemetry
from mission_control.bus import EventBus
from mission_control.vehicles.telemetry import TelemetryKind, link_topic, telemetry_topic
from mission_control.vehicles.types import (
    Battery,
    LinkEvent,
    LinkState,
    Position,
    StatusText,
    TelemetryEvent,
)

pytestmark = pytest.mark.integration

WAIT_S = 5.0  # generous bound on every wait: a hang fails the test instead of the run
WALL_OFFSET_S = time.time() - time.monotonic()


def make_app(hub: TelemetryHub) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws/telemetry")
    async def telemetry(websocket: WebSocket) -> None:
        query = websocket.query_params
        drones = {int(d) for d in query["drones"].split(",")} if "drones" in query else None
        kinds = set(query["kinds"].split(",")) if "kinds" in query else None
        await serve_telemetry(websocket, hub, drones=drones, kinds=kinds)

    return app


@dataclass
class Service:
    bus: EventBus[Any]
    hub: TelemetryHub
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/telemetry"


@contextlib.asynccontextmanager
async def serving(settings: TelemetryHubSettings | None = None) -> AsyncIterator[Service]:
    """The bus, the hub and uvicorn on a free port, stopped in reverse order."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with EventBus[Any]() as bus, TelemetryHub(bus, settings) as hub:
        config = uvicorn.Config(
            make_app(hub), ws_per_message_deflate=False, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="test-uvicorn")
        try:
            async with asyncio.timeout(WAIT_S):
                while True:
                    if server.started:
                        break
                    await asyncio.sleep(0.01)
            yield Service(bus, hub, port)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, WAIT_S)
            sock.close()


def client(url: str, **kwargs: Any) -> connect:
    return connect(url, compression=None, proxy=None, max_size=None, **kwargs)


@dataclass
class Publisher:
    """Positions of ``drones`` drones at ``hz``, each noted with the wall time it was published;
    with ``text_chars``, also a status text that long per drone and step (bulk to fill buffers)."""

    bus: EventBus[Any]
    drones: int
    hz: float
    text_chars: int = 0
    published_at: dict[tuple[int, float], float] = field(default_factory=dict)
    step: int = 0

    async def run(self) -> None:
        while True:
            self.step += 1
            for d in range(1, self.drones + 1):
                now = time.monotonic()
                sample = Position(float(self.step), 8.5, 520.0, 30.0, now)
                self.published_at[d, float(self.step)] = now + WALL_OFFSET_S
                topic = telemetry_topic(d, TelemetryKind.POSITION)
                self.bus.publish(topic, TelemetryEvent(d, sample))
                if self.text_chars:
                    text = StatusText("info", "x" * self.text_chars, now)
                    self.bus.publish(
                        telemetry_topic(d, TelemetryKind.STATUS_TEXT), TelemetryEvent(d, text)
                    )
            await asyncio.sleep(1.0 / self.hz)


@contextlib.asynccontextmanager
async def publishing(
    bus: EventBus[Any], drones: int, hz: float, text_chars: int = 0
) -> AsyncIterator[Publisher]:
    publisher = Publisher(bus, drones, hz, text_chars)
    task = asyncio.create_task(publisher.run(), name="test-publisher")
    try:
        yield publisher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def receive(ws: ClientConnection) -> tuple[list[dict[str, Any]], float]:
    """One message's objects and the wall time it arrived."""
    async with asyncio.timeout(WAIT_S):
        text = await ws.recv()
    return json.loads(text), time.time()


async def read_until_closed(ws: ClientConnection) -> None:
    while True:
        await receive(ws)


async def test_messages_carry_drone_id_and_the_wall_time_the_sample_was_received() -> None:
    async with serving() as svc, client(svc.url) as ws:
        async with publishing(svc.bus, drones=3, hz=20.0) as pub:
            objects: list[tuple[dict[str, Any], float]] = []
            while len(objects) < 60:
                batch, arrived = await receive(ws)
                assert isinstance(batch, list)
                objects += [(o, arrived) for o in batch]
        assert {o["drone_id"] for o, _ in objects} == {1, 2, 3}
        for o, arrived in objects:
            assert o["kind"] == "position"
            published = pub.published_at[o["drone_id"], o["lat_deg"]]
            assert o["ts"] == pytest.approx(published, abs=0.005)
            assert 0.0 <= arrived - o["ts"] < 0.2


async def test_a_new_screen_first_gets_the_snapshot_filtered_by_its_query() -> None:
    async with serving() as svc:
        now = time.monotonic()
        for d in (1, 2):
            svc.bus.publish(
                telemetry_topic(d, TelemetryKind.BATTERY),
                TelemetryEvent(d, Battery(50.0 + d, 15.0, now)),
            )
            svc.bus.publish(
                telemetry_topic(d, TelemetryKind.POSITION),
                TelemetryEvent(d, Position(47.0 + d, 8.5, 520.0, 30.0, now)),
            )
        event = LinkEvent(2, LinkState.DEGRADED, LinkState.CONNECTED, 2.5, now)
        svc.bus.publish(link_topic(2), event)
        await asyncio.sleep(0.05)
        async with (
            client(svc.url) as everything,
            client(svc.url + "?drones=2&kinds=battery,link") as some,
        ):
            first, _ = await receive(everything)
            assert sorted((o["drone_id"], o["kind"]) for o in first) == [
                (1, "battery"),
                (1, "position"),
                (2, "battery"),
                (2, "link"),
                (2, "position"),
            ]
            first, _ = await receive(some)
            assert sorted((o["drone_id"], o["kind"]) for o in first) == [
                (2, "battery"),
                (2, "link"),
            ]
            assert [
                o.get("remaining_pct", o.get("state"))
                for o in sorted(first, key=lambda o: o["kind"])
            ] == [52.0, "degraded"]


async def test_a_bad_filter_closes_with_1008_naming_it() -> None:
    async with serving() as svc, client(svc.url + "?kinds=position,altitude") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await receive(ws)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1008
        assert "kinds" in info.value.rcvd.reason and "altitude" in info.value.rcvd.reason


async def test_a_client_that_stops_reading_does_not_stall_another_and_is_dropped_with_1013() -> (
    None
):
    settings = TelemetryHubSettings(send_timeout_s=0.5, close_timeout_s=3.0)
    async with serving(settings) as svc:
        # the stalled client's socket takes little before TCP flow control pushes back
        stalled_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled_sock.connect(("127.0.0.1", svc.port))
        async with (
            client(svc.url, sock=stalled_sock, max_queue=1, close_timeout=1.0) as stalled,
            client(svc.url) as reader,
        ):
            await asyncio.sleep(0.1)
            assert svc.hub.client_count == 2
            async with publishing(svc.bus, drones=100, hz=50.0, text_chars=1000):
                ages: list[float] = []
                end = time.monotonic() + 3.0
                while time.monotonic() < end:
                    batch, arrived = await receive(reader)
                    ages += [arrived - o["ts"] for o in batch if o["kind"] == "position"]
                dropped = svc.hub.client_count == 1
            assert dropped  # the stalled client was disconnected (a send blocked > 0.5 s)
            tail = ages[len(ages) // 2 :]
            assert len(tail) > 100 * 40 * 1.0  # the reader still gets ~every sample at the end
            assert max(tail) < 0.5
            with pytest.raises(ConnectionClosed) as info:  # reads its backlog, then the close
                await read_until_closed(stalled)
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason[:6]) == (1013, "client")


async def test_stopping_the_hub_closes_screens_with_1001_and_refuses_new_ones_with_1013() -> None:
    async with serving() as svc, client(svc.url) as ws:
        await asyncio.sleep(0.05)
        await svc.hub.__aexit__(None, None, None)
        with pytest.raises(ConnectionClosed) as info:
            await receive(ws)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1001
        async with client(svc.url) as late:  # until the service restarts
            with pytest.raises(ConnectionClosed) as info:
                await receive(late)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1013, "telemetry not running")
