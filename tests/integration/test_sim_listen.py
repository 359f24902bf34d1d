"""Listen mode: simulated vehicles on fixed ports answer whichever ground station dials them.

A MAVSDK ground station reaches vehicle k with ``udpout://127.0.0.1:LISTEN_PORT+k-1``; when
it is gone, the next one to dial gets telemetry, command acks and mission-protocol replies,
and the vehicle stops sending to an address that went silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import mavsdk
import pytest
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk, System
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
from sim_harness import first, wait_until

from sim._mav import mavlink
from sim.fleet import Fleet, FleetConfig

pytestmark = pytest.mark.integration

# at speed 5, PX4's 10 s pre-flight auto-disarm is 2 s of wall time: give the test room
SIM_PARAMS = (("COM_DISARM_PRFLT", 20.0),)
_log = logging.getLogger("mavsdk")


def free_udp_ports(n: int, host: str = "127.0.0.1") -> int:
    """The first of ``n`` consecutive UDP ports on ``host`` that were free a moment ago."""
    for _ in range(100):
        with contextlib.ExitStack() as stack:
            first_sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            first_sock.bind((host, 0))
            port: int = first_sock.getsockname()[1]
            if port + n - 1 > 65535:
                continue
            try:
                for k in range(1, n):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    sock.bind((host, port + k))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no {n} consecutive free UDP ports on {host}")


def _to_logging(level: Any, message: str, file: str | None, line: int) -> bool:
    _log.debug("%s (%s:%s) level %s", message, file, line, level)
    return True


@contextlib.asynccontextmanager
async def dialling(url: str) -> AsyncIterator[Mavsdk]:
    """A MAVSDK ground station of its own that dials ``url`` (destroyed on exit)."""
    mavsdk.log_subscribe(_to_logging)
    configuration = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    instance = Mavsdk(configuration)
    try:
        await instance.add_any_connection(url)
        yield instance
    finally:
        instance.destroy()
        configuration.destroy()


async def connected(instance: Mavsdk, timeout_s: float = 10.0) -> dict[int, System]:
    """The systems ``instance`` hears, by id, once there is at least one."""

    async def systems() -> dict[int, System]:
        return {
            await s.get_system_id(): s
            for s in await instance.get_systems()
            if await s.is_connected() and await s.has_autopilot()
        }

    found: dict[int, System] = await wait_until(systems, timeout_s, what="a vehicle")
    return found


async def a_position(system: System) -> None:
    await first(
        TelemetryAsync(system).subscribe_position(),
        lambda p: not math.isnan(p.latitude_deg),
        5,
        what="a position",
    )


async def test_vehicles_listen_on_fixed_ports_and_the_next_ground_station_gets_everything() -> None:
    port = free_udp_ports(2)
    cfg = FleetConfig(vehicles=2, listen_port=port, speed=5.0, params=SIM_PARAMS)
    async with Fleet(cfg) as fleet:
        assert [v.local_address for v in fleet.vehicles] == [
            ("127.0.0.1", port),
            ("127.0.0.1", port + 1),
        ]
        assert all(v.gcs_address is None for v in fleet.vehicles)
        url = fleet.vehicle(2).dial_url
        assert url == f"udpout://127.0.0.1:{port + 1}"

        async with dialling(url) as gcs:
            systems = await connected(gcs)
            assert list(systems) == [2]  # vehicle 1 was not dialled: it stays silent
            system = systems[2]
            await a_position(system)
            tel, action = TelemetryAsync(system), ActionAsync(system)
            await action.arm()
            await action.takeoff()
            await first(tel.subscribe_in_air(), bool, 20, what="in the air")

        async with dialling(url) as gcs:  # the first ground station is gone
            system = (await connected(gcs))[2]
            await a_position(system)
            tel, action = TelemetryAsync(system), ActionAsync(system)
            assert await first(tel.subscribe_in_air(), lambda _: True, 5)
            assert await MissionRawAsync(system).download_mission() == []
            await action.land()  # acknowledged to this ground station
            await first(tel.subscribe_armed(), lambda armed: not armed, 30, what="disarmed")
        assert fleet.vehicle(1).link.received == 0


def _heartbeats(sock: socket.socket, seconds: float) -> list[int]:
    """System ids of the HEARTBEATs arriving on ``sock`` for ``seconds``."""
    parser = mavlink.MAVLink(None)
    parser.robust_parsing = True
    sock.settimeout(0.1)
    seen: list[int] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        seen.extend(
            m.get_srcSystem()
            for m in parser.parse_buffer(data) or []
            if m.get_type() == "HEARTBEAT"
        )
    return seen


async def test_a_listening_vehicle_sends_only_to_peers_that_talked_to_it_recently() -> None:
    port = free_udp_ports(1)
    async with Fleet(FleetConfig(listen_port=port, peer_timeout_s=1.5)) as fleet:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            assert await asyncio.to_thread(_heartbeats, sock, 0.5) == []  # not talked to yet
            gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
            hb = gcs.heartbeat_encode(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            sock.sendto(hb.pack(gcs), ("127.0.0.1", port))
            # 1 Hz heartbeats for the 1.5 s it counts as a peer; then it has been silent too long
            assert 1 in await asyncio.to_thread(_heartbeats, sock, 2.0)
            assert await asyncio.to_thread(_heartbeats, sock, 1.5) == []
        assert fleet.vehicle(1).link.destinations(asyncio.get_running_loop().time()) == []
