"""A running video source: one named thread that opens, decodes, reconnects and reports.

:class:`VideoSource` owns one thread (``video-source-{label}``). For network streams and
files it drives OpenCV's FFmpeg backend (blocking calls, bounded by FFmpeg's open and read
timeouts); for the built-in simulated camera a task on the event loop pumps the async
frames of :class:`sim.video.FrameSource` into a latest-wins slot that the thread drains.
Either way the thread numbers each frame and calls the sink with a :class:`DecodedFrame`,
and status changes reach the loop through ``call_soon_threadsafe``.

Failures never escape: a source that cannot be opened, ends, falls silent or fails to
decode is reported ``down`` with the reason and the delay before the next attempt
(exponential backoff with jitter), and retried until the context exits.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import aclosing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self, cast

import cv2

from mission_control.video.errors import SourceSpecError, VideoSettingsError
from mission_control.video.frames import (
    CameraView,
    DecodedFrame,
    FrameSink,
    Image,
    SourceState,
    SourceStatus,
    StatusSink,
)
from mission_control.video.source_url import SourceSpec, rtp_sdp_text
from sim.camera_model import MIN_HEIGHT_M, CameraPose, CameraSpec
from sim.video import Frame, FrameSource

__all__ = ["CAPTURE_OPTIONS_ENV", "SourceSettings", "VideoSource", "capture_options", "sim_view"]

log = logging.getLogger(__name__)

CAPTURE_OPTIONS_ENV: Final = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
PROTOCOL_WHITELIST: Final = "file,udp,rtp,rtsp,tcp,tls,crypto"
FALLBACK_FPS: Final = 25.0
FPS_WINDOW_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """Timing knobs of a source.

    Attributes:
        open_timeout_s: FFmpeg's bound on opening a stream (CAP_PROP_OPEN_TIMEOUT_MSEC).
        read_timeout_s: no frame for this long means the source is down
            (CAP_PROP_READ_TIMEOUT_MSEC; for sim cameras: the camera is off).
        backoff_initial_s, backoff_max_s: delay before the first retry after a failure,
            doubling per consecutive failure up to the maximum, each with ±20 % jitter.
        decode_threads: FFmpeg decoder threads; 1 decodes each frame as it arrives
            (multi-threaded H.264 decoding holds frames back: ~80 ms p50 latency vs ~48 ms).

    Raises:
        VideoSettingsError: a value is out of range (names the field).
    """

    open_timeout_s: float = 5.0
    read_timeout_s: float = 3.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    decode_threads: int = 1

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("open_timeout_s", 0.1, 120.0),
            ("read_timeout_s", 0.1, 120.0),
            ("backoff_initial_s", 0.01, 600.0),
            ("backoff_max_s", 0.01, 3600.0),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise VideoSettingsError(name, f"{v!r} must be a finite number")
            if not lo <= v <= hi:
                raise VideoSettingsError(name, f"{v!r} must be in [{lo:g}, {hi:g}]")
        if self.backoff_max_s < self.backoff_initial_s:
            raise VideoSettingsError("backoff_max_s", "must be at least backoff_initial_s")
        n = self.decode_threads
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 16:
            raise VideoSettingsError("decode_threads", f"{n!r} must be an integer in [1, 16]")

    def backoff_s(self, failures: int, rng: random.Random) -> float:
        """Delay before the next attempt after ``failures`` earlier consecutive failures."""
        base_s = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** min(failures, 30))
        return base_s * rng.uniform(0.8, 1.2)


def capture_options(spec: SourceSpec) -> str:
    """The ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` value for opening ``spec``.

    FFmpeg refuses RTP from an SDP file unless udp and rtp are whitelisted; live streams
    get a short analysis (0.2 s) and no input buffering, so the first frame comes quickly.
    """
    options = [f"protocol_whitelist;{PROTOCOL_WHITELIST}"]
    if spec.kind != "file":
        options += ["analyzeduration;200000", "fflags;nobuffer"]
    if spec.kind == "rtsp":
        options.append(f"rtsp_transport;{spec.transport}")
    return "|".join(options)


class _CaptureOptionsGate:
    """Serialises opens that need different ``OPENCV_FFMPEG_CAPTURE_OPTIONS``.

    OpenCV reads the variable, process-wide, at some point during an open; opens that need
    the same value may run together, one needing another value waits until they are done.
    The variable is restored when the last open finishes.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: str | None = None
        self._holders = 0
        self._saved: str | None = None

    @contextmanager
    def holding(self, options: str) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._holders == 0 or self._value == options)
            if self._holders == 0:
                self._saved = os.environ.get(CAPTURE_OPTIONS_ENV)
                os.environ[CAPTURE_OPTIONS_ENV] = options
                self._value = options
            self._holders += 1
        try:
            yield
        finally:
            with self._cond:
                self._holders -= 1
                if self._holders == 0:
                    if self._saved is None:
                        os.environ.pop(CAPTURE_OPTIONS_ENV, None)
                    else:
                        os.environ[CAPTURE_OPTIONS_ENV] = self._saved
                    self._value = None
                    self._cond.notify_all()


_GATE: Final = _CaptureOptionsGate()


def sim_view(pose: CameraPose, spec: CameraSpec) -> CameraView:
    """The :class:`CameraView` a simulated camera rendered a frame from.

    The height is above flat ground, held at the renderer's minimum lens height; the
    vertical field of view follows from the horizontal one and the aspect ratio (square
    pixels).
    """
    half_h = math.radians(spec.hfov_deg) / 2.0
    vfov_deg = math.degrees(2.0 * math.atan(math.tan(half_h) * spec.height_px / spec.width_px))
    return CameraView(
        lat_deg=pose.lat_deg,
        lon_deg=pose.lon_deg,
        alt_agl_m=min(max(pose.alt_rel_m, MIN_HEIGHT_M), 50_000.0),
        heading_deg=pose.view_azimuth_deg,
        pitch_deg=pose.gimbal_pitch_deg,
        hfov_deg=spec.hfov_deg,
        vfov_deg=vfov_deg,
    )


class _SourceDown(Exception):
    """A session ended: ``reason`` for the status; ``final``: do not retry (end of file)."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


class _LatestFrame:
    """A one-frame, latest-wins hand-over from the event loop to the source thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._error = ""
        self._closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            self._frame = frame
            self._cond.notify()

    def fail(self, reason: str) -> None:
        with self._cond:
            self._error = reason
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, timeout_s: float) -> Frame | None:
        """The newest frame, waiting up to ``timeout_s``; None if closed or none came.

        Raises:
            _SourceDown: the frame pump failed since the last take.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: self._frame is not None or self._error or self._closed, timeout_s
            )
            frame, self._frame = self._frame, None
            error, self._error = self._error, ""
        if error and frame is None:
            raise _SourceDown(error)
        return frame


Session = Generator[tuple[Image, float, CameraView | None], None, None]
"""Frames of one opened source: (image, capture_unix_s, view); raises _SourceDown."""


class VideoSource:
    """One drone's video source, running while inside ``async with``.

    Args:
        spec: what to open (see :func:`~mission_control.video.source_url.parse_source`).
        sink: called with each frame on the source's thread; an exception it raises is
            logged and counted, never fatal.
        on_status: called on the event loop with each status change (only changes).
        settings: timeouts and backoff.
        label: names the thread (``video-source-{label}``) and the logs, e.g. ``"drone-3"``.
        sim_frames: the drone's simulated camera; required for a ``sim`` spec only.
        clock_s: wall clock, Unix seconds (status times; capture time of decoded frames).

    Raises:
        SourceSpecError: a ``sim`` spec without ``sim_frames``, or ``sim_frames`` for
            another kind (at construction).
        VideoSettingsError: ``label`` is empty (at construction).
    """

    def __init__(
        self,
        spec: SourceSpec,
        sink: FrameSink,
        on_status: StatusSink,
        settings: SourceSettings | None = None,
        *,
        label: str,
        sim_frames: FrameSource | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        if (spec.kind == "sim") != (sim_frames is not None):
            reason = "needed by sim sources" if spec.kind == "sim" else "only for sim sources"
            raise SourceSpecError("sim_frames", spec.redacted(), reason)
        if not isinstance(label, str) or not label.strip():
            raise VideoSettingsError("label", f"{label!r} must be a non-empty string")
        self._spec = spec
        self._sink = sink
        self._on_status = on_status
        self._settings = settings if settings is not None else SourceSettings()
        self._label = label
        self._sim_frames = sim_frames
        self._clock_s = clock_s
        self._url = spec.redacted()
        self._lock = threading.Lock()
        self._status = SourceStatus(SourceState.STOPPED, self._url, since_unix_s=clock_s())
        self._stop = threading.Event()
        self._slot = _LatestFrame()
        self._rng = random.Random()
        self._times: deque[float] = deque(maxlen=1024)
        self._seq = 0
        self._reconnects = 0
        self._sink_errors = 0
        self._last_sink_log_s = -math.inf
        self._open_s = 0.0
        self._sdp_dir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._exited = False

    # -- what callers read -------------------------------------------------------------

    @property
    def spec(self) -> SourceSpec:
        return self._spec

    @property
    def status(self) -> SourceStatus:
        """The current status (updated on the source's thread)."""
        return self._status

    @property
    def frames_decoded(self) -> int:
        """Frames handed to the sink so far (the last ``seq``)."""
        return self._seq

    @property
    def reconnects(self) -> int:
        """How many times frames resumed after the source had been up and went down."""
        return self._reconnects

    @property
    def sink_errors(self) -> int:
        """How many times the sink raised."""
        return self._sink_errors

    @property
    def open_s(self) -> float:
        """How long the last successful open took (0 before one; sim: 0)."""
        return self._open_s

    @property
    def sdp_path(self) -> Path | None:
        """The SDP file written for an rtp source while it runs, else None."""
        return None if self._sdp_dir is None else self._sdp_dir / "stream.sdp"

    @property
    def fps(self) -> float:
        """Input frame rate over the last ~2 s (0 when fewer than two frames came)."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._times if t >= now - FPS_WINDOW_S]
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._loop is not None:
            raise RuntimeError("a VideoSource runs once")
        self._loop = asyncio.get_running_loop()
        if self._sim_frames is not None:
            self._pump_task = asyncio.create_task(
                self._pump(self._sim_frames), name=f"video-sim-pump-{self._label}"
            )
        self._thread = threading.Thread(
            target=self._run, name=f"video-source-{self._label}", daemon=True
        )
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._slot.close()
        task, self._pump_task = self._pump_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        thread = self._thread
        if thread is not None:
            # an open or a read in progress ends within its FFmpeg timeout
            timeout_s = max(self._settings.open_timeout_s, self._settings.read_timeout_s) + 2.0
            await asyncio.to_thread(thread.join, timeout_s)
            if thread.is_alive():
                log.error(
                    "%s: thread %s did not end within %.1f s", self._url, thread.name, timeout_s
                )
        self._exited = True  # status changes still queued from a stuck thread are dropped
        with self._lock:
            self._status = SourceStatus(SourceState.STOPPED, self._url, "", self._clock_s())
            status = self._status
        self._report(status)

    # -- event-loop side -----------------------------------------------------------------

    async def _pump(self, frames: FrameSource) -> None:
        """Hand each sim frame to the thread (latest-wins); a failing camera is retried."""
        while True:
            try:
                async with aclosing(frames.frames()) as stream:
                    async for frame in stream:
                        self._slot.put(frame)
            except Exception as error:
                log.warning("%s: simulated camera failed: %s", self._label, error)
                self._slot.fail(f"simulated camera failed: {error}")
            await asyncio.sleep(self._settings.backoff_initial_s)

    def _report(self, status: SourceStatus) -> None:
        if self._exited and status.state is not SourceState.STOPPED:
            return
        try:
            self._on_status(status)
        except Exception:
            log.exception("%s: status callback failed", self._url)

    # -- the source thread ---------------------------------------------------------------

    def _set_status(self, state: SourceState, reason: str = "", retry_in_s: float = 0.0) -> None:
        with self._lock:
            old = self._status
            if (old.state, old.reason, old.retry_in_s) == (state, reason, retry_in_s):
                return
            status = SourceStatus(state, self._url, reason, self._clock_s(), retry_in_s)
            self._status = status
        if state is SourceState.DOWN:
            log.info("%s down: %s (retry in %.1f s)", self._url, reason, retry_in_s)
        loop = self._loop
        if loop is not None:
            with suppress(RuntimeError):  # the loop is closed: nobody is listening any more
                loop.call_soon_threadsafe(self._report, status)

    def _run(self) -> None:
        failures = 0  # consecutive sessions without a frame
        been_up = False
        try:
            while not self._stop.is_set():
                self._set_status(SourceState.CONNECTING)
                delivered, final = False, False
                session = (
                    self._sim_session() if self._sim_frames is not None else self._capture_session()
                )
                try:
                    for image, capture_unix_s, view in session:
                        if not delivered:
                            delivered = True
                            if been_up:
                                self._reconnects += 1
                            been_up = True
                            self._set_status(SourceState.UP)
                        self._deliver(image, capture_unix_s, view)
                    reason = "stopped"
                except _SourceDown as down:
                    reason, final = down.reason, down.final
                except Exception as error:  # cv2.error and the like: report, retry
                    log.warning("%s: %s", self._url, error, exc_info=True)
                    reason = f"{type(error).__name__}: {error}"
                finally:
                    session.close()
                if self._stop.is_set():
                    break
                if final:
                    self._set_status(SourceState.DOWN, reason, 0.0)
                    self._stop.wait()
                    break
                failures = 0 if delivered else failures
                delay_s = round(self._settings.backoff_s(failures, self._rng), 3)
                failures += 1
                self._set_status(SourceState.DOWN, reason, delay_s)
                self._stop.wait(delay_s)
        finally:
            if self._sdp_dir is not None:
                shutil.rmtree(self._sdp_dir, ignore_errors=True)
                self._sdp_dir = None

    def _deliver(self, image: Image, capture_unix_s: float, view: CameraView | None) -> None:
        self._seq += 1
        mono_s = time.monotonic()
        with self._lock:
            self._times.append(mono_s)
        frame = DecodedFrame(image, self._seq, capture_unix_s, mono_s, view)
        try:
            self._sink(frame)
        except Exception:
            self._sink_errors += 1
            if mono_s - self._last_sink_log_s >= 10.0:  # at most one traceback per 10 s
                self._last_sink_log_s = mono_s
                log.exception("%s: frame sink failed (%d times)", self._url, self._sink_errors)

    def _sim_session(self) -> Session:
        spec = cast(FrameSource, self._sim_frames).spec
        timeout_s = self._settings.read_timeout_s
        while not self._stop.is_set():
            frame = self._slot.take(timeout_s)
            if frame is None:
                if self._stop.is_set():
                    return
                raise _SourceDown(f"no frames for {timeout_s:g} s (camera off?)")
            yield frame.image, frame.wall_time_s, sim_view(frame.pose, spec)

    def _target(self) -> str:
        spec = self._spec
        if spec.kind == "rtsp":
            return spec.url
        if spec.kind == "rtp":
            if self._sdp_dir is None:
                self._sdp_dir = Path(tempfile.mkdtemp(prefix=f"mc-video-{self._label}-"))
            path = self._sdp_dir / "stream.sdp"
            path.write_text(rtp_sdp_text(spec, title=self._label), encoding="ascii", newline="")
            return str(path)
        path = cast(Path, spec.path)
        if not path.is_file():
            raise _SourceDown(f"no such file: {path}")
        return str(path)

    def _open(self) -> cv2.VideoCapture:
        s = self._settings
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(s.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(s.read_timeout_s * 1000),
            cv2.CAP_PROP_N_THREADS, s.decode_threads,
        ]  # fmt: skip
        target = self._target()
        t0 = time.monotonic()
        with _GATE.holding(capture_options(self._spec)):
            cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            hint = {
                "rtsp": "server unreachable, refused, or no such stream",
                "file": "not a video file OpenCV can read",
            }.get(self._spec.kind, "bad SDP or unsupported codec")
            raise _SourceDown(f"could not open ({hint})")
        self._open_s = time.monotonic() - t0
        log.info("%s opened in %.2f s", self._url, self._open_s)
        return cap

    def _capture_session(self) -> Session:
        is_file = self._spec.kind == "file"
        read_timeout_s = self._settings.read_timeout_s
        cap = self._open()
        try:
            fps = cap.get(cv2.CAP_PROP_FPS)
            period_s = 1.0 / (fps if math.isfinite(fps) and 1.0 <= fps <= 240.0 else FALLBACK_FPS)
            start_s, n, this_pass = time.monotonic(), 0, 0
            while not self._stop.is_set():
                t0 = time.monotonic()
                ok, raw = cap.read()
                waited_s = time.monotonic() - t0
                if not is_file and waited_s >= read_timeout_s:
                    # FFmpeg's read timeout fired; a frame it still returns is one the decoder
                    # held back, flushed: the stream is silent all the same
                    raise _SourceDown(f"no frame for {waited_s:.1f} s")
                if not ok:
                    if not is_file:
                        raise _SourceDown("stream ended or could not be decoded")
                    if this_pass == 0:
                        raise _SourceDown("no decodable frame in the file")
                    if not self._spec.loop:
                        raise _SourceDown("end of file", final=True)
                    cap.release()  # reopening rewinds every container, seeking not all
                    cap = self._open()
                    this_pass = 0
                    continue
                this_pass += 1
                if is_file:  # replay at the file's frame rate, never in a burst
                    due_s = start_s + n * period_s
                    n += 1
                    now_s = time.monotonic()
                    if now_s < due_s:
                        self._stop.wait(due_s - now_s)
                    elif now_s - due_s > period_s:
                        start_s, n = now_s, 0
                image = cast(Image, raw)
                image.flags.writeable = False
                yield image, self._clock_s(), None
        finally:
            cap.release()
