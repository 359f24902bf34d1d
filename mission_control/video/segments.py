"""H.264 in MPEG-TS segment files: the blocking encoder behind evidence recording.

:class:`SegmentWriter` encodes BGR frames with libx264 (PyAV) into ``seg-00001.ts``,
``seg-00002.ts`` ... of about ``segment_s`` seconds each. MPEG-TS, unlike an unfinished
MP4, stays playable when the process dies mid-file. A segment is written as
``seg-NNNNN.ts.part`` and renamed when closed (after an fsync), so a ``.part`` file is one
a crash interrupted: :func:`salvage` recovers it.

Timing: presentation timestamps are milliseconds (time base 1/1000) since the first frame
the writer was given (``capture_unix_s``), strictly increasing (a frame that does not
advance the clock by a millisecond is placed 1 ms after the previous one); a keyframe is
forced every ``gop_s`` seconds of capture time, so seeking works whatever the frame rate.
Each segment starts with a keyframe and is decodable alone.

Odd sizes are cropped to even (yuv420p needs even sides); a change of size closes the
segment and starts a new one.

Blocking, not thread-safe: one writer belongs to one thread, a :class:`WriterThread` fed
by a :class:`FrameQueue`. :func:`write_export` packs a recording's segments into a zip,
checking each file's SHA-256 as it copies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import av
import cv2
import numpy as np
from av.video.frame import PictureType

from mission_control.video.errors import RecordingError, VideoSettingsError
from mission_control.video.frames import DecodedFrame, Image

__all__ = [
    "PART_SUFFIX",
    "EncoderSettings",
    "ExportedZip",
    "FrameQueue",
    "SegmentInfo",
    "SegmentWriter",
    "WriterThread",
    "file_sha256",
    "salvage",
    "segment_name",
    "unknown_segments",
    "write_export",
]

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
"""Suffix of a segment file being written."""

TIME_BASE = Fraction(1, 1000)
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
_NAME = re.compile(r"seg-(\d{5,9})\.ts")


def segment_name(n: int) -> str:
    """The file name of segment ``n`` (``seg-00001.ts``)."""
    return f"seg-{n:05d}.ts"


def file_sha256(path: Path) -> tuple[str, int]:
    """``(hex SHA-256, size in bytes)`` of a file, read in 1 MiB blocks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """How segments are encoded.

    Attributes:
        segment_s: start a new segment after this many seconds of capture time.
        crf: x264 constant rate factor (0..51; 23 is x264's default quality).
        preset: x264 speed preset (faster presets: less CPU, bigger files).
        gop_s: seconds of capture time between forced keyframes.

    Raises:
        VideoSettingsError: a value out of range (names the field).
    """

    segment_s: float = 60.0
    crf: int = 23
    preset: str = "veryfast"
    gop_s: float = 1.0

    def __post_init__(self) -> None:
        for name, lo, hi in (("segment_s", 0.1, 3600.0), ("gop_s", 0.1, 60.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
                raise VideoSettingsError(name, f"{v!r} must be a number in [{lo:g}, {hi:g}]")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise VideoSettingsError("crf", f"{self.crf!r} must be an integer 0..51")
        if self.preset not in PRESETS:
            raise VideoSettingsError("preset", f"{self.preset!r} must be one of {PRESETS}")


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A closed segment file.

    Attributes:
        n: its number (1, 2, 3 ...); ``file``: its name in the directory.
        started_unix_s, ended_unix_s: capture times of its first and last frame.
        frames: frames written; ``bytes``: the file's size; ``sha256``: its hex SHA-256.
        width_px, height_px: the encoded size (even).
    """

    n: int
    file: str
    started_unix_s: float
    ended_unix_s: float
    frames: int
    bytes: int
    sha256: str
    width_px: int
    height_px: int


class _Segment:
    """One open ``.part`` file: container, stream and counters."""

    __slots__ = (
        "container",
        "first_s",
        "frames",
        "height",
        "last_s",
        "n",
        "path",
        "stream",
        "width",
    )

    def __init__(
        self, path: Path, n: int, width: int, height: int, enc: EncoderSettings, title: str
    ) -> None:
        self.path = path
        self.n = n
        self.width = width
        self.height = height
        self.frames = 0
        self.first_s = 0.0
        self.last_s = 0.0
        self.container = av.open(str(path), mode="w", format="mpegts")
        try:
            if title:  # the file itself says what it is evidence of (ffprobe shows it)
                self.container.metadata["title"] = title
                self.container.metadata["service_name"] = title[:250]
                self.container.metadata["service_provider"] = "Mission Control"
            options = {"crf": str(enc.crf), "preset": enc.preset, "forced-idr": "1"}
            stream = self.container.add_stream("libx264", options=options)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.time_base = TIME_BASE
            stream.codec_context.time_base = TIME_BASE
            self.stream = stream
        except BaseException:
            self.container.close()
            raise


class SegmentWriter:
    """Encode frames into numbered MPEG-TS segment files in ``directory``.

    ``with SegmentWriter(dir, EncoderSettings(segment_s=60)) as w:`` then
    :meth:`write` each frame; a write that starts a new segment returns the closed one;
    :meth:`close` (or leaving the block) closes the last one and returns it.

    Args:
        directory: where the files go (created if missing).
        settings: see :class:`EncoderSettings`.
        first_n: the number of the first segment (after a restart: one past the last).
        title: written into each file's metadata (``title``, MPEG-TS ``service_name``),
            e.g. the mission and drone it records.
    """

    def __init__(
        self, directory: Path, settings: EncoderSettings, *, first_n: int = 1, title: str = ""
    ) -> None:
        if isinstance(first_n, bool) or not isinstance(first_n, int) or first_n < 1:
            raise VideoSettingsError("first_n", f"{first_n!r} must be an integer >= 1")
        self._dir = directory
        self._enc = settings
        self._next_n = first_n
        self._title = title
        self._seg: _Segment | None = None
        self._origin_s: float | None = None
        self._last_pts = -1
        self._next_key_s = 0.0
        self._closed = False
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def next_n(self) -> int:
        """The number the next new segment will get."""
        return self._next_n

    def write(self, image: Image, capture_unix_s: float) -> SegmentInfo | None:
        """Encode one BGR frame captured at ``capture_unix_s`` (Unix seconds).

        Returns:
            the segment this frame closed (its time was up, or the size changed), else None.

        Raises:
            RecordingError: the writer is closed, the image is not ``(H, W, 3)`` uint8 of at
                least 2×2 pixels, or encoding / writing failed (disk full ...).
        """
        if self._closed:
            raise RecordingError("", "the segment writer is closed")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype.name != "uint8":
            raise RecordingError("", f"expected an (H, W, 3) uint8 BGR image, got {image.shape}")
        height, width = image.shape[0] & ~1, image.shape[1] & ~1
        if width < 2 or height < 2:
            raise RecordingError("", f"image {image.shape[1]}x{image.shape[0]} is too small")
        closed: SegmentInfo | None = None
        seg = self._seg
        if seg is not None and (
            (seg.width, seg.height) != (width, height)
            or capture_unix_s - seg.first_s >= self._enc.segment_s
        ):
            closed = self._close_segment()
            seg = None
        if seg is None:
            seg = self._open_segment(width, height, capture_unix_s)
        if self._origin_s is None:
            self._origin_s = capture_unix_s
        pts = max(round((capture_unix_s - self._origin_s) * 1000.0), self._last_pts + 1)
        self._last_pts = pts
        yuv = np.asarray(cv2.cvtColor(image[:height, :width], cv2.COLOR_BGR2YUV_I420), np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = pts
        frame.time_base = TIME_BASE
        if seg.frames == 0 or capture_unix_s >= self._next_key_s:
            frame.pict_type = PictureType.I
            self._next_key_s = capture_unix_s + self._enc.gop_s
        try:
            for packet in seg.stream.encode(frame):
                seg.container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise RecordingError("", f"encoding {seg.path.name} failed: {exc}") from exc
        seg.frames += 1
        seg.last_s = capture_unix_s
        return closed

    def close(self) -> SegmentInfo | None:
        """Close the open segment (if any) and the writer; returns that segment.
        Idempotent.

        Raises:
            RecordingError: flushing, writing or renaming the file failed.
        """
        if self._closed:
            return None
        self._closed = True
        return self._close_segment() if self._seg is not None else None

    def abort(self) -> None:
        """Close without raising (after an error): the open file stays as ``.part``."""
        self._closed = True
        seg, self._seg = self._seg, None
        if seg is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                seg.container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open_segment(self, width: int, height: int, first_s: float) -> _Segment:
        n = self._next_n
        path = self._dir / (segment_name(n) + PART_SUFFIX)
        try:
            seg = _Segment(path, n, width, height, self._enc, self._title)
        except (av.FFmpegError, OSError) as exc:
            raise RecordingError("", f"cannot open {path.name}: {exc}") from exc
        seg.first_s = first_s
        self._next_n = n + 1
        self._seg = seg
        return seg

    def _close_segment(self) -> SegmentInfo:
        seg, self._seg = self._seg, None
        assert seg is not None
        try:
            try:
                for packet in seg.stream.encode(None):
                    seg.container.mux(packet)
            finally:
                seg.container.close()
            final = seg.path.with_name(segment_name(seg.n))
            with seg.path.open("rb") as f:
                os.fsync(f.fileno())
            sha256, size = file_sha256(seg.path)
            os.replace(seg.path, final)
        except (av.FFmpegError, OSError) as exc:
            raise RecordingError("", f"closing {seg.path.name} failed: {exc}") from exc
        return SegmentInfo(
            n=seg.n,
            file=final.name,
            started_unix_s=seg.first_s,
            ended_unix_s=seg.last_s,
            frames=seg.frames,
            bytes=size,
            sha256=sha256,
            width_px=seg.width,
            height_px=seg.height,
        )


def salvage(path: Path) -> SegmentInfo | None:
    """Describe a segment file the store does not know: a ``seg-NNNNN.ts.part`` a crash
    interrupted (renamed to ``seg-NNNNN.ts``), or a closed ``seg-NNNNN.ts`` whose row was
    never written. Decodes it to count its frames; its capture times are estimated from
    the file's modification time (its last write) minus the decoded duration.

    Returns:
        None (and the file is deleted) when it holds no decodable frame.

    Raises:
        RecordingError: the name is not a segment's, or the file cannot be read/renamed.
    """
    match = _NAME.fullmatch(path.name.removesuffix(PART_SUFFIX))
    if match is None:
        raise RecordingError("", f"{path.name} is not a segment file")
    frames, width, height, first_s, last_s = 0, 0, 0, 0.0, 0.0
    try:
        mtime_s = path.stat().st_mtime
        try:
            with av.open(str(path), mode="r") as container:
                stream = container.streams.video[0]
                for frame in container.decode(stream):
                    t = frame.time
                    if t is not None:
                        first_s = t if frames == 0 else min(first_s, t)
                        last_s = max(last_s, t)
                    width, height = frame.width, frame.height
                    frames += 1
        except (av.FFmpegError, IndexError):
            pass  # truncated mid-packet: keep what decoded
        if frames == 0:
            path.unlink()
            return None
        final = path.with_name(segment_name(int(match.group(1))))
        sha256, size = file_sha256(path)
        if final != path:
            os.replace(path, final)
    except OSError as exc:
        raise RecordingError("", f"cannot salvage {path.name}: {exc}") from exc
    return SegmentInfo(
        n=int(match.group(1)),
        file=final.name,
        started_unix_s=mtime_s - (last_s - first_s),
        ended_unix_s=mtime_s,
        frames=frames,
        bytes=size,
        sha256=sha256,
        width_px=width,
        height_px=height,
    )


def unknown_segments(directory: Path, known: set[int]) -> list[Path]:
    """Segment files (closed or ``.part``) in ``directory`` whose number is not in
    ``known``, by number; ``[]`` if the directory does not exist."""
    if not directory.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name.removesuffix(PART_SUFFIX))
        if match is not None and int(match.group(1)) not in known and path.is_file():
            found.append((int(match.group(1)), path))
    return [p for _, p in sorted(found)]


class FrameQueue:
    """Bounded hand-over of frames from the source thread to a writer thread: when full,
    the oldest frame is dropped (and counted in :attr:`dropped`)."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[tuple[Image, float]] = deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def push(self, frame: DecodedFrame, image: Image, /) -> None:
        """The :class:`~mission_control.video.frames.FrameTap`: never blocks for long."""
        with self._cond:
            if self._closed:
                return
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append((image, frame.capture_unix_s))
            self._cond.notify()

    def take(self) -> tuple[Image, float] | None:
        """The oldest frame; waits; None once closed and drained."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """Refuse new frames; :meth:`take` drains what is queued, then returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class WriterThread:
    """A recording's writer thread: frames from a :class:`FrameQueue` into segment files.

    Closed segments are handed to ``on_segment`` on the event loop of the creator
    (``call_soon_threadsafe``); when the thread ends (queue closed and drained, or a
    failure: :attr:`error` says why), :attr:`done` is set and ``on_end`` called there.
    Created on the event loop's thread.
    """

    def __init__(
        self,
        recording_id: str,
        directory: Path,
        settings: EncoderSettings,
        first_n: int,
        frames: FrameQueue,
        *,
        on_segment: Callable[[SegmentInfo], None],
        on_end: Callable[[], None],
        title: str = "",
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._title = title
        self._dir = directory
        self._settings = settings
        self._first_n = first_n
        self._frames = frames
        self._on_segment = on_segment
        self._on_end = on_end
        self.error: str | None = None
        self.done = asyncio.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"recorder {recording_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout_s)

    def _call(self, fn: Callable[..., object], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under a stuck writer
            self._loop.call_soon_threadsafe(fn, *args)

    def _run(self) -> None:
        try:
            with SegmentWriter(
                self._dir, self._settings, first_n=self._first_n, title=self._title
            ) as writer:
                while (item := self._frames.take()) is not None:
                    if (info := writer.write(*item)) is not None:
                        self._call(self._on_segment, info)
                if (info := writer.close()) is not None:
                    self._call(self._on_segment, info)
        except (RecordingError, OSError) as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug must still end the recording, with its reason
            log.exception("recording writer %s crashed", self._thread.name)
            self.error = f"writer crashed: {exc!r}"
        finally:
            self._frames.close()
            self._call(self._ended)

    def _ended(self) -> None:
        self.done.set()
        self._on_end()


@dataclass(frozen=True, slots=True)
class ExportedZip:
    """An export archive in a temporary file (the caller deletes it once sent).

    Attributes:
        path: the file; ``filename``: the name to offer a downloader.
        sha256: hex SHA-256 of the archive; ``bytes``: its size.
    """

    path: Path
    filename: str
    sha256: str
    bytes: int


def write_export(
    recording_id: str,
    directory: Path,
    files: Sequence[tuple[str, str, int]],
    manifest: Mapping[str, Any],
    out_dir: Path,
) -> ExportedZip:
    """Write ``<recording_id>.zip`` to a new file in ``out_dir``: each segment of ``files``
    (``(name, expected hex SHA-256, expected bytes)``, stored uncompressed: H.264 does not
    compress further), its hash checked while it is copied, then ``manifest.json``.

    Raises:
        RecordingError: a segment is missing, or its bytes differ from the expected hash or
            size (names it); the archive cannot be written. No file is left behind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{recording_id}-", suffix=".zip.tmp", dir=out_dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for file, expected, size in files:
                _copy_checked(recording_id, directory / file, archive, expected, size)
            text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
            archive.writestr("manifest.json", text, compress_type=zipfile.ZIP_DEFLATED)
        sha256, total = file_sha256(path)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise RecordingError(recording_id, f"cannot write the export: {exc}") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ExportedZip(path, f"{recording_id}.zip", sha256, total)


def _copy_checked(
    recording_id: str, src: Path, archive: zipfile.ZipFile, expected: str, size: int
) -> None:
    digest = hashlib.sha256()
    copied = 0
    try:
        f = src.open("rb")
    except FileNotFoundError:
        raise RecordingError(recording_id, f"segment {src.name} is missing") from None
    with f, archive.open(src.name, "w", force_zip64=size > 1 << 31) as out:
        while block := f.read(1 << 20):
            digest.update(block)
            copied += len(block)
            out.write(block)
    if digest.hexdigest() != expected or copied != size:
        raise RecordingError(
            recording_id,
            f"segment {src.name} was altered: its SHA-256 is {digest.hexdigest()} "
            f"({copied} bytes), the recording says {expected} ({size} bytes)",
        )
