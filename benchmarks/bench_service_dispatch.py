"""Dispatch latency through the real service: 50 simulated drones, 1,000 zones, 100 incidents.

Set-up, all in this process (as ``tests/integration/service_harness.py`` does): uvicorn runs
``create_app(Settings(...))`` with a SQLite file in a temp dir and the built-in simulated
fleet (50 drones over loopback UDP MAVLink, one MAVSDK ground station). The launch grid
(8 columns, ``--spacing-m`` apart, 2.5 km by default: 17.5 × 15 km) spreads the fleet over
a city like the one of ``bench_dispatch.py``; 1,000 zones are made the same way (random
star polygons 100–400 m across, one in five a circle of 50–200 m radius, all prohibited,
surface to unlimited, permanent) over the grid plus ``--reach-m`` around it — about the
pure benchmark's density — kept at least 150 m clear of every launch point, and put in
force with one ``POST /api/zones/import`` (admin). Once the 50 drones report position,
battery and a 3-D fix, ``/ws/events`` is watched as viewer.

Incidents (responder, one at a time) are random points within ``--reach-m`` of a random
launch point; a quarter of them inside a zone (stand-off orbits) and a tenth just outside
one, with the pure benchmark's mix of kinds and patterns. Each latency runs from just before
the ``POST /api/incidents`` to the arrival on the websocket of that incident's
``mission.created`` event (or its ``incident.updated`` with status ``unserviceable``). The
mission is then rejected (pilot) and its ``mission.updated`` ``rejected`` event awaited, so
the drone is free again before the next incident. The first ``--warmup`` incidents are
not counted.

Figures (``bench: NAME VALUE UNIT``):

- ``service_dispatch_p50`` / ``_p99`` / ``_max``: the latency above, ms. Target p99 < 200 ms;
- ``service_dispatch.policy_p50`` / ``_p99``: the pure policy call inside the service (the
  ``dispatch`` the dispatcher runs in a worker thread, timed by wrapping it in this process);
- ``service_dispatch.post_p50``: the ``POST /api/incidents`` response time, ms;
- ``service_dispatch.missions``: share of incidents that got a mission, %;
- ``service_dispatch.cpu_process``: this process's CPU time / wall time over the measured
  loop, % of one core — it includes the 50 simulated drones, uvicorn, the store and this
  client; ``cpu_mavsdk_server``: the same for the MAVSDK server child process(es).

Run: ``python benchmarks/bench_service_dispatch.py [--incidents N] [--spacing-m M]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from _harness import report
from service_harness import ServiceHandle, ready_drones, running_service

import mission_control.services.dispatcher as dispatcher_module
from flight_plans.geodesy import LocalFrame
from mission_control.config import Settings
from sim.fleet import FleetConfig

DRONES = 50
ZONES = 1000
LAUNCH_CLEARANCE_M = 150.0
KINDS = ("shots_fired", "fire", "traffic_collision", "missing_person", "medical", "burglary")
PATTERNS = (None, None, None, "hover", "expanding_square")
WAIT_S = 30.0

ZoneSpot = tuple[dict[str, Any], float, float, float]
"""A zone feature with its centre (x, y) in the city frame and its rough radius, metres."""


# -- the city -------------------------------------------------------------------------------------


def launch_points(settings: Settings) -> list[tuple[float, float]]:
    """The simulated drones' launch points in the frame of drone 1's, metres east/north."""
    lat, lon, alt = settings.sim_home
    config = FleetConfig(
        vehicles=settings.sim_vehicles,
        home_lat_deg=lat,
        home_lon_deg=lon,
        home_alt_amsl_m=alt,
        spacing_m=settings.sim_spacing_m,
    )
    frame = LocalFrame.at(lat, lon)
    return [frame.to_local(config.launch_point(i)) for i in config.system_ids]


def city(
    rng: random.Random,
    frame: LocalFrame,
    launches: list[tuple[float, float]],
    margin_m: float,
    n: int,
) -> list[ZoneSpot]:
    """``n`` zones over the launch grid plus ``margin_m``, clear of every launch point."""
    xs, ys = [x for x, _ in launches], [y for _, y in launches]
    x0, x1, y0, y1 = min(xs) - margin_m, max(xs) + margin_m, min(ys) - margin_m, max(ys) + margin_m
    out: list[ZoneSpot] = []
    while len(out) < n:
        k = len(out)
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if rng.random() < 0.2:
            r = rng.uniform(50, 200)
            c = frame.to_geo(cx, cy)
            geometry: dict[str, Any] = {"type": "Point", "coordinates": [c.lon_deg, c.lat_deg]}
            props: dict[str, Any] = {"identifier": f"C{k}", "radius_m": r}
        else:
            m = rng.randint(4, 9)
            rot = rng.uniform(0, 2 * math.pi)
            r = rng.uniform(50, 200)
            ring = []
            for j in range(m):
                rj = r * rng.uniform(0.5, 1.0)
                a = rot + 2 * math.pi * j / m
                p = frame.to_geo(cx + rj * math.cos(a), cy + rj * math.sin(a))
                ring.append([p.lon_deg, p.lat_deg])
            geometry = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
            props = {"identifier": f"P{k}"}
        if any(math.hypot(cx - lx, cy - ly) < r + LAUNCH_CLEARANCE_M for lx, ly in launches):
            continue
        props |= {"name": f"bench zone {props['identifier']}", "kind": "exclusion"}
        out.append(({"type": "Feature", "properties": props, "geometry": geometry}, cx, cy, r))
    return out


def incidents(
    rng: random.Random,
    frame: LocalFrame,
    launches: list[tuple[float, float]],
    zones: list[ZoneSpot],
    reach_m: float,
    n: int,
) -> list[dict[str, Any]]:
    """``n`` incident bodies within ``reach_m`` of a launch point (some in or by a zone)."""
    near = [
        z for z in zones if any(math.hypot(z[1] - lx, z[2] - ly) < reach_m for lx, ly in launches)
    ]
    out = []
    for _ in range(n):
        u = rng.random()
        if u < 0.25:  # inside a zone: stand-off
            _, cx, cy, _ = rng.choice(near)
            x, y = cx + rng.uniform(-10, 10), cy + rng.uniform(-10, 10)
        elif u < 0.35:  # just outside one
            _, cx, cy, r = rng.choice(near)
            a = rng.uniform(0, 2 * math.pi)
            x, y = cx + (r + 60) * math.cos(a), cy + (r + 60) * math.sin(a)
        else:
            lx, ly = rng.choice(launches)
            d, a = reach_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            x, y = lx + d * math.cos(a), ly + d * math.sin(a)
        p = frame.to_geo(x, y)
        body: dict[str, Any] = {
            "lat_deg": p.lat_deg,
            "lon_deg": p.lon_deg,
            "kind": rng.choice(KINDS),
            "priority": rng.randint(1, 5),
        }
        pattern = rng.choice(PATTERNS)
        if pattern is not None:
            body["pattern"] = pattern
        out.append(body)
    return out


# -- measuring ----------------------------------------------------------------------------------


class PolicyTimer:
    """Wraps the dispatcher's ``dispatch`` (run in a worker thread) to time each call."""

    def __init__(self) -> None:
        self.samples_ms: list[float] = []
        self._lock = threading.Lock()
        self._inner = dispatcher_module.dispatch

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._inner(*args, **kwargs)
        finally:
            with self._lock:
                self.samples_ms.append((time.perf_counter() - t0) * 1000.0)


def children_cpu_s() -> float | None:
    """CPU seconds (user + system) of this process's live children (Linux /proc); None if none.

    MAVSDK 4 runs in this process (no ``mavsdk_server`` child), so this is normally None.
    """
    try:
        pids = set()
        for task in Path("/proc/self/task").iterdir():
            pids.update((task / "children").read_text().split())
        if not pids:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        return total
    except (OSError, ValueError, IndexError):
        return None


class EventFeed:
    """Every ``/ws/events`` message with its arrival time (perf_counter), in order."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self.queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()

    async def run(self) -> None:
        async for raw in self._ws:
            t = time.perf_counter()
            self.queue.put_nowait((t, json.loads(raw)))

    async def first(self, match: Any, what: str) -> tuple[float, dict[str, Any]]:
        """The next event for which ``match(event)`` is true (earlier ones are dropped)."""
        async with asyncio.timeout(WAIT_S):
            while True:
                t, event = await self.queue.get()
                if match(event):
                    return t, event
        raise AssertionError(f"no {what}")  # pragma: no cover (the timeout raises)


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, math.ceil(q * len(sorted_ms)) - 1)]


async def one_incident(
    svc: ServiceHandle, feed: EventFeed, responder: Any, pilot: Any, body: dict[str, Any]
) -> tuple[float, float, str | None, str | None]:
    """(latency ms, POST ms, mission id, unserviceable reason) of one incident."""
    t0 = time.perf_counter()
    r = await responder.post("/api/incidents", json=body)
    t_post = time.perf_counter()
    r.raise_for_status()
    iid = r.json()["id"]

    def outcome(e: dict[str, Any]) -> bool:
        if e["kind"] == "mission.created":
            return bool(e["payload"].get("incident_id") == iid)
        return bool(
            e["kind"] == "incident.updated"
            and e["subject_id"] == iid
            and e["payload"].get("status") == "unserviceable"
        )

    t_event, event = await feed.first(outcome, f"outcome of incident {iid}")
    latency_ms, post_ms = (t_event - t0) * 1000.0, (t_post - t0) * 1000.0
    if event["kind"] != "mission.created":
        return latency_ms, post_ms, None, event["payload"].get("status_reason")
    mid, drone = event["subject_id"], event["payload"]["drone_id"]
    r = await pilot.post(f"/api/missions/{mid}/reject", json={"reason": "benchmark"})
    r.raise_for_status()
    await feed.first(
        lambda e: (
            e["kind"] == "mission.updated"
            and e["subject_id"] == mid
            and e["payload"].get("state") == "rejected"
        ),
        f"rejection of {mid}",
    )
    if svc.services.drones.assigned_to(drone) is not None:
        raise AssertionError(f"drone {drone} still assigned after the rejection of {mid}")
    return latency_ms, post_ms, mid, None


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-service-dispatch-") as tmp:
        overrides: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'mc.db'}",
            "sim_vehicles": DRONES,
            "sim_spacing_m": args.spacing_m,
            "connect_timeout_s": 60.0,
        }
        settings = Settings(**overrides)  # the harness adds a free port
        lat, lon, _ = settings.sim_home
        frame = LocalFrame.at(lat, lon)
        launches = launch_points(settings)
        zones = city(rng, frame, launches, args.reach_m, ZONES)
        cases = incidents(rng, frame, launches, zones, args.reach_m, args.warmup + args.incidents)
        doc = json.dumps({"type": "FeatureCollection", "features": [z[0] for z in zones]})

        timer = PolicyTimer()
        dispatcher_module.dispatch = timer  # type: ignore[assignment]
        t_start = time.perf_counter()
        async with running_service(**overrides) as svc:
            report("service_dispatch.startup", time.perf_counter() - t_start, "s")
            async with svc.client("admin") as admin:
                t0 = time.perf_counter()
                r = await admin.post("/api/zones/import", params={"source": "bench"}, content=doc)
                r.raise_for_status()
                report("service_dispatch.zone_import", (time.perf_counter() - t0) * 1000, "ms")
            if len(svc.services.zones.zones) != ZONES:
                raise AssertionError(f"{len(svc.services.zones.zones)} zones in force")
            await ready_drones(svc, DRONES, timeout_s=90)
            report("service_dispatch.fleet_ready", time.perf_counter() - t_start, "s")
            async with (
                await svc.ws("/ws/events", "viewer") as ws,
                svc.client("responder") as responder,
                svc.client("pilot") as pilot,
            ):
                feed = EventFeed(ws)
                reader = asyncio.create_task(feed.run(), name="bench-events")
                try:
                    for body in cases[: args.warmup]:
                        await one_incident(svc, feed, responder, pilot, body)
                    timer.samples_ms.clear()
                    latencies, posts, reasons = [], [], []
                    served = 0
                    cpu0, kids0, wall0 = time.process_time(), children_cpu_s(), time.perf_counter()
                    for body in cases[args.warmup :]:
                        lat_ms, post_ms, mid, reason = await one_incident(
                            svc, feed, responder, pilot, body
                        )
                        latencies.append(lat_ms)
                        posts.append(post_ms)
                        served += mid is not None
                        if reason is not None:
                            reasons.append(reason)
                    wall = time.perf_counter() - wall0
                    cpu, kids1 = time.process_time() - cpu0, children_cpu_s()
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader

    latencies.sort()
    policy = sorted(timer.samples_ms)
    report("service_dispatch_p50", statistics.median(latencies), "ms")
    report("service_dispatch_p99", percentile(latencies, 0.99), "ms")
    report("service_dispatch_max", latencies[-1], "ms")
    report("service_dispatch.policy_p50", statistics.median(policy), "ms")
    report("service_dispatch.policy_p99", percentile(policy, 0.99), "ms")
    report("service_dispatch.post_p50", statistics.median(posts), "ms")
    report("service_dispatch.missions", 100.0 * served / len(latencies), "%")
    report("service_dispatch.cpu_process", 100.0 * cpu / wall, "%")
    if kids0 is not None and kids1 is not None:
        report("service_dispatch.cpu_mavsdk_server", 100.0 * (kids1 - kids0) / wall, "%")
    for reason in sorted(set(reasons))[:3]:
        short = reason if len(reason) <= 300 else f"{reason[:300]}… ({len(reason)} chars)"
        print(f"# unserviceable, e.g.: {short}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--incidents", type=int, default=100, help="measured incidents")
    parser.add_argument("--warmup", type=int, default=3, help="incidents not counted")
    parser.add_argument(
        "--spacing-m", type=float, default=2500.0, help="launch grid step (8 columns)"
    )
    parser.add_argument(
        "--reach-m", type=float, default=1500.0, help="incidents this close to a launch point"
    )
    parser.add_argument("--seed", type=int, default=23)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
