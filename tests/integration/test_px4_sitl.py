"""The same MAVSDK scenarios as the simulated fleet's, against a real PX4 SITL.

Skipped unless ``MC_PX4_SITL_URL`` names the MAVSDK connection a running PX4 SITL sends to,
e.g. ``MC_PX4_SITL_URL=udpin://0.0.0.0:14540`` for ``make px4_sitl sihsim_quadx`` (instance
0). PX4 is not installed by ``make test``; this is how the simulator's fidelity is checked
against the real autopilot on a machine that has one.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from mavsdk.plugins.mission_raw.mission_raw import MissionRawResult
from mavsdk_scenarios import bad_item_rejected, fly_mission_and_land, home_of, mission_round_trip
from sim_harness import ground_station

SITL_URL = os.environ.get("MC_PX4_SITL_URL", "")

pytestmark = [
    pytest.mark.px4_sitl,
    pytest.mark.skipif(not SITL_URL, reason="set MC_PX4_SITL_URL to run against a real PX4 SITL"),
]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "udpin" or parts.port is None:
        raise ValueError(f"MC_PX4_SITL_URL={url!r}: expected udpin://HOST:PORT")
    return parts.hostname or "0.0.0.0", parts.port


async def test_px4_sitl_mission_round_trip_bad_item_and_flight() -> None:
    host, port = _host_port(SITL_URL)
    async with ground_station(port, host=host) as gcs:
        systems = await gcs.wait_systems(1, 30)
        system = systems[min(systems)]
        home = await home_of(system)
        await mission_round_trip(system, home)
        assert await bad_item_rejected(system, home) == MissionRawResult.INVALID_ARGUMENT.name
        await fly_mission_and_land(system, home, timeout_s=300)
