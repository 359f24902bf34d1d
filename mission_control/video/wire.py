"""The binary message of ``/ws/video/{drone_id}``: a 32-byte header, then one JPEG.

Header, big-endian ``struct ">4sHHIIQd"``:

======  =====  ===============================================================
offset  type   field
======  =====  ===============================================================
0       4s     magic ``b"MCV1"``
4       u16    header_len: 32 today; a client skips ``header_len`` bytes to the JPEG
6       u16    flags (:class:`Flags`)
8       u32    drone_id (MAVLink system id)
12      u32    width_px of the JPEG (the viewer's size tier, never upscaled)
16      u64    seq: the channel's frame sequence number (gaps: frames skipped)
24      f64    capture_unix_s (see :class:`~mission_control.video.frames.DecodedFrame`)
======  =====  ===============================================================

A later version may append fields: readers take the JPEG at ``header_len`` and ignore
what they do not know, so ``header_len`` only grows and the 32 bytes above never change.
Text messages on the same socket are JSON status objects (see
:mod:`mission_control.api.video_stream`). :class:`EncodedFrame` is one finished frame with
its message built once, shared by every viewer.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from enum import IntFlag

from mission_control.video.errors import VideoError

__all__ = [
    "HEADER",
    "HEADER_LEN",
    "MAGIC",
    "EncodedFrame",
    "Flags",
    "VideoHeader",
    "WireFormatError",
    "pack_header",
    "unpack",
]

MAGIC = b"MCV1"
HEADER = struct.Struct(">4sHHIIQd")
HEADER_LEN = HEADER.size  # 32

_JPEG_SOI = b"\xff\xd8"
_U16, _U32, _U64 = 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF


class Flags(IntFlag):
    """What was done to a frame before it was encoded (bits of the header's ``flags``)."""

    NONE = 0
    PRIVACY_ZONE = 1
    """A privacy zone blanked (part of) the frame."""
    FACES_BLURRED = 2
    """At least one face was blurred."""
    OVERLAY = 4
    """An overlay (telemetry, time, drone id) is burned in."""


class WireFormatError(VideoError, ValueError):
    """A video message cannot be built or read.

    Attributes:
        field: the part concerned (``"magic"``, ``"header_len"``, ``"seq"``, ``"jpeg"`` ...).
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class VideoHeader:
    """The decoded header of one video message.

    Attributes:
        flags: see :class:`Flags` (unknown bits are kept).
        drone_id: MAVLink system id.
        width_px: width of the JPEG that follows.
        seq: the channel's frame sequence number.
        capture_unix_s: capture time, Unix seconds.
        header_len: bytes before the JPEG (32, or more from a later version).
    """

    flags: Flags
    drone_id: int
    width_px: int
    seq: int
    capture_unix_s: float
    header_len: int = HEADER_LEN


def _unsigned(name: str, value: object, top: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireFormatError(name, f"{value!r} is not an integer")
    if not 0 <= value <= top:
        raise WireFormatError(name, f"{value!r} must be in [0, {top}]")
    return value


def pack_header(
    *,
    drone_id: int,
    width_px: int,
    seq: int,
    capture_unix_s: float,
    flags: int = Flags.NONE,
) -> bytes:
    """The 32-byte header of a video message (prepend it to the JPEG).

    Raises:
        WireFormatError: a field does not fit its type (``field`` names it).
    """
    if (
        isinstance(capture_unix_s, bool)
        or not isinstance(capture_unix_s, int | float)
        or not math.isfinite(capture_unix_s)
    ):
        raise WireFormatError("capture_unix_s", f"{capture_unix_s!r} is not a finite number")
    return HEADER.pack(
        MAGIC,
        HEADER_LEN,
        _unsigned("flags", flags, _U16),
        _unsigned("drone_id", drone_id, _U32),
        _unsigned("width_px", width_px, _U32),
        _unsigned("seq", seq, _U64),
        float(capture_unix_s),
    )


def unpack(message: bytes | bytearray | memoryview) -> tuple[VideoHeader, bytes]:
    """Split a video message into its header and JPEG bytes.

    Raises:
        WireFormatError: the message is shorter than its header, has another magic, a
            ``header_len`` below 32, or no JPEG after the header (``field`` says which).
    """
    data = bytes(message)
    if len(data) < HEADER_LEN:
        raise WireFormatError(
            "header", f"{len(data)} bytes is shorter than the {HEADER_LEN}-byte header"
        )
    magic, header_len, flags, drone_id, width_px, seq, capture_unix_s = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WireFormatError("magic", f"{magic!r} is not {MAGIC!r}")
    if header_len < HEADER_LEN:
        raise WireFormatError("header_len", f"{header_len} is below {HEADER_LEN}")
    if header_len > len(data):
        raise WireFormatError(
            "header_len", f"{header_len} is longer than the {len(data)}-byte message"
        )
    jpeg = data[header_len:]
    if not jpeg.startswith(_JPEG_SOI):
        raise WireFormatError("jpeg", "no JPEG (start-of-image marker) after the header")
    header = VideoHeader(Flags(flags), drone_id, width_px, seq, capture_unix_s, header_len)
    return header, jpeg


@dataclass(frozen=True, slots=True, eq=False)
class EncodedFrame:
    """One frame of one size, JPEG-encoded once and shared by every viewer of that size.

    Attributes:
        drone_id: MAVLink system id.
        seq: the frame's sequence number (from the source).
        capture_unix_s: capture time, Unix seconds (see
            :class:`~mission_control.video.frames.DecodedFrame`).
        width_px, height_px: size of the JPEG.
        flags: what was done to the frame (:class:`Flags`).
        jpeg: the JPEG bytes.
        message: the websocket message: the 32-byte header and the JPEG, built once.

    Raises:
        WireFormatError: a field does not fit the header, a size is < 1 or the JPEG is empty.
    """

    drone_id: int
    seq: int
    capture_unix_s: float
    width_px: int
    height_px: int
    flags: Flags
    jpeg: bytes = field(repr=False)
    message: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WireFormatError(name, f"{value!r} must be an integer >= 1")
        if not self.jpeg:
            raise WireFormatError("jpeg", "is empty")
        header = pack_header(
            drone_id=self.drone_id,
            width_px=self.width_px,
            seq=self.seq,
            capture_unix_s=self.capture_unix_s,
            flags=int(self.flags),
        )
        object.__setattr__(self, "message", header + self.jpeg)
