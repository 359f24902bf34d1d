"""Evidence recording: each flying mission's video kept as hashed H.264 segments.

:class:`Recorder` follows mission events on the bus. When a mission starts flying
(``in_flight``; on start-up, :meth:`Recorder.resume` for missions already flying) it opens
the mission's one recording and taps the drone's video at the relay (frames after
privacy-zone blanking, before face blurring: evidence keeps faces). It keeps recording
through ``paused``, ``returning`` and ``link_lost`` and stops when the mission ends.

Per recording::

    source thread ──tap──► bounded frame queue (drop oldest, counted) ──► writer thread
    (relay)                                                              (SegmentWriter)
    writer thread ──call_soon_threadsafe──► event loop: store the closed segment's row

The writer thread never touches the database. A drone without a video source gives a
``failed`` recording with the reason. On a service stop the files are closed and the row
stays ``recording``: :meth:`Recorder.resume` goes on with it (salvaging any file a crash
interrupted), or closes it if the mission ended meanwhile. A purge task deletes the files
of recordings past ``retain_until``; :meth:`Recorder.export` verifies every segment's
SHA-256 and writes a zip with a manifest, audited with the zip's SHA-256.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from mission_control.bus import EventBus, Subscription
from mission_control.domain.events import Event, EventKind
from mission_control.domain.mission import FLYING_STATES, TERMINAL_STATES, Mission, MissionState
from mission_control.store import SYSTEM, Actor, DuplicateError, Store, StoreError
from mission_control.store.recordings import (
    RecordingRecord,
    RecordingState,
    SegmentRecord,
    segments_digest,
)
from mission_control.video.errors import (
    NoVideoSource,
    RecordingError,
    VideoError,
    VideoSettingsError,
)
from mission_control.video.frames import TapHost
from mission_control.video.segments import (
    EncoderSettings,
    ExportedZip,
    FrameQueue,
    SegmentInfo,
    WriterThread,
    salvage,
    unknown_segments,
    write_export,
)

__all__ = ["ExportedZip", "Recorder", "RecordingSettings"]

log = logging.getLogger(__name__)

EXPORTS_DIR = ".exports"
"""Sub-directory of the recordings directory where export archives are built."""
STALE_EXPORT_S = 3600.0
"""Export archives older than this are leftovers of a crash: deleted at start-up."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """What and how to record.

    Attributes:
        root_dir: the recordings directory (one sub-directory per recording).
        segment_s: length of a segment file, seconds of capture time.
        retention_days: keep the files this long after the recording stops.
        queue_frames: frames waiting for the writer; when full the oldest is dropped.
        purge_interval_s: how often recordings past their retention are purged.
        enabled: record missions (False: only purge, list and export).
        crf, preset: x264 quality and speed (see :class:`EncoderSettings`).
        stop_timeout_s: how long a service stop waits for writers to close their files.

    Raises:
        VideoSettingsError: a value out of range (names the field).
    """

    root_dir: Path
    segment_s: float = 60.0
    retention_days: float = 30.0
    queue_frames: int = 30
    purge_interval_s: float = 3600.0
    enabled: bool = True
    crf: int = 23
    preset: str = "veryfast"
    stop_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.root_dir, Path):
            raise VideoSettingsError("root_dir", f"{self.root_dir!r} must be a pathlib.Path")
        for name, lo, hi in (
            ("retention_days", 0.0, 36_500.0),
            ("purge_interval_s", 0.01, 86_400.0),
            ("stop_timeout_s", 0.1, 600.0),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
                raise VideoSettingsError(name, f"{v!r} must be a number in [{lo:g}, {hi:g}]")
        q = self.queue_frames
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 10_000:
            raise VideoSettingsError("queue_frames", f"{q!r} must be an integer 1..10000")
        self.encoder  # noqa: B018 - validates segment_s, crf and preset

    @property
    def encoder(self) -> EncoderSettings:
        """The segment writer's settings (GOP 1 s)."""
        return EncoderSettings(segment_s=self.segment_s, crf=self.crf, preset=self.preset)

    @property
    def retention(self) -> timedelta:
        """How long files are kept after a recording stops."""
        return timedelta(days=self.retention_days)


def _segment_record(info: SegmentInfo) -> SegmentRecord:
    return SegmentRecord(
        n=info.n,
        file=info.file,
        started_at=datetime.fromtimestamp(info.started_unix_s, UTC),
        ended_at=datetime.fromtimestamp(max(info.ended_unix_s, info.started_unix_s), UTC),
        frames=info.frames,
        bytes=info.bytes,
        sha256=info.sha256,
        width_px=info.width_px,
        height_px=info.height_px,
    )


@dataclass(eq=False)
class _Active:
    """A recording this recorder runs: its mission, its task, and why it should stop."""

    mission_id: str
    drone_id: int
    wake: asyncio.Event
    stop_reason: str | None = None
    suspend: bool = False
    task: asyncio.Task[None] | None = None
    dropped_frames: int | None = None

    def stop(self, reason: str, *, suspend: bool = False) -> None:
        if self.stop_reason is None:
            self.stop_reason, self.suspend = reason, suspend
        self.wake.set()


class Recorder:
    """Records every flying mission's video; purges and exports recordings.

    Use as ``async with Recorder(...) as recorder:``, then ``await recorder.resume(await
    store.active_missions())`` once at start-up.

    Args:
        settings: see :class:`RecordingSettings`.
        store: where recordings and their audit entries go.
        bus: the event bus carrying ``events/mission/created|updated``.
        relay: where frames are tapped (the video relay).
        clock: aware UTC "now" (start/stop times, retention, purge).
        owns: record only drones for which this is True (cluster: the instance holding
            the drone's link); default: every drone.
    """

    def __init__(
        self,
        settings: RecordingSettings,
        store: Store,
        bus: EventBus[object],
        relay: TapHost,
        clock: Callable[[], datetime] = _utc_now,
        *,
        owns: Callable[[int], bool] | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._bus = bus
        self._relay = relay
        self._clock = clock
        self._owns = owns
        self._active: dict[str, _Active] = {}
        self._ended: set[str] = set()  # missions whose recording ended while they fly
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def recording(self) -> frozenset[str]:
        """Ids of the missions being recorded now."""
        return frozenset(self._active)

    async def __aenter__(self) -> Recorder:
        await asyncio.to_thread(self._clear_stale_exports)
        if self.settings.enabled:
            sub = self._bus.subscribe("events/mission/+", maxsize=10_000, policy="drop_oldest")
            self._tasks.append(asyncio.create_task(self._follow(sub), name="recorder: missions"))
        self._tasks.append(asyncio.create_task(self._purge_loop(), name="recorder: purge"))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        running = [a for a in self._active.values() if a.task is not None]
        for active in running:
            active.stop("service stopping", suspend=True)
        tasks = [a.task for a in running if a.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.settings.stop_timeout_s)
            for task in late:
                log.error("recording of %s did not close in time: cancelled", task.get_name())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- following missions ----------------------------------------------------------------

    async def resume(self, missions: Iterable[Mission]) -> None:
        """At start-up: record the flying ones of ``missions`` (the store's active missions),
        going on with their recording if the service stopped during it; close recordings
        left ``recording`` whose mission ended meanwhile."""
        flying = {m.id: m for m in missions if m.state in FLYING_STATES}
        if self.settings.enabled:
            for m in flying.values():
                self._ensure(m.id, m.drone_id)
        left: list[RecordingRecord] = []  # read them all first: closing changes the pages
        while page := await self._store.recordings.list(
            state=RecordingState.RECORDING, limit=500, offset=len(left)
        ):
            left += page
        for rec in left:
            if rec.mission_id in flying or rec.mission_id in self._active:
                continue
            mission = await self._store.get_mission(rec.mission_id)
            if mission is not None and not mission.terminal:
                continue  # still under way, not here (another instance, or not flying)
            ended = "gone" if mission is None else mission.state.value
            await self._close_orphan(rec, f"mission {ended} while the service was down")

    async def _follow(self, sub: Subscription[object]) -> None:
        async with sub:
            async for _, event in sub:
                if not isinstance(event, Event) or event.kind not in (
                    EventKind.MISSION_CREATED,
                    EventKind.MISSION_UPDATED,
                ):
                    continue
                try:
                    state = MissionState(event.payload["state"])
                    drone_id = int(event.payload["drone_id"])
                except (KeyError, ValueError, TypeError):
                    log.warning("recorder: unreadable mission event %s", event.subject_id)
                    continue
                try:
                    self._on_mission(event.subject_id, drone_id, state)
                except Exception:  # one bad event must not end the following
                    log.exception("recorder: mission event %s failed", event.subject_id)

    def _on_mission(self, mission_id: str, drone_id: int, state: MissionState) -> None:
        if state in FLYING_STATES:
            self._ensure(mission_id, drone_id)
        elif state in TERMINAL_STATES:
            self._ended.discard(mission_id)
            active = self._active.get(mission_id)
            if active is not None:
                active.stop(f"mission {state.value}")

    def _ensure(self, mission_id: str, drone_id: int) -> None:
        if mission_id in self._active or mission_id in self._ended:
            return
        if self._owns is not None and not self._owns(drone_id):
            return
        active = _Active(mission_id, drone_id, asyncio.Event())
        self._active[mission_id] = active
        active.task = asyncio.create_task(self._run(active), name=f"recorder: {mission_id}")
        active.task.add_done_callback(lambda task: self._finished(active, task))

    def _finished(self, active: _Active, task: asyncio.Task[None]) -> None:
        self._active.pop(active.mission_id, None)
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:  # e.g. the database was away: next event
            log.error("recording of mission %s failed", active.mission_id, exc_info=exc)
        elif not active.suspend:
            self._ended.add(active.mission_id)

    # -- one recording -----------------------------------------------------------------------

    async def _open(self, active: _Active) -> RecordingRecord | None:
        found = await self._store.recordings.list(mission_id=active.mission_id, limit=1)
        if found:
            if found[0].state is not RecordingState.RECORDING:
                return None  # one recording per mission: it has ended already
            await self._reconcile(found[0])
            return await self._store.recordings.resume(
                found[0].id, SYSTEM, reason="service restarted"
            )
        recording_id = f"rec-{uuid.uuid4().hex[:12]}"
        try:
            return await self._store.recordings.create(
                recording_id,
                mission_id=active.mission_id,
                drone_id=active.drone_id,
                dir=recording_id,
                started_at=self._clock(),
                actor=SYSTEM,
            )
        except DuplicateError:
            return None  # another instance started it first

    async def _run(self, active: _Active) -> None:
        rec = await self._open(active)
        if rec is None:
            return
        failure: str | None = None
        if not active.wake.is_set():
            failure = await self._record(active, rec)
        if active.suspend and failure is None:
            log.info("recording %s suspended (service stopping)", rec.id)
            return
        await self._reconcile(rec)
        await self._store.recordings.finish(
            rec.id,
            state=RecordingState.FAILED if failure else RecordingState.COMPLETE,
            stop_reason=failure or active.stop_reason or "stopped",
            stopped_at=self._clock(),
            retention=self.settings.retention,
            actor=SYSTEM,
            dropped_frames=active.dropped_frames,
        )

    async def _record(self, active: _Active, rec: RecordingRecord) -> str | None:
        """Tap the drone's video into segment files until told to stop; the failure
        reason, or None."""
        frames = FrameQueue(self.settings.queue_frames)
        closed: asyncio.Queue[SegmentInfo | None] = asyncio.Queue()
        first_n = max((s.n for s in rec.segments), default=0) + 1
        writer = WriterThread(
            rec.id,
            self._path(rec),
            self.settings.encoder,
            first_n,
            frames,
            on_segment=closed.put_nowait,
            on_end=active.wake.set,
            title=f"mission {rec.mission_id}, drone {rec.drone_id}, recording {rec.id}",
        )
        saver = asyncio.create_task(
            self._save(rec, closed, frames), name=f"recorder: {rec.id} segments"
        )
        failure: str | None = None
        writer.start()
        try:
            async with self._relay.tap(active.drone_id, frames.push):
                await active.wake.wait()  # a stop, or the writer ended (failed)
        except NoVideoSource as exc:
            failure = str(exc)
        except VideoError as exc:
            failure = f"video source: {exc}"
        except Exception as exc:  # the relay's bug must still end the recording, with why
            log.exception("recording %s: the video tap failed", rec.id)
            failure = f"video tap failed: {exc!r}"
        finally:
            frames.close()
            try:
                await writer.done.wait()
                closed.put_nowait(None)
                await saver
            finally:
                writer.join(5.0)
                if not saver.done():  # cancelled meanwhile
                    saver.cancel()
                    await asyncio.gather(saver, return_exceptions=True)
        if writer.error is not None:
            failure = failure or f"writing failed: {writer.error}"
        if frames.dropped:
            log.warning("recording %s dropped %d frames", rec.id, frames.dropped)
        active.dropped_frames = rec.dropped_frames + frames.dropped  # across restarts
        return failure

    async def _save(
        self,
        rec: RecordingRecord,
        closed: asyncio.Queue[SegmentInfo | None],
        frames: FrameQueue,
    ) -> None:
        """Store each closed segment (retrying while the database is away; a segment
        never stored is picked up by the reconciliation at the end)."""
        while (info := await closed.get()) is not None:
            dropped = rec.dropped_frames + frames.dropped
            for attempt in range(6):
                try:
                    await self._store.recordings.add_segment(
                        rec.id, _segment_record(info), dropped_frames=dropped
                    )
                    break
                except DuplicateError:
                    break
                except StoreError as exc:
                    log.warning("recording %s: storing %s failed: %s", rec.id, info.file, exc)
                    await asyncio.sleep(min(30.0, 0.5 * 2**attempt))

    async def _reconcile(self, rec: RecordingRecord) -> None:
        """Store the segment files of ``rec`` the store does not know (a crash's ``.part``
        files, rows that could not be written)."""
        now = await self._store.recordings.get(rec.id)
        known = {s.n for s in (now or rec).segments}
        directory = self._path(rec)
        for path in await asyncio.to_thread(unknown_segments, directory, known):
            try:
                info = await asyncio.to_thread(salvage, path)
            except RecordingError as exc:
                log.error("recording %s: %s", rec.id, exc.reason)
                continue
            if info is not None:
                log.warning("recording %s: salvaged %s (%d frames)", rec.id, info.file, info.frames)
                await self._store.recordings.add_segment(
                    rec.id, _segment_record(info), dropped_frames=(now or rec).dropped_frames
                )

    async def _close_orphan(self, rec: RecordingRecord, reason: str) -> None:
        await self._reconcile(rec)
        await self._store.recordings.finish(
            rec.id,
            state=RecordingState.COMPLETE,
            stop_reason=reason,
            stopped_at=self._clock(),
            retention=self.settings.retention,
            actor=SYSTEM,
        )

    def _path(self, rec: RecordingRecord) -> Path:
        root = self.settings.root_dir.resolve()
        path = (root / rec.dir).resolve()
        if not path.is_relative_to(root) or path == root:
            raise RecordingError(rec.id, f"its directory {rec.dir!r} is outside the recordings")
        return path

    # -- purge and export -------------------------------------------------------------------

    async def purge_due(self) -> list[str]:
        """Delete the files of every recording past ``retain_until`` (marked ``purged``
        first, in the store, so a legal hold set meanwhile wins); returns their ids."""
        now = self._clock()
        purged: list[str] = []
        while True:
            due = await self._store.recordings.due_for_purge(now, limit=100)
            progress = False
            for rec in due:
                reason = f"retention ended {rec.retain_until:%Y-%m-%dT%H:%M:%SZ}"
                if await self._store.recordings.mark_purged(
                    rec.id, now=now, actor=SYSTEM, reason=reason
                ):
                    progress = True
                    purged.append(rec.id)
                    await asyncio.to_thread(self._delete_files, rec)
            if len(due) < 100 or not progress:
                return purged

    def _delete_files(self, rec: RecordingRecord) -> None:
        try:
            shutil.rmtree(self._path(rec))
        except FileNotFoundError:
            pass
        except (OSError, RecordingError) as exc:
            log.error("recording %s is purged but its files remain: %s", rec.id, exc)

    async def _purge_loop(self) -> None:
        while True:
            try:
                purged = await self.purge_due()
                if purged:
                    log.info("purged %d recordings past their retention", len(purged))
            except StoreError as exc:
                log.warning("recording purge failed (retried later): %s", exc)
            await asyncio.sleep(self.settings.purge_interval_s)

    async def export(self, recording_id: str, actor: Actor) -> Path:
        """The recording as a zip (see :meth:`export_zip`); delete the file when sent."""
        return (await self.export_zip(recording_id, actor)).path

    async def export_zip(self, recording_id: str, actor: Actor) -> ExportedZip:
        """Verify every segment file against its stored SHA-256 (and the segment list
        against the stop audit entry), write ``manifest.json`` and the segments to a zip
        in a temporary file, and audit ``recording.export`` with the zip's SHA-256.

        Raises:
            RecordingError: no such recording; purged; no segment; a segment file is
                missing or altered (named); the database's segment list was edited.
        """
        rec = await self._store.recordings.get(recording_id)
        if rec is None:
            raise RecordingError(recording_id, "no such recording")
        if rec.state is RecordingState.PURGED:
            raise RecordingError(rec.id, "its retention ended and its files were purged")
        if not rec.segments:
            why = f" ({rec.stop_reason})" if rec.stop_reason else ""
            raise RecordingError(rec.id, f"no video was recorded{why}")
        await self._check_stop_entry(rec)
        exported_at = self._clock()
        manifest = {
            "format": "mission-control/recording-export/1",
            "recording": rec.to_json(),
            "mission_id": rec.mission_id,
            "drone_id": rec.drone_id,
            "segments": [s.to_json() for s in rec.segments],
            "segments_sha256": segments_digest(rec.segments),
            "exported_at": exported_at.astimezone(UTC).isoformat(),
            "exported_by": {"name": actor.name, "role": actor.role},
        }
        files = [(s.file, s.sha256, s.bytes) for s in rec.segments]
        out = await asyncio.to_thread(
            write_export,
            rec.id,
            self._path(rec),
            files,
            manifest,
            self.settings.root_dir / EXPORTS_DIR,
        )
        try:
            await self._store.recordings.record_export(
                rec.id,
                actor=actor,
                sha256=out.sha256,
                bytes=out.bytes,
                exported_at=exported_at,
                segments=rec.segments,
            )
        except BaseException:
            out.path.unlink(missing_ok=True)
            raise
        return out

    async def _check_stop_entry(self, rec: RecordingRecord) -> None:
        if rec.state is RecordingState.RECORDING:
            return
        entries = await self._store.audit_entries(rec.id, limit=10_000)
        stops = [e for e in entries if e.action == "recording.stop" and e.after is not None]
        if not stops:
            raise RecordingError(rec.id, "no recording.stop entry in the audit log")
        recorded = (stops[-1].after or {}).get("segments_sha256")
        if recorded != segments_digest(rec.segments):
            raise RecordingError(
                rec.id,
                f"its segment list differs from the one audited when it stopped (audit entry"
                f" {stops[-1].id}): the database was edited",
            )

    def _clear_stale_exports(self) -> None:
        exports = self.settings.root_dir / EXPORTS_DIR
        if not exports.is_dir():
            return
        cutoff = time.time() - STALE_EXPORT_S
        for path in exports.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
