"""``mission-control sim`` as a user runs it, and the fleet's cameras as a ground station sees them."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sim_harness import free_udp_port
from test_sim_video import CAPTURE_OPTIONS, capture, free_ports, read_frames, red_pixels

from sim._mav import mavlink
from sim.camera import decode_stamp
from sim.fleet import Fleet, FleetConfig

pytestmark = pytest.mark.integration


def _listen(port: int, seconds: float, want: set[str]) -> dict[str, list[object]]:
    """Decode what arrives on ``port`` for ``seconds``; keep messages of the wanted types."""
    got: dict[str, list[object]] = {name: [] for name in want}
    parser = mavlink.MAVLink(None)
    parser.robust_parsing = True
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.settimeout(0.2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            for m in parser.parse_buffer(data) or []:
                if m.get_type() in want:
                    got[m.get_type()].append(m)
    return got


def test_cli_runs_the_fleet_prints_endpoints_and_vehicles_speak_mavlink() -> None:
    port = free_udp_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mission_control.cli",
            "sim",
            "--vehicles",
            "2",
            "--gcs-port",
            str(port),
            "--duration-s",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        got = _listen(port, 3.0, {"HEARTBEAT"})
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("sim: 2 vehicle(s)")
    for sid in (1, 2):
        line = next(x for x in lines if x.startswith(f"sys {sid:3d}"))
        assert "mavlink udp://127.0.0.1:" in line and f"→ udp://127.0.0.1:{port}" in line
    assert lines[-1] == "sim: stopped"
    systems = {hb.get_srcSystem() for hb in got["HEARTBEAT"]}
    assert systems == {1, 2}
    assert all(hb.autopilot == mavlink.MAV_AUTOPILOT_PX4 for hb in got["HEARTBEAT"])


def test_cli_refuses_bad_settings_in_one_line() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mission_control.cli",
            "sim",
            "--vehicles",
            "2",
            "--gcs",
            "udp://127.0.0.1:9",
            "udp://127.0.0.1:10",
            "udp://127.0.0.1:11",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "one per vehicle (2)" in proc.stderr


async def test_fleet_camera_is_announced_and_streams_what_the_vehicle_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", CAPTURE_OPTIONS)
    gcs_port = free_udp_port()
    video_port = free_ports(2)
    cfg = FleetConfig(
        vehicles=1,
        gcs_port=gcs_port,
        camera="rtp",
        first_video_port=video_port,
        video_dir=str(tmp_path),
        incident_lat_deg=47.397743,
        incident_lon_deg=8.545594,
    )
    async with Fleet(cfg) as fleet:
        got = await asyncio.to_thread(_listen, gcs_port, 1.5, {"VIDEO_STREAM_INFORMATION"})
        sv = fleet.vehicle(1)
        assert sv.sdp_path is not None
        assert await asyncio.to_thread(Path(sv.sdp_path).exists)
        async with capture(Path(sv.sdp_path)) as cap:
            frames = await read_frames(cap, 10)
    infos = got["VIDEO_STREAM_INFORMATION"]
    assert infos, "VIDEO_STREAM_INFORMATION was not announced"
    info = infos[0]
    assert info.uri == f"udp://127.0.0.1:{video_port}"
    assert (info.resolution_h, info.resolution_v) == (640, 360)
    assert (
        info.type == mavlink.VIDEO_STREAM_TYPE_RTPUDP
        and info.encoding == mavlink.VIDEO_STREAM_ENCODING_H264
    )
    stamps = [s for s in (decode_stamp(img) for img, _ in frames) if s is not None]
    assert len(stamps) >= 8
    # on the ground at the incident, gimbal 45° down: the marker is in view
    assert red_pixels(frames[-1][0]) > 200
    assert os.path.basename(sv.sdp_path) == "sys1.sdp"
