"""Evidence recordings of mission video: the rows, their segment files' hashes, retention.

A recording is one mission's video (at most one per mission), written by
:mod:`mission_control.video.recording` as MPEG-TS segment files in ``dir`` (relative to
the recordings directory). Every closed segment is stored with its SHA-256 and size, so an
export can prove the files are those written. States::

    recording ──► complete | failed ──► purged      (purged: files deleted, rows kept)

``retain_until`` is NULL while recording; stopping sets it to ``stopped_at`` plus the
retention (or keeps a later date set by a legal hold); it only ever moves later.

Start, stop, export, purge and retention changes each append an audit entry
(``recording.start`` ... with object type ``recording``) in the same transaction as the
change; the stop entry carries :func:`segments_digest` of the segment rows, anchoring the
segment hashes in the audit chain. Adding a segment is not audited (it is many rows a
flight; the stop entry covers them).
"""

from __future__ import annotations

import builtins
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mission_control.store import audit
from mission_control.store.actors import Actor, check_name
from mission_control.store.codec import utc_iso
from mission_control.store.errors import DuplicateError, InvalidValue, NotFound
from mission_control.store.models import missions, recording_segments, recordings
from mission_control.store.reads import check_page

__all__ = [
    "RecordingRecord",
    "RecordingState",
    "Recordings",
    "SegmentRecord",
    "segments_digest",
]

_SEGMENT_FILE = re.compile(r"seg-\d{5,9}\.ts")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}){0,3}")


class RecordingState(StrEnum):
    """Where a recording stands."""

    RECORDING = "recording"
    """Being written (or suspended by a service stop, resumed on start-up)."""
    COMPLETE = "complete"
    """Stopped normally: its mission ended (or ended while the service was down)."""
    FAILED = "failed"
    """Stopped by a fault (no video source, the writer failed); ``stop_reason`` says why."""
    PURGED = "purged"
    """Past ``retain_until``: its files are deleted, its rows kept."""


_ENDED = (RecordingState.COMPLETE.value, RecordingState.FAILED.value)
_STOP_FIELDS = frozenset(
    ("state", "stop_reason", "stopped_at", "retain_until", "frames", "bytes", "dropped_frames")
)


def _aware(field: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValue(field, f"must be an aware datetime, got {value!r}")
    return value


def _count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(field, f"must be an integer >= 0, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One closed segment file of a recording.

    Attributes:
        n: its number in the recording: 1, 2, 3 ...
        file: the file name in the recording's directory (``seg-00001.ts``).
        started_at, ended_at: capture times of its first and last frame (aware UTC).
        frames: frames in the file.
        bytes: the file's size.
        sha256: hex SHA-256 of the file.
        width_px, height_px: the encoded picture size.

    Raises:
        InvalidValue: a field out of range (names it).
    """

    n: int
    file: str
    started_at: datetime
    ended_at: datetime
    frames: int
    bytes: int
    sha256: str
    width_px: int
    height_px: int

    def __post_init__(self) -> None:
        if _count("n", self.n) < 1:
            raise InvalidValue("n", f"must be >= 1, got {self.n}")
        if not isinstance(self.file, str) or not _SEGMENT_FILE.fullmatch(self.file):
            raise InvalidValue("file", f"must look like seg-00001.ts, got {self.file!r}")
        if _aware("ended_at", self.ended_at) < _aware("started_at", self.started_at):
            raise InvalidValue("ended_at", "must not be before started_at")
        for name in ("frames", "bytes", "width_px", "height_px"):
            _count(name, getattr(self, name))
        if not isinstance(self.sha256, str) or not _HEX64.fullmatch(self.sha256):
            raise InvalidValue("sha256", "must be 64 lower-case hex digits")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (API, export manifest)."""
        return {
            "n": self.n,
            "file": self.file,
            "started_at": utc_iso(self.started_at),
            "ended_at": utc_iso(self.ended_at),
            "frames": self.frames,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "width_px": self.width_px,
            "height_px": self.height_px,
        }


@dataclass(frozen=True, slots=True)
class RecordingRecord:
    """A stored recording.

    Attributes:
        id: ``rec-…``.
        mission_id, drone_id: whose video it is.
        state: see :class:`RecordingState`.
        started_at: when recording began; ``stopped_at``: when it stopped (None while
            recording).
        retain_until: the files are kept at least until then (None while recording).
        dir: its directory, relative to the recordings directory.
        frames, bytes: totals of the stored segments.
        dropped_frames: frames the writer could not keep up with (dropped, oldest first).
        stop_reason: why it stopped ('' while recording).
        segments: its segments by number (filled by :meth:`Recordings.get` only).
    """

    id: str
    mission_id: str
    drone_id: int
    state: RecordingState
    started_at: datetime
    stopped_at: datetime | None
    retain_until: datetime | None
    dir: str
    frames: int
    bytes: int
    dropped_frames: int
    stop_reason: str
    segments: tuple[SegmentRecord, ...] = ()

    def to_json(self, *, segments: bool = False) -> dict[str, Any]:
        """JSON-ready form; ``segments=True`` adds the segment list and its digest."""
        doc: dict[str, Any] = {
            "id": self.id,
            "mission_id": self.mission_id,
            "drone_id": self.drone_id,
            "state": self.state.value,
            "started_at": utc_iso(self.started_at),
            "stopped_at": None if self.stopped_at is None else utc_iso(self.stopped_at),
            "retain_until": None if self.retain_until is None else utc_iso(self.retain_until),
            "frames": self.frames,
            "bytes": self.bytes,
            "dropped_frames": self.dropped_frames,
            "stop_reason": self.stop_reason,
        }
        if segments:
            doc["segments"] = [s.to_json() for s in self.segments]
            doc["segments_sha256"] = segments_digest(self.segments)
        return doc


def segments_digest(segments: Sequence[SegmentRecord]) -> str:
    """Hex SHA-256 over ``"<n> <file> <bytes> <sha256>\\n"`` of each segment, by number:
    one value that pins every segment's hash (recorded in the stop audit entry)."""
    lines = "".join(
        f"{s.n} {s.file} {s.bytes} {s.sha256}\n" for s in sorted(segments, key=lambda s: s.n)
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def _columns(obj: RecordingRecord | SegmentRecord) -> dict[str, Any]:
    values = {f.name: getattr(obj, f.name) for f in fields(obj) if f.name != "segments"}
    if isinstance(obj, RecordingRecord):
        values["state"] = obj.state.value
    return values


def _segment(row: Any) -> SegmentRecord:
    return SegmentRecord(**{f.name: row._mapping[f.name] for f in fields(SegmentRecord)})


def _record(row: Any, segments: tuple[SegmentRecord, ...] = ()) -> RecordingRecord:
    values = {f.name: row._mapping[f.name] for f in fields(RecordingRecord) if f.name != "segments"}
    return RecordingRecord(**(values | {"state": RecordingState(row.state)}), segments=segments)


def _states(given: RecordingState | str | Iterable[RecordingState | str]) -> list[str]:
    items = [given] if isinstance(given, str) else list(given)
    try:
        return [RecordingState(v).value for v in items]
    except ValueError:
        choices = ", ".join(s.value for s in RecordingState)
        raise InvalidValue("state", f"must be among {choices}, got {given!r}") from None


async def _row(conn: AsyncConnection, recording_id: str) -> Any:
    query = sa.select(recordings).where(recordings.c.id == recording_id)
    found = (await conn.execute(query)).first()
    if found is None:
        raise NotFound("recording", recording_id)
    return found


async def _segments(conn: AsyncConnection, recording_id: str) -> tuple[SegmentRecord, ...]:
    rows = await conn.execute(
        sa.select(recording_segments)
        .where(recording_segments.c.recording_id == recording_id)
        .order_by(recording_segments.c.n)
    )
    return tuple(_segment(r) for r in rows)


Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
ConnectRead = Callable[[str], AbstractAsyncContextManager[AsyncConnection]]


class Recordings:
    """The recordings part of the store: ``store.recordings``.

    Each write is one audited transaction of the store's (serialised with every other
    audited write); each read opens its own connection. Errors are the store's
    (:class:`~mission_control.store.errors.StoreError` subclasses).
    """

    def __init__(
        self, writing: Connect, reading: ConnectRead, clock: Callable[[], datetime]
    ) -> None:
        """Built by :class:`~mission_control.store.Store`."""
        self._writing = writing
        self._reading = reading
        self._clock = clock

    async def _audit(
        self,
        conn: AsyncConnection,
        actor: Actor,
        action: str,
        recording_id: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        await audit.append(
            conn,
            at=self._clock(),
            actor=actor,
            action=action,
            object_type="recording",
            object_id=recording_id,
            before=before,
            after=after,
        )

    # -- writes --------------------------------------------------------------------------

    async def create(
        self,
        recording_id: str,
        *,
        mission_id: str,
        drone_id: int,
        dir: str,
        started_at: datetime,
        actor: Actor,
    ) -> RecordingRecord:
        """Store a new recording in state ``recording`` (audit: ``recording.start``).

        Raises:
            DuplicateError: the mission already has a recording (field ``mission_id``), or
                the id is taken (field ``id``).
            NotFound: no such mission.
            InvalidValue: a malformed id, directory or time.
        """
        check_name("recording_id", recording_id, max_len=64)
        if not isinstance(dir, str) or not _DIR.fullmatch(dir) or ".." in dir.split("/"):
            raise InvalidValue("dir", f"must be a plain relative path, got {dir!r}")
        if isinstance(drone_id, bool) or not isinstance(drone_id, int) or not 1 <= drone_id <= 255:
            raise InvalidValue("drone_id", f"must be a MAVLink system id 1..255, got {drone_id!r}")
        _aware("started_at", started_at)
        async with self._writing() as conn:
            if not await conn.scalar(sa.select(sa.func.count()).where(missions.c.id == mission_id)):
                raise NotFound("mission", mission_id)
            for column, value, field in (
                (recordings.c.mission_id, mission_id, "mission_id"),
                (recordings.c.id, recording_id, "id"),
            ):
                if await conn.scalar(sa.select(sa.func.count()).where(column == value)):
                    raise DuplicateError(field, value)
            record = RecordingRecord(
                recording_id,
                mission_id,
                drone_id,
                RecordingState.RECORDING,
                started_at,
                None,
                None,
                dir,
                0,
                0,
                0,
                "",
            )
            await conn.execute(sa.insert(recordings).values(**_columns(record)))
            after = {k: record.to_json()[k] for k in ("mission_id", "drone_id", "started_at")}
            await self._audit(conn, actor, "recording.start", recording_id, None, after)
            return record

    async def resume(self, recording_id: str, actor: Actor, *, reason: str) -> RecordingRecord:
        """Audit that a recording left in state ``recording`` (a service stop) goes on
        (``recording.start`` with ``resumed``); returns it with its segments.

        Raises:
            NotFound: no such recording.
            InvalidValue: it is not in state ``recording`` (field ``state``).
        """
        async with self._writing() as conn:
            row = await _row(conn, recording_id)
            if row.state != RecordingState.RECORDING.value:
                raise InvalidValue("state", f"recording {recording_id} is {row.state}, not going")
            segments = await _segments(conn, recording_id)
            after = {"resumed": True, "segments": len(segments), "reason": reason}
            await self._audit(conn, actor, "recording.start", recording_id, None, after)
            return _record(row, segments)

    async def add_segment(
        self, recording_id: str, segment: SegmentRecord, *, dropped_frames: int
    ) -> None:
        """Store a closed segment and add it to the recording's totals (not audited).

        Args:
            dropped_frames: the recording's dropped frames so far (stored as is).

        Raises:
            NotFound: no such recording.
            InvalidValue: it is not recording (field ``state``); a bad count.
            DuplicateError: it has a segment ``n`` already (field ``n``).
        """
        _count("dropped_frames", dropped_frames)
        async with self._writing() as conn:
            row = await _row(conn, recording_id)
            if row.state != RecordingState.RECORDING.value:
                raise InvalidValue("state", f"recording {recording_id} is {row.state}")
            taken = await conn.scalar(
                sa.select(sa.func.count()).where(
                    recording_segments.c.recording_id == recording_id,
                    recording_segments.c.n == segment.n,
                )
            )
            if taken:
                raise DuplicateError("n", str(segment.n))
            await conn.execute(
                sa.insert(recording_segments).values(recording_id=recording_id, **_columns(segment))
            )
            await conn.execute(
                sa.update(recordings)
                .where(recordings.c.id == recording_id)
                .values(
                    frames=recordings.c.frames + segment.frames,
                    bytes=recordings.c.bytes + segment.bytes,
                    dropped_frames=dropped_frames,
                )
            )

    async def finish(
        self,
        recording_id: str,
        *,
        state: RecordingState,
        stop_reason: str,
        stopped_at: datetime,
        retention: timedelta,
        actor: Actor,
        dropped_frames: int | None = None,
    ) -> RecordingRecord:
        """Stop a recording (audit: ``recording.stop`` with totals and the segments digest).

        ``retain_until`` becomes ``stopped_at + retention``, or stays where a legal hold put
        it if that is later.

        Raises:
            NotFound: no such recording.
            InvalidValue: ``state`` is not complete/failed, the recording is not recording
                (field ``state``), a bad time or retention.
        """
        if RecordingState(state).value not in _ENDED:
            raise InvalidValue("state", f"a recording stops as complete or failed, not {state}")
        _aware("stopped_at", stopped_at)
        if not isinstance(retention, timedelta) or retention < timedelta(0):
            raise InvalidValue("retention", f"must be a duration >= 0, got {retention!r}")
        if dropped_frames is not None:
            _count("dropped_frames", dropped_frames)
        async with self._writing() as conn:
            row = await _row(conn, recording_id)
            if row.state != RecordingState.RECORDING.value:
                raise InvalidValue("state", f"recording {recording_id} is {row.state} already")
            retain_until = stopped_at + retention
            if row.retain_until is not None and row.retain_until > retain_until:
                retain_until = row.retain_until
            dropped = int(row.dropped_frames) if dropped_frames is None else dropped_frames
            values = {
                "state": RecordingState(state).value,
                "stop_reason": stop_reason,
                "stopped_at": stopped_at,
                "retain_until": retain_until,
                "dropped_frames": dropped,
            }
            await conn.execute(
                sa.update(recordings).where(recordings.c.id == recording_id).values(**values)
            )
            segments = await _segments(conn, recording_id)
            record = _record(await _row(conn, recording_id), segments)
            after = {k: v for k, v in record.to_json().items() if k in _STOP_FIELDS}
            after |= {"segments": len(segments), "segments_sha256": segments_digest(segments)}
            before = {"state": RecordingState.RECORDING.value}
            await self._audit(conn, actor, "recording.stop", recording_id, before, after)
            return record

    async def extend_retention(
        self, recording_id: str, retain_until: datetime, actor: Actor
    ) -> RecordingRecord:
        """Keep a recording's files at least until ``retain_until`` (a legal hold;
        audit: ``recording.retain``). The same date again changes (and audits) nothing.

        Raises:
            NotFound: no such recording.
            InvalidValue: field ``retain_until``: not aware, or earlier than the current
                ``retain_until`` (retention never shortens); field ``state``: purged.
        """
        _aware("retain_until", retain_until)
        async with self._writing() as conn:
            row = await _row(conn, recording_id)
            if row.state == RecordingState.PURGED.value:
                raise InvalidValue("state", f"recording {recording_id} is purged: nothing to keep")
            current = row.retain_until
            if current is not None and retain_until < current:
                raise InvalidValue(
                    "retain_until",
                    f"{utc_iso(retain_until)} is before the current {utc_iso(current)}:"
                    " retention is never shortened",
                )
            if current != retain_until:
                await conn.execute(
                    sa.update(recordings)
                    .where(recordings.c.id == recording_id)
                    .values(retain_until=retain_until)
                )
                await self._audit(
                    conn,
                    actor,
                    "recording.retain",
                    recording_id,
                    {"retain_until": None if current is None else utc_iso(current)},
                    {"retain_until": utc_iso(retain_until)},
                )
            return _record(await _row(conn, recording_id), await _segments(conn, recording_id))

    async def mark_purged(
        self, recording_id: str, *, now: datetime, actor: Actor, reason: str
    ) -> bool:
        """Mark a recording ``purged`` if it is still due (stopped, ``retain_until`` before
        ``now``; a legal hold set meanwhile wins); audit: ``recording.purge``. Delete the
        files only after this returned True.

        Raises:
            NotFound: no such recording.
        """
        _aware("now", now)
        async with self._writing() as conn:
            row = await _row(conn, recording_id)
            due = row.state in _ENDED and row.retain_until is not None and row.retain_until < now
            if not due:
                return False
            await conn.execute(
                sa.update(recordings)
                .where(recordings.c.id == recording_id)
                .values(state=RecordingState.PURGED.value)
            )
            await self._audit(
                conn,
                actor,
                "recording.purge",
                recording_id,
                {"state": row.state, "retain_until": utc_iso(row.retain_until)},
                {"state": RecordingState.PURGED.value, "reason": reason},
            )
            return True

    async def record_export(
        self,
        recording_id: str,
        *,
        actor: Actor,
        sha256: str,
        bytes: int,
        exported_at: datetime,
        segments: Sequence[SegmentRecord],
    ) -> None:
        """Audit an export (``recording.export``) with the archive's SHA-256 and size.

        Raises:
            NotFound: no such recording.
            InvalidValue: a malformed hash or size.
        """
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise InvalidValue("sha256", "must be 64 lower-case hex digits")
        _count("bytes", bytes)
        _aware("exported_at", exported_at)
        async with self._writing() as conn:
            await _row(conn, recording_id)
            after = {
                "sha256": sha256,
                "bytes": bytes,
                "exported_at": utc_iso(exported_at),
                "segments": len(segments),
                "segments_sha256": segments_digest(segments),
            }
            await self._audit(conn, actor, "recording.export", recording_id, None, after)

    # -- reads ---------------------------------------------------------------------------

    async def get(self, recording_id: str) -> RecordingRecord | None:
        """The recording with its segments, or ``None``."""
        async with self._reading("get recording") as conn:
            query = sa.select(recordings).where(recordings.c.id == recording_id)
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            return _record(row, await _segments(conn, recording_id))

    async def list(
        self,
        *,
        mission_id: str | None = None,
        drone_id: int | None = None,
        state: RecordingState | str | Iterable[RecordingState | str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RecordingRecord]:
        """Recordings (without segments), newest first, filtered by mission, drone, state(s).

        Raises:
            InvalidValue: an unknown state, ``limit`` outside 1..10000, negative offset.
        """
        check_page(limit, offset)
        query = sa.select(recordings)
        if mission_id is not None:
            query = query.where(recordings.c.mission_id == mission_id)
        if drone_id is not None:
            query = query.where(recordings.c.drone_id == drone_id)
        if state is not None:
            query = query.where(recordings.c.state.in_(_states(state)))
        query = query.order_by(recordings.c.started_at.desc(), recordings.c.id.desc())
        async with self._reading("list recordings") as conn:
            rows = await conn.execute(query.limit(limit).offset(offset))
            return [_record(r) for r in rows]

    async def due_for_purge(
        self, now: datetime, *, limit: int = 100
    ) -> builtins.list[RecordingRecord]:
        """Stopped recordings whose ``retain_until`` is before ``now``, oldest due first.

        Raises:
            InvalidValue: a naive ``now``; ``limit`` outside 1..10000.
        """
        _aware("now", now)
        check_page(limit)
        query = (
            sa.select(recordings)
            .where(recordings.c.state.in_(_ENDED), recordings.c.retain_until < now)
            .order_by(recordings.c.retain_until, recordings.c.id)
            .limit(limit)
        )
        async with self._reading("recordings due for purge") as conn:
            return [_record(r) for r in await conn.execute(query)]
