"""The integration-test harness: free ports, the MAVSDK ground station, the lossy proxy, waits."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import cast

import pytest
from mavsdk.asyncio import Autopilot, MavsdkConnectionError
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.telemetry import FlightMode, TelemetryAsync
from sim_harness import (  # tests/integration is not a package: pytest puts it on sys.path
    LinkCounts,
    LossyUdpProxy,
    first,
    free_udp_port,
    ground_station,
    wait_until,
)

from sim._mav import mavlink

pytestmark = pytest.mark.integration

Address = tuple[str, int]
LOOPBACK = "127.0.0.1"

# PX4 AUTO.LOITER: main mode 4, sub mode 3; base_mode CUSTOM_MODE_ENABLED.
PX4_LOITER = (4 << 16) | (3 << 24)


class _Inbox(asyncio.DatagramProtocol):
    """Collects every datagram with its sender; replies with ``reply`` when it is set."""

    def __init__(self, reply: bool = False) -> None:
        self.datagrams: list[tuple[bytes, Address]] = []
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # On Python 3.11 the selector datagram transport is not a DatagramTransport subclass.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.datagrams.append((data, addr))
        if self.reply and self.transport is not None:
            self.transport.sendto(b"re:" + data, addr)


@contextlib.asynccontextmanager
async def udp_endpoint(port: int = 0, *, reply: bool = False) -> AsyncIterator[_Inbox]:
    loop = asyncio.get_running_loop()
    transport, inbox = await loop.create_datagram_endpoint(
        lambda: _Inbox(reply), local_addr=(LOOPBACK, port)
    )
    try:
        yield inbox
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def heartbeat_sender(
    to: Address, *, system_id: int, interval_s: float = 0.2
) -> AsyncIterator[None]:
    """A bare PX4-looking vehicle: a HEARTBEAT every ``interval_s``, nothing else."""
    mav = mavlink.MAVLink(None, srcSystem=system_id, srcComponent=1)
    heartbeat = mavlink.MAVLink_heartbeat_message(
        mavlink.MAV_TYPE_QUADROTOR,
        mavlink.MAV_AUTOPILOT_PX4,
        mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
        PX4_LOITER,
        mavlink.MAV_STATE_STANDBY,
        3,
    )
    async with udp_endpoint() as inbox:
        assert inbox.transport is not None
        transport = inbox.transport

        async def beat() -> None:
            while True:
                transport.sendto(heartbeat.pack(mav), to)
                await asyncio.sleep(interval_s)

        task = asyncio.create_task(beat(), name=f"heartbeats of system {system_id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _send_numbered(
    transport: asyncio.DatagramTransport, to: Address, tag: bytes, count: int
) -> None:
    for i in range(count):
        transport.sendto(tag + b":%d" % i, to)
        if i % 20 == 19:
            await asyncio.sleep(0.001)  # let the receivers drain their sockets


# --------------------------------------------------------------------------------------
# free_udp_port
# --------------------------------------------------------------------------------------


def test_free_udp_port_can_be_bound() -> None:
    port = free_udp_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, port))


# --------------------------------------------------------------------------------------
# LossyUdpProxy
# --------------------------------------------------------------------------------------


async def test_proxy_without_loss_delivers_both_ways_to_the_right_vehicle() -> None:
    """Every datagram arrives, and each vehicle gets only the replies to its own."""
    gcs_port = free_udp_port()
    async with (
        udp_endpoint(gcs_port, reply=True) as gcs,
        LossyUdpProxy((LOOPBACK, gcs_port)) as proxy,
        udp_endpoint() as vehicle_a,
        udp_endpoint() as vehicle_b,
    ):
        assert vehicle_a.transport is not None and vehicle_b.transport is not None
        await _send_numbered(vehicle_a.transport, proxy.vehicle_addr, b"a", 50)
        await _send_numbered(vehicle_b.transport, proxy.vehicle_addr, b"b", 50)
        await wait_until(lambda: len(vehicle_a.datagrams) + len(vehicle_b.datagrams) == 100, 5.0)

        assert len(gcs.datagrams) == 100
        assert len({addr for _, addr in gcs.datagrams}) == 2  # one GCS-side socket per vehicle
        assert sorted(d for d, _ in vehicle_a.datagrams) == sorted(
            b"re:a:%d" % i for i in range(50)
        )
        assert all(d.startswith(b"re:b:") for d, _ in vehicle_b.datagrams)
        assert all(addr == proxy.vehicle_addr for _, addr in vehicle_a.datagrams)
        assert proxy.to_gcs == LinkCounts(received=100, forwarded=100, dropped=0)
        assert proxy.to_vehicle == LinkCounts(received=100, forwarded=100, dropped=0)
        assert len(proxy.vehicles) == 2


async def _lossy_run(seed: int) -> tuple[set[bytes], set[bytes], LinkCounts, LinkCounts]:
    """400 datagrams each way through a proxy dropping half; what arrived, and the counts."""
    gcs_port = free_udp_port()
    async with (
        udp_endpoint(gcs_port) as gcs,
        LossyUdpProxy(
            (LOOPBACK, gcs_port), drop_to_gcs=0.5, drop_to_vehicle=0.5, seed=seed
        ) as proxy,
        udp_endpoint() as vehicle,
    ):
        assert vehicle.transport is not None and gcs.transport is not None
        # Open the vehicle's link with a datagram the proxy is told to keep.
        proxy.drop_to_gcs = 0.0
        vehicle.transport.sendto(b"hello", proxy.vehicle_addr)
        await wait_until(lambda: gcs.datagrams, 5.0, what="the first datagram at the GCS")
        link_addr = gcs.datagrams[0][1]
        proxy.drop_to_gcs = 0.5

        await _send_numbered(vehicle.transport, proxy.vehicle_addr, b"up", 400)
        await _send_numbered(gcs.transport, link_addr, b"down", 400)
        await wait_until(
            lambda: (
                len(gcs.datagrams) == proxy.to_gcs.forwarded
                and len(vehicle.datagrams) == proxy.to_vehicle.forwarded
                and proxy.to_gcs.received == 401
                and proxy.to_vehicle.received == 400
            ),
            5.0,
            what="every forwarded datagram to arrive",
        )
        up = {d for d, _ in gcs.datagrams[1:]}
        down = {d for d, _ in vehicle.datagrams}
        return up, down, proxy.to_gcs, proxy.to_vehicle


async def test_proxy_drops_about_half_and_counts_add_up() -> None:
    up, down, to_gcs, to_vehicle = await _lossy_run(seed=7)

    assert to_gcs.received == to_gcs.forwarded + to_gcs.dropped == 401
    assert to_vehicle.received == to_vehicle.forwarded + to_vehicle.dropped == 400
    assert 140 <= len(up) <= 260
    assert 140 <= len(down) <= 260
    assert len(up) == to_gcs.forwarded - 1
    assert len(down) == to_vehicle.forwarded


async def test_proxy_drops_the_same_datagrams_for_the_same_seed() -> None:
    first_up, first_down, *_ = await _lossy_run(seed=11)
    second_up, second_down, *_ = await _lossy_run(seed=11)
    other_up, *_ = await _lossy_run(seed=12)

    assert first_up == second_up
    assert first_down == second_down
    assert first_up != other_up


@pytest.mark.parametrize("probability", [-0.1, 1.5, float("nan")])
def test_proxy_refuses_a_drop_probability_outside_0_to_1(probability: float) -> None:
    with pytest.raises(ValueError, match="drop_to_gcs must be a probability"):
        LossyUdpProxy((LOOPBACK, 14550), drop_to_gcs=probability)


def test_proxy_port_is_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = LossyUdpProxy((LOOPBACK, 14550)).vehicle_port


# --------------------------------------------------------------------------------------
# ground_station
# --------------------------------------------------------------------------------------


async def test_ground_station_without_vehicles_times_out_clearly_and_restores_executor() -> None:
    loop = asyncio.get_running_loop()
    before = getattr(loop, "_default_executor", None)
    port = free_udp_port()

    async with ground_station(port) as gcs:
        assert gcs.url == f"udpin://127.0.0.1:{port}"
        assert getattr(loop, "_default_executor", None) is not before
        with pytest.raises(
            TimeoutError, match=r"1 MAVLink system\(s\) on udpin://.*connected: none"
        ):
            await gcs.wait_systems(1, timeout_s=0.5)

    assert getattr(loop, "_default_executor", None) is before


async def test_ground_station_on_a_busy_port_raises_and_cleans_up() -> None:
    loop = asyncio.get_running_loop()
    before = getattr(loop, "_default_executor", None)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOOPBACK, 0))
        with pytest.raises(MavsdkConnectionError, match="BIND_ERROR"):
            async with ground_station(taken.getsockname()[1]):
                pass

    assert getattr(loop, "_default_executor", None) is before


async def test_ground_station_keeps_mavsdk_logs_off_stdout(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="mavsdk")
    async with ground_station(free_udp_port()):
        pass

    assert "MAVSDK version" not in capfd.readouterr().out
    assert any("MAVSDK version" in r.getMessage() for r in caplog.records)


async def test_ground_station_finds_a_heartbeat_sender() -> None:
    port = free_udp_port()
    async with (
        ground_station(port) as gcs,
        heartbeat_sender((LOOPBACK, port), system_id=1),
    ):
        systems = await gcs.wait_systems(1, timeout_s=10.0)

        assert list(systems) == [1]
        assert await systems[1].autopilot_type() == Autopilot.PX4
        telemetry = TelemetryAsync(systems[1])
        mode = await first(telemetry.subscribe_flight_mode(), lambda m: m == FlightMode.HOLD, 5.0)
        assert mode == FlightMode.HOLD  # PX4 AUTO.LOITER


async def test_ground_station_exit_lets_a_running_mavsdk_call_run_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A call still inside MAVSDK at exit gets to finish (MAVSDK would strand it otherwise)."""
    loop = asyncio.get_running_loop()
    port = free_udp_port()
    async with (
        ground_station(port) as gcs,
        heartbeat_sender((LOOPBACK, port), system_id=1),  # never answers a command
    ):
        systems = await gcs.wait_systems(1, timeout_s=10.0)
        arm = asyncio.create_task(ActionAsync(systems[1]).arm())
        await asyncio.sleep(0.1)
        arm.cancel()
        leaving = loop.time()

    assert loop.time() - leaving < 4.0  # MAVSDK gives up on a command after ~2 s
    assert arm.cancelled()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_ground_station_finds_two_vehicles_through_a_lossy_proxy() -> None:
    port = free_udp_port()
    async with (
        ground_station(port) as gcs,
        LossyUdpProxy((LOOPBACK, port), drop_to_gcs=0.3, drop_to_vehicle=0.3, seed=1) as proxy,
        heartbeat_sender(proxy.vehicle_addr, system_id=1, interval_s=0.1),
        heartbeat_sender(proxy.vehicle_addr, system_id=2, interval_s=0.1),
    ):
        systems = await gcs.wait_systems(2, timeout_s=10.0)

        assert sorted(systems) == [1, 2]
        # The GCS heartbeats (1 Hz once a system is connected) come back through the proxy.
        await wait_until(lambda: proxy.to_vehicle.forwarded > 0, 5.0)
        assert proxy.to_gcs.dropped > 0


# --------------------------------------------------------------------------------------
# wait_until / first
# --------------------------------------------------------------------------------------


async def test_wait_until_returns_the_first_truthy_value_of_a_sync_or_async_function() -> None:
    calls = 0

    def third_time() -> int | None:
        nonlocal calls
        calls += 1
        return calls if calls >= 3 else None

    async def ready() -> str:
        return "ready"

    assert await wait_until(third_time, 1.0, interval_s=0.001) == 3
    assert await wait_until(ready, 1.0) == "ready"


async def test_wait_until_timeout_names_the_condition_and_last_value() -> None:
    def never() -> int:
        return 0

    with pytest.raises(TimeoutError, match=r"0\.1 s for .*never.* last value: 0"):
        await wait_until(never, 0.1)
    with pytest.raises(TimeoutError, match="the battery to drain"):
        await wait_until(lambda: False, 0.05, what="the battery to drain")


class _Stream:
    """An async generator of 0, 1, 2...; records whether it was closed."""

    def __init__(self, *, period_s: float = 0.0, stop: int | None = None) -> None:
        self.closed = False
        self.period_s = period_s
        self.stop = stop

    async def items(self) -> AsyncIterator[int]:
        i = 0
        try:
            while self.stop is None or i < self.stop:
                yield i
                i += 1
                await asyncio.sleep(self.period_s)
        finally:
            self.closed = True


async def test_first_returns_the_first_match_and_closes_the_stream() -> None:
    stream = _Stream()

    assert await first(stream.items(), lambda i: i >= 3, 1.0) == 3
    assert stream.closed


async def test_first_timeout_says_what_was_awaited_and_closes_the_stream() -> None:
    stream = _Stream(period_s=0.01)

    def above_thousand(i: int) -> bool:
        return i > 1000

    with pytest.raises(TimeoutError, match=r"matching .*above_thousand.* from .*items.*last: \d+"):
        await first(stream.items(), above_thousand, 0.1)
    assert stream.closed


async def test_first_on_a_stream_that_ends_without_a_match() -> None:
    with pytest.raises(LookupError, match="ended after 2 item"):
        await first(_Stream(stop=2).items(), lambda i: i > 5, 1.0)
