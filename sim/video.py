"""Video of the simulated cameras: an in-process async frame source and an RTP/UDP streamer.

:class:`FrameSource` renders frames of :func:`sim.camera.render` at the camera's frame
rate, paced by the event loop clock, latest-wins. :class:`RtpH264Streamer` sends a
source's frames as RTP/UDP H.264 the way PX4's Gazebo camera does (127.0.0.1:5600 by
default), with an SDP file for receivers (OpenCV/FFmpeg, GStreamer, QGroundControl).

Why PyAV rather than piping raw frames into Debian's ``ffmpeg``: PyAV is a pip
dependency whose wheel bundles FFmpeg with libx264 and the RTP muxer, so a fresh machine
needs no apt and no root; it encodes in-process, with no subprocess and no pipe per
vehicle to supervise; and underneath it is the same FFmpeg/x264 code, so the bytes on the
wire are those a real ``ffmpeg -f rtp`` sender would produce. Encoding releases the GIL
and runs on one dedicated worker thread per streamer, never on the event loop. The
blocking encoder and the SDP live in :mod:`sim.video_rtp`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
from numpy.typing import NDArray

from sim.camera import CameraPose, CameraSpec, Scene, render
from sim.video_rtp import (
    DEFAULT_PORT,
    H264RtpSender,
    VideoStreamError,
    check_stream_settings,
    sdp_text,
    udp_uri,
)

__all__ = [
    "DEFAULT_PORT",
    "Frame",
    "FrameSource",
    "H264RtpSender",
    "RtpH264Streamer",
    "VideoStreamError",
    "sdp_text",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One rendered frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR, read-only: every consumer shares it.
        frame_no: how many frames the source rendered before this one.
        wall_time_s: wall-clock capture time, Unix epoch seconds (burnt into the stamp).
        pose: the camera pose it was rendered from.
        mono_time_s: ``time.monotonic()`` at capture (the asyncio loop clock).
    """

    image: NDArray[np.uint8]
    frame_no: int
    wall_time_s: float
    pose: CameraPose
    mono_time_s: float


class FrameSource:
    """Frames of one simulated camera, rendered on demand at ``spec.fps``.

    Args:
        pose_fn: returns the camera pose now, or None while the camera is off or the
            vehicle is gone (no frame is produced then).
        scene: the ground to look at; replace it through :attr:`scene` (e.g. to move the
            incident marker).
        spec: image size, field of view and frame rate.
        label: caption burnt into the frames, e.g. ``"sys 3"``.
        wall_clock_s: the wall clock stamped into frames (Unix seconds).

    Frames are rendered only when a consumer asks for one, so an idle source costs
    nothing. Consumers of :meth:`frames` running at the same time share one render per
    tick of the frame clock.
    """

    def __init__(
        self,
        pose_fn: Callable[[], CameraPose | None],
        scene: Scene,
        spec: CameraSpec | None = None,
        *,
        label: str = "",
        wall_clock_s: Callable[[], float] = time.time,
    ) -> None:
        self._pose_fn = pose_fn
        self._scene = scene
        self._spec = spec if spec is not None else CameraSpec()
        self._label = label
        self._wall_clock_s = wall_clock_s
        self._next_no = 0
        self._latest: Frame | None = None
        self._latest_tick = -1
        self._t0: float | None = None
        self._consumers = 0

    @property
    def scene(self) -> Scene:
        """The scene rendered from the next frame on."""
        return self._scene

    @scene.setter
    def scene(self, scene: Scene) -> None:
        self._scene = scene

    @property
    def spec(self) -> CameraSpec:
        return self._spec

    @property
    def label(self) -> str:
        return self._label

    @property
    def consumers(self) -> int:
        """How many :meth:`frames` iterations are running."""
        return self._consumers

    def latest(self) -> Frame | None:
        """The newest rendered frame; None before the first one or while the camera is off."""
        return self._latest

    def capture(self) -> Frame | None:
        """Render a frame now, whatever the frame clock; None while the camera is off.

        Raises:
            SimConfigError: the pose function returned an invalid pose.
        """
        pose = self._pose_fn()
        if pose is None:
            self._latest = None
            return None
        wall_time_s = self._wall_clock_s()
        image = render(
            self._scene,
            pose,
            self._spec,
            frame_no=self._next_no,
            wall_time_s=wall_time_s,
            label=self._label,
        )
        image.flags.writeable = False  # shared by every consumer of this frame
        frame = Frame(image, self._next_no, wall_time_s, pose, time.monotonic())
        self._next_no += 1
        self._latest = frame
        return frame

    def _frame_for_tick(self, tick: int) -> Frame | None:
        if tick != self._latest_tick:
            self._latest_tick = tick
            self.capture()
        return self._latest

    async def frames(self) -> AsyncGenerator[Frame, None]:
        """Yield fresh frames at ``spec.fps``, latest-wins.

        A frame is rendered when it is due *and* the consumer asks for it, so nothing
        stale ever queues up: a slow consumer gets the frame of the current tick and the
        ticks it missed are never rendered. ``frame_no`` counts rendered frames, so gaps
        in it show frames that other consumers took. Ticks while the camera is off yield
        nothing.
        """
        loop = asyncio.get_running_loop()
        period_s = 1.0 / self._spec.fps
        if self._t0 is None:
            self._t0 = loop.time()
        t0 = self._t0
        last_tick = math.floor((loop.time() - t0) / period_s) - 1  # the first frame is due now
        self._consumers += 1
        try:
            while True:
                now = loop.time()
                tick = math.floor((now - t0) / period_s)
                if tick <= last_tick:  # this tick is served: wait for the next one
                    tick = last_tick + 1
                    await asyncio.sleep(t0 + tick * period_s - now)
                last_tick = tick
                frame = self._frame_for_tick(tick)
                if frame is not None:
                    yield frame
        finally:
            self._consumers -= 1


class RtpH264Streamer:
    """Stream a :class:`FrameSource` as RTP/UDP H.264 to ``host:port``; an async context manager.

    Frames go to one dedicated worker thread one at a time; while it encodes, the source
    renders nothing, and the next frame asked for is the current one (latest-wins, at
    most one frame in flight). On exit: cancel the pump, await it, then close the encoder
    on its thread and stop the thread.

    Args:
        source: the frames to send.
        host: destination IP address (a receiver binds it with the SDP file).
        port: destination UDP port; FFmpeg also uses ``port + 1`` for RTCP, so give
            several streamers even ports 2 apart (5600, 5602, ...).
        payload_type: dynamic RTP payload type, 96..127.
        crf: x264 constant rate factor (quality: 0 best, 51 worst).
        end_of_frame_aud: send an access unit delimiter right after each frame, which
            saves FFmpeg-based receivers one frame period of latency (see
            :class:`~sim.video_rtp.H264RtpSender`).

    Raises:
        SimConfigError: a setting is out of range (at construction).
        VideoStreamError: the stream could not be opened (on enter) or failed while
            running (on exit, when the body raised nothing itself).
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        payload_type: int = 96,
        crf: int = 23,
        end_of_frame_aud: bool = True,
    ) -> None:
        check_stream_settings(host, port, payload_type, crf)
        self._source = source
        self._host, self._port, self._payload_type, self._crf = host, port, payload_type, crf
        self._end_of_frame_aud = end_of_frame_aud
        self._sender: H264RtpSender | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def uri(self) -> str:
        """Where the video goes, e.g. ``"udp://127.0.0.1:5600"`` (for VIDEO_STREAM_INFORMATION)."""
        return udp_uri(self._host, self._port)

    @property
    def frames_sent(self) -> int:
        return 0 if self._sender is None else self._sender.frames_sent

    @property
    def bytes_sent(self) -> int:
        return 0 if self._sender is None else self._sender.bytes_sent

    def sdp_text(self) -> str:
        """The SDP that receivers open (see :func:`sdp_text`)."""
        title = f"Mission Control sim camera {self._source.label}".rstrip()
        return sdp_text(self._host, self._port, payload_type=self._payload_type, title=title)

    def write_sdp(self, path: str | Path) -> Path:
        """Write :meth:`sdp_text` to ``path`` and return it."""
        out = Path(path)
        out.write_text(self.sdp_text(), encoding="ascii", newline="")
        return out

    async def __aenter__(self) -> Self:
        if self._task is not None or self._sender is not None:
            raise RuntimeError("a streamer runs once")
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rtp-{self._port}")
        spec = self._source.spec
        try:
            self._sender = await loop.run_in_executor(
                executor,
                lambda: H264RtpSender(
                    self._host,
                    self._port,
                    spec,
                    payload_type=self._payload_type,
                    crf=self._crf,
                    end_of_frame_aud=self._end_of_frame_aud,
                ),
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor
        self._task = asyncio.create_task(self._pump(), name=f"rtp-h264 {self.uri}")
        self._task.add_done_callback(self._log_failure)
        return self

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        # said at once, not only on exit: a dead camera stream should show in the logs
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s stopped: %s", self.uri, error)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        error = await self._shutdown()
        if error is not None and exc is None:  # already logged when the pump died
            raise error

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        sender, executor = self._sender, self._executor
        assert sender is not None and executor is not None
        async with aclosing(self._source.frames()) as frames:
            async for frame in frames:
                await loop.run_in_executor(executor, sender.send, frame.image, frame.mono_time_s)

    async def _shutdown(self) -> BaseException | None:
        """Cancel and await the pump, close the sender on its thread; the pump's error."""
        task, self._task = self._task, None
        executor, self._executor = self._executor, None
        sender = self._sender  # kept: its counters stay readable after the stream ends
        if task is None or executor is None or sender is None:
            return None
        task.cancel()
        try:
            await asyncio.wait([task])
        finally:
            # queued behind a frame still encoding; shielded so that it runs even if we are
            # cancelled again, and the thread ends once it is done
            closing = asyncio.wrap_future(executor.submit(sender.close))
            executor.shutdown(wait=False)
            await asyncio.shield(closing)
        if task.cancelled():
            return None
        return task.exception()
