"""VehicleFleet.attach / detach: vehicle connections opened and closed while the fleet runs.

The simulated vehicles listen on fixed ports (``FleetConfig.listen_port``), as vehicles
shared by several service instances do; a fleet dials one with ``udpout://``. Assertions go
through what the fleet offers (links, typed telemetry and link events on the bus).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sim_harness import free_udp_port, wait_until
from test_sim_listen import SIM_PARAMS, free_udp_ports

from mission_control.bus import EventBus
from mission_control.vehicles.errors import VehicleConnectionError
from mission_control.vehicles.fleet import VehicleFleet
from mission_control.vehicles.link import VehicleLink
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.types import LinkEvent, LinkState, Modes, Position, TelemetryEvent
from sim.fleet import Fleet, FleetConfig

pytestmark = pytest.mark.integration

Bus = EventBus[TelemetryEvent | LinkEvent]


@contextlib.asynccontextmanager
async def fleet_without_connections(bus: Bus) -> AsyncIterator[VehicleFleet]:
    async with VehicleFleet(VehicleLinkSettings(), bus, connection_urls=()) as fleet:
        yield fleet


def url(port: int) -> str:
    return f"udpout://127.0.0.1:{port}"


async def next_event(sub: object, timeout_s: float = 5.0) -> object:
    async with asyncio.timeout(timeout_s):
        _topic, event = await anext(sub)  # type: ignore[call-overload]
    return event


async def fresh_position(bus: Bus, system_id: int) -> Position:
    """The next position of ``system_id`` published on the bus."""
    async with bus.subscribe(f"vehicles/{system_id}/telemetry/position") as sub:
        event = await next_event(sub)
    assert isinstance(event, TelemetryEvent) and isinstance(event.sample, Position)
    return event.sample


async def test_attach_detach_and_attach_again_with_system_ids_attributed() -> None:
    port = free_udp_ports(2)
    u1, u2 = url(port), url(port + 1)
    async with (
        Fleet(FleetConfig(vehicles=2, listen_port=port, speed=5.0, params=SIM_PARAMS)),
        Bus() as bus,
        fleet_without_connections(bus) as fleet,
    ):
        assert fleet.links == {} and fleet.attached == {}
        # back to back (the second call waits for the first): each URL gets its own vehicle
        assert list(await asyncio.gather(fleet.attach(u1), fleet.attach(u2))) == [1, 2]
        assert dict(fleet.attached) == {u1: 1, u2: 2}
        assert (fleet.url_of(1), fleet.url_of(2), fleet.url_of(3)) == (u1, u2, None)
        assert sorted(fleet.links) == [1, 2]
        assert await fleet.attach(u1) == 1  # already attached: nothing new opened
        first_link = fleet.get(1)
        await fresh_position(bus, 1)

        async with bus.subscribe("vehicles/1/link") as events:
            assert await fleet.detach(u1) == 1
            left = await next_event(events)
            assert isinstance(left, LinkEvent)
            assert (left.system_id, left.state) == (1, LinkState.LOST)
            assert sorted(fleet.links) == [2] and fleet.url_of(1) is None
            assert dict(fleet.attached) == {u2: 2}
            await asyncio.sleep(1.5)  # discovery ran: MAVSDK still counts vehicle 1 connected
            assert 1 not in fleet.links

            # back within MAVSDK's ~3 s: no notification from it, a fresh heartbeat decides
            assert await fleet.attach(u1) == 1
            back = await next_event(events)
            assert isinstance(back, LinkEvent)
            assert (back.state, back.previous) == (LinkState.CONNECTED, None)
        assert fleet.get(1) is not first_link
        assert fleet.url_of(1) == u1
        await fresh_position(bus, 1)
        await fleet.get(1).arm()  # the fresh link takes commands
        await fleet.get(1).disarm()

        # both detached and both still counted connected by MAVSDK: only the vehicle heard
        # after the connection was added is taken (MAVSDK lists vehicle 1 first)
        assert (await fleet.detach(u1), await fleet.detach(u2)) == (1, 2)
        assert await fleet.attach(u2) == 2
        assert await fleet.attach(u1, expect_system_id=1, timeout_s=5.0) == 1
        assert dict(fleet.attached) == {u2: 2, u1: 1}
        await fresh_position(bus, 2)

        with pytest.raises(VehicleConnectionError, match="system 1 is attached"):
            await fleet.attach(url(free_udp_port()), expect_system_id=1)
        with pytest.raises(VehicleConnectionError) as bad:
            await fleet.attach("udpout://127.0.0.1")
        assert bad.value.url == "udpout://127.0.0.1" and "INVALID" in bad.value.reason
        assert await fleet.detach("udpout://127.0.0.1:9") is None  # never attached


async def test_a_url_silent_at_attach_gets_the_vehicle_heard_later() -> None:
    port = free_udp_ports(1)
    async with Bus() as bus, fleet_without_connections(bus) as fleet:
        assert await fleet.attach(url(port), timeout_s=0.3) is None
        assert dict(fleet.attached) == {url(port): None}
        cfg = FleetConfig(listen_port=port, first_system_id=7)
        async with Fleet(cfg):  # the vehicle boots after the attach gave up waiting
            await fleet.wait_for(1, 10)
            assert dict(fleet.attached) == {url(port): 7} and fleet.url_of(7) == url(port)
            assert await fleet.detach(url(port)) == 7
            assert fleet.links == {} and fleet.attached == {}


def modes(link: VehicleLink) -> Modes | None:
    m = link.latest("modes")
    return m if isinstance(m, Modes) else None


async def test_two_fleets_hand_a_vehicle_over() -> None:
    port = free_udp_ports(1)
    async with (
        Fleet(FleetConfig(listen_port=port, speed=5.0, params=SIM_PARAMS)),
        Bus() as bus,
        fleet_without_connections(bus) as a,
        fleet_without_connections(bus) as b,
    ):
        assert await a.attach(url(port)) == 1
        await a.get(1).arm()
        assert await a.detach(url(port)) == 1  # e.g. instance A gives up the lease
        assert a.links == {}

        assert await b.attach(url(port), expect_system_id=1) == 1
        link = b.get(1)
        await wait_until(lambda: (m := modes(link)) and m.armed, 5, what="armed, seen by B")
        await link.disarm()
        await wait_until(lambda: (m := modes(link)) and not m.armed, 5, what="disarmed by B")
        await link.arm()  # B commands it; its acks come back to B
        await link.disarm()
        assert 1 not in a.links and a.url_of(1) is None
