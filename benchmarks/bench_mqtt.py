"""MQTT through real service processes: incident → pending mission, and cross-instance telemetry.

Every service here is a real ``python -m mission_control.cli serve`` process started with its
``MC_*`` settings (``tests/integration/cluster_harness.py``'s :class:`Instance`), talking to
a private Mosquitto (``tests/mqtt_broker.py``'s :class:`Broker`). Figures are printed as
``bench: NAME VALUE UNIT``.

1. ``mqtt_incident``: one instance (SQLite in a temp dir, its built-in simulated fleet of
   ``--drones`` drones at speed 1, users made through the store, no demo users). Once every
   drone is connected with a battery and a home, and the instance dispatches, ``--incidents``
   incidents are published one at a time on ``mc/{site}/incidents/new`` (QoS 1, a unique
   ``external_id``, 300–800 m from the sim home). The latency runs from just before the
   publish to the arrival, on this process's subscription to ``mc/{site}/missions/+/events``,
   of the ``mission.created`` event for that incident (its id is learnt from the
   ``incident.created`` event on ``mc/{site}/incidents/+/events``, which carries the
   ``external_id``): broker → service → database → dispatch → broker → here. The mission is
   then rejected (pilot; its ``mission.updated`` ``rejected`` event awaited, so the drone is
   free again), the incident closed, and the next one published after ``--gap-s`` (0 s by
   default: back to back). The first ``--warmup`` incidents are not counted. Figures:

   - ``mqtt_incident.latency.p50`` / ``.p99`` / ``.max``: the latency above, ms (with 60
     incidents the p99 is the slowest but one);
   - ``mqtt_incident.created.p50`` / ``.p99``: from the publish to the arrival of the
     ``incident.created`` event, ms (the ingest leg; dispatch runs after it);
   - ``mqtt_incident.missions`` / ``.measured``: incidents that got a mission, of those.

2. ``mqtt_telemetry``: 100 drones × 10 Hz from instance A through MQTT to websocket clients
   of instance B. A fresh PostgreSQL database (``MC_TEST_POSTGRES_URL``, else
   ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), one broker, the simulated fleet as
   a separate process (``mission_control.cli sim``, 100 vehicles all sending to one UDP
   port), A holding that port's link (``udpin://``, all 100 drones), B holding an idle port
   (no vehicles); same ``MC_SITE``, ``MC_MQTT_TELEMETRY_HZ=10``. Once B's ``/api/drones``
   lists all 100 drones, ``--clients`` websocket clients (viewer) watch B's
   ``/ws/telemetry``; after a 3 s warm-up, over ``--seconds``:

   - ``mqtt_rate``: telemetry messages per drone per second on the broker (this process
     subscribes to ``mc/{site}/fleet/+/telemetry`` too), i.e. what A actually publishes (at
     most 10); ``mqtt_attitude_rate``: those of them carrying an attitude; ``mqtt_latency``
     p50/p99: their attitude's age on arrival here (A's batching included);
   - ``delivered_rate``: attitude objects received per drone per second per client (mean
     over clients); ``delivered_ratio``: the same against the 10 Hz target, mean and
     ``.min`` (the slowest client); ``delivered_of_published``: against
     ``mqtt_attitude_rate`` (what B lost). NB: the service asks each vehicle for attitude at
     5 Hz (``VehicleLinkSettings.telemetry_rates_hz``; PX4's GCS default would be ~15 Hz),
     so at most about half of A's batches carry one and the ratio to 10 Hz tops out near 50 %;
     ``delivered_position_rate`` (position is asked for at 10 Hz) is shown beside it;
   - ``objects_per_client`` / ``messages_per_client``: every object and message, per second;
   - ``latency`` p50/p99/max: client receive wall time − ``ts`` (the wall time A received
     the MAVLink message; one machine, one clock) over every attitude object — it includes
     up to one 100 ms batching period at A; ``latency.p50_first_quarter`` /
     ``_last_quarter``: the median over the first and the last quarter of the window (a
     rise means a backlog is building);
   - ``cpu.a`` / ``cpu.b`` / ``cpu.sim`` / ``cpu.mosquitto`` / ``cpu.bench`` (clients and
     the MQTT counter): CPU time (``/proc/PID/stat`` utime + stime) / wall time, % of a
     core; ``cpu.machine``: every CPU's busy share (``/proc/stat``), so a saturated machine
     shows.

Run: ``python benchmarks/bench_mqtt.py [--parts incident,telemetry] [--incidents N]
[--gap-s S] [--seconds S] [--clients C] [--log-dir DIR] [--broker-nodelay]``. It needs
mosquitto and (part 2) a PostgreSQL server. Every process started here is stopped on the
way out, on errors and Ctrl-C (SIGTERM) too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from _harness import report
from cluster_harness import Instance, fresh_postgres, make_users
from mqtt_broker import Broker

from flight_plans.geodesy import GeoPoint, destination

HOME = (47.397743, 8.545594, 488.0)
WAIT_S = 30.0
TELEMETRY_DRONES = 100
TELEMETRY_HZ = 10.0
WARMUP_S = 3.0


# -- processes ------------------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU so far (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def pid_running(fragment: str) -> int:
    """The pid of the one process whose command line contains ``fragment``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if fragment in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                return int(entry.name)
    raise RuntimeError(f"no process running with {fragment!r}")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_all(*instances: Instance) -> None:
    await asyncio.gather(*(asyncio.to_thread(i.start, 60.0) for i in instances))


async def stop_all(*instances: Instance) -> None:
    await asyncio.gather(*(asyncio.to_thread(i.stop) for i in instances))


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


async def wait_until(probe: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Await ``probe()`` every 0.25 s until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise TimeoutError(f"no {what} within {timeout_s:g} s (last: {last!r})")


def broker_config(args: argparse.Namespace) -> str:
    """Extra mosquitto configuration: ``set_tcp_nodelay true`` with ``--broker-nodelay``."""
    return "set_tcp_nodelay true" if args.broker_nodelay else ""


def log_dir(args: argparse.Namespace, tmp: str) -> Path:
    """Where the processes' logs go: ``--log-dir`` (kept), else the temporary directory."""
    if args.log_dir is None:
        return Path(tmp)
    path = Path(args.log_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def percentile(sorted_values: Any, q: float) -> float:
    return float(sorted_values[min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1)])


# -- part 1: incident over MQTT → pending mission ----------------------------------------------


class Events:
    """Every event this process receives on the incident and mission event topics."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()

    async def run(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            t = time.perf_counter()
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                self.queue.put_nowait((t, json.loads(payload)))

    async def first(self, match: Callable[[dict[str, Any]], bool], what: str) -> Any:
        """(arrival time, event) of the next event ``match`` accepts (earlier ones dropped)."""
        try:
            async with asyncio.timeout(WAIT_S):
                while True:
                    t, event = await self.queue.get()
                    if match(event):
                        return t, event
        except TimeoutError:
            raise TimeoutError(f"no {what} within {WAIT_S:g} s") from None


def incident_body(rng: random.Random, external_id: str) -> bytes:
    p = destination(GeoPoint(HOME[0], HOME[1]), rng.uniform(0, 360), rng.uniform(300, 800))
    doc = {
        "v": 1,
        "source": "bench",
        "external_id": external_id,
        "lat_deg": p.lat_deg,
        "lon_deg": p.lon_deg,
        "kind": "traffic_collision",
        "priority": 2,
    }
    return json.dumps(doc).encode()


async def one_incident(
    mqtt: aiomqtt.Client,
    events: Events,
    pilot: httpx.AsyncClient,
    site: str,
    rng: random.Random,
) -> tuple[float, float, bool]:
    """(latency ms, ms to its ``incident.created`` event, got a mission) of one incident."""
    ext = f"bench-{uuid.uuid4().hex[:12]}"
    body = incident_body(rng, ext)
    t0 = time.perf_counter()
    await mqtt.publish(f"mc/{site}/incidents/new", body, qos=1)
    iid: str | None = None
    seen_created: list[float] = []  # when its incident.created event was read here

    def outcome(e: dict[str, Any]) -> bool:
        nonlocal iid
        kind, payload = e.get("kind"), e.get("payload") or {}
        if kind == "incident.created" and payload.get("external_id") == ext:
            iid = e["subject_id"]
            seen_created.append(time.perf_counter())
            return False
        if iid is None:
            return False
        if kind == "mission.created":
            return bool(payload.get("incident_id") == iid)
        return bool(
            kind == "incident.updated"
            and e.get("subject_id") == iid
            and payload.get("status") == "unserviceable"
        )

    t, event = await events.first(outcome, f"outcome of incident {ext}")
    latency_ms = (t - t0) * 1000.0
    assert iid is not None
    created_ms = (seen_created[0] - t0) * 1000.0
    if event["kind"] == "mission.created":
        mid = event["subject_id"]
        r = await pilot.post(f"/api/missions/{mid}/reject", json={"reason": "benchmark"})
        r.raise_for_status()
        await events.first(
            lambda e: (
                e.get("kind") == "mission.updated"
                and e.get("subject_id") == mid
                and (e.get("payload") or {}).get("state") == "rejected"
            ),
            f"rejection of {mid}",
        )
    else:
        print(f"# unserviceable: {event['payload'].get('status_reason')}", flush=True)
    r = await pilot.post(f"/api/incidents/{iid}/close")
    r.raise_for_status()
    return latency_ms, created_ms, event["kind"] == "mission.created"


async def bench_incidents(args: argparse.Namespace) -> None:
    site = "benchinc"
    rng = random.Random(args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="bench-mqtt-incident-") as tmp,
        Broker(extra_config=broker_config(args)) as broker,
    ):
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'mc.db'}"
        tokens = await make_users(db_url)
        env = {
            "MC_DATABASE_URL": db_url,
            "MC_MQTT_URL": broker.url,
            "MC_SITE": site,
            "MC_SIM_VEHICLES": str(args.drones),
            "MC_SIM_SPEED": "1",
            "MC_PENDING_TTL_S": "300",
        }
        inst = Instance("bench-solo", env, log_dir(args, tmp))
        try:
            t_start = time.perf_counter()
            await start_all(inst)
            async with inst.client(tokens["pilot"]) as pilot:

                async def ready() -> bool:
                    health = (await pilot.get("/api/health")).json()
                    drones = (await pilot.get("/api/drones")).json()
                    n = sum(
                        1
                        for d in drones
                        if d["link"] == "connected" and d["battery_pct"] is not None and d["home"]
                    )
                    return (
                        n >= args.drones and health["dispatching"] and health["mqtt"] == "connected"
                    )

                await wait_until(ready, 90, f"{args.drones} ready drones and dispatching")
                report("mqtt_incident.ready", time.perf_counter() - t_start, "s")
                async with aiomqtt.Client(
                    "127.0.0.1", broker.port, identifier=f"bench-{uuid.uuid4().hex[:8]}"
                ) as mqtt:
                    await mqtt.subscribe(f"mc/{site}/missions/+/events", qos=1)
                    await mqtt.subscribe(f"mc/{site}/incidents/+/events", qos=1)
                    events = Events()
                    reader = asyncio.create_task(events.run(mqtt), name="bench-mqtt-events")
                    try:
                        for _ in range(args.warmup):
                            await one_incident(mqtt, events, pilot, site, rng)
                        latencies, created, served = [], [], 0
                        for _ in range(args.incidents):
                            await asyncio.sleep(args.gap_s)
                            ms, created_ms, ok = await one_incident(mqtt, events, pilot, site, rng)
                            latencies.append(ms)
                            created.append(created_ms)
                            served += ok
                    finally:
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await reader
        except Exception:
            print(f"--- {inst.name} log ---\n{inst.log_tail()}", file=sys.stderr)
            raise
        finally:
            await stop_all(inst)
    latencies.sort()
    report("mqtt_incident.latency.p50", statistics.median(latencies), "ms")
    report("mqtt_incident.latency.p99", percentile(latencies, 0.99), "ms")
    report("mqtt_incident.latency.max", latencies[-1], "ms")
    created.sort()
    report("mqtt_incident.created.p50", statistics.median(created), "ms")
    report("mqtt_incident.created.p99", percentile(created, 0.99), "ms")
    report("mqtt_incident.missions", served, "incidents")
    report("mqtt_incident.measured", len(latencies), "incidents")


# -- part 2: 100 drones × 10 Hz from A through MQTT to websocket clients of B ------------------


class Watchers:
    """``n`` websocket clients of ``/ws/telemetry``, counting objects by kind in a window."""

    def __init__(self, n: int) -> None:
        self.counts = [0] * n  # attitude objects
        self.positions = [0] * n
        self.objects = [0] * n
        self.messages = [0] * n
        self.latencies_ms = array("d")  # attitude objects
        self.received = array("d")  # their arrival (wall time), in the same order
        self.window = (math.inf, math.inf)  # wall-clock start and end

    async def read(self, i: int, ws: Any) -> None:
        record, when = self.latencies_ms.append, self.received.append
        async for text in ws:
            now = time.time()
            start, end = self.window
            if not start <= now < end:
                continue
            self.messages[i] += 1
            data = json.loads(text)
            for obj in data if isinstance(data, list) else [data]:
                self.objects[i] += 1
                kind = obj["kind"]
                if kind == "attitude":
                    self.counts[i] += 1
                    record((now - obj["ts"]) * 1000.0)
                    when(now)
                elif kind == "position":
                    self.positions[i] += 1

    def latency_p50_between(self, start: float, end: float) -> float | None:
        """Median attitude latency over the objects that arrived between ``start`` and ``end``."""
        found = [
            ms for ms, t in zip(self.latencies_ms, self.received, strict=True) if start <= t < end
        ]
        return statistics.median(found) if found else None


class BrokerCount:
    """Telemetry messages (and those with an attitude) seen on the broker in the window."""

    def __init__(self) -> None:
        self.messages = 0
        self.attitude = 0
        self.latencies_ms = array("d")
        self.window = (math.inf, math.inf)

    async def run(self, client: aiomqtt.Client) -> None:
        record = self.latencies_ms.append
        async for message in client.messages:
            now = time.time()
            start, end = self.window
            if not start <= now < end:
                continue
            self.messages += 1
            payload = message.payload
            if isinstance(payload, bytes | bytearray) and b'"attitude"' in payload:
                self.attitude += 1
                for obj in json.loads(payload)["samples"]:
                    if obj["kind"] == "attitude":
                        record((now - obj["ts"]) * 1000.0)


async def bench_telemetry(args: argparse.Namespace) -> None:
    site = "benchtel"
    n = TELEMETRY_DRONES
    with (
        tempfile.TemporaryDirectory(prefix="bench-mqtt-telemetry-") as tmp,
        Broker(extra_config=broker_config(args)) as broker,
    ):
        async with fresh_postgres() as db_url:
            tokens = await make_users(db_url)
            port_a, port_b = free_udp_port(), free_udp_port()
            common = {
                "MC_DATABASE_URL": db_url,
                "MC_MQTT_URL": broker.url,
                "MC_SITE": site,
                "MC_MQTT_TELEMETRY_HZ": str(TELEMETRY_HZ),
            }
            a = Instance(
                "bench-a",
                {**common, "MC_VEHICLE_URLS": json.dumps([f"udpin://127.0.0.1:{port_a}"])},
                log_dir(args, tmp),
            )
            b = Instance(
                "bench-b",
                {**common, "MC_VEHICLE_URLS": json.dumps([f"udpin://127.0.0.1:{port_b}"])},
                log_dir(args, tmp),
            )
            sim: subprocess.Popen[bytes] | None = None
            sim_log = log_dir(args, tmp) / "sim.log"
            try:
                t_start = time.perf_counter()
                await start_all(a, b)
                sim = await asyncio.to_thread(start_sim, port_a, n, sim_log)
                async with b.client(tokens["viewer"]) as viewer:

                    async def all_on_b() -> int:
                        if sim is not None and sim.poll() is not None:
                            raise RuntimeError(f"the sim exited: {sim_log.read_text()[-2000:]}")
                        drones = (await viewer.get("/api/drones")).json()
                        return len(drones) >= n and len(drones)

                    await wait_until(all_on_b, 120, f"{n} drones listed by B")
                report("mqtt_telemetry.ready", time.perf_counter() - t_start, "s")
                await measure_telemetry(args, broker, a, b, sim, tokens["viewer"], site)
            except Exception:
                for inst in (a, b):
                    print(f"--- {inst.name} log ---\n{inst.log_tail()}", file=sys.stderr)
                raise
            finally:
                await asyncio.to_thread(stop_process, sim)
                await stop_all(a, b)


def start_sim(port: int, vehicles: int, log_path: Path) -> subprocess.Popen[bytes]:
    home = ",".join(str(v) for v in HOME)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mission_control.cli",
                "sim",
                "--vehicles",
                str(vehicles),
                "--gcs",
                f"udp://127.0.0.1:{port}",
                "--home",
                home,
                "--spacing-m",
                "40",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def measure_telemetry(
    args: argparse.Namespace,
    broker: Broker,
    a: Instance,
    b: Instance,
    sim: subprocess.Popen[bytes] | None,
    viewer_token: str,
    site: str,
) -> None:
    assert a.proc is not None and b.proc is not None and sim is not None
    pids = {
        "a": a.proc.pid,
        "b": b.proc.pid,
        "sim": sim.pid,
        "mosquitto": pid_running(str(broker.config_file)),
    }
    seconds, n = args.seconds, TELEMETRY_DRONES
    url = f"ws://127.0.0.1:{b.port}/ws/telemetry?token={viewer_token}"
    watchers = Watchers(args.clients)
    counter = BrokerCount()
    sockets = [
        await connect(url, compression=None, proxy=None, max_size=None) for _ in range(args.clients)
    ]
    tasks: list[asyncio.Task[None]] = []
    try:
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, identifier=f"bench-{uuid.uuid4().hex[:8]}"
        ) as mqtt:
            await mqtt.subscribe(f"mc/{site}/fleet/+/telemetry", qos=0)
            tasks.append(asyncio.create_task(counter.run(mqtt), name="bench-mqtt-count"))
            tasks += [
                asyncio.create_task(watchers.read(i, ws), name=f"bench-ws-{i}")
                for i, ws in enumerate(sockets)
            ]
            window = (time.time() + WARMUP_S, time.time() + WARMUP_S + seconds)
            watchers.window = counter.window = window
            await asyncio.sleep(max(0.0, window[0] - time.time()))
            cpu0, machine0 = {k: cpu_s(p) for k, p in pids.items()}, machine_ticks()
            own0, wall0 = time.process_time(), time.monotonic()
            await asyncio.sleep(max(0.0, window[1] - time.time()))
            cpu1, machine1 = {k: cpu_s(p) for k, p in pids.items()}, machine_ticks()
            own1, wall = time.process_time(), time.monotonic() - wall0
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise RuntimeError("a reader failed") from task.exception()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()

    name = "mqtt_telemetry"
    per_drone_s = n * seconds
    ratios = [c / (TELEMETRY_HZ * per_drone_s) for c in watchers.counts]
    published = counter.attitude / per_drone_s
    report(f"{name}.mqtt_rate", counter.messages / per_drone_s, "msg/s/drone")
    report(f"{name}.mqtt_attitude_rate", published, "Hz")
    delivered = statistics.mean(watchers.counts) / per_drone_s
    report(f"{name}.delivered_rate", delivered, "Hz")
    report(f"{name}.delivered_ratio", 100.0 * statistics.mean(ratios), "%")
    report(f"{name}.delivered_ratio.min", 100.0 * min(ratios), "%")
    if published > 0:
        report(f"{name}.delivered_of_published", 100.0 * delivered / published, "%")
    report(
        f"{name}.delivered_position_rate", statistics.mean(watchers.positions) / per_drone_s, "Hz"
    )
    report(f"{name}.objects_per_client", statistics.mean(watchers.objects) / seconds, "objects/s")
    report(f"{name}.messages_per_client", statistics.mean(watchers.messages) / seconds, "msg/s")
    on_broker = sorted(counter.latencies_ms)
    if on_broker:
        report(f"{name}.mqtt_latency.p50", statistics.median(on_broker), "ms")
        report(f"{name}.mqtt_latency.p99", percentile(on_broker, 0.99), "ms")
    lat = sorted(watchers.latencies_ms)
    if lat:
        report(f"{name}.latency.p50", statistics.median(lat), "ms")
        report(f"{name}.latency.p99", percentile(lat, 0.99), "ms")
        report(f"{name}.latency.max", lat[-1], "ms")
        start, end = watchers.window
        quarter = (end - start) / 4
        first = watchers.latency_p50_between(start, start + quarter)
        last = watchers.latency_p50_between(end - quarter, end)
        if first is not None and last is not None:
            report(f"{name}.latency.p50_first_quarter", first, "ms")
            report(f"{name}.latency.p50_last_quarter", last, "ms")
    for k in pids:
        report(f"{name}.cpu.{k}", 100.0 * (cpu1[k] - cpu0[k]) / wall, "% of a core")
    report(f"{name}.cpu.bench", 100.0 * (own1 - own0) / wall, "% of a core")
    busy, total = machine1[0] - machine0[0], machine1[1] - machine0[1]
    report(f"{name}.cpu.machine", 100.0 * busy / total, f"% of {os.cpu_count()} cores")


# -- main -----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    # SIGTERM unwinds like Ctrl-C (the main task is cancelled): every process is stopped
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    parts = args.parts.split(",")
    if "incident" in parts:
        await bench_incidents(args)
    if "telemetry" in parts:
        await bench_telemetry(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--parts", default="incident,telemetry")
    parser.add_argument("--incidents", type=int, default=60, help="measured incidents")
    parser.add_argument("--warmup", type=int, default=2, help="incidents not counted")
    parser.add_argument(
        "--gap-s", type=float, default=0.0, help="pause before each measured incident"
    )
    parser.add_argument("--drones", type=int, default=10, help="simulated drones (part 1)")
    parser.add_argument("--seconds", type=float, default=20.0, help="telemetry window")
    parser.add_argument("--clients", type=int, default=10, help="websocket clients on B")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--broker-nodelay",
        action="store_true",
        help="mosquitto sends without Nagle's delay (set_tcp_nodelay; default off)",
    )
    parser.add_argument("--log-dir", default=None, help="keep the processes' logs here")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
