"""The service's vehicle links (MAVSDK adapter) against the simulated fleet over real UDP.

Every assertion goes through what the service offers — typed telemetry on the event bus,
``VehicleLink`` commands and their typed errors — never through MAVSDK. The simulator is
touched only to break things on purpose (stop a vehicle, starve its GPS, garble uploads).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from sim_harness import free_udp_port, wait_until

from flight_plans.geodesy import GeoPoint, destination
from flight_plans.geometry import GeoCircle
from flight_plans.mission import MavCmd, Mission, MissionItem
from flight_plans.plan import Fence, FenceCircle, RallyPoint
from mission_control.bus import EventBus
from mission_control.vehicles.errors import (
    CommandRejected,
    CommandTimeout,
    LinkLost,
    UploadMismatch,
    VehicleConnectionError,
)
from mission_control.vehicles.fleet import VehicleFleet
from mission_control.vehicles.link import VehicleLink
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.types import (
    FenceStatus,
    FlightMode,
    Gps,
    Home,
    LandedState,
    LinkEvent,
    LinkState,
    Modes,
    Position,
    TelemetryEvent,
)
from sim.fleet import Fleet, FleetConfig

pytestmark = pytest.mark.integration

HOME = GeoPoint(47.397743, 8.545594)
# at speed 10, PX4's 10 s pre-flight auto-disarm is 1 s of wall time: give tests room
SIM_PARAMS = (("COM_DISARM_PRFLT", 20.0),)


@contextlib.asynccontextmanager
async def service(port: int, **settings: object) -> AsyncIterator[tuple[EventBus, VehicleFleet]]:
    bus: EventBus = EventBus()
    cfg = VehicleLinkSettings(connection_urls=(f"udpin://127.0.0.1:{port}",), **settings)  # type: ignore[arg-type]
    async with bus, VehicleFleet(cfg, bus) as fleet:
        yield bus, fleet


def sim(port: int, n: int = 1, **config: object) -> Fleet:
    params = config.pop("params", SIM_PARAMS)
    return Fleet(FleetConfig(vehicles=n, gcs_port=port, params=params, **config))  # type: ignore[arg-type]


async def home_of(link: VehicleLink) -> GeoPoint:
    home = await wait_until(lambda: link.latest("home"), 10, what=f"vehicle {link.system_id} home")
    assert isinstance(home, Home)
    return GeoPoint(home.lat_deg, home.lon_deg)


def short_mission(start: GeoPoint, side_m: float = 30.0, alt_rel_m: float = 10.0) -> Mission:
    """Two legs of a square, then RTL (the vehicle lands and disarms itself)."""
    items = [
        MissionItem.at(MavCmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=alt_rel_m)
        for p in (destination(start, 0.0, side_m), destination(start, 90.0, side_m))
    ]
    return Mission((*items, MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH)))


def modes(link: VehicleLink) -> Modes | None:
    m = link.latest("modes")
    return m if isinstance(m, Modes) else None


async def next_link_event(sub: object, timeout_s: float) -> LinkEvent:
    async with asyncio.timeout(timeout_s):
        _topic, event = await anext(sub)  # type: ignore[call-overload]
    assert isinstance(event, LinkEvent)
    return event


async def test_ten_vehicles_discovered_fly_verified_missions_and_land() -> None:
    port = free_udp_port()
    async with sim(port, 10, speed=10.0), service(port) as (bus, fleet):
        assert await fleet.wait_for(10, 15) == list(range(1, 11))
        await wait_until(lambda: all(i.firmware_version for i in fleet.identities.values()), 10)
        for sid, identity in fleet.identities.items():
            assert (identity.system_id, identity.autopilot) == (sid, "px4")
            assert (identity.vehicle_type, identity.firmware_version) == ("multicopter", "1.16.0")
        links = list(fleet.links.values())
        homes = await asyncio.gather(*(home_of(link) for link in links))
        async with bus.subscribe("vehicles/+/telemetry/modes", maxsize=4096) as sub:
            await asyncio.gather(
                *(
                    link.upload(mission=short_mission(h))
                    for link, h in zip(links, homes, strict=True)
                )
            )
            for link in links:  # arm and start at once: the auto-disarm clock is running
                await link.arm()
                await link.start_mission()
            flew: set[int] = set()
            done: set[int] = set()
            async with asyncio.timeout(90):
                async for _topic, event in sub:
                    assert isinstance(event, TelemetryEvent)
                    m = event.sample
                    assert isinstance(m, Modes)
                    if m.landed_state is LandedState.IN_AIR:
                        flew.add(event.system_id)
                    elif (
                        event.system_id in flew
                        and m.landed_state is LandedState.ON_GROUND
                        and not m.armed
                    ):
                        done.add(event.system_id)
                        if len(done) == 10:
                            break
        assert sub.dropped == 0
        for link in links:
            final = modes(link)
            assert final is not None and final.landed_state is LandedState.ON_GROUND
            assert not final.armed and final.flight_mode is FlightMode.RETURN_TO_LAUNCH
            assert link.state is LinkState.CONNECTED


async def test_telemetry_is_typed_on_the_bus_and_latest_wins() -> None:
    port = free_udp_port()
    async with sim(port), service(port) as (bus, fleet):
        async with bus.subscribe("vehicles/1/telemetry/#", policy="latest_per_topic") as sub:
            await fleet.wait_for(1, 10)
            seen: dict[str, object] = {}
            async with asyncio.timeout(10):
                async for topic, event in sub:
                    assert isinstance(event, TelemetryEvent) and event.system_id == 1
                    seen[topic.rsplit("/", 1)[1]] = event.sample
                    if {"position", "modes", "gps", "home", "battery", "health"} <= set(seen):
                        break
        link = fleet.get(1)
        pos = link.latest("position")
        assert isinstance(pos, Position)
        assert pos.lat_deg == pytest.approx(HOME.lat_deg, abs=1e-6)
        assert pos.alt_amsl_m == pytest.approx(488.0, abs=0.01)
        gps = link.latest("gps")
        assert isinstance(gps, Gps) and (gps.fix_type, gps.satellites) == ("fix_3d", 10)
        m = modes(link)
        assert m is not None and (m.flight_mode, m.armed) == (FlightMode.HOLD, False)
        assert link.latest("fence_status") is None  # PX4 streams it only once a fence exists
        with pytest.raises(Exception, match="no such vehicle"):
            fleet.get(99)


async def test_every_command_and_list_against_the_vehicle() -> None:
    port = free_udp_port()
    async with sim(port, speed=5.0), service(port) as (_bus, fleet):
        await fleet.wait_for(1, 10)
        link = fleet.get(1)
        home = await home_of(link)
        far = destination(home, 45.0, 400.0)
        mission = Mission(
            (
                MissionItem.at(MavCmd.NAV_WAYPOINT, far.lat_deg, far.lon_deg, alt_rel_m=15.0),
                MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH),
            )
        )
        fence = Fence(circles=(FenceCircle(GeoCircle(home, 1000.0)),))
        safe = destination(home, 180.0, 50.0)
        rally = [RallyPoint(safe.lat_deg, safe.lon_deg, 10.0)]
        await link.upload(mission=mission, fence=fence, rally=rally)
        status = await wait_until(lambda: link.latest("fence_status"), 10, what="FENCE_STATUS")
        assert isinstance(status, FenceStatus) and not status.breached
        await link.arm()
        await link.start_mission()
        await wait_until(lambda: (m := modes(link)) and m.landed_state is LandedState.IN_AIR, 20)
        await link.set_speed(3.0)
        await link.pause()
        await wait_until(lambda: (m := modes(link)) and m.flight_mode is FlightMode.HOLD, 5)
        await link.resume()
        await wait_until(lambda: (m := modes(link)) and m.flight_mode is FlightMode.MISSION, 5)
        await link.set_current_item(0)
        await link.set_roi(home.lat_deg, home.lon_deg, 0.0)
        await link.set_gimbal(-45.0, 0.0)
        await link.goto(home.lat_deg, home.lon_deg, 488.0 + 20.0, yaw_deg=90.0)
        await link.return_to_launch()
        await wait_until(
            lambda: (m := modes(link)) and m.flight_mode is FlightMode.RETURN_TO_LAUNCH, 5
        )
        await link.land()
        await wait_until(
            lambda: (m := modes(link)) and m.landed_state is LandedState.ON_GROUND and not m.armed,
            60,
            what="landed and disarmed",
        )
        await link.clear()
        await link.upload_items("rally", [])  # an empty list is a clear, too
        with pytest.raises(ValueError, match="speed_m_s"):
            await link.set_speed(0.0)


async def test_arming_in_mission_mode_switches_to_hold_first() -> None:
    """MAVSDK's own pre-arm HOLD switch aborts the process if refused: the link does it."""
    port = free_udp_port()
    async with sim(port), service(port) as (_bus, fleet):
        await fleet.wait_for(1, 10)
        link = fleet.get(1)
        await link.upload(mission=short_mission(await home_of(link)))
        await link.start_mission()  # disarmed on the ground: PX4 accepts the mode
        await wait_until(lambda: (m := modes(link)) and m.flight_mode is FlightMode.MISSION, 5)
        await link.arm()
        await wait_until(lambda: (m := modes(link)) and m.armed, 5)
        m = modes(link)
        assert m is not None and m.flight_mode is FlightMode.HOLD
        await link.disarm()


async def test_refused_arming_carries_the_vehicles_reason() -> None:
    port = free_udp_port()
    async with sim(port) as fleet_sim, service(port) as (_bus, fleet):
        await fleet.wait_for(1, 10)
        link = fleet.get(1)
        fleet_sim.vehicle(1).vehicle.params.set("SIM_GPS_USED", 3)
        with pytest.raises(CommandRejected) as refused:
            await link.arm()
        assert refused.value.system_id == 1 and refused.value.action == "arm"
        assert refused.value.result == "COMMAND_DENIED"
        assert "GPS" in refused.value.reason
        assert "GPS" in str(refused.value)


async def test_an_upload_the_vehicle_garbles_is_caught_by_verification() -> None:
    port = free_udp_port()
    async with sim(port) as fleet_sim, service(port) as (_bus, fleet):
        await fleet.wait_for(1, 10)
        link = fleet.get(1)
        home = await home_of(link)
        fleet_sim.vehicle(1).link.garble_uploads = True
        with pytest.raises(UploadMismatch) as mismatch:
            await link.upload(mission=short_mission(home))
        assert (mismatch.value.system_id, mismatch.value.list_name) == (1, "mission")
        assert mismatch.value.index == 0
        assert mismatch.value.detail == "z: sent 10, read back 11"
        assert "mission read back differs at item 0" in str(mismatch.value)
        fence = Fence(circles=(FenceCircle(GeoCircle(home, 500.0)),))
        with pytest.raises(UploadMismatch, match="fence read back differs at item 0"):
            await link.upload(fence=fence)
        fleet_sim.vehicle(1).link.garble_uploads = False
        await link.upload(mission=short_mission(home), fence=fence)


async def test_a_killed_vehicle_goes_lost_fails_fast_and_comes_back_after_restart() -> None:
    port = free_udp_port()
    async with sim(port, speed=5.0), service(port) as (bus, fleet):
        second = sim(port, first_system_id=2, speed=5.0)
        await second.__aenter__()
        try:
            await fleet.wait_for(2, 10)
            link = fleet.get(2)
            far = destination(await home_of(link), 0.0, 500.0)
            mission = Mission(
                (MissionItem.at(MavCmd.NAV_WAYPOINT, far.lat_deg, far.lon_deg, alt_rel_m=20.0),)
            )
            await link.upload(mission=mission)
            await link.arm()
            await link.start_mission()
            await wait_until(
                lambda: (m := modes(link)) and m.landed_state is LandedState.IN_AIR, 20
            )
            async with bus.subscribe("vehicles/2/link") as events:
                await second.__aexit__(None, None, None)  # the vehicle dies mid-mission
                killed = time.monotonic()
                event = await next_link_event(events, 6)
                while event.state is not LinkState.LOST:
                    event = await next_link_event(events, 6)
                print(f"LOST {time.monotonic() - killed:.2f} s after the kill")
                assert time.monotonic() - killed < 5.0
                assert event.heartbeat_age_s > 3.0
                for command in (
                    link.arm,
                    link.return_to_launch,
                    lambda: link.upload(mission=mission),
                ):
                    t0 = time.monotonic()
                    with pytest.raises(LinkLost) as lost:
                        await command()
                    print(f"LinkLost after {(time.monotonic() - t0) * 1e3:.2f} ms")
                    assert time.monotonic() - t0 < 0.05  # nothing sent, nothing awaited
                    assert lost.value.system_id == 2
                assert fleet.get(1).state is LinkState.CONNECTED
                second = sim(port, first_system_id=2, speed=5.0)  # the vehicle reboots
                await second.__aenter__()
                event = await next_link_event(events, 5)
                assert (event.state, event.previous) == (LinkState.CONNECTED, LinkState.LOST)
            assert fleet.links[2] is link  # the same link, resumed
            await link.upload(mission=mission)  # and it takes commands again
        finally:
            await second.__aexit__(None, None, None)


async def _arm_latencies(link: VehicleLink, n: int = 5) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        await link.arm()
        out.append(time.monotonic() - t0)
        await link.disarm()
    return out


async def test_commands_pending_to_a_dead_vehicle_do_not_delay_a_healthy_one() -> None:
    port = free_udp_port()
    async with sim(port), service(port) as (_bus, fleet):
        second = sim(port, first_system_id=2)
        await second.__aenter__()
        try:
            await fleet.wait_for(2, 10)
            healthy, doomed = fleet.get(1), fleet.get(2)
            await home_of(healthy)
            baseline = await _arm_latencies(healthy)
        finally:
            await second.__aexit__(None, None, None)  # dead, but not yet LOST
        assert doomed.state is LinkState.CONNECTED
        commands = [
            lambda: doomed.set_speed(4.0),
            doomed.pause,
            doomed.land,
            doomed.return_to_launch,
        ]
        pending = [
            asyncio.create_task(commands[i % 4](), name=f"pending command {i}") for i in range(12)
        ]
        started = time.monotonic()
        try:
            await asyncio.sleep(0.2)
            assert doomed.calls_in_flight == 4  # the per-vehicle limit: the rest queue
            loaded = await _arm_latencies(healthy)
        finally:
            results = await asyncio.gather(*pending, return_exceptions=True)
        print(
            f"healthy arm latency ms: alone {[round(t * 1e3, 1) for t in baseline]}, "
            f"with 12 pending to a dead vehicle {[round(t * 1e3, 1) for t in loaded]}"
        )
        assert max(loaded) < max(baseline) + 0.1, (baseline, loaded)
        assert statistics.median(loaded) < statistics.median(baseline) + 0.1
        assert all(isinstance(r, CommandTimeout | LinkLost) for r in results), results
        assert time.monotonic() - started < 5.0 + 0.5  # the command timeout bounds them all


async def test_a_connection_that_cannot_be_opened_names_its_url() -> None:
    with socket_bound() as port:
        url = f"udpin://127.0.0.1:{port}"
        with pytest.raises(VehicleConnectionError) as failed:
            async with VehicleFleet(VehicleLinkSettings(connection_urls=(url,)), EventBus()):
                pass
        assert failed.value.url == url and url in str(failed.value)


@contextlib.contextmanager
def socket_bound() -> Iterator[int]:
    """A UDP port another socket holds (binding it again fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
