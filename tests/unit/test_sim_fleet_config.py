"""FleetConfig's vehicle numbering: 1..N by default, or from ``first_system_id``."""

from __future__ import annotations

import pytest

from sim.errors import SimConfigError
from sim.fleet import FleetConfig


def test_vehicles_are_numbered_from_1_by_default() -> None:
    cfg = FleetConfig(vehicles=3)
    assert list(cfg.system_ids) == [1, 2, 3]
    assert cfg.gcs_for(2) == ("127.0.0.1", 14541)  # PX4 SITL instance 1's port
    assert cfg.video_port(1) == 5600


def test_a_fleet_can_start_at_another_system_id_and_keeps_its_own_grid_and_urls() -> None:
    cfg = FleetConfig(
        vehicles=2, first_system_id=7, gcs_urls=("udp://10.0.0.1:1000", "udp://10.0.0.2:2000")
    )
    assert list(cfg.system_ids) == [7, 8]
    assert cfg.gcs_for(8) == ("10.0.0.2", 2000)
    assert cfg.launch_point(7) == FleetConfig().launch_point(1)  # the first stands at home
    assert cfg.vehicle_config(8).system_id == 8
    assert cfg.video_port(7) == 5600


@pytest.mark.parametrize(("first", "vehicles"), [(0, 1), (250, 2), (251, 1)])
def test_system_ids_must_stay_in_1_to_250(first: int, vehicles: int) -> None:
    with pytest.raises(SimConfigError, match="first_system_id"):
        FleetConfig(vehicles=vehicles, first_system_id=first)
