"""MAVSDK scenarios shared by the simulated fleet's tests and the real PX4 SITL tests.

Each scenario drives one vehicle through MAVSDK (the client library the service uses) and
asserts what a pilot would see; none of them looks inside the simulator, so the same
function runs against ``sim`` and against a PX4 SITL reachable at ``MC_PX4_SITL_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Sequence

from mavsdk.asyncio import System
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
from mavsdk.plugins.mission_raw.mission_raw import MissionItem as RawItem
from mavsdk.plugins.telemetry.telemetry import FlightMode, LandedState
from sim_harness import first

from flight_plans.geodesy import GeoPoint, destination, distance_m
from flight_plans.mission import MavCmd, MissionItem, MissionItemInt, MissionType
from mission_control.vehicles.convert import to_mavsdk_item


@contextlib.asynccontextmanager
async def status_texts(tel: TelemetryAsync) -> AsyncIterator[list[str]]:
    """Collect the vehicle's STATUSTEXTs (reassembled by MAVSDK) while the block runs."""
    texts: list[str] = []

    async def collect() -> None:
        async for t in tel.subscribe_status_text():
            texts.append(t.text)

    collector = asyncio.create_task(collect())
    try:
        yield texts
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)


def raw(item: MissionItemInt, *, current: bool = False) -> RawItem:
    """A flight_plans item as MAVSDK's MISSION_ITEM_INT twin (the service's own converter)."""
    return to_mavsdk_item(item, seq=item.seq, current=current)


def as_raw_list(items: Sequence[MissionItem]) -> list[RawItem]:
    return [raw(it.to_mavlink(i), current=i == 0) for i, it in enumerate(items)]


def square_mission(
    home: GeoPoint, side_m: float = 60.0, alt_rel_m: float = 20.0
) -> list[MissionItem]:
    """Three corners of a square and back: waypoints, then RTL (PX4 lands and disarms)."""
    items = []
    for bearing in (0.0, 90.0, 180.0):
        p = destination(home, bearing, side_m)
        items.append(MissionItem.at(MavCmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=alt_rel_m))
    items.append(MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH))
    return items


def same_items(a: Sequence[RawItem], b: Sequence[RawItem]) -> bool:
    """Field-by-field equality of MISSION_ITEM_INT lists (NaN equals NaN, float32 params)."""

    def key(it: RawItem) -> tuple[object, ...]:
        params = tuple(
            "nan" if math.isnan(p) else round(p, 4)
            for p in (it.param1, it.param2, it.param3, it.param4)
        )
        return (
            it.seq,
            it.frame,
            it.command,
            it.autocontinue,
            *params,
            it.x,
            it.y,
            round(it.z, 3),
            it.mission_type,
        )

    return [key(x) for x in a] == [key(y) for y in b]


async def home_of(system: System) -> GeoPoint:
    tel = TelemetryAsync(system)
    pos = await first(
        tel.subscribe_position(), lambda p: not math.isnan(p.latitude_deg), 10, what="a position"
    )
    return GeoPoint(pos.latitude_deg, pos.longitude_deg)


async def mission_round_trip(system: System, home: GeoPoint) -> None:
    """Upload a mission and read it back: identical, item by item."""
    mission = MissionRawAsync(system)
    items = as_raw_list(square_mission(home))
    await mission.upload_mission(items)
    assert same_items(await mission.download_mission(), items)


async def wait_healthy(system: System, timeout_s: float = 30.0) -> None:
    tel = TelemetryAsync(system)
    await first(
        tel.subscribe_health(),
        lambda h: h.is_global_position_ok and h.is_home_position_ok,
        timeout_s,
        what="global position and home OK",
    )


async def arm_with_retries(system: System, timeout_s: float = 15.0) -> None:
    """Arm, retrying refusals for a while (PX4 accepts arming a few seconds after boot)."""
    action = ActionAsync(system)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await action.arm()
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def fly_mission_and_land(system: System, home: GeoPoint, timeout_s: float) -> list[int]:
    """Upload the square mission, arm, start; wait until it has landed and disarmed.

    Returns the mission progress values seen (``current`` of MISSION_CURRENT/REACHED).
    """
    mission = MissionRawAsync(system)
    tel = TelemetryAsync(system)
    items = as_raw_list(square_mission(home))
    await mission.upload_mission(items)
    progress: list[int] = []

    async def watch() -> None:
        async for p in mission.subscribe_mission_progress():
            progress.append(p.current)

    watcher = asyncio.create_task(watch())
    try:
        await wait_healthy(system)
        await arm_with_retries(system)
        await mission.start_mission()
        await first(tel.subscribe_in_air(), bool, 30, what="take-off")
        await first(
            tel.subscribe_flight_mode(),
            lambda m: m == FlightMode.RETURN_TO_LAUNCH,
            timeout_s,
            what="RTL after the last waypoint",
        )
        await first(
            tel.subscribe_landed_state(),
            lambda s: s == LandedState.ON_GROUND,
            timeout_s,
            what="landed",
        )
        await first(tel.subscribe_armed(), lambda a: not a, 30, what="disarmed after landing")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    pos = await tel.position()
    assert distance_m(GeoPoint(pos.latitude_deg, pos.longitude_deg), home) < 5.0
    assert progress and max(progress) >= len(items) - 1
    return progress


async def bad_item_rejected(system: System, home: GeoPoint) -> str:
    """A mission with an out-of-range latitude is refused; the on-board mission is unchanged.

    Returns the MissionRawError result name.
    """
    from mavsdk.plugins.mission_raw.mission_raw import MissionRawError

    mission = MissionRawAsync(system)
    good = as_raw_list(square_mission(home))
    await mission.upload_mission(good)
    bad = as_raw_list(square_mission(home))
    bad[1].x = 95 * 10**7  # latitude 95°
    try:
        await mission.upload_mission(bad)
    except MissionRawError as exc:
        result = exc.result.name
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("the vehicle accepted a mission item at latitude 95°")
    assert same_items(await mission.download_mission(), good)
    return result


MISSION_TYPES = (MissionType.MISSION, MissionType.FENCE, MissionType.RALLY)
