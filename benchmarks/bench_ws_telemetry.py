"""Websocket telemetry: 100 drones × 10 Hz positions fanned out to 100 clients.

Set-up, three processes (multiprocessing, spawn) on one machine:

- the server: uvicorn (its default event loop, uvloop when installed; permessage-deflate
  off) running a FastAPI app whose lifespan owns an ``EventBus``, a ``TelemetryHub`` and a
  publisher that emits 100 drones × 10 Hz ``Position`` samples stamped with
  ``received_s = time.monotonic()`` as they are published, spread evenly (10 drones every
  10 ms, as a fleet's MAVLink arrivals are). Each sample's ``alt_rel_home_m`` carries its
  sequence number. ``/ws/telemetry`` is served by ``serve_telemetry`` ("batched": one JSON
  array per wake-up, the shipped wire format) or, for comparison, by a loop sending each
  object as a message of its own ("per_entry", the same hub and latest-wins buffers);
- 100 ``websockets`` clients in one asyncio process, decoding every message;
- this process, which samples the server's CPU time from ``/proc/<pid>/stat``.

After a 3 s warm-up, over a ``--seconds`` window (10 s by default):

- ``delivered_per_client``: position objects received per second per client (mean, and
  the slowest client), and ``delivered_ratio`` against what the publisher offered;
- ``messages_per_client``: websocket messages per second per client;
- ``latency`` p50/p99: client receive wall time − ``ts`` (wall time the sample was
  published, via its monotonic stamp), over every object. Target p99 < 50 ms;
- ``server_cpu`` / ``clients_cpu``: CPU time / wall time of each process, in % of a core.

Run: ``python benchmarks/bench_ws_telemetry.py [--seconds S] [--modes batched,per_entry]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import threading
import time
from array import array
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import report

from mission_control.api.telemetry_hub import HubClosed, TelemetryHub, serve_telemetry
from mission_control.bus import EventBus
from mission_control.vehicles.telemetry import TelemetryKind, telemetry_topic
from mission_control.vehicles.types import Position, TelemetryEvent

DRONES = 100
HZ = 10.0
GROUPS = 10  # drones are published in this many evenly spaced groups per period
CLIENTS = 100
WARMUP_S = 3.0


# -- the server process ---------------------------------------------------------------------------


async def _publish(bus: EventBus[Any], published: Any) -> None:
    topics = [telemetry_topic(d, TelemetryKind.POSITION) for d in range(DRONES + 1)]
    per_group = DRONES // GROUPS
    tick_s = 1.0 / (HZ * GROUPS)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tick = 0
    while True:
        step, group = divmod(tick, GROUPS)
        for d in range(group * per_group + 1, (group + 1) * per_group + 1):
            lat = 47.39 + 0.001 * d + 1e-6 * step
            sample = Position(lat, 8.54 + 1e-6 * step, 520.0 + d, float(step), time.monotonic())
            bus.publish(topics[d], TelemetryEvent(d, sample))
        published.value += per_group
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * tick_s - loop.time()))


def _make_app(mode: str, published: Any) -> FastAPI:
    hubs: list[TelemetryHub] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with EventBus[Any]() as bus, TelemetryHub(bus) as hub:
            hubs.append(hub)
            task = asyncio.create_task(_publish(bus, published), name="bench-publisher")
            try:
                yield
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/ws/telemetry")
    async def telemetry(websocket: WebSocket) -> None:
        if mode == "batched":
            await serve_telemetry(websocket, hubs[0])
            return
        await websocket.accept()
        client = hubs[0].connect()
        try:
            while True:
                for entry in await client.next_batch():
                    await websocket.send_text(entry.text)
        except (WebSocketDisconnect, HubClosed):
            pass
        finally:
            hubs[0].disconnect(client)

    return app


def _server(port: int, mode: str, published: Any, stop: Any) -> None:
    config = uvicorn.Config(
        _make_app(mode, published),
        host="127.0.0.1",
        port=port,
        ws_per_message_deflate=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)

    def stopper() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stopper, name="bench-stopper", daemon=True).start()
    server.run()


# -- the clients process --------------------------------------------------------------------------


async def _clients(port: int, seconds: float, started: Any, ended: Any, results: Any) -> None:
    url = f"ws://127.0.0.1:{port}/ws/telemetry"
    sockets = [
        await connect(url, compression=None, proxy=None, max_size=None) for _ in range(CLIENTS)
    ]
    counts = [0] * CLIENTS
    messages = [0] * CLIENTS
    latencies_ms = array("d")
    window = [0.0, 0.0]  # wall-clock start and end of the measurement

    async def read(i: int) -> None:
        ws = sockets[i]
        record = latencies_ms.append
        async for text in ws:
            now = time.time()
            if not window[0] <= now < window[1]:
                continue
            data = json.loads(text)
            objects = data if isinstance(data, list) else [data]
            messages[i] += 1
            for obj in objects:
                if obj["kind"] == "position":
                    counts[i] += 1
                    record((now - obj["ts"]) * 1000.0)

    window[0] = time.time() + WARMUP_S
    window[1] = window[0] + seconds
    readers = [asyncio.create_task(read(i), name=f"bench-client-{i}") for i in range(CLIENTS)]
    await asyncio.sleep(WARMUP_S)
    started.set()
    cpu0 = time.process_time()
    await asyncio.sleep(seconds)
    cpu_share = 100.0 * (time.process_time() - cpu0) / seconds
    ended.set()
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    results.put((counts, messages, latencies_ms.tobytes(), cpu_share))


def _clients_main(port: int, seconds: float, started: Any, ended: Any, results: Any) -> None:
    asyncio.run(_clients(port, seconds, started, ended, results))


# -- this process ---------------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _wait_listening(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"no server on {port} within {timeout_s} s") from None
            time.sleep(0.1)


def run(mode: str, seconds: float) -> None:
    ctx = mp.get_context("spawn")
    port = _free_port()
    published, stop = ctx.Value("q", 0), ctx.Event()
    server = ctx.Process(target=_server, args=(port, mode, published, stop), daemon=True)
    server.start()
    try:
        _wait_listening(port, 30.0)
        started, ended, results = ctx.Event(), ctx.Event(), ctx.Queue()
        clients = ctx.Process(
            target=_clients_main, args=(port, seconds, started, ended, results), daemon=True
        )
        clients.start()
        if not started.wait(60):
            raise SystemExit("the clients did not start")
        assert server.pid is not None
        cpu0, pub0, t0 = _cpu_s(server.pid), published.value, time.monotonic()
        if not ended.wait(seconds + 30):
            raise SystemExit("the clients did not finish")
        cpu1, pub1, t1 = _cpu_s(server.pid), published.value, time.monotonic()
        counts, messages, raw, clients_cpu = results.get(timeout=60)
        clients.join(30)
    finally:
        stop.set()
        server.join(30)
        if server.is_alive():
            server.terminate()

    latencies = array("d")
    latencies.frombytes(raw)
    ordered = sorted(latencies)
    offered_per_s = (pub1 - pub0) / (t1 - t0)
    delivered = [c / seconds for c in counts]
    name = f"ws_telemetry.{mode}"
    report(f"{name}.offered", offered_per_s, "objects/s")
    report(f"{name}.delivered_per_client.mean", statistics.mean(delivered), "objects/s")
    report(f"{name}.delivered_per_client.min", min(delivered), "objects/s")
    report(f"{name}.delivered_ratio", 100.0 * statistics.mean(delivered) / offered_per_s, "%")
    report(f"{name}.messages_per_client", statistics.mean(messages) / seconds, "msg/s")
    if ordered:
        report(f"{name}.latency.p50", statistics.median(ordered), "ms")
        report(
            f"{name}.latency.p99", ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], "ms"
        )
        report(f"{name}.latency.max", ordered[-1], "ms")
    report(f"{name}.server_cpu", 100.0 * (cpu1 - cpu0) / (t1 - t0), "% of a core")
    report(f"{name}.clients_cpu", clients_cpu, "% of a core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--modes", default="batched,per_entry")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        run(mode, args.seconds)


if __name__ == "__main__":
    main()
