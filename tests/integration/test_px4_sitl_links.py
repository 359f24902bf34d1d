"""The service's vehicle links against a real PX4 SITL: discover, verified upload, arm, fly.

Skipped unless ``MC_PX4_SITL_URL`` names the MAVSDK connection a running PX4 SITL sends to,
e.g. ``MC_PX4_SITL_URL=udpin://0.0.0.0:14540`` for ``make px4_sitl sihsim_quadx`` (instance
0). The same scenario runs against the simulator in ``test_vehicle_links.py``.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from sim_harness import wait_until

from flight_plans.geodesy import GeoPoint, destination
from flight_plans.mission import MavCmd, Mission, MissionItem
from mission_control.bus import EventBus
from mission_control.vehicles.errors import CommandRejected
from mission_control.vehicles.fleet import VehicleFleet
from mission_control.vehicles.link import VehicleLink
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.types import Home, LandedState, Modes

SITL_URL = os.environ.get("MC_PX4_SITL_URL", "")

pytestmark = [
    pytest.mark.px4_sitl,
    pytest.mark.skipif(not SITL_URL, reason="set MC_PX4_SITL_URL to run against a real PX4 SITL"),
]


def _modes(link: VehicleLink) -> Modes | None:
    m = link.latest("modes")
    return m if isinstance(m, Modes) else None


async def _arm_with_retries(link: VehicleLink, timeout_s: float = 20.0) -> None:
    """PX4 refuses arming for a few seconds after boot (estimator not ready)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await link.arm()
            return
        except CommandRejected:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(1.0)


async def test_px4_sitl_discover_upload_verified_arm_and_fly_the_mission() -> None:
    bus: EventBus = EventBus()
    settings = VehicleLinkSettings(connection_urls=(SITL_URL,))
    async with bus, VehicleFleet(settings, bus) as fleet:
        (system_id, *_) = await fleet.wait_for(1, 30)
        link = fleet.get(system_id)
        identity = await wait_until(
            lambda: link.identity.firmware_version and link.identity, 15, what="firmware version"
        )
        assert (identity.autopilot, identity.vehicle_type) == ("px4", "multicopter")
        home = await wait_until(lambda: link.latest("home"), 30, what="home position")
        assert isinstance(home, Home)
        start = GeoPoint(home.lat_deg, home.lon_deg)
        items = [
            MissionItem.at(MavCmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=20.0)
            for p in (destination(start, b, 60.0) for b in (0.0, 90.0, 180.0))
        ]
        await link.upload(mission=Mission((*items, MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH))))
        await _arm_with_retries(link)
        await link.start_mission()
        await wait_until(
            lambda: (m := _modes(link)) and m.landed_state is LandedState.IN_AIR,
            60,
            what="take-off",
        )
        await wait_until(
            lambda: (m := _modes(link)) and m.landed_state is LandedState.ON_GROUND and not m.armed,
            300,
            interval_s=0.5,
            what="landed and disarmed after RTL",
        )
