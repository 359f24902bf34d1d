"""Simulated camera figures: render, H.264 encode + RTP send, glass-to-decode latency.

Prints ``bench: NAME VALUE UNIT`` lines. Render and encode are p50/p90 of repeated calls
(ms); latency is the wall time from rendering a frame (its burnt-in stamp) to OpenCV
having decoded it from RTP/UDP on loopback, with and without the end-of-frame access
unit delimiter.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import cv2
import numpy as np
from _harness import measure, report
from numpy.typing import NDArray

from flight_plans.geodesy import GeoPoint, LocalFrame
from sim.camera import CameraPose, CameraSpec, Scene, decode_stamp, render
from sim.video import FrameSource, H264RtpSender, RtpH264Streamer

ORIGIN = GeoPoint(47.397743, 8.545594)
FRAME = LocalFrame(ORIGIN)
SCENE = Scene(ORIGIN, seed=1, incident=FRAME.to_geo(200.0, 300.0))
SPEED_M_S = 15.0  # flying, so the ground content changes as it would in a mission


def flying(pitch_deg: float, fps: float = 15.0) -> Iterator[CameraPose]:
    """Poses of a drone flying north-east at 15 m/s and 80 m, looking ahead and down."""
    step_m = SPEED_M_S / fps
    for k in count():
        p = FRAME.to_geo(0.7 * k * step_m, 0.7 * k * step_m)
        yield CameraPose(p.lat_deg, p.lon_deg, 80.0, 45.0, pitch_deg)


def render_next(spec: CameraSpec, poses: Iterator[CameraPose]) -> Callable[[], object]:
    frame_no = count()
    return lambda: render(
        SCENE, next(poses), spec, frame_no=next(frame_no), wall_time_s=time.time()
    )


def bench_render() -> None:
    for spec in (CameraSpec(640, 360), CameraSpec(1280, 720)):
        for name, pitch in (("nadir", -90.0), ("oblique45", -45.0), ("shallow10", -10.0)):
            one = render_next(spec, flying(pitch))
            measure(f"sim_camera.render_{spec.width_px}x{spec.height_px}_{name}", one, repeat=150)


def send_next(
    sender: H264RtpSender, images: list[NDArray[np.uint8]], fps: float
) -> Callable[[], object]:
    k = count()

    def one() -> object:
        n = next(k)
        return sender.send(images[n % len(images)], n / fps)

    return one


def bench_encode() -> None:
    for spec in (CameraSpec(640, 360), CameraSpec(1280, 720)):
        poses = flying(-45.0)
        images = [
            render(SCENE, next(poses), spec, frame_no=k, wall_time_s=time.time())
            for k in range(120)
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
            sink.bind(("127.0.0.1", 0))  # a port that exists; nobody reads it
            sender = H264RtpSender("127.0.0.1", sink.getsockname()[1], spec)
            try:
                name = f"sim_camera.encode_send_{spec.width_px}x{spec.height_px}"
                measure(name, send_next(sender, images, spec.fps), repeat=100, warmup=20)
                kbit_s = sender.bytes_sent * 8 / 1000 / (sender.frames_sent / spec.fps)
                report(f"{name}.bitrate", kbit_s, "kbit/s")
            finally:
                sender.close()


def _free_even_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1] & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
                a.bind(("127.0.0.1", port))
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                    b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free UDP port pair")


async def _latency_ms(spec: CameraSpec, *, end_of_frame_aud: bool, frames: int) -> list[float]:
    poses = flying(-45.0, spec.fps)
    pose_fn: Callable[[], CameraPose] = lambda: next(poses)  # noqa: E731
    source = FrameSource(pose_fn, SCENE, spec, label="bench")
    port = _free_even_port()
    params = [cv2.CAP_PROP_N_THREADS, 1, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 3000]
    out: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with RtpH264Streamer(source, port=port, end_of_frame_aud=end_of_frame_aud) as st:
            sdp = st.write_sdp(Path(tmp) / "bench.sdp")
            cap = await asyncio.to_thread(cv2.VideoCapture, str(sdp), cv2.CAP_FFMPEG, params)
            try:
                for _ in range(frames + 15):  # the first second: joining, waiting for a key frame
                    ok, image = await asyncio.to_thread(cap.read)
                    decoded_s = time.time()
                    stamp = decode_stamp(image) if ok else None
                    if stamp is not None:
                        out.append((decoded_s - stamp.wall_time_s) * 1000.0)
            finally:
                await asyncio.to_thread(cap.release)
    return out[15:]


def bench_latency() -> None:
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = (
        "protocol_whitelist;file,udp,rtp|analyzeduration;200000"
    )
    for spec in (CameraSpec(640, 360), CameraSpec(1280, 720, fps=30.0)):
        for aud in (True, False):
            samples = asyncio.run(_latency_ms(spec, end_of_frame_aud=aud, frames=90))
            name = (
                f"sim_camera.glass_to_decode_{spec.width_px}x{spec.height_px}_{spec.fps:.0f}fps"
                f"{'' if aud else '_no_aud'}"
            )
            samples.sort()
            report(f"{name}.p50", statistics.median(samples), "ms")
            report(f"{name}.p90", samples[int(0.9 * (len(samples) - 1))], "ms")


def main() -> None:
    bench_render()
    bench_encode()
    bench_latency()


if __name__ == "__main__":
    main()
