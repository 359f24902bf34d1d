"""One drone's video channel: its source's lifetime, the per-frame pipeline, and its viewers.

A :class:`Channel` is made and owned by :class:`~mission_control.video.relay.VideoRelay`.
It holds the *demand* for its drone's video (viewers and pending snapshots per size tier,
and taps) and one task, ``video-channel-{drone_id}``, that opens the source while there is
demand and closes it ``linger_s`` after the last demand went.

The source calls :meth:`Channel._sink` on its own thread for every decoded frame: privacy
blanking (``prepare``), taps, face blurring (``redact``), then per *distinct output width*
among the tiers with demand: resize, overlay (``annotate``) and one JPEG encode, however
many viewers there are. The finished frames reach the event loop through a one-slot inbox
(a newer batch replaces one the loop has not taken yet, so a busy loop never queues video),
and the loop keeps the newest frame per tier and wakes that tier's viewers. A
:class:`Viewer` is a cursor on its tier's newest frame: it never holds a queue of frames.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2

from mission_control.video.errors import VideoError
from mission_control.video.frames import (
    DecodedFrame,
    FrameSink,
    FrameTap,
    Image,
    SourceState,
    SourceStatus,
    StatusSink,
)
from mission_control.video.wire import EncodedFrame, Flags

if TYPE_CHECKING:
    from mission_control.video.relay import RelaySettings

__all__ = [
    "Annotate",
    "Channel",
    "ChannelStatus",
    "OpenSource",
    "Prepare",
    "Redact",
    "RelayClosed",
    "Viewer",
]

_log = logging.getLogger(__name__)

OpenSource = Callable[[int, FrameSink, StatusSink], AbstractAsyncContextManager[Any]]
"""Starts a drone's source: ``open_source(drone_id, sink, on_status)``; frames flow while
inside."""
Prepare = Callable[[int, DecodedFrame], tuple[Image, int]]
"""Privacy-zone blanking: ``(drone_id, frame) -> (image, Flags)``."""
Redact = Callable[[int, Image], tuple[Image, int]]
"""Face blurring: ``(drone_id, image) -> (image, Flags)``."""
Annotate = Callable[[Image, DecodedFrame, int], bool]
"""Overlay: draws on ``image`` in place (a private copy); True if it drew."""

_REOPEN_AFTER_S = (1.0, 2.0, 5.0, 10.0)  # when opening a source raised: retry backoff
_FPS_WINDOW = 30  # frames over which the input rate is measured
_LOG_EVERY_S = 10.0  # pipeline failures are logged at most this often per channel


class RelayClosed(VideoError):
    """The relay is not running (not started yet, or stopping), or the viewer was closed."""


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """What a channel is doing (``relay.status(drone_id)``).

    Attributes:
        drone_id: MAVLink system id.
        source: the source's status.
        running: the source is open (it may still be connecting or down).
        input_fps: frames per second the source delivered (last ~30 frames; 0 if none).
        frames_in: frames the source delivered.
        frames_dropped: frames dropped because a pipeline step (privacy, overlay, encoding)
            failed: never shown unmasked.
        viewers_per_tier: viewers per size tier (0 = full size).
        snapshots_waiting: snapshot requests waiting for a frame.
        taps: recorders and other taps attached.
        encodes_per_tier: frames encoded for each tier (tiers whose output width is the
            same share one encode).
        jpeg_encodes: JPEG encodes done (all tiers).
    """

    drone_id: int
    source: SourceStatus
    running: bool
    input_fps: float
    frames_in: int
    frames_dropped: int
    viewers_per_tier: dict[int, int]
    snapshots_waiting: int
    taps: int
    encodes_per_tier: dict[int, int]
    jpeg_encodes: int


class Viewer:
    """One consumer of a channel's frames of one size tier: a cursor on the newest frame.

    Made by :meth:`VideoRelay.watch <mission_control.video.relay.VideoRelay.watch>`; used
    from one task. Frames published while it was not waiting are skipped, not queued.

    Attributes:
        id: unique within the relay.
        drone_id: the drone watched.
        tier_px: the size tier (0 = full size).
        skipped: frames of its tier it never got because a newer one replaced them.
        delivered: frames returned.
        opened_mono_s: ``time.monotonic()`` when it was opened.
    """

    __slots__ = (
        "_channel",
        "_closed",
        "_last_n",
        "_status_dirty",
        "_wake",
        "delivered",
        "drone_id",
        "id",
        "opened_mono_s",
        "skipped",
        "snapshot",
        "tier_px",
    )

    def __init__(self, channel: Channel, viewer_id: int, tier_px: int, *, snapshot: bool) -> None:
        self._channel = channel
        self.id = viewer_id
        self.drone_id = channel.drone_id
        self.tier_px = tier_px
        self.snapshot = snapshot
        self._wake = asyncio.Event()
        self._closed: RelayClosed | None = None
        self._status_dirty = False
        published = channel.published(tier_px)
        # a watcher starts with the newest frame; a snapshot wants one newer than that
        self._last_n = published if snapshot or not channel.has_latest(tier_px) else published - 1
        self.skipped = 0
        self.delivered = 0
        self.opened_mono_s = time.monotonic()

    @property
    def status(self) -> SourceStatus:
        """The source's current status."""
        return self._channel.status

    def take_status(self) -> SourceStatus:
        """The source's current status, counted as returned: :meth:`next_update` returns
        the status again only when it changes."""
        self._status_dirty = False
        return self._channel.status

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def next_update(self) -> EncodedFrame | SourceStatus:
        """Wait for the source's status if it changed since last returned, else for a frame
        newer than the last one returned (the newest: older ones are skipped).

        Raises:
            RelayClosed: the viewer was closed or the relay is stopping.
        """
        while True:
            if self._closed is not None:
                raise self._closed
            if self._status_dirty:
                self._status_dirty = False
                return self._channel.status
            frame = self._take()
            if frame is not None:
                return frame
            self._wake.clear()
            await self._wake.wait()

    async def next_frame(self) -> EncodedFrame:
        """Wait for a frame newer than the last one returned; return the newest.

        Status changes are left for :meth:`next_update`.

        Raises:
            RelayClosed: the viewer was closed or the relay is stopping.
        """
        while True:
            if self._closed is not None:
                raise self._closed
            frame = self._take()
            if frame is not None:
                return frame
            self._wake.clear()
            await self._wake.wait()

    def close(self) -> None:
        """Stop watching (idempotent); waiting calls raise :class:`RelayClosed`."""
        if self._closed is None:
            self._closed = RelayClosed(f"viewer {self.id} of drone {self.drone_id} closed")
            self._wake.set()
            self._channel.remove_viewer(self)

    def _take(self) -> EncodedFrame | None:
        entry = self._channel.latest_entry(self.tier_px)
        if entry is None or entry[1] <= self._last_n:
            return None
        frame, n = entry
        self.skipped += n - self._last_n - 1
        self._last_n = n
        self.delivered += 1
        return frame

    def _notify(self, *, status: bool = False) -> None:
        if status:
            self._status_dirty = True
        self._wake.set()

    def _end(self, reason: RelayClosed) -> None:
        if self._closed is None:
            self._closed = reason
            self._wake.set()


class Channel:
    """One drone's source, pipeline and viewers (see the module docstring). Relay use."""

    def __init__(
        self,
        drone_id: int,
        settings: RelaySettings,
        open_source: OpenSource,
        *,
        prepare: Prepare | None,
        redact: Redact | None,
        annotate: Annotate | None,
        on_status: Callable[[int, SourceStatus], None],
        on_finished: Callable[[Channel], None],
    ) -> None:
        self.drone_id = drone_id
        self._settings = settings
        self._open_source = open_source
        self._prepare = prepare
        self._redact = redact
        self._annotate = annotate
        self._forward_status = on_status
        self._on_finished = on_finished
        self._loop = asyncio.get_running_loop()
        # event-loop side
        self._viewers: dict[int, set[Viewer]] = {t: set() for t in settings.tiers_px}
        self._snapshots: dict[int, int] = dict.fromkeys(settings.tiers_px, 0)
        self._latest: dict[int, tuple[EncodedFrame, int]] = {}
        self._published: dict[int, int] = dict.fromkeys(settings.tiers_px, 0)
        self._status = SourceStatus(SourceState.STOPPED, "", since_unix_s=time.time())
        self._demand_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ended = False  # the relay stopped: no source is opened again
        self.running = False
        # read on the source thread, replaced whole on the loop (never mutated in place)
        self._wanted: tuple[int, ...] = ()  # tiers with viewers
        self._taps: tuple[FrameTap, ...] = ()
        self._taps_lock = threading.Lock()  # held while taps run: removal waits for them
        # source-thread side
        self._inbox_lock = threading.Lock()
        self._inbox: list[tuple[tuple[int, ...], EncodedFrame]] | None = None
        self._frame_times: collections.deque[float] = collections.deque(maxlen=_FPS_WINDOW)
        self._input_fps = 0.0
        self._last_frame_mono_s = 0.0
        self._logged_mono_s = -_LOG_EVERY_S
        self.frames_in = 0
        self.frames_dropped = 0
        self.jpeg_encodes = 0
        self.encodes_per_tier: dict[int, int] = dict.fromkeys(settings.tiers_px, 0)

    # ----- demand (event loop) -------------------------------------------------------------

    @property
    def status(self) -> SourceStatus:
        return self._status

    @property
    def demand(self) -> int:
        return sum(map(len, self._viewers.values())) + len(self._taps)  # viewers: snapshots too

    def published(self, tier_px: int) -> int:
        return self._published[tier_px]

    def has_latest(self, tier_px: int) -> bool:
        return tier_px in self._latest

    def latest_entry(self, tier_px: int) -> tuple[EncodedFrame, int] | None:
        return self._latest.get(tier_px)

    def add_viewer(self, viewer_id: int, tier_px: int, *, snapshot: bool = False) -> Viewer:
        viewer = Viewer(self, viewer_id, tier_px, snapshot=snapshot)
        self._viewers[tier_px].add(viewer)
        if snapshot:
            self._snapshots[tier_px] += 1
        self._demand_moved()
        return viewer

    def remove_viewer(self, viewer: Viewer) -> None:
        viewers = self._viewers[viewer.tier_px]
        if viewer in viewers:
            viewers.remove(viewer)
            if viewer.snapshot:
                self._snapshots[viewer.tier_px] -= 1
            self._demand_moved()

    def add_tap(self, tap: FrameTap) -> None:
        with self._taps_lock:
            self._taps = (*self._taps, tap)
        self._demand_moved()

    def remove_tap(self, tap: FrameTap) -> None:
        """Detach ``tap``; once this returns it is not running and will not be called."""
        taps = list(self._taps)
        if tap in taps:
            taps.remove(tap)
            with self._taps_lock:  # taps are quick by contract: this waits microseconds
                self._taps = tuple(taps)
            self._demand_moved()

    def _demand_moved(self) -> None:
        tiers = [t for t, vs in self._viewers.items() if vs]
        for tier in self._settings.tiers_px:
            if tier not in tiers:
                self._latest.pop(tier, None)  # nobody wants it: a later viewer waits for news
        self._wanted = tuple(tiers)
        self._demand_changed.set()
        if self._task is None and self.demand > 0 and not self._ended:
            self._task = asyncio.create_task(self._run(), name=f"video-channel-{self.drone_id}")
            self._connecting()

    def end(self, reason: RelayClosed) -> None:
        """Close every viewer with ``reason`` and open no source again (relay stopping)."""
        self._ended = True
        for viewers in self._viewers.values():
            for viewer in viewers:
                viewer._end(reason)

    async def stop(self) -> None:
        """Cancel the channel's task and wait for the source to close."""
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def snapshot_status(self) -> ChannelStatus:
        fps = self._input_fps
        if time.monotonic() - self._last_frame_mono_s > 2.0:
            fps = 0.0  # nothing for a while: the rate is not the old one
        return ChannelStatus(
            drone_id=self.drone_id,
            source=self._status,
            running=self.running,
            input_fps=fps,
            frames_in=self.frames_in,
            frames_dropped=self.frames_dropped,
            viewers_per_tier={
                t: sum(1 for v in vs if not v.snapshot) for t, vs in self._viewers.items()
            },
            snapshots_waiting=sum(self._snapshots.values()),
            taps=len(self._taps),
            encodes_per_tier=dict(self.encodes_per_tier),
            jpeg_encodes=self.jpeg_encodes,
        )

    # ----- source lifetime (the channel's task) ----------------------------------------------

    async def _run(self) -> None:
        failures = 0
        try:
            while self.demand > 0:
                try:
                    await self._serve_source()
                    failures = 0
                except Exception as exc:  # opening or closing the source failed
                    delay_s = _REOPEN_AFTER_S[min(failures, len(_REOPEN_AFTER_S) - 1)]
                    failures += 1
                    _log.warning("video drone %d: source failed: %s", self.drone_id, exc)
                    self._set_status(
                        SourceStatus(
                            SourceState.DOWN,
                            self._status.url,
                            reason=str(exc) or type(exc).__name__,
                            since_unix_s=time.time(),
                            retry_in_s=delay_s,
                        )
                    )
                    await asyncio.sleep(delay_s)
        finally:
            self._task = None
            self._latest.clear()
            if self._status.state is not SourceState.STOPPED:
                self._set_status(
                    SourceStatus(SourceState.STOPPED, self._status.url, "", time.time())
                )
            self._on_finished(self)

    def _connecting(self) -> None:
        if self._status.state is SourceState.STOPPED:
            self._set_status(
                SourceStatus(SourceState.CONNECTING, self._status.url, "", time.time())
            )

    async def _serve_source(self) -> None:
        self._connecting()
        async with self._open_source(self.drone_id, self._sink, self._on_source_status):
            self.running = True
            try:
                while True:
                    while self.demand > 0:
                        self._demand_changed.clear()
                        await self._demand_changed.wait()
                    try:
                        async with asyncio.timeout(self._settings.linger_s):
                            while self.demand == 0:
                                self._demand_changed.clear()
                                await self._demand_changed.wait()
                    except TimeoutError:
                        return  # nobody came back within linger_s: close the source
            finally:
                self.running = False

    def _on_source_status(self, status: SourceStatus) -> None:
        self._set_status(status)

    def _set_status(self, status: SourceStatus) -> None:
        old = self._status
        news = (status.state, status.url, status.reason, status.retry_in_s)
        if news == (old.state, old.url, old.reason, old.retry_in_s):
            return  # nothing new for the screens
        self._status = status
        for viewers in self._viewers.values():
            for viewer in viewers:
                viewer._notify(status=True)
        try:
            self._forward_status(self.drone_id, status)
        except Exception:
            _log.exception("video drone %d: status callback failed", self.drone_id)

    # ----- the pipeline (source thread) -------------------------------------------------------

    def _sink(self, frame: DecodedFrame) -> None:
        self.frames_in += 1
        times = self._frame_times
        times.append(frame.decoded_mono_s)
        span_s = times[-1] - times[0]
        if span_s > 0:
            self._input_fps = (len(times) - 1) / span_s
        self._last_frame_mono_s = frame.decoded_mono_s
        try:
            batch = self._process(frame)
        except Exception as exc:  # never publish a frame a privacy step failed on
            self.frames_dropped += 1
            now_s = time.monotonic()
            if now_s - self._logged_mono_s >= _LOG_EVERY_S:
                self._logged_mono_s = now_s
                _log.warning(
                    "video drone %d: frame %d dropped (%d so far): %r",
                    self.drone_id,
                    frame.seq,
                    self.frames_dropped,
                    exc,
                )
            return
        if batch:
            self._hand_over(batch)

    def _process(self, frame: DecodedFrame) -> list[tuple[tuple[int, ...], EncodedFrame]]:
        drone_id = self.drone_id
        flags = Flags.NONE
        image = frame.image
        if self._prepare is not None:
            image, prepared = self._prepare(drone_id, frame)
            flags |= prepared
        if self._taps:
            self._run_taps(frame, image)
        wanted = self._wanted
        if not wanted:
            return []
        if self._redact is not None:
            image, redacted = self._redact(drone_id, image)
            flags |= redacted
        # tiers whose output width is the same (never upscaled) share one encode
        width_px = image.shape[1]
        by_width: dict[int, list[int]] = {}
        for tier in wanted:
            out_w = width_px if tier == 0 or tier >= width_px else tier
            by_width.setdefault(out_w, []).append(tier)
        batch = []
        for out_w, tiers in by_width.items():
            encoded = self._encode(frame, image, out_w, flags)
            self.jpeg_encodes += 1
            for tier in tiers:
                self.encodes_per_tier[tier] += 1
            batch.append((tuple(tiers), encoded))
        return batch

    def _run_taps(self, frame: DecodedFrame, image: Image) -> None:
        view = image.view()
        view.flags.writeable = False
        with self._taps_lock:
            for tap in self._taps:
                try:
                    tap(frame, view)
                except Exception:  # a broken recorder must not stop live video
                    _log.exception("video drone %d: tap %r failed", self.drone_id, tap)

    def _encode(self, frame: DecodedFrame, image: Image, out_w: int, flags: Flags) -> EncodedFrame:
        height_px, width_px = image.shape[:2]
        if out_w < width_px:
            out_h = max(1, round(height_px * out_w / width_px))
            out: Image = cv2.resize(  # type: ignore[assignment]  # uint8 in, uint8 out
                image, (out_w, out_h), interpolation=cv2.INTER_AREA
            )
        else:
            out = image
        if self._annotate is not None:
            if out is image:
                out = image.copy()  # the overlay draws on a private copy
            if self._annotate(out, frame, self.drone_id):
                flags |= Flags.OVERLAY
        ok, buffer = cv2.imencode(
            ".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, self._settings.jpeg_quality]
        )
        if not ok:
            raise VideoError(f"drone {self.drone_id}: JPEG encoding failed for frame {frame.seq}")
        return EncodedFrame(
            drone_id=self.drone_id,
            seq=frame.seq,
            capture_unix_s=frame.capture_unix_s,
            width_px=out.shape[1],
            height_px=out.shape[0],
            flags=flags,
            jpeg=buffer.tobytes(),
        )

    def _hand_over(self, batch: list[tuple[tuple[int, ...], EncodedFrame]]) -> None:
        with self._inbox_lock:
            scheduled = self._inbox is not None
            self._inbox = batch  # a batch the loop has not taken yet is replaced: latest wins
        if not scheduled:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody watches any more
                self._loop.call_soon_threadsafe(self._take_inbox)

    # ----- publication (event loop) -----------------------------------------------------------

    def _take_inbox(self) -> None:
        with self._inbox_lock:
            batch, self._inbox = self._inbox, None
        for tiers, frame in batch or ():
            for tier in tiers:
                viewers = self._viewers[tier]
                if not viewers:
                    continue  # its last viewer left while the frame was being encoded
                n = self._published[tier] + 1
                self._published[tier] = n
                self._latest[tier] = (frame, n)
                for viewer in viewers:
                    viewer._notify()
