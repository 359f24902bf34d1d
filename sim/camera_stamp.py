"""A machine-readable time stamp burnt into each simulated camera frame.

The stamp is a 4 x 26 grid of black/white cells in the bottom-left corner, 104 bits:
a sync byte, the frame number (32 bits, modulo 2**32), the wall-clock capture time in
Unix milliseconds (48 bits) and a CRC-16/CCITT of those 11 bytes. Cells are at least
8 x 8 px and aligned to the 8-px grid of JPEG and H.264 transforms, and the decoder reads
only the middle of each cell, so the stamp survives lossy compression. Latency of a
decoded frame is then ``now - stamp.wall_time_s`` and freshness is the frame number.

The cell size is proportional to the image width (``width // 80``, at least 8 px), so a
frame scaled uniformly still decodes.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

STAMP_ROWS: Final = 4
STAMP_COLS: Final = 26
_SYNC: Final = 0xA7
_FRAME_BITS: Final = 32
_TIME_BITS: Final = 48


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a frame's stamp says.

    Attributes:
        frame_no: the source's frame counter, modulo 2**32.
        wall_time_ms: wall-clock capture time, Unix epoch milliseconds (UTC).
    """

    frame_no: int
    wall_time_ms: int

    @property
    def wall_time_s(self) -> float:
        """Capture time in Unix epoch seconds."""
        return self.wall_time_ms / 1000.0


def stamp_cell_px(width_px: int) -> int:
    """Side of one stamp cell in pixels for an image ``width_px`` wide."""
    return max(8, width_px // 80)


def stamp_box(width_px: int, height_px: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` pixel box of the stamp (bottom-left corner of the image)."""
    cell = stamp_cell_px(width_px)
    return 0, height_px - STAMP_ROWS * cell, STAMP_COLS * cell, height_px


def _payload(frame_no: int, wall_time_ms: int) -> bytes:
    body = (
        bytes([_SYNC])
        + (frame_no % (1 << _FRAME_BITS)).to_bytes(4, "big")
        + (wall_time_ms % (1 << _TIME_BITS)).to_bytes(6, "big")
    )
    return body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")


def draw_stamp(image: NDArray[np.uint8], frame_no: int, wall_time_ms: int) -> None:
    """Burn the stamp into ``image`` (BGR, modified in place).

    Raises:
        ValueError: the image is too small for the stamp or the values are negative.
    """
    if frame_no < 0 or wall_time_ms < 0:
        raise ValueError("frame_no and wall_time_ms must be >= 0")
    h, w = image.shape[:2]
    x0, y0, x1, y1 = stamp_box(w, h)
    if x1 > w or y0 < 0:
        raise ValueError(f"image {w}x{h} is too small for the stamp")
    bits = np.unpackbits(np.frombuffer(_payload(frame_no, wall_time_ms), np.uint8))
    cells = (bits.reshape(STAMP_ROWS, STAMP_COLS) * np.uint8(255)).astype(np.uint8)
    cell = stamp_cell_px(w)
    block = cells.repeat(cell, axis=0).repeat(cell, axis=1)
    image[y0:y1, x0:x1] = block[:, :, None]


def decode_stamp(image: NDArray[Any]) -> Stamp | None:
    """Read the stamp of a (possibly lossy-compressed) frame.

    Args:
        image: BGR ``(H, W, 3)`` or grey ``(H, W)`` uint8 image of the stamped size or a
            uniformly scaled copy of it (any other dtype or shape decodes to None).

    Returns:
        The stamp, or None when the image carries no valid stamp (bad sync or checksum).
    """
    if image.ndim not in (2, 3) or image.dtype != np.uint8:
        return None
    h, w = image.shape[:2]
    x0, y0, x1, y1 = stamp_box(w, h)
    if x1 > w or y0 < 0:
        return None
    region = image[y0:y1, x0:x1]
    grey = region.mean(axis=2) if region.ndim == 3 else region.astype(np.float64)
    cell = stamp_cell_px(w)
    q = cell // 4  # read the middle half of each cell, away from ringing at the edges
    cells = grey.reshape(STAMP_ROWS, cell, STAMP_COLS, cell)[:, q : cell - q, :, q : cell - q]
    bits = (cells.mean(axis=(1, 3)) > 127.5).astype(np.uint8).ravel()
    raw = np.packbits(bits).tobytes()
    if raw[0] != _SYNC or binascii.crc_hqx(raw[:11], 0xFFFF) != int.from_bytes(raw[11:13], "big"):
        return None
    return Stamp(
        frame_no=int.from_bytes(raw[1:5], "big"), wall_time_ms=int.from_bytes(raw[5:11], "big")
    )
