"""The simulated camera's RTP/UDP H.264 stream, received and decoded by OpenCV (FFmpeg)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import cv2
import pytest
from numpy.typing import NDArray

from flight_plans.geodesy import GeoPoint
from sim.camera import CameraPose, CameraSpec, Scene, Stamp, decode_stamp
from sim.errors import SimConfigError
from sim.video import FrameSource, RtpH264Streamer, VideoStreamError

pytestmark = pytest.mark.integration

ORIGIN = GeoPoint(47.397743, 8.545594)
CAPTURE_OPTIONS = "protocol_whitelist;file,udp,rtp|analyzeduration;200000"
Image = NDArray[Any]  # what cv2 returns


def free_ports(span: int = 2) -> int:
    """An even UDP port P with P .. P + span - 1 free (FFmpeg receivers bind P + 1 for RTCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1] & ~1
        if port + span > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for p in range(port, port + span):
                held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                held[-1].bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return port
    raise RuntimeError(f"no {span} free consecutive UDP ports")


def above_incident() -> CameraPose:
    return CameraPose(ORIGIN.lat_deg, ORIGIN.lon_deg, 80.0, 0.0, -90.0)


def red_pixels(image: Image) -> int:
    b, g, r = (image[..., k].astype(int) for k in range(3))
    return int(((r > 150) & (g < 90) & (b < 90)).sum())


@asynccontextmanager
async def capture(sdp: Path) -> AsyncIterator[cv2.VideoCapture]:
    """OpenCV's FFmpeg capture of an SDP, opened and released off the event loop."""
    params = [
        cv2.CAP_PROP_N_THREADS, 1,
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, 3000,
    ]  # fmt: skip
    cap = await asyncio.to_thread(cv2.VideoCapture, str(sdp), cv2.CAP_FFMPEG, params)
    try:
        assert cap.isOpened(), f"OpenCV could not open {sdp}"
        yield cap
    finally:
        await asyncio.to_thread(cap.release)


async def read_frames(
    cap: cv2.VideoCapture, count: int, *, timeout_s: float = 10.0
) -> list[tuple[Image, float]]:
    """``count`` decoded frames with the wall time each was decoded; retries failed reads."""
    out: list[tuple[Image, float]] = []
    deadline = time.monotonic() + timeout_s

    def read() -> tuple[Image | None, float]:
        ok, image = cap.read()
        return (image if ok else None), time.time()

    while len(out) < count:
        left_s = deadline - time.monotonic()
        assert left_s > 0, f"only {len(out)} of {count} frames in {timeout_s} s"
        # the read itself times out in FFmpeg (READ_TIMEOUT_MSEC); wait_for bounds the rest
        image, wall_s = await asyncio.wait_for(asyncio.to_thread(read), timeout=left_s + 5.0)
        if image is not None:
            out.append((image, wall_s))
    return out


async def test_opencv_decodes_the_stream_with_fresh_increasing_stamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver joining a running stream decodes frames of the right size, stamped now, in order."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", CAPTURE_OPTIONS)
    port = free_ports()
    scene = Scene(ORIGIN, seed=5, incident=ORIGIN)
    source = FrameSource(above_incident, scene, CameraSpec(), label="sys 1")
    async with RtpH264Streamer(source, port=port) as streamer:
        assert streamer.uri == f"udp://127.0.0.1:{port}"
        sdp = streamer.write_sdp(tmp_path / "camera.sdp")
        await asyncio.sleep(0.5)  # join late: SPS/PPS come in-band with the next key frame
        async with capture(sdp) as cap:
            frames = await read_frames(cap, 20)
        sent = streamer.frames_sent
    assert sent >= 20
    stamps: list[Stamp] = []
    for image, decoded_wall_s in frames:
        assert image.shape == (360, 640, 3)
        stamp = decode_stamp(image)
        if stamp is not None:
            stamps.append(stamp)
            assert abs(decoded_wall_s - stamp.wall_time_s) < 2.0
    assert len(stamps) >= 18  # the stamp survives H.264
    numbers = [s.frame_no for s in stamps]
    assert numbers == sorted(set(numbers)), numbers
    assert red_pixels(frames[-1][0]) > 2000  # the incident marker, seen from 80 m above


async def test_two_streams_on_ports_two_apart_decode_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vehicles on ports P and P + 2 (RTCP on P + 1) are received at the same time."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", CAPTURE_OPTIONS)
    port = free_ports(4)
    scene = Scene(ORIGIN, seed=5)
    spec = CameraSpec(320, 180, fps=15.0)
    a = FrameSource(above_incident, scene.with_incident(ORIGIN), spec, label="sys 1")
    b = FrameSource(above_incident, scene, spec, label="sys 2")
    async with (
        RtpH264Streamer(a, port=port) as sa,
        RtpH264Streamer(b, port=port + 2) as sb,
        capture(sa.write_sdp(tmp_path / "a.sdp")) as cap_a,
        capture(sb.write_sdp(tmp_path / "b.sdp")) as cap_b,
    ):
        got_a, got_b = await asyncio.gather(read_frames(cap_a, 5), read_frames(cap_b, 5))
    assert red_pixels(got_a[-1][0]) > 0  # sys 1 sees the incident, sys 2 has none
    assert red_pixels(got_b[-1][0]) == 0


async def test_shutdown_is_ordered_and_leaves_no_thread() -> None:
    """Exit cancels the pump, closes the encoder and ends the worker thread, also with the camera off."""
    port = free_ports()
    pose: list[CameraPose | None] = [above_incident()]
    source = FrameSource(lambda: pose[0], Scene(ORIGIN), CameraSpec(320, 180))
    async with RtpH264Streamer(source, port=port) as streamer:
        await asyncio.sleep(0.3)
        pose[0] = None  # camera off: the pump waits for frames that never come
        await asyncio.sleep(0.2)
        sent = streamer.frames_sent
        await asyncio.sleep(0.3)
        assert streamer.frames_sent == sent
    assert sent > 0
    assert source.consumers == 0
    await _until(lambda: not any(t.name.startswith(f"rtp-{port}") for t in threading.enumerate()))


async def test_send_errors_surface_as_video_stream_error() -> None:
    """FFmpeg's failure to send (broadcast without SO_BROADCAST) comes out as VideoStreamError."""
    port = free_ports()
    source = FrameSource(above_incident, Scene(ORIGIN), CameraSpec(320, 180))
    with pytest.raises(VideoStreamError) as info:
        async with RtpH264Streamer(source, host="255.255.255.255", port=port):
            await asyncio.sleep(0.5)
    assert info.value.uri == f"udp://255.255.255.255:{port}"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"host": "localhost"}, "host"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"payload_type": 33}, "payload_type"),
        ({"crf": 60}, "crf"),
    ],
)
def test_bad_stream_settings_are_refused_up_front(kwargs: dict[str, object], field: str) -> None:
    source = FrameSource(above_incident, Scene(ORIGIN))
    with pytest.raises(SimConfigError) as info:
        RtpH264Streamer(source, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_sdp_describes_h264_payload_96_on_the_stream_port() -> None:
    source = FrameSource(above_incident, Scene(ORIGIN), label="sys 4")
    text = RtpH264Streamer(source, port=5606).sdp_text()
    lines = text.split("\r\n")
    assert lines[0] == "v=0"
    assert "c=IN IP4 127.0.0.1" in lines
    assert "m=video 5606 RTP/AVP 96" in lines
    assert "a=rtpmap:96 H264/90000" in lines
    assert "a=fmtp:96 packetization-mode=1" in lines
    assert "s=Mission Control sim camera sys 4" in lines
    assert text.endswith("\r\n")


async def _until(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)
