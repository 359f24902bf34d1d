"""``/ws/video`` and MJPEG over real sockets: uvicorn in-process on a free port, a relay fed
by a real source thread (1280x720 noisy frames at 30 fps, ~95 KiB JPEGs), ``websockets``
and ``httpx`` clients.

The app is a small FastAPI app built here with the serving functions of
:mod:`mission_control.api.video_stream` (the service's routes add authentication).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import StreamingResponse
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mission_control.api.video_stream import (
    BOUNDARY,
    MJPEG_MEDIA_TYPE,
    mjpeg_parts,
    serve_video,
    tune_send_buffer,
)
from mission_control.video.errors import NoVideoSource, VideoSettingsError
from mission_control.video.frames import (
    DecodedFrame,
    FrameSink,
    Image,
    SourceState,
    SourceStatus,
    StatusSink,
)
from mission_control.video.relay import RelaySettings, VideoRelay
from mission_control.video.wire import unpack

pytestmark = pytest.mark.integration

WAIT_S = 5.0  # generous bound on every wait: a hang fails the test instead of the run
FPS = 30.0
DRONE = 1
SETTINGS = RelaySettings(linger_s=1.0, disconnect_after_s=3.0, close_timeout_s=3.0)


@dataclass
class NoiseSource:
    """``open_source`` for drone 1: a thread rendering 1280x720 noisy frames (the frame
    number drawn in) at ``fps``; other drones have none."""

    fps: float = FPS
    textures: list[Image] = field(default_factory=list)
    last_seq: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(8)
        ramp = np.linspace(60, 160, 1280, dtype=np.int16)[None, :, None]
        for _ in range(4):  # noise JPEG-compresses to ~95 KiB at quality 70
            noise = rng.integers(-16, 17, (720, 1280, 3), dtype=np.int16)
            self.textures.append(np.clip(ramp + noise, 0, 255).astype(np.uint8))

    @staticmethod
    def resolve(drone_id: int) -> None:
        if drone_id != DRONE:
            raise NoVideoSource(drone_id)

    def __call__(
        self, drone_id: int, sink: FrameSink, on_status: StatusSink
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return self._open(drone_id, sink, on_status)

    @contextlib.asynccontextmanager
    async def _open(
        self, drone_id: int, sink: FrameSink, on_status: StatusSink
    ) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        up = SourceStatus(SourceState.UP, "test://noise")

        def produce() -> None:
            period_s, due_s = 1.0 / self.fps, time.monotonic()
            while not stop.is_set():
                self.last_seq += 1
                image = self.textures[self.last_seq % len(self.textures)].copy()
                cv2.putText(
                    image, str(self.last_seq), (40, 680), cv2.FONT_HERSHEY_SIMPLEX, 6, (0,) * 3, 12
                )
                if self.last_seq == 1:
                    loop.call_soon_threadsafe(on_status, up)
                sink(DecodedFrame(image, self.last_seq, time.time(), time.monotonic()))
                due_s += period_s
                stop.wait(max(0.0, due_s - time.monotonic()))

        thread = threading.Thread(target=produce, name=f"test-noise-{drone_id}")
        thread.start()
        try:
            yield
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, WAIT_S)


def make_app(relay: VideoRelay, tuned: list[bool]) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws/video/{drone_id}")
    async def video(websocket: WebSocket, drone_id: int) -> None:
        width = websocket.query_params.get("width")
        await serve_video(websocket, relay, drone_id, int(width) if width else None)

    @app.get("/video/{drone_id}.mjpeg")
    async def mjpeg(request: Request, drone_id: int, width: int | None = None) -> StreamingResponse:
        try:
            relay.admit(drone_id, width)
        except NoVideoSource as exc:
            raise HTTPException(404, str(exc)) from None
        except VideoSettingsError as exc:
            raise HTTPException(422, str(exc)) from None
        tuned.append(tune_send_buffer(request, relay.settings.socket_send_buffer_bytes))
        return StreamingResponse(mjpeg_parts(relay, drone_id, width), media_type=MJPEG_MEDIA_TYPE)

    return app


@dataclass
class Service:
    relay: VideoRelay
    source: NoiseSource
    port: int
    tuned: list[bool]  # what tune_send_buffer returned for each MJPEG request

    def ws_url(self, drone_id: int = DRONE, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/video/{drone_id}{query}"


@contextlib.asynccontextmanager
async def serving(settings: RelaySettings = SETTINGS) -> AsyncIterator[Service]:
    """The relay and uvicorn on a free port, stopped in reverse order."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    source = NoiseSource()
    tuned: list[bool] = []
    async with VideoRelay(settings, source, resolve=source.resolve) as relay:
        config = uvicorn.Config(
            make_app(relay, tuned),
            ws_per_message_deflate=False,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="test-uvicorn")
        try:
            await until(lambda: server.started)
            yield Service(relay, source, port, tuned)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, WAIT_S)
            sock.close()


def client(url: str, **kwargs: Any) -> connect:
    return connect(url, compression=None, proxy=None, max_size=None, **kwargs)


@dataclass
class Received:
    """What one websocket client got: per frame (seq, capture time, receipt time, width)."""

    frames: list[tuple[int, float, float, int]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    closed_at_s: float = 0.0

    def behind_s(self) -> list[float]:
        return [arrived - captured for _, captured, arrived, _ in self.frames]


async def read(ws: ClientConnection, got: Received, *, pause_s: float = 0.0) -> None:
    """Read messages (one per ``pause_s``) until the connection closes."""
    try:
        while True:
            async with asyncio.timeout(WAIT_S):
                message = await ws.recv()
            if isinstance(message, str):
                got.texts.append(json.loads(message))
            else:
                header, _ = unpack(message)
                got.frames.append((header.seq, header.capture_unix_s, time.time(), header.width_px))
            if pause_s:
                await asyncio.sleep(pause_s)
    except ConnectionClosed as exc:
        got.closed_at_s = time.monotonic()
        if exc.rcvd is not None:
            got.close_code, got.close_reason = exc.rcvd.code, exc.rcvd.reason


@pytest.mark.parametrize(
    ("slow_queue", "slow_rcvbuf", "slow_skips"),
    [
        # websockets' default queue (16 messages) and an autotuned receive buffer hold more
        # than the slow viewer reads before it is dropped: it only sees the first second
        (16, 0, False),
        (1, 32_768, True),  # a client that buffers little is sent newer frames
    ],
)
async def test_fast_viewers_keep_the_source_rate_while_a_slow_one_is_closed_with_1013(
    slow_queue: int, slow_rcvbuf: int, slow_skips: bool
) -> None:
    """Two viewers read as fast as frames come, one reads a frame per 0.5 s. The fast ones
    get every frame fresh; the slow one fills the buffers between it and the server, every
    send to it then blocks, and it is closed with 1013 (``disconnect_after_s`` 3 s of being
    behind, or one send blocked longer than ``send_timeout_s`` 5 s)."""
    fast = [Received(), Received()]
    slow = Received()
    slow_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if slow_rcvbuf:
            slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, slow_rcvbuf)
        async with serving() as svc:
            slow_sock.connect(("127.0.0.1", svc.port))
            async with (
                client(svc.ws_url()) as ws1,
                client(svc.ws_url()) as ws2,
                client(svc.ws_url(), max_queue=slow_queue, sock=slow_sock) as ws3,
            ):
                started_s = time.monotonic()
                readers = [
                    asyncio.create_task(read(ws1, fast[0]), name="test-fast-1"),
                    asyncio.create_task(read(ws2, fast[1]), name="test-fast-2"),
                ]
                slow_reader = asyncio.create_task(read(ws3, slow, pause_s=0.5), name="test-slow")
                await until(lambda: viewers(svc) == 2, timeout_s=15.0)  # the slow one dropped
                dropped_after_s = time.monotonic() - started_s
                dropped_at_unix_s = time.time()
                await asyncio.sleep(2.0)  # the fast ones keep going
                status = svc.relay.status(DRONE)
                slow_reader.cancel()
                await asyncio.gather(slow_reader, return_exceptions=True)
                await read(ws3, slow)  # its backlog, quickly, then the close frame
                await ws1.close()
                await ws2.close()
                await asyncio.gather(*readers)
    finally:
        slow_sock.close()

    slow_behind_s = [
        arrived - captured for _, captured, arrived, _ in slow.frames if arrived < dropped_at_unix_s
    ]
    print(
        "video fan-out:",
        {
            "fast_fps": [round(rate(g), 1) for g in fast],
            "fast_behind_p50_s": [round(statistics.median(g.behind_s()), 3) for g in fast],
            "fast_behind_max_s": [round(max(g.behind_s()[30:]), 3) for g in fast],
            "slow_frames": len(slow.frames),
            "slow_seqs": [seq for seq, *_ in slow.frames],
            "slow_behind_s": [round(b, 2) for b in slow_behind_s],
            "dropped_after_s": round(dropped_after_s, 2),
            "reason": slow.close_reason,
        },
    )
    assert status is not None
    source_fps = status.input_fps
    assert source_fps > 0.9 * FPS
    for got in fast:
        # the status on connect (connecting, unless the source was up already), then changes
        states = [t["state"] for t in got.texts if t["kind"] == "source"]
        assert states in (["connecting", "up"], ["up"])
        assert got.texts[0] == {
            "kind": "source",
            "state": states[0],
            "reason": "",
            "retry_in_s": 0.0,
        }
        seqs = [seq for seq, *_ in got.frames]
        assert seqs == sorted(set(seqs))  # increasing
        # after a 1 s warm-up, while the slow viewer was connected and after it
        assert rate(got, warm_up_s=1.0) >= 0.9 * source_fps
        behind = got.behind_s()[30:]
        assert statistics.median(behind) < 0.1 and max(behind) < 0.5
        assert all(width == 1280 for *_, width in got.frames)
        assert not [t for t in got.texts if t["kind"] == "lag"]
    slow_seqs = [seq for seq, *_ in slow.frames]
    assert slow_seqs == sorted(set(slow_seqs))
    if slow_skips:
        assert max(b - a for a, b in itertools.pairwise(slow_seqs)) > 10  # latest-frame-wins
    assert (slow.close_code, slow.close_reason[:7]) == (1013, "viewer ")
    # not before it was behind for disconnect_after_s; at most ~1 s to fill the buffers, then
    # send_timeout_s (one blocked send) or 2 x disconnect_after_s (blocked and late sends)
    assert 3.0 <= dropped_after_s < 8.0


async def read_acking(ws: ClientConnection, got: Received, *, show_s: float) -> None:
    """A flow-controlled client: shows each frame for ``show_s``, then acknowledges it."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            async with asyncio.timeout(WAIT_S):
                message = await ws.recv()
            if isinstance(message, str):
                got.texts.append(json.loads(message))
                continue
            header, _ = unpack(message)
            got.frames.append((header.seq, header.capture_unix_s, time.time(), header.width_px))
            await asyncio.sleep(show_s)
            await ws.send(json.dumps({"ack": header.seq}))


async def test_a_slow_viewer_that_acknowledges_frames_gets_fresh_ones_and_stays_connected() -> None:
    """A viewer showing 4 frames a second (``?ack=1``, then ``{"ack": seq}`` after each)
    is sent at most
    ACK_WINDOW frames ahead: every frame it gets is at most about two of its frame times old
    however long it watches, it skips what it could not show, it is not dropped, and the
    fast viewer beside it keeps the source rate."""
    fast, slow = Received(), Received()
    async with (
        serving() as svc,
        client(svc.ws_url()) as ws1,
        client(svc.ws_url(query="?ack=1")) as ws2,
    ):
        readers = [
            asyncio.create_task(read(ws1, fast), name="test-fast"),
            asyncio.create_task(read_acking(ws2, slow, show_s=0.25), name="test-acking"),
        ]
        await asyncio.sleep(8.0)  # longer than disconnect_after_s (3 s)
        assert viewers(svc) == 2  # neither was dropped
        status = svc.relay.status(DRONE)
        await ws2.close()
        await ws1.close()
        await asyncio.gather(*readers)
    assert status is not None
    behind = slow.behind_s()
    print("acking slow viewer: frames", len(slow.frames), "behind max", round(max(behind), 3))
    assert 20 <= len(slow.frames) <= 40  # ~4 per second, not the source's 30
    # the newest frame when the window opened, then one frame time on screen before acking
    assert max(behind) < 2 * 0.25 + 0.25
    seqs = [seq for seq, *_ in slow.frames]
    assert seqs == sorted(set(seqs)) and max(b - a for a, b in itertools.pairwise(seqs)) > 3
    assert slow.close_code is None or slow.close_code == 1000
    assert rate(fast, warm_up_s=1.0) >= 0.9 * status.input_fps


async def until(check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


def viewers(svc: Service) -> int:
    status = svc.relay.status(DRONE)
    return sum(status.viewers_per_tier.values()) if status is not None else 0


def rate(got: Received, warm_up_s: float = 0.0) -> float:
    """Frames per second received, after the first ``warm_up_s``."""
    times = [arrived for _, _, arrived, _ in got.frames]
    window = [t for t in times if t >= times[0] + warm_up_s]
    return (len(window) - 1) / (window[-1] - window[0])


async def test_mjpeg_streams_jpeg_parts_with_increasing_sequence_numbers() -> None:
    async with serving() as svc, httpx.AsyncClient(timeout=WAIT_S) as http:
        url = f"http://127.0.0.1:{svc.port}/video/{DRONE}.mjpeg?width=640"
        parts: list[tuple[dict[str, str], bytes]] = []
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == MJPEG_MEDIA_TYPE
            buffer = b""
            chunks = response.aiter_raw()
            while len(parts) < 20:
                part = parse_part(buffer)
                if part is None:
                    buffer += await anext(chunks)
                    continue
                headers, jpeg, buffer = part
                parts.append((headers, jpeg))
        await asyncio.sleep(0.2)
        status = svc.relay.status(DRONE)
        missing = await http.get(f"http://127.0.0.1:{svc.port}/video/9.mjpeg")
        bad = await http.get(f"http://127.0.0.1:{svc.port}/video/{DRONE}.mjpeg?width=-5")
    seqs = [int(h["x-frame-seq"]) for h, _ in parts]
    assert seqs == sorted(set(seqs))
    for headers, jpeg in parts:
        assert int(headers["content-length"]) == len(jpeg)
        assert headers["content-type"] == "image/jpeg"
        assert abs(float(headers["x-capture-time"]) - time.time()) < WAIT_S
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (360, 640, 3)
    assert status is not None and status.viewers_per_tier[640] == 0  # the viewer was closed
    assert svc.tuned == [True]  # uvicorn's transport was found and its buffers shrunk
    assert missing.status_code == 404 and "drone 9" in missing.json()["detail"]
    assert bad.status_code == 422 and "width" in bad.json()["detail"]


def parse_part(buffer: bytes) -> tuple[dict[str, str], bytes, bytes] | None:
    """One multipart part from the front of ``buffer``: (headers, body, the rest)."""
    start = f"--{BOUNDARY}\r\n".encode()
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    assert buffer.startswith(start), buffer[:40]
    lines = buffer[len(start) : head_end].decode("ascii").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    body_start = head_end + 4
    body_end = body_start + int(headers["content-length"])
    if len(buffer) < body_end + 2:
        return None
    assert buffer[body_end : body_end + 2] == b"\r\n"
    return headers, buffer[body_start:body_end], buffer[body_end + 2 :]


async def test_a_drone_without_video_or_a_bad_width_is_closed_with_1008_naming_it() -> None:
    async with serving() as svc:
        for url, expected in (
            (svc.ws_url(9), "drone 9 has no video source"),
            (svc.ws_url(query="?width=-3"), "width"),
        ):
            async with client(url) as ws:
                got = Received()
                await read(ws, got)
            assert got.close_code == 1008
            assert expected in got.close_reason
        assert svc.relay.channels() == []


async def test_a_small_tier_and_stopping_the_relay_closes_viewers_with_1001() -> None:
    async with serving() as svc, client(svc.ws_url(query="?width=320")) as ws:
        got = Received()
        reader = asyncio.create_task(read(ws, got), name="test-reader")
        await until(lambda: len(got.frames) >= 5)
        await svc.relay.__aexit__(None, None, None)
        await reader
    assert got.close_code == 1001
    assert {width for *_, width in got.frames} == {320}
