"""The values that flow through the video pipeline, and the interfaces between its parts.

A source decodes frames on its own thread and hands each :class:`DecodedFrame` to a
:class:`FrameSink` (still on that thread): the relay's sink masks, records, resizes and
encodes it there, so the event loop only ever sees finished JPEG bytes. Source status
changes reach the loop as :class:`SourceStatus` values.
"""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from mission_control.video.errors import VideoSettingsError

__all__ = [
    "CameraView",
    "DecodedFrame",
    "FrameSink",
    "FrameTap",
    "Image",
    "SourceState",
    "SourceStatus",
    "StatusSink",
    "TapHost",
]

Image = NDArray[np.uint8]
"""An ``(H, W, 3)`` uint8 BGR image (OpenCV's layout)."""


@dataclass(frozen=True, slots=True)
class CameraView:
    """Where a camera is and where it looks (what privacy masking needs).

    Attributes:
        lat_deg, lon_deg: WGS84 position of the camera.
        alt_agl_m: height above the ground below it (flat ground assumed).
        heading_deg: direction the camera looks, degrees clockwise from north.
        pitch_deg: -90 = straight down, 0 = horizon.
        hfov_deg, vfov_deg: horizontal and vertical field of view.

    Raises:
        VideoSettingsError: a value is not finite or out of range (names the field).
    """

    lat_deg: float
    lon_deg: float
    alt_agl_m: float
    heading_deg: float
    pitch_deg: float
    hfov_deg: float
    vfov_deg: float

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("lat_deg", -90.0, 90.0),
            ("lon_deg", -180.0, 180.0),
            ("alt_agl_m", -1_000.0, 50_000.0),
            ("heading_deg", -720.0, 720.0),
            ("pitch_deg", -90.0, 90.0),
            ("hfov_deg", 1.0, 179.0),
            ("vfov_deg", 1.0, 179.0),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise VideoSettingsError(name, f"{v!r} must be a finite number")
            if not lo <= v <= hi:
                raise VideoSettingsError(name, f"{v!r} must be in [{lo:g}, {hi:g}]")


@dataclass(frozen=True, slots=True, eq=False)
class DecodedFrame:
    """One decoded frame of a drone's camera.

    Attributes:
        image: BGR pixels; read-only, shared by every consumer.
        seq: frame sequence number of the drone's channel: 1, 2, 3 ... increasing across
            source reconnects (gaps: frames dropped before anyone took them).
        capture_unix_s: capture time, Unix seconds: the render time for simulated cameras,
            else the time the relay decoded the frame (network streams carry no wall clock
            OpenCV exposes), so latencies measured from it are relay-added latencies.
        decoded_mono_s: ``time.monotonic()`` when decoding finished.
        view: the camera's pose when known exactly (simulated cameras), else None.
    """

    image: Image
    seq: int
    capture_unix_s: float
    decoded_mono_s: float
    view: CameraView | None = None


class SourceState(StrEnum):
    """Where a source stands."""

    CONNECTING = "connecting"
    """Opening (first time or after a failure), no frame yet."""
    UP = "up"
    """Frames are arriving."""
    DOWN = "down"
    """Failed or silent; retrying with backoff."""
    STOPPED = "stopped"
    """Closed because nobody needs it."""


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A source's state, as the relay and screens see it.

    Attributes:
        state: see :class:`SourceState`.
        url: the source, credentials redacted.
        reason: why it is down ('' otherwise).
        since_unix_s: when it entered this state.
        retry_in_s: for ``down``: seconds until the next attempt (else 0).
    """

    state: SourceState
    url: str
    reason: str = ""
    since_unix_s: float = 0.0
    retry_in_s: float = 0.0


class FrameSink(Protocol):
    """Receives each decoded frame on the source's thread; must not block for long."""

    def __call__(self, frame: DecodedFrame, /) -> None: ...


class StatusSink(Protocol):
    """Receives status changes on the event loop's thread."""

    def __call__(self, status: SourceStatus, /) -> None: ...


class FrameTap(Protocol):
    """Receives every frame of a channel on the source's thread, after privacy-zone
    blanking and before face blurring (evidence keeps faces; live screens do not).
    ``image`` is read-only. Must not block: hand the work to your own thread."""

    def __call__(self, frame: DecodedFrame, image: Image, /) -> None: ...


class TapHost(Protocol):
    """What the relay offers a recorder."""

    def tap(self, drone_id: int, tap: FrameTap) -> AbstractAsyncContextManager[None]:
        """While inside, keep the drone's source running and call ``tap`` on every frame.

        Raises:
            NoVideoSource: the drone has no source.
        """
        ...
