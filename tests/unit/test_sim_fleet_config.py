"""FleetConfig: vehicle numbering (1..N or from ``first_system_id``), listen ports, peers."""

from __future__ import annotations

import pytest

from mission_control.cli import build_parser, main
from mission_control.cli.sim import config_from_args
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


def test_listen_mode_binds_fixed_ports_in_order_and_has_no_default_gcs() -> None:
    cfg = FleetConfig(vehicles=3, first_system_id=4, listen_port=14600)
    assert [cfg.bind_address(k) for k in cfg.system_ids] == [
        ("127.0.0.1", 14600),
        ("127.0.0.1", 14601),
        ("127.0.0.1", 14602),
    ]
    assert [cfg.gcs_for(k) for k in cfg.system_ids] == [None, None, None]


def test_listen_mode_keeps_an_explicit_gcs() -> None:
    assert FleetConfig(listen_port=14600, gcs_port=9000).gcs_for(1) == ("127.0.0.1", 9000)
    cfg = FleetConfig(listen_port=14600, gcs_urls=("udp://10.0.0.1:1000",))
    assert cfg.gcs_for(1) == ("10.0.0.1", 1000)


def test_without_listen_port_vehicles_bind_ephemeral_ports() -> None:
    cfg = FleetConfig(bind_host="0.0.0.0")
    assert cfg.bind_address(1) == ("0.0.0.0", 0)
    assert cfg.gcs_for(1) == ("127.0.0.1", 14540)


@pytest.mark.parametrize(
    ("listen_port", "vehicles"), [(0, 1), (-5, 1), (65536, 1), (65535, 2), (65530, 10)]
)
def test_every_listen_port_must_be_a_valid_port(listen_port: int, vehicles: int) -> None:
    with pytest.raises(SimConfigError, match="listen_port") as bad:
        FleetConfig(vehicles=vehicles, listen_port=listen_port)
    assert bad.value.field == "listen_port" and bad.value.value == listen_port


def test_the_last_port_may_be_65535() -> None:
    assert FleetConfig(vehicles=2, listen_port=65534).bind_address(2) == ("127.0.0.1", 65535)


@pytest.mark.parametrize("timeout_s", [0.0, 0.1, 5000.0, float("nan"), float("inf")])
def test_peer_timeout_must_be_sensible(timeout_s: float) -> None:
    with pytest.raises(SimConfigError, match="peer_timeout_s"):
        FleetConfig(peer_timeout_s=timeout_s)


def test_cli_listen_port_and_peer_timeout_reach_the_config() -> None:
    args = build_parser().parse_args(
        ["sim", "--vehicles", "2", "--listen-port", "14600", "--peer-timeout-s", "5"]
    )
    cfg = config_from_args(args)
    assert (cfg.listen_port, cfg.peer_timeout_s, cfg.gcs_for(1)) == (14600, 5.0, None)
    assert config_from_args(build_parser().parse_args(["sim"])).listen_port is None


def test_cli_refuses_listen_ports_past_65535_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim", "--vehicles", "3", "--listen-port", "65534"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "listen_port=65534" in err and "1..65533" in err
