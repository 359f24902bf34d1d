"""Vehicle links: 100 simulated vehicles at 10 Hz position into one service process.

Set-up: the simulated fleet (100 vehicles, PX4's GCS-link rates, every vehicle flying a
long mission so its position changes at every sample) runs in a *separate* process
(multiprocessing, spawn), all vehicles sending to one UDP port. This process runs only the
service side: one ``VehicleFleet`` (one MAVSDK instance, one ``udpin`` connection), which
discovers the 100 vehicles, raises each one's position rate to 10 Hz through
``VehicleLink.set_rate`` and ingests every stream it subscribes to (position, velocity,
heading, attitude, battery, GPS, home, health, modes, mission progress, status texts,
fence status), normalising each sample and publishing it on the in-process bus.

Figures:

- ``cpu_share_of_core``: process CPU time (every thread: MAVSDK's receive and callback
  threads and the event loop) / wall time over windows with no bus subscriber, in percent
  of one core. Target < 40 %.
- ``position_latency`` p50/p99: from the moment the simulator handed a GLOBAL_POSITION_INT
  datagram to its socket to the ``received_s`` stamp of our normalised ``Position``. Both
  sides read ``time.monotonic()`` (CLOCK_MONOTONIC, one clock for every process on the
  machine). The simulator process wraps each vehicle's ``VehicleLink.tick`` and records the
  time each GLOBAL_POSITION_INT leaves, keyed by (system id, lat degE7, lon degE7, alt mm);
  this process keys each normalised sample the same way (the conversion is exact); samples
  whose key the vehicle sent more than once (hovering) are left out. Target p99 < 50 ms.

MAVSDK limits noted on the way: above ~31 ``Mavsdk`` instances per process MAVSDK runs out
of MAVLink channels, but one instance on one port handles all 100 systems (channels are per
connection, not per system), so no sharding is needed at this size.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import report

from flight_plans.geodesy import destination
from flight_plans.mission import MavCmd, MissionItem
from mission_control.bus import EventBus
from mission_control.vehicles.fleet import VehicleFleet
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.types import Position, TelemetryEvent

VEHICLES = 100
POSITION_HZ = 10.0
CPU_WINDOWS = 10
CPU_WINDOW_S = 3.0
LATENCY_S = 15.0
Key = tuple[int, int, int, int]
_GPI = 33  # GLOBAL_POSITION_INT
_GPI_LEN = 28


# -- the simulator process ------------------------------------------------------------------------


def _fly_everyone(fleet: Any) -> None:
    """A long mission per vehicle, armed and started through the model (not over MAVLink)."""
    from sim.telemetry_types import Command

    for sv in fleet.vehicles:
        v = sv.vehicle
        home = v.position(noisy=False)
        items = []
        for i in range(40):
            p = destination(home, (i * 97) % 360, 150.0 + 5 * i)
            items.append(MissionItem.at(MavCmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=40.0))
        v.set_mission(tuple(it.to_mavlink(i) for i, it in enumerate(items)))
        v.command(Command(176, 1, 4, 4))
        v.command(Command(400, 1))


def _record_sends(link: Any, sent: dict[Key, float], counts: dict[Key, int]) -> None:
    """Wrap the vehicle's ``tick`` to note when each GLOBAL_POSITION_INT leaves."""
    tick = link.tick
    system_id = link.system_id

    def recording_tick(now_s: float) -> Any:
        out = tick(now_s)
        t = time.monotonic()  # the fleet sends what tick returns right after this
        seen: set[bytes] = set()
        for data, _addr in out:
            if len(data) < 10 or data[0] != 0xFD or data[7] != _GPI or data[8] or data[9]:
                continue
            if data in seen:  # the same datagram to several destinations
                continue
            seen.add(data)
            payload = data[10 : 10 + data[1]].ljust(_GPI_LEN, b"\0")
            _ms, lat, lon, alt = struct.unpack_from("<Iiii", payload)
            key = (system_id, lat, lon, alt)
            counts[key] = counts.get(key, 0) + 1
            sent.setdefault(key, t)
        return out

    link.tick = recording_tick


def _simulator(port: int, ready: Any, stop: Any, results: Any) -> None:
    from sim.fleet import Fleet, FleetConfig

    async def run() -> None:
        sent: dict[Key, float] = {}
        counts: dict[Key, int] = {}
        cfg = FleetConfig(vehicles=VEHICLES, gcs_port=port, rates="normal", spacing_m=20.0)
        async with Fleet(cfg) as fleet:
            for sv in fleet.vehicles:
                _record_sends(sv.link, sent, counts)
            _fly_everyone(fleet)
            ready.set()
            await asyncio.to_thread(stop.wait)
        results.put({k: t for k, t in sent.items() if counts[k] == 1})

    asyncio.run(run())


# -- the service process ---------------------------------------------------------------------------


async def _service(port: int, stop: Any, results: Any) -> None:
    bus: EventBus[Any] = EventBus()
    settings = VehicleLinkSettings(
        connection_urls=(f"udpin://127.0.0.1:{port}",),
        telemetry_rates_hz=(("position", POSITION_HZ), ("attitude", 5.0), ("gps", 1.0)),
    )
    async with bus, VehicleFleet(settings, bus) as fleet:
        t0 = time.monotonic()
        await fleet.wait_for(VEHICLES, 60)
        report(f"vehicles.fleet{VEHICLES}.discovery_s", time.monotonic() - t0, "s")
        await asyncio.sleep(5.0)  # start-up: stream rates set, identity and home requested

        shares = []
        for _ in range(CPU_WINDOWS):
            w0, c0 = time.monotonic(), time.process_time()
            await asyncio.sleep(CPU_WINDOW_S)
            shares.append(100.0 * (time.process_time() - c0) / (time.monotonic() - w0))

        received: dict[Key, float] = {}
        delivered: dict[Key, float] = {}
        positions = 0
        async with bus.subscribe("vehicles/+/telemetry/position", maxsize=100_000) as sub:
            end = time.monotonic() + LATENCY_S
            while time.monotonic() < end:
                try:
                    async with asyncio.timeout(max(0.0, end - time.monotonic())):
                        _topic, event = await anext(sub)
                except TimeoutError:
                    break
                assert isinstance(event, TelemetryEvent)
                p = event.sample
                assert isinstance(p, Position)
                positions += 1
                key = (
                    event.system_id,
                    round(p.lat_deg * 1e7),
                    round(p.lon_deg * 1e7),
                    round(p.alt_amsl_m * 1000),
                )
                received.setdefault(key, p.received_s)
                delivered.setdefault(key, time.monotonic())
            dropped = sub.dropped
        stop.set()
        sent: dict[Key, float] = results.get(timeout=60)

    report(f"vehicles.fleet{VEHICLES}.cpu_share_of_core.median", statistics.median(shares), "%")
    report(f"vehicles.fleet{VEHICLES}.cpu_share_of_core.max", max(shares), "%")
    report(
        f"vehicles.fleet{VEHICLES}.position_rate_per_vehicle",
        positions / LATENCY_S / VEHICLES,
        "Hz",
    )
    report(f"vehicles.fleet{VEHICLES}.bus_dropped", dropped, "events")
    matched = received.keys() & sent.keys()
    report(f"vehicles.fleet{VEHICLES}.position_latency.matched", len(matched), "samples")
    for name, at in (("position_latency", received), ("bus_delivery_latency", delivered)):
        latencies = sorted((at[k] - sent[k]) * 1000.0 for k in matched)
        if latencies:
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            report(f"vehicles.fleet{VEHICLES}.{name}.p50", statistics.median(latencies), "ms")
            report(f"vehicles.fleet{VEHICLES}.{name}.p99", p99, "ms")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def main() -> None:
    port = _free_udp_port()
    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_simulator, args=(port, ready, stop, results), daemon=True)
    proc.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the simulated fleet did not start within 60 s")
        asyncio.run(_service(port, stop, results))
    finally:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.terminate()


if __name__ == "__main__":
    main()
