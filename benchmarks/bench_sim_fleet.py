"""Simulated fleet: CPU share and message rates of 50 vehicles; speed-up for 10 vehicles.

The fleet runs in this process; a separate receiver process counts the datagrams per
MAVLink message id (read from the MAVLink 2 header, one message per datagram), so the
receiver's work does not count against the fleet. CPU share = process CPU time / wall time
of the fleet process, in percent of one core. Target: 50 vehicles at PX4's default (GCS
link) rates under 50 % of one core.

Figures are medians of repeated windows, to keep machine noise out.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import socket
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import report

from flight_plans.geodesy import destination
from flight_plans.mission import MavCmd, MissionItem
from sim.fleet import Fleet, FleetConfig
from sim.telemetry_types import Command

NAMES = {
    0: "HEARTBEAT",
    33: "GLOBAL_POSITION_INT",
    30: "ATTITUDE",
    24: "GPS_RAW_INT",
    1: "SYS_STATUS",
}


def _receiver(port_q: mp.Queue, result_q: mp.Queue, seconds: float) -> None:  # type: ignore[type-arg]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    port_q.put(sock.getsockname()[1])
    sock.settimeout(0.2)
    counts: Counter[int] = Counter()
    start = None
    while True:
        try:
            data = sock.recv(2048)
        except TimeoutError:
            if start is not None and time.monotonic() - start > seconds:
                break
            continue
        if start is None:
            start = time.monotonic()
        if time.monotonic() - start > seconds:
            break
        if len(data) >= 10 and data[0] == 0xFD:
            counts[data[7] | data[8] << 8 | data[9] << 16] += 1
    result_q.put(dict(counts))


def _fly_everyone(fleet: Fleet) -> None:
    """Arm every vehicle into a long survey-like mission so the models do real work."""
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


async def _run_fleet(cfg: FleetConfig, seconds: float, windows: int) -> tuple[list[float], float]:
    async with Fleet(cfg) as fleet:
        _fly_everyone(fleet)
        await asyncio.sleep(1.0)  # take-off transients out of the window
        shares = []
        t_sim0 = fleet.vehicles[0].vehicle.time_s
        t_wall0 = time.monotonic()
        for _ in range(windows):
            w0, c0 = time.monotonic(), time.process_time()
            await asyncio.sleep(seconds / windows)
            shares.append(100.0 * (time.process_time() - c0) / (time.monotonic() - w0))
        ratio = (fleet.vehicles[0].vehicle.time_s - t_sim0) / (time.monotonic() - t_wall0)
    return shares, ratio


def rates(n: int, profile: str, seconds: float = 10.0) -> None:
    ctx = mp.get_context("spawn")
    port_q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    result_q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=_receiver, args=(port_q, result_q, seconds - 1.0), daemon=True)
    proc.start()
    port = port_q.get(timeout=10)
    cfg = FleetConfig(vehicles=n, gcs_port=port, rates=profile)  # type: ignore[arg-type]
    shares, _ = asyncio.run(_run_fleet(cfg, seconds, windows=5))
    counts = result_q.get(timeout=30)
    proc.join(5)
    report(f"sim.fleet{n}.{profile}.cpu_share_of_core.median", statistics.median(shares), "%")
    total = sum(counts.values()) / (seconds - 1.0)
    report(f"sim.fleet{n}.{profile}.messages_per_s", total, "msg/s")
    for msg_id, name in NAMES.items():
        per_vehicle = counts.get(msg_id, 0) / (seconds - 1.0) / n
        report(f"sim.fleet{n}.{profile}.{name}_per_vehicle", per_vehicle, "Hz")


def speedup(n: int = 10) -> None:
    for speed in (1.0, 10.0, 30.0, 100.0):
        cfg = FleetConfig(vehicles=n, gcs_port=9, speed=speed)  # discard port
        shares, ratio = asyncio.run(_run_fleet(cfg, 4.0, windows=4))
        report(f"sim.fleet{n}.speed{speed:g}.achieved_time_factor", ratio, "x")
        report(
            f"sim.fleet{n}.speed{speed:g}.cpu_share_of_core.median", statistics.median(shares), "%"
        )


if __name__ == "__main__":
    rates(50, "normal")
    rates(50, "onboard")
    speedup(10)
