"""The video relay: each drone's frames, JPEG-encoded once per size, to any number of viewers.

:class:`VideoRelay` owns one :class:`~mission_control.video.channel.Channel` per drone that
someone needs: a viewer (:meth:`VideoRelay.watch`), a snapshot request
(:meth:`VideoRelay.snapshot`) or a tap such as the evidence recorder
(:meth:`VideoRelay.tap`). A channel opens the drone's source on first demand and closes it
``linger_s`` after the last demand went (a viewer switching screens does not restart the
stream). See :mod:`mission_control.video.channel` for the per-frame pipeline.

Latest-frame-wins (ARCHITECTURE invariant 5): a viewer is a cursor on its tier's newest
frame, never a queue, so a slow or stalled viewer costs one reference, skips what it
missed, and never delays another viewer or the source. How far behind a websocket viewer
may fall before it is dropped is the business of :mod:`mission_control.api.video_stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from mission_control.video.channel import (
    Annotate,
    Channel,
    ChannelStatus,
    OpenSource,
    Prepare,
    Redact,
    RelayClosed,
    Viewer,
)
from mission_control.video.errors import VideoError, VideoSettingsError
from mission_control.video.frames import FrameTap, SourceStatus
from mission_control.video.wire import EncodedFrame

__all__ = [
    "MAX_VIEWER_WIDTH_PX",
    "ChannelStatus",
    "EncodedFrame",
    "RelayClosed",
    "RelaySettings",
    "SnapshotTimeout",
    "VideoRelay",
    "Viewer",
]

MAX_VIEWER_WIDTH_PX = 16_384
"""The largest width a viewer may ask for (anything above a tier gets full size anyway)."""


def _number(name: str, value: object, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VideoSettingsError(name, f"{value!r} is not a finite number")
    if positive and value <= 0:
        raise VideoSettingsError(name, f"{value!r} must be > 0")
    if value < 0:
        raise VideoSettingsError(name, f"{value!r} must be >= 0")


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Knobs of the relay and of its websocket viewers.

    Attributes:
        tiers_px: the widths frames are offered at; 0 = full size; others 16..7680, distinct.
            A viewer gets the smallest tier at least as wide as it asks (else full size);
            frames are never upscaled.
        jpeg_quality: 1..100.
        linger_s: a source keeps running this long after its last viewer, snapshot or tap.
        lag_threshold_s: a websocket viewer is behind when a frame it was sent had been
            captured longer ago than this.
        disconnect_after_s: a viewer behind for longer than this in all, within twice this,
            is closed (1013).
        send_timeout_s: a viewer whose single send blocks longer than this is closed (1013).
        socket_send_buffer_bytes: each viewer connection's SO_SNDBUF (the kernel doubles
            it), so a slow reader's backlog is seen within a frame or two instead of
            hiding seconds of video in the kernel; 0 keeps the OS default. Too small
            limits throughput on long links (throughput <= buffer / round-trip time).
        blocked_send_s: a send taking longer than this was held up by a full buffer and
            counts as time behind.
        close_timeout_s: the longest closing a viewer's socket may take.

    Raises:
        VideoSettingsError: a value is out of range (``field`` names it).
    """

    tiers_px: tuple[int, ...] = (0, 640, 320)
    jpeg_quality: int = 70
    linger_s: float = 10.0
    lag_threshold_s: float = 0.5
    disconnect_after_s: float = 10.0
    send_timeout_s: float = 5.0
    socket_send_buffer_bytes: int = 65_536
    blocked_send_s: float = 0.1
    close_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        tiers = self.tiers_px
        if not isinstance(tiers, tuple) or not tiers:
            raise VideoSettingsError("tiers_px", f"{tiers!r} must be a non-empty tuple of widths")
        for tier in tiers:
            if isinstance(tier, bool) or not isinstance(tier, int):
                raise VideoSettingsError("tiers_px", f"{tier!r} is not an integer width")
            if tier != 0 and not 16 <= tier <= 7680:
                raise VideoSettingsError("tiers_px", f"{tier} must be 0 (full size) or 16..7680")
        if len(set(tiers)) != len(tiers):
            raise VideoSettingsError("tiers_px", f"{tiers!r} has a width twice")
        q = self.jpeg_quality
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100:
            raise VideoSettingsError("jpeg_quality", f"{q!r} must be an integer in 1..100")
        _number("linger_s", self.linger_s, positive=False)
        for name in (
            "lag_threshold_s",
            "disconnect_after_s",
            "send_timeout_s",
            "blocked_send_s",
            "close_timeout_s",
        ):
            _number(name, getattr(self, name), positive=True)
        b = self.socket_send_buffer_bytes
        if isinstance(b, bool) or not isinstance(b, int) or b < 0:
            raise VideoSettingsError("socket_send_buffer_bytes", f"{b!r} must be an integer >= 0")


class SnapshotTimeout(VideoError, TimeoutError):
    """No frame came for a snapshot in time.

    Attributes:
        drone_id: the drone.
        timeout_s: how long it waited.
        status: the source's status then (its ``reason`` says why, when it is down).
    """

    def __init__(self, drone_id: int, timeout_s: float, status: SourceStatus) -> None:
        self.drone_id = drone_id
        self.timeout_s = timeout_s
        self.status = status
        why = f": {status.reason}" if status.reason else ""
        super().__init__(
            f"drone {drone_id}: no video frame within {timeout_s:g} s"
            f" (source {status.state.value}{why})"
        )


class VideoRelay:
    """Relays every watched drone's video to its viewers (see the module docstring).

    An async context manager: inside, viewers, snapshots and taps may be opened; leaving
    ends every viewer (:class:`RelayClosed`), cancels every channel's task and waits for
    its source to close. A relay runs once.

    Args:
        settings: tiers, quality, linger and viewer lag knobs.
        open_source: ``open_source(drone_id, sink, on_status)`` returns an async context
            manager inside which the drone's source calls ``sink`` with every decoded frame
            on its own thread, and ``on_status`` with its status changes on the loop.
        resolve: ``resolve(drone_id)`` raises :class:`NoVideoSource` for a drone that has
            no source; checked before a viewer, snapshot or tap is admitted.
        prepare: privacy-zone blanking ``(drone_id, frame) -> (image, flags)``.
        redact: face blurring ``(drone_id, image) -> (image, flags)`` (not seen by taps).
        annotate: overlay ``(image, frame, drone_id) -> drew`` drawing in place on a
            private copy of each size.
        on_status: called on the loop with ``(drone_id, status)`` on every source change.
    """

    def __init__(
        self,
        settings: RelaySettings,
        open_source: OpenSource,
        *,
        resolve: Callable[[int], object] | None = None,
        prepare: Prepare | None = None,
        redact: Redact | None = None,
        annotate: Annotate | None = None,
        on_status: Callable[[int, SourceStatus], None] | None = None,
    ) -> None:
        self.settings = settings
        self._open_source = open_source
        self._resolve = resolve
        self._prepare = prepare
        self._redact = redact
        self._annotate = annotate
        self._on_status = on_status
        self._channels: dict[int, Channel] = {}
        self._state = "new"  # -> running -> stopped
        self._next_viewer_id = 1
        wide_first = sorted((t for t in settings.tiers_px if t), reverse=True)
        self._tiers_up = sorted(t for t in settings.tiers_px if t)
        self._full_tier = 0 if 0 in settings.tiers_px else wide_first[0]

    @property
    def running(self) -> bool:
        return self._state == "running"

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RelayClosed("a video relay runs once")
        self._state = "running"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = "stopped"
        channels = list(self._channels.values())
        for channel in channels:
            channel.end(RelayClosed("video relay stopping"))
        await asyncio.gather(*(c.stop() for c in channels))
        self._channels.clear()

    def tier_for(self, width_px: int | None) -> int:
        """The size tier a viewer asking for ``width_px`` gets: the smallest tier at least
        that wide, else full size (``None`` or 0: full size). Returns 0 for full size.

        Raises:
            VideoSettingsError: ``width_px`` is not an integer in 0..16384 (field ``width``).
        """
        if width_px is None:
            return self._full_tier
        if isinstance(width_px, bool) or not isinstance(width_px, int):
            raise VideoSettingsError("width", f"{width_px!r} is not an integer")
        if width_px == 0:
            return self._full_tier
        if not 0 < width_px <= MAX_VIEWER_WIDTH_PX:
            raise VideoSettingsError("width", f"{width_px} must be in 0..{MAX_VIEWER_WIDTH_PX}")
        for tier in self._tiers_up:
            if tier >= width_px:
                return tier
        return self._full_tier

    def admit(self, drone_id: int, width_px: int | None = None) -> int:
        """Check that a viewer of ``drone_id`` at ``width_px`` may be opened; its tier.

        A route calls this before it accepts a connection or starts a response, so the
        refusal can be an HTTP error.

        Raises:
            RelayClosed: the relay is not running.
            VideoSettingsError: ``drone_id`` or ``width_px`` is invalid.
            NoVideoSource: the drone has no source.
        """
        if isinstance(drone_id, bool) or not isinstance(drone_id, int) or drone_id < 0:
            raise VideoSettingsError("drone_id", f"{drone_id!r} is not a system id (int >= 0)")
        tier = self.tier_for(width_px)
        if not self.running:
            raise RelayClosed("the video relay is not running")
        if self._resolve is not None:
            self._resolve(drone_id)
        return tier

    def open_viewer(self, drone_id: int, width_px: int | None = None) -> Viewer:
        """Start watching; :meth:`Viewer.close` ends it (prefer :meth:`watch`).

        Raises:
            RelayClosed, VideoSettingsError, NoVideoSource: see :meth:`admit`.
        """
        tier = self.admit(drone_id, width_px)
        return self._viewer(drone_id, tier, snapshot=False)

    @contextlib.asynccontextmanager
    async def watch(self, drone_id: int, width_px: int | None = None) -> AsyncIterator[Viewer]:
        """Watch a drone at a size: ``async with relay.watch(7, 640) as viewer:`` then
        ``await viewer.next_frame()`` (or ``next_update()`` for status changes too).

        Raises:
            RelayClosed, VideoSettingsError, NoVideoSource: see :meth:`admit`.
        """
        viewer = self.open_viewer(drone_id, width_px)
        try:
            yield viewer
        finally:
            viewer.close()

    async def snapshot(
        self,
        drone_id: int,
        width_px: int | None = None,
        timeout_s: float = 5.0,
        *,
        max_age_s: float = 1.0,
    ) -> EncodedFrame:
        """The drone's newest frame at a size: the one viewers have if it was captured less
        than ``max_age_s`` ago, else the next one (starting the source if it is stopped).

        Raises:
            RelayClosed, VideoSettingsError, NoVideoSource: see :meth:`admit`.
            SnapshotTimeout: no frame within ``timeout_s`` (a :class:`TimeoutError`; its
                ``status`` says whether and why the source is down).
        """
        _number("timeout_s", timeout_s, positive=True)
        tier = self.admit(drone_id, width_px)
        channel = self._channels.get(drone_id)
        entry = channel.latest_entry(tier) if channel is not None else None
        if entry is not None and time.time() - entry[0].capture_unix_s <= max_age_s:
            return entry[0]
        viewer = self._viewer(drone_id, tier, snapshot=True)
        try:
            async with asyncio.timeout(timeout_s):
                return await viewer.next_frame()
        except TimeoutError:
            raise SnapshotTimeout(drone_id, timeout_s, viewer.status) from None
        finally:
            viewer.close()

    @contextlib.asynccontextmanager
    async def tap(self, drone_id: int, tap: FrameTap) -> AsyncIterator[None]:
        """While inside, keep the drone's source running and call ``tap(frame, image)`` on
        its thread for every frame, after privacy-zone blanking and before face blurring.
        Once the block is left, ``tap`` is not running and is not called again.

        Raises:
            RelayClosed: the relay is not running.
            NoVideoSource: the drone has no source.
        """
        self.admit(drone_id)
        channel = self._channel(drone_id)
        channel.add_tap(tap)
        try:
            yield
        finally:
            channel.remove_tap(tap)

    def status(self, drone_id: int) -> ChannelStatus | None:
        """What the drone's channel is doing; None when nobody needs its video (stopped)."""
        channel = self._channels.get(drone_id)
        return channel.snapshot_status() if channel is not None else None

    def channels(self) -> list[ChannelStatus]:
        """Every channel's status, by drone id."""
        return [self._channels[d].snapshot_status() for d in sorted(self._channels)]

    def _viewer(self, drone_id: int, tier: int, *, snapshot: bool) -> Viewer:
        viewer_id, self._next_viewer_id = self._next_viewer_id, self._next_viewer_id + 1
        return self._channel(drone_id).add_viewer(viewer_id, tier, snapshot=snapshot)

    def _channel(self, drone_id: int) -> Channel:
        channel = self._channels.get(drone_id)
        if channel is None:
            channel = Channel(
                drone_id,
                self.settings,
                self._open_source,
                prepare=self._prepare,
                redact=self._redact,
                annotate=self._annotate,
                on_status=self._status_changed,
                on_finished=self._forget,
            )
            self._channels[drone_id] = channel
        return channel

    def _forget(self, channel: Channel) -> None:
        if self._channels.get(channel.drone_id) is channel:
            del self._channels[channel.drone_id]

    def _status_changed(self, drone_id: int, status: SourceStatus) -> None:
        if self._on_status is not None:
            self._on_status(drone_id, status)
