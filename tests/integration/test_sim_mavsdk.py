"""The simulated fleet driven by MAVSDK over real UDP MAVLink, as the service will drive it.

Every assertion is made through MAVSDK (or, where the ground station is gone on purpose,
by decoding the vehicle's datagrams on the wire), never by reading the simulator's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from mavsdk.asyncio import Autopilot, System, Vehicle
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.geofence import GeofenceAsync
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.param import ParamAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
from mavsdk.plugins.action.action import ActionError, ActionResult
from mavsdk.plugins.geofence.geofence import FenceType, GeofenceData, Point, Polygon
from mavsdk.plugins.mission_raw.mission_raw import MissionRawError, MissionRawResult
from mavsdk.plugins.telemetry.telemetry import FixType, FlightMode, LandedState
from mavsdk_scenarios import (
    as_raw_list,
    bad_item_rejected,
    fly_mission_and_land,
    mission_round_trip,
    raw,
    same_items,
    square_mission,
    status_texts,
)
from sim_harness import LossyUdpProxy, first, free_udp_port, ground_station, wait_until

from flight_plans.geodesy import GeoPoint, destination, distance_m
from flight_plans.mission import MavCmd, MissionItem, MissionType
from sim._mav import mavlink
from sim.fleet import Fleet, FleetConfig

pytestmark = pytest.mark.integration

HOME = GeoPoint(47.397743, 8.545594)


@dataclass
class Rig:
    fleet: Fleet
    systems: dict[int, System]
    gcs_port: int

    @property
    def one(self) -> System:
        return self.systems[1]


@contextlib.asynccontextmanager
async def rig(n: int = 1, **config: object) -> AsyncIterator[Rig]:
    port = free_udp_port()
    async with (
        ground_station(port) as gcs,
        Fleet(FleetConfig(vehicles=n, gcs_port=port, **config)) as fleet,
    ):  # type: ignore[arg-type]
        systems = await gcs.wait_systems(n, 15)
        yield Rig(fleet, systems, port)


async def test_discovers_every_vehicle_as_a_px4_multicopter() -> None:
    async with rig(3, spacing_m=10.0) as r:
        assert sorted(r.systems) == [1, 2, 3]
        positions = {}
        for sid, system in r.systems.items():
            assert await system.autopilot_type() == Autopilot.PX4
            assert await system.vehicle_type() == Vehicle.MULTICOPTER
            pos = await first(
                TelemetryAsync(system).subscribe_position(),
                lambda p: not math.isnan(p.latitude_deg),
                10,
            )
            positions[sid] = GeoPoint(pos.latitude_deg, pos.longitude_deg)
        assert distance_m(positions[1], HOME) < 0.05
        assert distance_m(positions[1], positions[2]) == pytest.approx(10.0, abs=0.05)
        assert distance_m(positions[1], positions[3]) == pytest.approx(10.0, abs=0.05)  # next row


async def _count(stream: AsyncIterator[object], seconds: float) -> int:
    n = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for _ in stream:
                n += 1
    await stream.aclose()  # type: ignore[attr-defined]
    return n


async def test_telemetry_values_and_px4_default_rates() -> None:
    async with rig(1) as r:
        tel = TelemetryAsync(r.one)
        await first(tel.subscribe_health_all_ok(), bool, 10, what="health all OK")
        health = await tel.health()
        assert health.is_armable
        home = await first(tel.subscribe_home(), lambda h: not math.isnan(h.latitude_deg), 10)
        assert distance_m(GeoPoint(home.latitude_deg, home.longitude_deg), HOME) < 0.05
        assert home.absolute_altitude_m == pytest.approx(488.0, abs=0.01)
        battery = await first(tel.subscribe_battery(), lambda b: b.remaining_percent > 0, 10)
        assert battery.remaining_percent == pytest.approx(100.0, abs=1)
        assert 15.0 < battery.voltage_v < 16.5  # 4 cells, full
        gps = await first(tel.subscribe_gps_info(), lambda g: g.num_satellites > 0, 10)
        assert gps.fix_type == FixType.FIX_3D and gps.num_satellites == 10
        assert await first(tel.subscribe_flight_mode(), lambda m: True, 5) == FlightMode.HOLD
        assert await first(tel.subscribe_landed_state(), lambda s: True, 5) == LandedState.ON_GROUND
        # PX4's GCS-link default: GLOBAL_POSITION_INT at 5 Hz, ATTITUDE at 15 Hz
        assert 7 <= await _count(tel.subscribe_position(), 2.0) <= 13
        assert 22 <= await _count(tel.subscribe_attitude_euler(), 2.0) <= 38
        # SET_MESSAGE_INTERVAL through MAVSDK changes the rate
        await tel.set_rate_position(1.0)
        assert 1 <= await _count(tel.subscribe_position(), 3.0) <= 5
        await tel.set_rate_position(20.0)
        assert 30 <= await _count(tel.subscribe_position(), 2.0) <= 50


async def test_mission_fence_and_rally_round_trip() -> None:
    async with rig(1) as r:
        await mission_round_trip(r.one, HOME)
        mission = MissionRawAsync(r.one)
        fence_items = [
            MissionItem.at(
                5001, *corner, alt_amsl_m=0.0, params=(4, 0, 0, 0), mission_type=MissionType.FENCE
            )
            for corner in (
                (47.3970, 8.5440),
                (47.3970, 8.5470),
                (47.3985, 8.5470),
                (47.3985, 8.5440),
            )
        ]
        fence_items.append(
            MissionItem.at(
                5004,
                47.3978,
                8.5456,
                alt_amsl_m=0.0,
                params=(15.0, 0, 0, 0),
                mission_type=MissionType.FENCE,
            )
        )
        fence = [raw(it.to_mavlink(i)) for i, it in enumerate(fence_items)]
        await mission.upload_geofence(fence)
        assert same_items(await mission.download_geofence(), fence)
        rally_items = [
            MissionItem.at(5100, 47.3981, 8.5451, alt_rel_m=30.0, mission_type=MissionType.RALLY),
            MissionItem.at(5100, 47.3969, 8.5462, alt_rel_m=30.0, mission_type=MissionType.RALLY),
        ]
        rally = [raw(it.to_mavlink(i)) for i, it in enumerate(rally_items)]
        await mission.upload_rally_points(rally)
        assert same_items(await mission.download_rallypoints(), rally)
        # the mission list is unaffected by the other two
        assert len(await mission.download_mission()) == 4
        await mission.clear_mission()
        assert await mission.download_mission() == []


async def test_arm_start_fly_to_completion_rtl_and_land() -> None:
    async with rig(1, speed=10.0) as r:
        progress = await fly_mission_and_land(r.one, HOME, timeout_s=60)
        assert progress == sorted(progress)  # items advance in order


async def test_pause_holds_position_and_start_resumes() -> None:
    async with rig(1, speed=5.0) as r:
        mission = MissionRawAsync(r.one)
        tel = TelemetryAsync(r.one)
        far = destination(HOME, 45.0, 400.0)
        items = [
            MissionItem.at(MavCmd.NAV_WAYPOINT, far.lat_deg, far.lon_deg, alt_rel_m=20.0),
            MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH),
        ]
        await mission.upload_mission(as_raw_list(items))
        await ActionAsync(r.one).arm()
        await mission.start_mission()
        await first(
            tel.subscribe_position(), lambda p: p.relative_altitude_m > 15, 30, what="climbing out"
        )
        await asyncio.sleep(1.0)
        await mission.pause_mission()
        await first(tel.subscribe_flight_mode(), lambda m: m == FlightMode.HOLD, 5)
        await asyncio.sleep(1.5)  # braking (5 m/s, 3 m/s²) is over well within this
        p1 = await tel.position()
        await asyncio.sleep(1.5)  # 7.5 s of simulated hover
        p2 = await tel.position()
        assert (
            distance_m(
                GeoPoint(p1.latitude_deg, p1.longitude_deg),
                GeoPoint(p2.latitude_deg, p2.longitude_deg),
            )
            < 1.0
        )
        assert distance_m(GeoPoint(p2.latitude_deg, p2.longitude_deg), far) > 50  # not there yet
        await mission.start_mission()
        await first(tel.subscribe_flight_mode(), lambda m: m == FlightMode.MISSION, 5)
        await first(
            mission.subscribe_mission_progress(),
            lambda p: p.current >= 1,
            60,
            what="waypoint 0 reached after resuming",
        )


async def test_fence_breach_triggers_the_configured_action() -> None:
    async with rig(1, speed=5.0) as r:
        param = ParamAsync(r.one)
        await param.set_param_int("GF_ACTION", 3)  # return
        square = [
            Point(*xy)
            for xy in ((47.3974, 8.5452), (47.3974, 8.5460), (47.3981, 8.5460), (47.3981, 8.5452))
        ]
        await GeofenceAsync(r.one).upload_geofence(
            GeofenceData([Polygon(square, FenceType.INCLUSION)], [])
        )
        tel = TelemetryAsync(r.one)
        async with status_texts(tel) as texts:
            outside = destination(HOME, 90.0, 200.0)
            await MissionRawAsync(r.one).upload_mission(
                as_raw_list(
                    [
                        MissionItem.at(
                            MavCmd.NAV_WAYPOINT, outside.lat_deg, outside.lon_deg, alt_rel_m=20.0
                        )
                    ]
                )
            )
            await ActionAsync(r.one).arm()
            await MissionRawAsync(r.one).start_mission()
            await first(
                tel.subscribe_flight_mode(),
                lambda m: m == FlightMode.RETURN_TO_LAUNCH,
                60,
                what="RTL on fence breach",
            )
            await first(tel.subscribe_armed(), lambda a: not a, 90, what="landed and disarmed")
        assert any("geofence" in t.lower() for t in texts), texts
        pos = await tel.position()
        assert distance_m(GeoPoint(pos.latitude_deg, pos.longitude_deg), HOME) < 5.0


async def test_battery_failsafe_returns_then_lands() -> None:
    async with rig(1, speed=10.0, battery_soc=0.2) as r:
        await ParamAsync(r.one).set_param_float("SIM_BAT_DRAIN", 300.0)  # full pack in 5 min
        tel = TelemetryAsync(r.one)
        async with status_texts(tel) as texts:
            action = ActionAsync(r.one)
            await action.set_takeoff_altitude(30.0)
            await action.arm()
            await action.takeoff()
            await first(tel.subscribe_in_air(), bool, 20)
            await first(
                tel.subscribe_flight_mode(),
                lambda m: m == FlightMode.RETURN_TO_LAUNCH,
                60,
                what="RTL at critical battery",
            )
            await first(tel.subscribe_armed(), lambda a: not a, 90, what="landed and disarmed")
        joined = " | ".join(texts).lower()
        assert "low battery" in joined and "critical battery" in joined, texts


def _decode_heartbeats(sock: socket.socket, seconds: float) -> list[tuple[int, int, str]]:
    """(main mode, sub mode, STATUSTEXT or "") seen on the wire for ``seconds``."""
    parser = mavlink.MAVLink(None)
    parser.robust_parsing = True
    seen: list[tuple[int, int, str]] = []
    sock.settimeout(0.2)
    loop_end = __import__("time").monotonic() + seconds
    while __import__("time").monotonic() < loop_end:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        for m in parser.parse_buffer(data) or []:
            if m.get_type() == "HEARTBEAT":
                seen.append(((m.custom_mode >> 16) & 0xFF, (m.custom_mode >> 24) & 0xFF, ""))
            elif m.get_type() == "STATUSTEXT":
                seen.append((0, 0, m.text))
    return seen


async def test_data_link_loss_failsafe_returns() -> None:
    port = free_udp_port()
    async with Fleet(FleetConfig(vehicles=1, gcs_port=port, speed=2.0)) as fleet:
        async with ground_station(port) as gcs:
            system = (await gcs.wait_systems(1, 15))[1]
            param = ParamAsync(system)
            await param.set_param_int("NAV_DLL_ACT", 2)  # return
            await param.set_param_float("COM_DL_LOSS_T", 5.0)
            tel = TelemetryAsync(system)
            action = ActionAsync(system)
            await action.arm()
            await action.takeoff()
            await first(tel.subscribe_in_air(), bool, 20)
            assert (
                await first(tel.subscribe_flight_mode(), lambda m: True, 5)
                != FlightMode.RETURN_TO_LAUNCH
            )
        # the ground station is gone (no more GCS heartbeats); listen on its port, silently
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))
            seen = await asyncio.to_thread(_decode_heartbeats, sock, 9.0)
        assert fleet.vehicles  # the fleet kept running throughout
    texts = [t for _, _, t in seen if t]
    modes = [(main, sub) for main, sub, t in seen if not t]
    assert any("data link lost" in t.lower() for t in texts), texts
    assert (4, 5) in modes, modes  # AUTO.RTL


async def test_refused_arming_reports_the_reason() -> None:
    async with rig(1) as r:
        param = ParamAsync(r.one)
        tel = TelemetryAsync(r.one)
        await param.set_param_int("SIM_GPS_USED", 3)
        await first(
            tel.subscribe_health(), lambda h: not h.is_global_position_ok, 10, what="GPS lost"
        )
        async with status_texts(tel) as texts:
            with pytest.raises(ActionError) as refused:
                await ActionAsync(r.one).arm()
            assert refused.value.result == ActionResult.COMMAND_DENIED
            await wait_until(
                lambda: any("Arming denied" in t for t in texts), 5, what="the reason as STATUSTEXT"
            )
        reason = next(t for t in texts if "Arming denied" in t)
        assert "GPS" in reason
        assert not await tel.armed()
        await param.set_param_int("SIM_GPS_USED", 12)
        await first(tel.subscribe_health(), lambda h: h.is_global_position_ok, 10)
        await ActionAsync(r.one).arm()
        assert await first(tel.subscribe_armed(), bool, 5)


async def test_upload_completes_through_20_percent_datagram_loss() -> None:
    """Both directions lose 20 % of datagrams; re-requests and re-sends still finish it."""
    gcs_port = free_udp_port()
    async with (
        ground_station(gcs_port) as gcs,
        LossyUdpProxy(
            ("127.0.0.1", gcs_port), drop_to_gcs=0.2, drop_to_vehicle=0.2, seed=7
        ) as proxy,
        Fleet(FleetConfig(vehicles=1, gcs_port=proxy.vehicle_port)),
    ):
        system = (await gcs.wait_systems(1, 20))[1]
        mission = MissionRawAsync(system)
        items = []
        for i in range(12):
            p = destination(HOME, i * 30.0, 50.0 + i)
            items.append(
                MissionItem.at(MavCmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=20.0 + i)
            )
        raw_items = as_raw_list(items)
        before = proxy.to_vehicle.dropped + proxy.to_gcs.dropped
        await mission.upload_mission(raw_items)
        assert proxy.to_vehicle.dropped + proxy.to_gcs.dropped > before  # loss did happen
        # read back over a clean link: MAVSDK's own download retries are not under test
        proxy.drop_to_gcs = proxy.drop_to_vehicle = 0.0
        assert same_items(await mission.download_mission(), raw_items)


async def test_bad_items_get_error_acks_and_change_nothing() -> None:
    async with rig(1) as r:
        result = await bad_item_rejected(r.one, HOME)
        assert result == MissionRawResult.INVALID_ARGUMENT.name  # MAV_MISSION_INVALID_PARAM5_X
        mission = MissionRawAsync(r.one)
        before = await mission.download_mission()
        vtol = as_raw_list(
            [
                *square_mission(HOME)[:2],
                MissionItem.at(MavCmd.NAV_VTOL_TAKEOFF, HOME.lat_deg, HOME.lon_deg, alt_rel_m=20.0),
            ]
        )
        with pytest.raises(MissionRawError) as unsupported:
            await mission.upload_mission(vtol)
        assert unsupported.value.result == MissionRawResult.UNSUPPORTED
        assert same_items(await mission.download_mission(), before)


async def test_unknown_command_is_unsupported_not_silence() -> None:
    async with rig(1) as r:
        from mavsdk.asyncio.plugins.action import ActionAsync as _A

        action = _A(r.one)
        with pytest.raises(ActionError) as exc:
            await action.reboot()  # MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN: the sim has no reboot
        assert exc.value.result == ActionResult.UNSUPPORTED
