"""The segment writer: real libx264 (PyAV) into MPEG-TS files, read back with PyAV and
OpenCV."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from mission_control.video.errors import RecordingError, VideoSettingsError
from mission_control.video.frames import DecodedFrame
from mission_control.video.segments import (
    PART_SUFFIX,
    EncoderSettings,
    FrameQueue,
    SegmentInfo,
    SegmentWriter,
    salvage,
    segment_name,
    unknown_segments,
)

T0_S = 1_740_830_400.0  # 2025-03-01 12:00 UTC
FPS = 15


def picture(i: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A frame that changes every time (moving disc, frame number)."""
    image = np.full((height, width, 3), (40, 90 + i % 100, 160), np.uint8)
    cx = int(width / 2 + width / 3 * np.sin(i / 7))
    cv2.circle(image, (cx, height // 3), max(4, height // 8), (0, 0, 255), -1)
    cv2.putText(image, str(i), (10, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255,) * 3, 2)
    return image


def decode(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(container.streams.video[0]))


def opencv_count(path: Path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        assert capture.isOpened(), path
        n, size = 0, (0, 0)
        while True:
            ok, image = capture.read()
            if not ok:
                break
            n, size = n + 1, (image.shape[1], image.shape[0])
        return n, size
    finally:
        capture.release()


def write_all(writer: SegmentWriter, frames: list[tuple[np.ndarray, float]]) -> list[SegmentInfo]:
    closed = [info for image, t in frames if (info := writer.write(image, t)) is not None]
    last = writer.close()
    return closed + ([last] if last is not None else [])


def test_three_seconds_with_one_second_segments_make_three_decodable_files(tmp_path: Path) -> None:
    frames = [(picture(i), T0_S + i / FPS) for i in range(3 * FPS)]
    with SegmentWriter(tmp_path, EncoderSettings(segment_s=1.0)) as writer:
        infos = write_all(writer, frames)
    assert [s.n for s in infos] == [1, 2, 3]
    assert [s.file for s in infos] == ["seg-00001.ts", "seg-00002.ts", "seg-00003.ts"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [s.file for s in infos]
    for k, info in enumerate(infos):
        path = tmp_path / info.file
        data = path.read_bytes()
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert info.bytes == len(data)
        assert info.frames == FPS
        assert (info.width_px, info.height_px) == (320, 240)
        assert info.started_unix_s == pytest.approx(T0_S + k)
        assert info.ended_unix_s == pytest.approx(T0_S + k + (FPS - 1) / FPS)
        decoded = decode(path)
        assert len(decoded) == FPS
        assert {(f.width, f.height) for f in decoded} == {(320, 240)}
        assert decoded[0].key_frame  # every segment starts with a keyframe
        assert opencv_count(path) == (FPS, (320, 240))


def test_each_file_names_what_it_records_in_its_metadata(tmp_path: Path) -> None:
    """The title (mission, drone, recording) is every segment's MPEG-TS service name (in
    its service description table: ``ffprobe -show_programs`` shows it)."""
    title = "mission m-1, drone 3, recording rec-1"
    frames = [(picture(i), T0_S + i / FPS) for i in range(2 * FPS)]
    with SegmentWriter(tmp_path, EncoderSettings(segment_s=1.0), title=title) as writer:
        infos = write_all(writer, frames)
    assert len(infos) == 2
    for info in infos:
        assert title.encode() in (tmp_path / info.file).read_bytes()


def test_timestamps_are_capture_times_strictly_increasing_with_a_keyframe_each_second(
    tmp_path: Path,
) -> None:
    # 10 fps with jitter, one repeated capture time, 3 s in one segment
    times = [T0_S + i / 10 + (0.004 if i % 3 else 0.0) for i in range(30)]
    times[7] = times[6]
    with SegmentWriter(tmp_path, EncoderSettings(segment_s=60.0, gop_s=1.0)) as writer:
        infos = write_all(writer, [(picture(i), t) for i, t in enumerate(times)])
    (info,) = infos
    decoded = decode(tmp_path / info.file)
    assert len(decoded) == 30
    pts_s = [float(f.time) for f in decoded]
    assert all(b > a for a, b in itertools.pairwise(pts_s))
    steps = np.diff(pts_s)
    expected = np.diff([max(t, times[6] + 0.001) if i == 7 else t for i, t in enumerate(times)])
    assert np.allclose(steps, expected, atol=0.0015)
    keys = [i for i, f in enumerate(decoded) if f.key_frame]
    assert keys == [0, 10, 20]


def test_odd_sizes_are_cropped_even_and_a_size_change_starts_a_new_segment(
    tmp_path: Path,
) -> None:
    frames = [(picture(i, 321, 241), T0_S + i / FPS) for i in range(5)]
    frames += [(picture(i, 160, 120), T0_S + (5 + i) / FPS) for i in range(4)]
    with SegmentWriter(tmp_path, EncoderSettings(segment_s=60.0), first_n=7) as writer:
        infos = write_all(writer, frames)
    assert [(s.n, s.frames, s.width_px, s.height_px) for s in infos] == [
        (7, 5, 320, 240),
        (8, 4, 160, 120),
    ]
    assert opencv_count(tmp_path / "seg-00007.ts") == (5, (320, 240))
    assert opencv_count(tmp_path / "seg-00008.ts") == (4, (160, 120))


def test_an_interrupted_segment_is_salvaged_from_its_part_file(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, EncoderSettings(segment_s=60.0))
    for i in range(40):
        writer.write(picture(i), T0_S + i / FPS)
    writer.abort()  # as if the process died: no flush, no rename
    part = tmp_path / (segment_name(1) + PART_SUFFIX)
    assert part.exists()
    with part.open("r+b") as f:  # and the last write was cut short
        f.truncate(part.stat().st_size - 100)
    assert unknown_segments(tmp_path, set()) == [part]
    info = salvage(part)
    assert info is not None
    assert not part.exists()
    assert info.file == "seg-00001.ts"
    assert 0 < info.frames <= 40
    assert info.frames == len(decode(tmp_path / info.file))
    assert info.sha256 == hashlib.sha256((tmp_path / info.file).read_bytes()).hexdigest()
    assert unknown_segments(tmp_path, {1}) == []


def test_bad_settings_and_images_are_refused_naming_the_problem(tmp_path: Path) -> None:
    with pytest.raises(VideoSettingsError, match="crf"):
        EncoderSettings(crf=60)
    with pytest.raises(VideoSettingsError, match="preset"):
        EncoderSettings(preset="placebo-ish")
    with pytest.raises(VideoSettingsError, match="segment_s"):
        EncoderSettings(segment_s=0)
    with SegmentWriter(tmp_path, EncoderSettings()) as writer:
        with pytest.raises(RecordingError, match="uint8"):
            writer.write(np.zeros((10, 10), np.uint8), T0_S)
        with pytest.raises(RecordingError, match="too small"):
            writer.write(np.zeros((1, 9, 3), np.uint8), T0_S)
    with pytest.raises(RecordingError, match="closed"):
        writer.write(picture(0), T0_S)
    assert list(tmp_path.iterdir()) == []


def test_the_frame_queue_drops_the_oldest_when_full_and_drains_after_close() -> None:
    frames = FrameQueue(2)
    for i in range(5):
        image = picture(i)
        frames.push(DecodedFrame(image, i + 1, T0_S + i, 0.0), image)
    assert frames.dropped == 3
    frames.close()
    image = picture(9)
    frames.push(DecodedFrame(image, 10, T0_S + 9, 0.0), image)  # refused after close
    taken = [frames.take(), frames.take(), frames.take()]
    assert [t[1] if t else None for t in taken] == [T0_S + 3, T0_S + 4, None]
