"""The ``/ws/video`` binary message: header layout, round trip, forward-compatible header
length, and the errors for messages that cannot be built or read."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from mission_control.video.errors import VideoError
from mission_control.video.wire import (
    HEADER_LEN,
    MAGIC,
    EncodedFrame,
    Flags,
    VideoHeader,
    WireFormatError,
    pack_header,
    unpack,
)

JPEG = cv2.imencode(".jpg", np.full((8, 16, 3), 128, np.uint8))[1].tobytes()


def test_the_header_is_32_big_endian_bytes_with_magic_and_length_first() -> None:
    header = pack_header(
        drone_id=7,
        width_px=640,
        seq=0x0102030405060708,
        capture_unix_s=1_767_225_600.25,
        flags=Flags.PRIVACY_ZONE | Flags.OVERLAY,
    )
    assert HEADER_LEN == 32
    assert header == (
        b"MCV1"
        + b"\x00\x20"  # header_len 32
        + b"\x00\x05"  # flags 1 | 4
        + b"\x00\x00\x00\x07"
        + b"\x00\x00\x02\x80"
        + b"\x01\x02\x03\x04\x05\x06\x07\x08"
        + struct.pack(">d", 1_767_225_600.25)
    )


def test_unpack_returns_what_was_packed() -> None:
    flags = Flags.PRIVACY_ZONE | Flags.FACES_BLURRED | Flags.OVERLAY
    message = pack_header(
        drone_id=4_294_967_295, width_px=1280, seq=2**64 - 1, capture_unix_s=1.5, flags=flags
    )
    header, jpeg = unpack(message + JPEG)
    assert header == VideoHeader(flags, 4_294_967_295, 1280, 2**64 - 1, 1.5, 32)
    assert jpeg == JPEG
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (8, 16, 3)


def test_a_longer_header_from_a_later_version_is_skipped_and_unknown_flags_kept() -> None:
    extra = b"future-fields"
    header = struct.pack(">4sHHIIQd", MAGIC, 32 + len(extra), 0x8003, 2, 320, 9, 3.0)
    parsed, jpeg = unpack(header + extra + JPEG)
    assert parsed.header_len == 45
    assert int(parsed.flags) == 0x8003
    assert Flags.FACES_BLURRED in parsed.flags
    assert jpeg == JPEG


def test_an_encoded_frame_builds_its_message_once() -> None:
    frame = EncodedFrame(3, 42, 10.0, 16, 8, Flags.OVERLAY, JPEG)
    header, jpeg = unpack(frame.message)
    assert (header.drone_id, header.seq, header.width_px, header.flags) == (3, 42, 16, 4)
    assert jpeg == JPEG
    assert frame.message is frame.message


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (b"", "header"),
        (b"MCV1" + bytes(27), "header"),
        (struct.pack(">4sHHIIQd", b"MCV2", 32, 0, 1, 1, 1, 0.0) + JPEG, "magic"),
        (struct.pack(">4sHHIIQd", MAGIC, 31, 0, 1, 1, 1, 0.0) + JPEG, "header_len"),
        (struct.pack(">4sHHIIQd", MAGIC, 65535, 0, 1, 1, 1, 0.0) + JPEG, "header_len"),
        (struct.pack(">4sHHIIQd", MAGIC, 32, 0, 1, 1, 1, 0.0), "jpeg"),
        (struct.pack(">4sHHIIQd", MAGIC, 32, 0, 1, 1, 1, 0.0) + b"GIF89a", "jpeg"),
    ],
)
def test_unpack_refuses_short_or_malformed_messages(message: bytes, field: str) -> None:
    with pytest.raises(WireFormatError) as info:
        unpack(message)
    assert info.value.field == field
    assert isinstance(info.value, VideoError | ValueError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"drone_id": -1}, "drone_id"),
        ({"drone_id": 2**32}, "drone_id"),
        ({"drone_id": True}, "drone_id"),
        ({"width_px": 2**32}, "width_px"),
        ({"seq": 2**64}, "seq"),
        ({"seq": 1.0}, "seq"),
        ({"flags": 0x10000}, "flags"),
        ({"capture_unix_s": float("nan")}, "capture_unix_s"),
        ({"capture_unix_s": "now"}, "capture_unix_s"),
    ],
)
def test_pack_header_refuses_fields_that_do_not_fit(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"drone_id": 1, "width_px": 1, "seq": 1, "capture_unix_s": 0.0}
    values.update(kwargs)
    with pytest.raises(WireFormatError) as info:
        pack_header(**values)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("width_px", "height_px", "jpeg", "field"),
    [(0, 8, JPEG, "width_px"), (16, 0, JPEG, "height_px"), (16, 8, b"", "jpeg")],
)
def test_an_encoded_frame_refuses_empty_sizes_and_images(
    width_px: int, height_px: int, jpeg: bytes, field: str
) -> None:
    with pytest.raises(WireFormatError) as info:
        EncodedFrame(1, 1, 0.0, width_px, height_px, Flags.NONE, jpeg)
    assert info.value.field == field
