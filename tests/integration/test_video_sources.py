"""Running video sources against real FFmpeg senders, files, an RTSP server and sim cameras."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rtsp_server import RtspRelay
from video_harness import free_even_port, need_ffmpeg, rtp_sender

from flight_plans.geodesy import GeoPoint
from mission_control.video.frames import CameraView, DecodedFrame, SourceState, SourceStatus
from mission_control.video.source_url import SourceSpec, parse_source, rtp_sdp_text
from mission_control.video.sources import (
    CAPTURE_OPTIONS_ENV,
    SourceSettings,
    VideoSource,
    sim_view,
)
from sim.camera import CameraPose, CameraSpec, Scene, decode_stamp
from sim.video import FrameSource, RtpH264Streamer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return need_ffmpeg()


ORIGIN = GeoPoint(47.397743, 8.545594)
FAST = SourceSettings(
    open_timeout_s=2.0, read_timeout_s=1.0, backoff_initial_s=0.2, backoff_max_s=1.0
)


@pytest.fixture(autouse=True)
def no_source_thread_left() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("video-source-")]
    assert left == [], f"source threads still running: {left}"


def closed_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it any more


@dataclass
class Seen:
    seq: int
    shape: tuple[int, ...]
    capture_unix_s: float
    decoded_mono_s: float
    view: CameraView | None
    writeable: bool


class Probe:
    """The sink and status callback of a source under test."""

    def __init__(self, on_frame: Callable[[DecodedFrame], None] | None = None) -> None:
        self.frames: list[Seen] = []
        self.last: DecodedFrame | None = None
        self.statuses: list[SourceStatus] = []
        self.sink_threads: set[str] = set()
        self._on_frame = on_frame

    def sink(self, frame: DecodedFrame) -> None:
        self.sink_threads.add(threading.current_thread().name)
        image = frame.image
        self.frames.append(
            Seen(
                frame.seq,
                image.shape,
                frame.capture_unix_s,
                frame.decoded_mono_s,
                frame.view,
                bool(image.flags.writeable),
            )
        )
        self.last = frame
        if self._on_frame is not None:
            self._on_frame(frame)

    def on_status(self, status: SourceStatus) -> None:
        assert threading.current_thread() is threading.main_thread()  # on the event loop
        self.statuses.append(status)

    @property
    def states(self) -> list[SourceState]:
        return [s.state for s in self.statuses]

    @property
    def seqs(self) -> list[int]:
        return [f.seq for f in self.frames]

    async def until(self, what: str, predicate: Callable[[], bool], timeout_s: float) -> float:
        """Wait for ``predicate``; how long it took."""
        t0 = time.monotonic()
        while not predicate():
            if time.monotonic() - t0 > timeout_s:
                raise AssertionError(f"{what}: not within {timeout_s} s; statuses {self.statuses}")
            await asyncio.sleep(0.02)
        return time.monotonic() - t0

    async def until_frames(self, count: int, timeout_s: float) -> float:
        return await self.until(f"{count} frames", lambda: len(self.frames) >= count, timeout_s)

    async def until_state(self, state: SourceState, timeout_s: float, *, after: int = 0) -> float:
        return await self.until(f"state {state}", lambda: state in self.states[after:], timeout_s)


def source(spec: SourceSpec, probe: Probe, **kwargs: object) -> VideoSource:
    kwargs.setdefault("settings", FAST)
    kwargs.setdefault("label", "test")
    return VideoSource(spec, probe.sink, probe.on_status, **kwargs)  # type: ignore[arg-type]


async def test_rtp_stream_delivers_numbered_frames_and_goes_up(ffmpeg: str) -> None:
    """rtp://: CONNECTING then UP; read-only 640x360 frames, seq 1, 2, 3 ... on the source thread."""
    port = free_even_port()
    probe = Probe()
    spec = parse_source(f"rtp://127.0.0.1:{port}")
    async with rtp_sender(ffmpeg, port), source(spec, probe, label="rtp-a") as src:
        await probe.until("30 frames", lambda: len(probe.frames) >= 30, 8.0)
        fps = src.fps
        sdp = src.sdp_path
        assert sdp is not None and sdp.is_file()
        assert src.status.state is SourceState.UP
        open_s = src.open_s
    assert probe.states[:2] == [SourceState.CONNECTING, SourceState.UP]
    assert probe.states[-1] is SourceState.STOPPED
    assert probe.seqs[:30] == list(range(1, 31))
    assert {f.shape for f in probe.frames} == {(360, 640, 3)}
    assert not any(f.writeable for f in probe.frames)
    assert all(f.view is None for f in probe.frames)
    assert abs(probe.frames[-1].capture_unix_s - time.time()) < 2.0  # decode time
    assert probe.sink_threads == {"video-source-rtp-a"}
    assert 20.0 <= fps <= 40.0, fps  # the sender's 30 fps
    assert 0.0 < open_s < 2.0
    assert not sdp.parent.exists()  # the source's temp SDP directory is gone
    print(f"rtp open {open_s:.2f} s, input {fps:.1f} fps")


async def test_rtp_sender_loss_goes_down_and_recovers_with_seq_continuing(ffmpeg: str) -> None:
    """A killed sender: DOWN within the read timeout; restarted: UP again, seq keeps rising."""
    port = free_even_port()
    probe = Probe()
    async with source(parse_source(f"rtp://0.0.0.0:{port}"), probe, label="rtp-b") as src:
        async with rtp_sender(ffmpeg, port):
            await probe.until("10 frames", lambda: len(probe.frames) >= 10, 8.0)
        killed = len(probe.statuses)
        down_s = await probe.until_state(SourceState.DOWN, FAST.read_timeout_s + 0.5, after=killed)
        down = next(s for s in probe.statuses[killed:] if s.state is SourceState.DOWN)
        assert "no frame" in down.reason
        assert 0.8 * FAST.backoff_initial_s <= down.retry_in_s <= 1.2 * FAST.backoff_initial_s
        before = probe.seqs[-1]
        restarted = len(probe.statuses)
        async with rtp_sender(ffmpeg, port):
            await probe.until_state(SourceState.UP, 8.0, after=restarted)
            await probe.until("more frames", lambda: probe.seqs[-1] >= before + 10, 5.0)
        assert src.reconnects >= 1
    assert probe.seqs == sorted(set(probe.seqs))  # increasing across the reconnect
    assert probe.seqs[0] == 1
    print(f"rtp down {down_s:.2f} s after the sender died")


async def test_sdp_file_given_by_path_is_received(ffmpeg: str, tmp_path: Path) -> None:
    """PATH.sdp: the user's SDP is opened as is; frames arrive."""
    port = free_even_port()
    sdp = tmp_path / "camera.sdp"
    sdp.write_text(rtp_sdp_text(parse_source(f"rtp://127.0.0.1:{port}")), encoding="ascii")
    probe = Probe()
    spec = parse_source(str(sdp))
    assert spec.kind == "sdp"
    async with rtp_sender(ffmpeg, port, size="320x240"), source(spec, probe) as src:
        await probe.until("5 frames", lambda: len(probe.frames) >= 5, 8.0)
        assert src.sdp_path is None  # the user's file, not a temp one
    assert probe.frames[-1].shape == (240, 320, 3)
    assert sdp.is_file()


def make_clip(ffmpeg: str, path: Path, *, seconds: float, fps: int) -> Path:
    cmd = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={fps}:duration={seconds}",
        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return path


async def test_file_replays_at_its_frame_rate_and_loops(ffmpeg: str, tmp_path: Path) -> None:
    """A 1 s clip at 20 fps is replayed paced at ~20 fps, looping, staying UP."""
    clip = await asyncio.to_thread(make_clip, ffmpeg, tmp_path / "clip.mp4", seconds=1.0, fps=20)
    probe = Probe()
    async with source(parse_source(str(clip)), probe) as src:
        await probe.until("first frame", lambda: len(probe.frames) >= 1, 5.0)
        t0, n0 = time.monotonic(), len(probe.frames)
        await asyncio.sleep(2.5)
        rate = (len(probe.frames) - n0) / (time.monotonic() - t0)
        fps = src.fps
    assert 16.0 <= rate <= 24.0, rate
    assert 16.0 <= fps <= 24.0, fps
    assert len(probe.frames) > 40  # more than two passes of a 20-frame clip
    assert SourceState.DOWN not in probe.states
    assert probe.seqs == list(range(1, len(probe.frames) + 1))
    gaps = [
        b.decoded_mono_s - a.decoded_mono_s
        for a, b in zip(probe.frames, probe.frames[1:], strict=False)
    ]
    assert max(gaps) < 0.2  # never a stall at the loop point
    print(f"file replay {rate:.1f} fps (file 20 fps)")


async def test_file_played_once_ends_down_end_of_file(ffmpeg: str, tmp_path: Path) -> None:
    """?loop=0: every frame once, then DOWN 'end of file' with no retry."""
    clip = await asyncio.to_thread(make_clip, ffmpeg, tmp_path / "once.mp4", seconds=0.5, fps=20)
    probe = Probe()
    async with source(parse_source(f"file:{clip}?loop=0"), probe):
        await probe.until_state(SourceState.DOWN, 5.0)
        await asyncio.sleep(0.3)  # no retry follows
    down = probe.statuses[-2]
    assert (down.state, down.reason, down.retry_in_s) == (SourceState.DOWN, "end of file", 0.0)
    assert probe.states == [
        SourceState.CONNECTING,
        SourceState.UP,
        SourceState.DOWN,
        SourceState.STOPPED,
    ]
    assert len(probe.frames) == 10


async def test_sim_frames_carry_the_camera_view_and_render_time() -> None:
    """sim: each frame's view is the rendered pose's; capture time is the render time."""
    pose = CameraPose(ORIGIN.lat_deg, ORIGIN.lon_deg, 80.0, 30.0, -60.0, gimbal_yaw_deg=10.0)
    spec = CameraSpec(320, 180, hfov_deg=70.0, fps=20.0)
    renders = iter(range(1_000_000))
    camera = FrameSource(
        lambda: pose, Scene(ORIGIN), spec, wall_clock_s=lambda: 1.8e9 + next(renders)
    )
    probe = Probe(on_frame=lambda f: (_ for _ in ()).throw(RuntimeError("sink bug")))
    async with source(SourceSpec("sim"), probe, sim_frames=camera, label="sim-1") as src:
        await probe.until("10 frames", lambda: len(probe.frames) >= 10, 5.0)
        sink_errors = src.sink_errors
    assert probe.states[:2] == [SourceState.CONNECTING, SourceState.UP]
    assert {f.view for f in probe.frames} == {sim_view(pose, spec)}
    view = probe.frames[0].view
    assert view is not None and view.heading_deg == 40.0 and view.alt_agl_m == 80.0
    stamps = [f.capture_unix_s for f in probe.frames]
    assert all(s >= 1.8e9 and s == int(s) for s in stamps)  # the render clock, not decode time
    assert stamps == sorted(stamps)
    assert probe.frames[0].shape == (180, 320, 3)
    assert sink_errors >= 10  # a raising sink is counted and the thread goes on
    assert camera.consumers == 0  # the pump ended with the source


async def test_sim_camera_off_goes_down_no_frames_and_back_up() -> None:
    """A silent sim camera is DOWN 'no frames' after read_timeout_s, UP when frames return."""
    pose: list[CameraPose | None] = [CameraPose(ORIGIN.lat_deg, ORIGIN.lon_deg, 50.0, 0.0, -90.0)]
    camera = FrameSource(lambda: pose[0], Scene(ORIGIN), CameraSpec(320, 180, fps=20.0))
    probe = Probe()
    async with source(SourceSpec("sim"), probe, sim_frames=camera) as src:
        await probe.until("frames", lambda: len(probe.frames) >= 3, 5.0)
        pose[0] = None
        off = len(probe.statuses)
        await probe.until_state(SourceState.DOWN, FAST.read_timeout_s + 1.0, after=off)
        assert "no frames" in probe.statuses[off].reason
        pose[0] = CameraPose(ORIGIN.lat_deg, ORIGIN.lon_deg, 50.0, 0.0, -90.0)
        await probe.until_state(SourceState.UP, 3.0, after=off)
        assert src.reconnects == 1


async def test_unreachable_rtsp_is_down_with_reason_and_retried_never_raised() -> None:
    """A refused RTSP server: DOWN with a reason and a growing retry delay; exit is clean."""
    probe = Probe()
    url = f"rtsp://admin:hunter2@127.0.0.1:{closed_tcp_port()}/live"
    async with source(parse_source(url), probe, label="rtsp-x") as src:
        await probe.until("three attempts", lambda: probe.states.count(SourceState.DOWN) >= 3, 6.0)
        assert src.frames_decoded == 0
    downs = [s for s in probe.statuses if s.state is SourceState.DOWN]
    assert all("could not open" in s.reason for s in downs)
    assert downs[0].retry_in_s <= 1.2 * FAST.backoff_initial_s < 0.8 * 2 * FAST.backoff_initial_s
    assert downs[1].retry_in_s >= 0.8 * 2 * FAST.backoff_initial_s  # backing off
    assert all("hunter2" not in s.url and "admin" not in s.url for s in probe.statuses)
    assert probe.states[-1] is SourceState.STOPPED


async def test_exit_while_opening_a_silent_stream_is_prompt(tmp_path: Path) -> None:
    """Exit during a blocking open returns within the open timeout; a vanished file is DOWN."""
    probe = Probe()
    async with source(parse_source(f"rtp://127.0.0.1:{free_even_port()}"), probe):
        await probe.until_state(SourceState.CONNECTING, 2.0)
        await asyncio.sleep(0.2)  # inside FFmpeg's open now
        t0 = time.monotonic()
    assert time.monotonic() - t0 < FAST.open_timeout_s + 0.5
    clip = tmp_path / "gone.mp4"
    clip.write_bytes(b"x")
    spec = parse_source(str(clip))
    clip.unlink()
    gone = Probe()
    async with source(spec, gone):
        await gone.until_state(SourceState.DOWN, 2.0)
    assert gone.statuses[1].reason == f"no such file: {clip}"


async def test_rtsp_pull_over_tcp_interleaved(ffmpeg: str) -> None:
    """rtsp:// (TCP interleaved) through a real RTSP server relaying an ffmpeg RTP sender."""
    rtp_port = free_even_port()
    async with RtspRelay(rtp_port=rtp_port) as relay, rtp_sender(ffmpeg, rtp_port):
        probe = Probe()
        url = relay.url.replace("rtsp://", "rtsp://user:pw@")
        async with source(parse_source(url), probe, label="rtsp-a") as src:
            await probe.until("15 frames", lambda: len(probe.frames) >= 15, 8.0)
            open_s = src.open_s
        # the capture was released cleanly: FFmpeg's TEARDOWN reaches the server's task soon
        for _ in range(150):  # up to 3 s
            if "TEARDOWN" in [m for m, _ in relay.requests]:
                break
            await asyncio.sleep(0.02)
        methods = [m for m, _ in relay.requests]
        setup = next(h for m, h in relay.requests if m == "SETUP")
    assert probe.states[:2] == [SourceState.CONNECTING, SourceState.UP]
    assert probe.frames[-1].shape == (360, 640, 3)
    assert methods[:4] == ["OPTIONS", "DESCRIBE", "SETUP", "PLAY"]
    assert "TEARDOWN" in methods  # the capture was released cleanly
    assert "RTP/AVP/TCP" in setup["transport"]
    assert all("pw" not in s.url for s in probe.statuses)
    print(f"rtsp open {open_s:.2f} s")


async def test_rtsp_transport_udp_is_what_ffmpeg_asks_for() -> None:
    """?transport=udp reaches FFmpeg: it asks for UDP, this server refuses, the source is DOWN."""
    async with RtspRelay(rtp_port=free_even_port()) as relay:
        probe = Probe()
        async with source(parse_source(relay.url + "?transport=udp"), probe):
            await probe.until_state(SourceState.DOWN, 4.0)
        setup = next(h for m, h in relay.requests if m == "SETUP")
    assert "client_port" in setup["transport"] and "TCP" not in setup["transport"]
    assert "could not open" in probe.statuses[1].reason


async def test_sim_camera_over_rtp_end_to_end_latency() -> None:
    """Sim camera → PyAV RTP sender → rtp:// source: frames decode with a small latency."""
    port = free_even_port()
    pose = CameraPose(ORIGIN.lat_deg, ORIGIN.lon_deg, 80.0, 0.0, -90.0)
    camera = FrameSource(lambda: pose, Scene(ORIGIN), CameraSpec(640, 360, fps=15.0))
    probe = Probe()
    latencies: list[float] = []

    def measure(frame: DecodedFrame) -> None:
        stamp = decode_stamp(frame.image)
        if stamp is not None:
            latencies.append(frame.capture_unix_s - stamp.wall_time_s)

    probe = Probe(on_frame=measure)
    async with (
        RtpH264Streamer(camera, port=port),
        source(parse_source(f"rtp://127.0.0.1:{port}"), probe),
    ):
        await probe.until("30 stamped frames", lambda: len(latencies) >= 30, 10.0)
    p50 = statistics.median(latencies[5:])
    assert 0.0 < p50 < 0.25, latencies
    print(f"sim→rtp→decoded latency p50 {p50 * 1000:.0f} ms")


async def test_sources_side_by_side_open_with_their_own_options(ffmpeg: str) -> None:
    """Two rtp streams (ports P, P + 2) and an RTSP pull run at once; the options env is restored."""
    env_before = os.environ.get(CAPTURE_OPTIONS_ENV)
    a_port, b_port = free_even_port(), free_even_port()
    probes = [Probe(), Probe(), Probe()]
    async with (
        rtp_sender(ffmpeg, a_port, size="320x240"),
        rtp_sender(ffmpeg, b_port, size="320x240"),
        RtspRelay(rtp_port=b_port + 2) as relay,
        rtp_sender(ffmpeg, b_port + 2, size="320x240"),
        source(parse_source(f"rtp://127.0.0.1:{a_port}"), probes[0], label="a"),
        source(parse_source(f"rtp://127.0.0.1:{b_port}"), probes[1], label="b"),
        source(parse_source(relay.url), probes[2], label="c"),
    ):
        for probe in probes:
            await probe.until_frames(5, 8.0)
    assert [p.sink_threads for p in probes] == [
        {"video-source-a"},
        {"video-source-b"},
        {"video-source-c"},
    ]
    assert os.environ.get(CAPTURE_OPTIONS_ENV) == env_before
