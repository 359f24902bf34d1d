"""The video relay with a real source thread and real OpenCV, without sockets; and the
lag rules of its websocket viewers (:class:`LagMeter`) on given times.

A :class:`SyntheticSource` thread renders 320x180 frames (the frame number drawn in) at a
set rate and calls the relay's sink, honouring the ``open_source`` contract. Pins:
encode-once per tier, latest-frame-wins, tier widths, encoding only on demand, linger,
snapshots, the pipeline order on the source thread, refusals and settings validation.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pytest

from mission_control.api.video_stream import LagMeter, ViewerLagging
from mission_control.video.errors import NoVideoSource, SourceError, VideoSettingsError
from mission_control.video.frames import (
    DecodedFrame,
    FrameSink,
    Image,
    SourceState,
    SourceStatus,
    StatusSink,
    TapHost,
)
from mission_control.video.relay import (
    EncodedFrame,
    RelayClosed,
    RelaySettings,
    SnapshotTimeout,
    VideoRelay,
    Viewer,
)
from mission_control.video.wire import Flags, unpack

WAIT_S = 5.0  # generous bound on every wait: a hang fails the test instead of the run
SETTINGS = RelaySettings(tiers_px=(0, 160, 80), linger_s=0.3)


@dataclass
class SyntheticSource:
    """``open_source`` for tests: per open, one thread rendering ``size`` frames at ``fps``
    (``frames`` of them, or until closed) and calling the sink; UP on the first frame,
    STOPPED when closed. ``fail`` makes opening raise it."""

    fps: float = 30.0
    size: tuple[int, int] = (320, 180)
    frames: int | None = None
    fail: Exception | None = None
    opened: int = 0
    active: int = 0
    last_seq: int = 0
    thread_names: list[str] = field(default_factory=list)

    def __call__(
        self, drone_id: int, sink: FrameSink, on_status: StatusSink
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return self._open(drone_id, sink, on_status)

    def render(self, seq: int) -> Image:
        width, height = self.size
        image = np.full((height, width, 3), 60, np.uint8)
        cv2.putText(image, str(seq), (8, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255,) * 3, 3)
        image.flags.writeable = False
        return image

    @contextlib.asynccontextmanager
    async def _open(
        self, drone_id: int, sink: FrameSink, on_status: StatusSink
    ) -> AsyncIterator[None]:
        if self.fail is not None:
            raise self.fail
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        url = f"test://{drone_id}"

        def produce() -> None:
            period_s, due_s, first = 1.0 / self.fps, time.monotonic(), True
            while not stop.is_set() and (self.frames is None or self.last_seq < self.frames):
                self.last_seq += 1
                if first:
                    loop.call_soon_threadsafe(on_status, SourceStatus(SourceState.UP, url))
                    first = False
                sink(
                    DecodedFrame(
                        self.render(self.last_seq), self.last_seq, time.time(), time.monotonic()
                    )
                )
                due_s += period_s
                stop.wait(max(0.0, due_s - time.monotonic()))

        self.opened += 1
        thread = threading.Thread(target=produce, name=f"test-source-{drone_id}-{self.opened}")
        self.thread_names.append(thread.name)
        on_status(SourceStatus(SourceState.CONNECTING, url))
        thread.start()
        self.active += 1
        try:
            yield
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, WAIT_S)
            self.active -= 1
            on_status(SourceStatus(SourceState.STOPPED, url))


def decode(frame: EncodedFrame) -> Image:
    image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image.astype(np.uint8)


async def next_frame(viewer: Viewer) -> EncodedFrame:
    async with asyncio.timeout(WAIT_S):
        return await viewer.next_frame()


async def eventually(check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


async def test_each_frame_is_encoded_once_per_tier_whatever_the_number_of_viewers() -> None:
    source = SyntheticSource(frames=30)
    async with VideoRelay(SETTINGS, source) as relay, contextlib.AsyncExitStack() as stack:
        viewers = [await stack.enter_async_context(relay.watch(1)) for _ in range(3)]
        viewers += [await stack.enter_async_context(relay.watch(1, 160)) for _ in range(2)]

        async def read_all(viewer: Viewer) -> list[int]:
            seqs = [(await next_frame(viewer)).seq]
            while seqs[-1] < 30:
                seqs.append((await next_frame(viewer)).seq)
            return seqs

        received = await asyncio.gather(*map(read_all, viewers))
        status = relay.status(1)
    assert status is not None
    assert status.frames_in == 30
    assert status.encodes_per_tier == {0: 30, 160: 30, 80: 0}  # not frames × viewers
    assert status.jpeg_encodes == 60
    assert status.viewers_per_tier == {0: 3, 160: 2, 80: 0}
    for seqs in received:
        assert seqs == sorted(set(seqs)) and seqs[-1] == 30
        assert len(seqs) >= 25  # a prompt reader misses (almost) nothing


async def test_a_viewer_that_stops_reading_gets_the_newest_frame_and_counts_the_skipped() -> None:
    source = SyntheticSource(fps=30.0)
    async with VideoRelay(SETTINGS, source) as relay, relay.watch(1) as viewer:
        first = await next_frame(viewer)
        await asyncio.sleep(1.0)
        newest = source.last_seq
        later = await next_frame(viewer)
    assert later.seq >= newest - 1  # the newest one, not first + 1
    assert later.seq - first.seq >= 25
    assert viewer.skipped == later.seq - first.seq - 1
    assert viewer.delivered == 2
    assert cv2.mean(decode(later))[0] > 40  # a real picture


async def test_each_tier_gets_its_own_width_never_upscaled() -> None:
    settings = RelaySettings(tiers_px=(0, 640, 160, 80))
    source = SyntheticSource()
    async with VideoRelay(settings, source) as relay, contextlib.AsyncExitStack() as stack:
        sizes = {}
        for width in (None, 640, 100, 80):
            viewer = await stack.enter_async_context(relay.watch(1, width))
            frame = await next_frame(viewer)
            sizes[width] = (frame.width_px, frame.height_px, decode(frame).shape[:2])
            header, _ = unpack(frame.message)
            assert header.width_px == frame.width_px
        await next_frame(viewer)
        status = relay.status(1)
    assert sizes == {
        None: (320, 180, (180, 320)),
        640: (320, 180, (180, 320)),  # the source is narrower than the tier
        100: (160, 90, (90, 160)),
        80: (80, 45, (45, 80)),
    }
    assert status is not None
    encodes = status.encodes_per_tier
    assert encodes[640] > 0
    assert status.jpeg_encodes == encodes[0] + encodes[160] + encodes[80]  # 640 shares full's


@pytest.mark.parametrize(
    ("tiers", "width", "tier"),
    [
        ((0, 160, 80), None, 0),
        ((0, 160, 80), 0, 0),
        ((0, 160, 80), 1, 80),
        ((0, 160, 80), 80, 80),
        ((0, 160, 80), 81, 160),
        ((0, 160, 80), 160, 160),
        ((0, 160, 80), 161, 0),
        ((0, 160, 80), 16384, 0),
        ((640, 320), None, 640),
        ((640, 320), 1000, 640),
        ((640, 320), 300, 320),
    ],
)
async def test_a_viewer_gets_the_smallest_tier_at_least_as_wide_as_it_asks(
    tiers: tuple[int, ...], width: int | None, tier: int
) -> None:
    relay = VideoRelay(RelaySettings(tiers_px=tiers), SyntheticSource())
    assert relay.tier_for(width) == tier


@pytest.mark.parametrize("width", [-1, 16385, 1.5, 0.0, True, False, "640"])
async def test_an_invalid_width_is_refused_naming_the_field(width: Any) -> None:
    async with VideoRelay(SETTINGS, SyntheticSource()) as relay:
        with pytest.raises(VideoSettingsError) as info:
            relay.tier_for(width)
        assert info.value.field == "width"
        with pytest.raises(VideoSettingsError):
            relay.open_viewer(1, width)
        assert relay.channels() == []


async def test_no_tier_is_encoded_without_demand_and_a_tap_alone_encodes_nothing() -> None:
    source = SyntheticSource()
    seen: list[int] = []
    async with (
        VideoRelay(SETTINGS, source) as relay,
        relay.tap(1, lambda frame, image: seen.append(frame.seq)),
    ):
        await eventually(lambda: len(seen) >= 5)
        status = relay.status(1)
        assert status is not None
        assert status.jpeg_encodes == 0 and status.taps == 1
        async with relay.watch(1, 80) as viewer:
            for _ in range(5):
                await next_frame(viewer)
            status = relay.status(1)
    assert status is not None
    assert status.encodes_per_tier[0] == status.encodes_per_tier[160] == 0
    assert status.encodes_per_tier[80] >= 5
    assert status.jpeg_encodes == status.encodes_per_tier[80]
    assert status.input_fps == pytest.approx(30.0, rel=0.3)


async def test_the_source_stops_linger_s_after_the_last_viewer_and_restarts_for_a_new_one() -> None:
    source = SyntheticSource()
    changes: list[tuple[int, SourceState, float]] = []
    async with VideoRelay(
        SETTINGS, source, on_status=lambda d, s: changes.append((d, s.state, time.monotonic()))
    ) as relay:
        async with relay.watch(1) as viewer:
            await next_frame(viewer)
        left_s = time.monotonic()
        async with relay.watch(1) as viewer:  # back within linger_s: same source
            await next_frame(viewer)
        assert source.opened == 1
        left_s = time.monotonic()
        await asyncio.sleep(0.15)
        assert source.active == 1  # lingering
        await eventually(lambda: source.active == 0)
        stopped_after_s = time.monotonic() - left_s
        await eventually(lambda: relay.status(1) is None)
        assert relay.channels() == []
        async with relay.watch(1) as viewer:
            frame = await next_frame(viewer)
            assert source.opened == 2 and source.active == 1
    assert 0.3 <= stopped_after_s < 0.3 + 0.5
    assert frame.seq > 0
    states = [state for d, state, _ in changes if d == 1]
    states = [s for i, s in enumerate(states) if i == 0 or s is not states[i - 1]]
    assert states[:3] == [SourceState.CONNECTING, SourceState.UP, SourceState.STOPPED]
    assert states[-1] is SourceState.STOPPED


async def test_a_snapshot_starts_the_source_and_returns_a_fresh_frame() -> None:
    source = SyntheticSource()
    async with VideoRelay(SETTINGS, source) as relay:
        frame = await relay.snapshot(1, 80, timeout_s=WAIT_S)
        assert (frame.width_px, frame.height_px) == (80, 45)
        assert time.time() - frame.capture_unix_s < 0.5
        assert source.opened == 1
        status = relay.status(1)
        assert status is not None and status.snapshots_waiting == 0
        async with relay.watch(1, 160) as viewer:
            watched = await next_frame(viewer)
            snap = await relay.snapshot(1, 160, timeout_s=WAIT_S)
            assert snap.seq >= watched.seq  # what viewers have, when fresh
        await eventually(lambda: source.active == 0)


async def test_a_snapshot_of_a_silent_source_times_out_with_a_clear_error() -> None:
    source = SyntheticSource(frames=0)
    async with VideoRelay(SETTINGS, source) as relay:
        started_s = time.monotonic()
        with pytest.raises(SnapshotTimeout) as info:
            await relay.snapshot(1, timeout_s=0.3)
        assert 0.3 <= time.monotonic() - started_s < 1.0
        assert isinstance(info.value, TimeoutError)
        assert "drone 1" in str(info.value) and "0.3 s" in str(info.value)


async def test_a_source_that_cannot_open_is_reported_down_with_its_reason() -> None:
    source = SyntheticSource(fail=SourceError("rtsp://cam/x", "connection refused"))
    async with VideoRelay(SETTINGS, source) as relay, relay.watch(1) as viewer:
        async with asyncio.timeout(WAIT_S):
            status = await viewer.next_update()
            while not isinstance(status, SourceStatus) or status.state is not SourceState.DOWN:
                status = await viewer.next_update()
        assert "connection refused" in status.reason
        assert status.retry_in_s > 0
        with pytest.raises(SnapshotTimeout) as info:
            await relay.snapshot(1, timeout_s=0.2)
        assert "connection refused" in str(info.value)


async def test_prepare_taps_redact_and_annotate_run_in_order_on_the_source_thread() -> None:
    calls: list[tuple[str, int, str]] = []
    tap_checks: list[bool] = []

    def record(step: str, seq: int) -> None:
        calls.append((step, seq, threading.current_thread().name))

    def prepare(drone_id: int, frame: DecodedFrame) -> tuple[Image, int]:
        record("prepare", frame.seq)
        image = frame.image.copy()
        image[:40, :40] = 0  # a privacy zone
        return image, Flags.PRIVACY_ZONE

    def tap(frame: DecodedFrame, image: Image) -> None:
        record("tap", frame.seq)
        # blanked, not yet blurred, and read-only
        tap_checks.append(
            bool((image[:40, :40] == 0).all())
            and bool((image[40:80, :40] == 60).all())
            and not image.flags.writeable
        )

    def redact(drone_id: int, image: Image) -> tuple[Image, int]:
        record("redact", -1)
        image = image.copy()
        image[40:80, :40] = 255  # a blurred face
        return image, Flags.FACES_BLURRED

    def annotate(image: Image, frame: DecodedFrame, drone_id: int) -> bool:
        record("annotate", frame.seq)
        assert image.flags.writeable
        image[-10:, -10:] = (0, 0, 255)
        return True

    source = SyntheticSource()
    relay = VideoRelay(SETTINGS, source, prepare=prepare, redact=redact, annotate=annotate)
    async with relay, relay.tap(1, tap), relay.watch(1) as viewer:
        frame = await next_frame(viewer)
        frame = await next_frame(viewer)
    seq = frame.seq
    steps = [(step, thread) for step, s, thread in calls if s in (seq, -1)]
    assert [step for step, _ in steps if step != "redact"][-3:] == ["prepare", "tap", "annotate"]
    order = [step for step, s, _ in calls if s in (seq, -1)]
    i = order.index("prepare")
    assert order[i : i + 4] == ["prepare", "tap", "redact", "annotate"]
    assert {thread for _, _, thread in calls} == {source.thread_names[0]}
    assert tap_checks and all(tap_checks)
    assert frame.flags == Flags.PRIVACY_ZONE | Flags.FACES_BLURRED | Flags.OVERLAY
    assert unpack(frame.message)[0].flags == 7
    image = decode(frame)
    assert image[5:35, 5:35].mean() < 10  # blanked
    assert image[45:75, 5:35].mean() > 245  # blurred stand-in
    b, _, r = image[-5:, -5:].reshape(-1, 3).mean(axis=0)
    assert r > 200 and b < 60  # overlay drawn on the viewer's copy


async def test_a_frame_whose_privacy_step_fails_is_dropped_never_shown() -> None:
    def prepare(drone_id: int, frame: DecodedFrame) -> tuple[Image, int]:
        raise RuntimeError("zone lookup failed")

    async with (
        VideoRelay(SETTINGS, SyntheticSource(), prepare=prepare) as relay,
        relay.watch(1) as viewer,
    ):
        await eventually(lambda: (s := relay.status(1)) is not None and s.frames_dropped >= 5)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await viewer.next_frame()
        status = relay.status(1)
    assert status is not None
    assert status.jpeg_encodes == 0 and status.frames_dropped == status.frames_in


async def test_a_tap_is_not_called_after_its_block_is_left() -> None:
    seqs: list[int] = []
    source = SyntheticSource()
    async with VideoRelay(SETTINGS, source) as relay:
        async with relay.tap(1, lambda frame, image: seqs.append(frame.seq)):
            await eventually(lambda: len(seqs) >= 3)
        count = len(seqs)
        async with relay.watch(1) as viewer:  # the source still runs (lingering)
            await next_frame(viewer)
            await next_frame(viewer)
    assert len(seqs) == count
    assert seqs == list(range(1, count + 1))  # every frame, in order


async def test_a_drone_without_a_source_is_refused_before_anything_starts() -> None:
    def resolve(drone_id: int) -> str:
        if drone_id != 1:
            raise NoVideoSource(drone_id)
        return "sim"

    source = SyntheticSource()
    async with VideoRelay(SETTINGS, source, resolve=resolve) as relay:
        with pytest.raises(NoVideoSource):
            relay.open_viewer(9)
        with pytest.raises(NoVideoSource):
            await relay.snapshot(9)
        with pytest.raises(NoVideoSource):
            async with relay.tap(9, lambda frame, image: None):
                pass
        assert relay.channels() == []
        assert source.opened == 0
        async with relay.watch(1) as viewer:
            await next_frame(viewer)


async def test_viewers_see_status_changes_and_the_relay_stopping() -> None:
    source = SyntheticSource(frames=3)
    relay = VideoRelay(SETTINGS, source)
    async with relay:
        viewer = relay.open_viewer(1)
        updates: list[SourceState | int] = []
        async with asyncio.timeout(WAIT_S):
            while 3 not in updates:
                update = await viewer.next_update()
                updates.append(update.state if isinstance(update, SourceStatus) else update.seq)
        assert updates[0] is SourceState.CONNECTING
        assert updates.index(SourceState.UP) < updates.index(3)
        seqs = [u for u in updates if isinstance(u, int)]
        assert seqs == sorted(set(seqs)) and seqs[-1] == 3
        waiting = asyncio.create_task(viewer.next_frame(), name="test-waiting-viewer")
        await asyncio.sleep(0.05)
    with pytest.raises(RelayClosed):
        await waiting
    assert source.active == 0
    with pytest.raises(RelayClosed):
        relay.open_viewer(1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tiers_px": ()}, "tiers_px"),
        ({"tiers_px": [0, 640]}, "tiers_px"),
        ({"tiers_px": (0, 15)}, "tiers_px"),
        ({"tiers_px": (0, 7681)}, "tiers_px"),
        ({"tiers_px": (640, 640)}, "tiers_px"),
        ({"tiers_px": (0, 640.0)}, "tiers_px"),
        ({"tiers_px": (-1,)}, "tiers_px"),
        ({"jpeg_quality": 0}, "jpeg_quality"),
        ({"jpeg_quality": 101}, "jpeg_quality"),
        ({"jpeg_quality": 70.0}, "jpeg_quality"),
        ({"linger_s": -0.1}, "linger_s"),
        ({"linger_s": float("inf")}, "linger_s"),
        ({"lag_threshold_s": 0}, "lag_threshold_s"),
        ({"disconnect_after_s": -1}, "disconnect_after_s"),
        ({"send_timeout_s": float("nan")}, "send_timeout_s"),
        ({"send_timeout_s": True}, "send_timeout_s"),
        ({"socket_send_buffer_bytes": -1}, "socket_send_buffer_bytes"),
        ({"socket_send_buffer_bytes": 1.5}, "socket_send_buffer_bytes"),
        ({"blocked_send_s": 0}, "blocked_send_s"),
        ({"close_timeout_s": 0}, "close_timeout_s"),
    ],
)
def test_relay_settings_refuse_out_of_range_values(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(VideoSettingsError) as info:
        RelaySettings(**kwargs)
    assert info.value.field == field


def test_relay_settings_accept_the_documented_values() -> None:
    settings = RelaySettings(
        tiers_px=(640, 0, 16, 7680), jpeg_quality=1, linger_s=0, socket_send_buffer_bytes=0
    )
    assert settings.tiers_px == (640, 0, 16, 7680)
    assert RelaySettings().tiers_px == (0, 640, 320)


def test_the_relay_is_a_tap_host_for_recorders() -> None:
    host: TapHost = VideoRelay(SETTINGS, SyntheticSource())  # mypy checks the protocol
    assert callable(host.tap)


LAG = RelaySettings(lag_threshold_s=0.5, disconnect_after_s=2.0, blocked_send_s=0.1)


def test_a_fresh_quick_send_is_not_behind() -> None:
    meter = LagMeter(LAG, 1, opened_mono_s=100.0)
    for i in range(100):
        assert not meter.judge(behind_s=0.05, send_s=0.001, now_s=100.0 + i * 0.1)
    assert (meter.late_sends, meter.blocked_sends) == (0, 0)


def test_a_late_frame_asks_for_a_notice_and_lateness_adds_up_to_a_disconnect() -> None:
    meter = LagMeter(LAG, 7, opened_mono_s=100.0)
    assert meter.judge(behind_s=0.8, send_s=0.001, now_s=101.0)  # 0.8 s behind
    assert not meter.judge(behind_s=0.1, send_s=0.001, now_s=101.2)  # caught up
    assert meter.judge(behind_s=0.9, send_s=0.001, now_s=102.5)  # 1.7 s in all
    with pytest.raises(ViewerLagging) as info:
        meter.judge(behind_s=0.6, send_s=0.001, now_s=103.0)  # 2.2 s within 4 s
    assert info.value.viewer_id == 7
    assert info.value.for_s == pytest.approx(2.2)
    assert info.value.window_s == 4.0


def test_blocked_sends_count_as_behind_without_a_notice() -> None:
    meter = LagMeter(LAG, 1, opened_mono_s=100.0)
    for i in range(1, 5):  # a reader at 2 frames/s: each fresh frame waits 0.45 s to go
        assert not meter.judge(behind_s=0.45, send_s=0.45, now_s=100.0 + i * 0.5)
    with pytest.raises(ViewerLagging):  # 2.25 s behind within 4 s
        meter.judge(behind_s=0.45, send_s=0.45, now_s=102.5)
    assert meter.blocked_sends == 5 and meter.late_sends == 0


def test_old_lateness_leaves_the_window_and_time_before_connecting_never_counts() -> None:
    meter = LagMeter(LAG, 1, opened_mono_s=100.0)
    assert meter.judge(behind_s=30.0, send_s=0.001, now_s=101.5)  # a stale first frame: 1.5 s
    for i in range(1, 40):  # behind 1.5 s in every 4 s: never more than 2 s in the window
        if i % 8 == 0:
            meter.judge(behind_s=1.5, send_s=0.001, now_s=101.5 + i * 0.5)
        else:
            meter.judge(behind_s=0.0, send_s=0.0, now_s=101.5 + i * 0.5)
