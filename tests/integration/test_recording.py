"""Evidence recording end to end: a real EventBus, a real Store (SQLite and PostgreSQL),
real libx264 segment files, the real MissionBook announcing mission changes, and a
stand-in relay whose camera is a thread producing frames at 15 fps (it follows the
``TapHost`` protocol of ``mission_control/video/frames.py``). The HTTP routes run in a
small FastAPI app holding the real store and recorder, through httpx's ASGI transport.

PostgreSQL comes from ``MC_TEST_POSTGRES_URL`` as in ``test_store.py`` (the cases fail if
it is unreachable unless ``MC_TEST_POSTGRES=skip``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from test_store import ANN, PAT, T0, Ticker, incident, mission, raw, throwaway_postgres

from mission_control.api import recordings as recordings_api
from mission_control.api.errors import install_error_handlers
from mission_control.bus import EventBus
from mission_control.domain.mission import MissionState
from mission_control.services.missions import MissionBook
from mission_control.store import SYSTEM, Actor, InvalidValue, Store
from mission_control.store.recordings import RecordingRecord, RecordingState, segments_digest
from mission_control.video.errors import NoVideoSource, RecordingError, VideoSettingsError
from mission_control.video.frames import DecodedFrame, FrameTap
from mission_control.video.recording import EXPORTS_DIR, Recorder, RecordingSettings
from mission_control.video.segments import EncoderSettings, SegmentWriter, segment_name

pytestmark = pytest.mark.integration

FPS = 15
SEGMENT_S = 0.5
RETENTION_DAYS = 30.0
CAMERA_DRONE = 3
NO_CAMERA_DRONE = 9


class Clock:
    """Aware UTC time that moves only when told to."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class ThreadCamera:
    """A ``TapHost``: each tap runs a camera thread producing 320×240 frames at 15 fps."""

    def __init__(self, drones: set[int], *, burst: int = 1) -> None:
        self.drones = drones
        self.burst = burst  # frames handed over at once, every 1/15 s
        self.frames_sent = 0

    @contextlib.asynccontextmanager
    async def tap(self, drone_id: int, tap: FrameTap) -> AsyncIterator[None]:
        if drone_id not in self.drones:
            raise NoVideoSource(drone_id)
        stop = threading.Event()
        thread = threading.Thread(
            target=self._produce, args=(tap, stop), name=f"test camera {drone_id}"
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)

    def _produce(self, tap: FrameTap, stop: threading.Event) -> None:
        seq = 0
        next_s = time.monotonic()
        while not stop.is_set():
            seq += 1
            image = np.full((240, 320, 3), (30, 60 + seq % 150, 120), np.uint8)
            cv2.circle(image, (int(160 + 120 * np.sin(seq / 6)), 90), 25, (0, 0, 255), -1)
            cv2.putText(image, str(seq), (10, 230), cv2.FONT_HERSHEY_SIMPLEX, 1, (255,) * 3, 2)
            image.flags.writeable = False
            for k in range(self.burst):
                now_s = time.time() + k / (FPS * self.burst)
                tap(DecodedFrame(image, seq, now_s, time.monotonic()), image)
                self.frames_sent += 1
            next_s += 1 / FPS
            stop.wait(max(0.0, next_s - time.monotonic()))


@dataclass
class Rig:
    """A store, a bus, the mission book, a camera and the recorder's settings."""

    store: Store
    bus: EventBus[object]
    book: MissionBook
    clock: Clock
    camera: ThreadCamera
    settings: RecordingSettings
    missions: list[str] = field(default_factory=list)

    def recorder(self) -> Recorder:
        return Recorder(self.settings, self.store, self.bus, self.camera, self.clock)

    async def new_mission(self, n: int, drone_id: int) -> str:
        if await self.store.get_incident(f"inc-{n}") is None:
            await self.store.add_incident(incident(n), ANN)
        await self.store.add_mission(mission(n, f"inc-{n}", drone_id), PAT)
        return f"m-{n}"

    async def fly(self, mission_id: str, *states: MissionState) -> None:
        for state in states:
            self.clock.advance(timedelta(seconds=1))
            await self.book.transition(mission_id, state, PAT, reason=f"test: {state}")

    async def take_off(self, mission_id: str) -> None:
        await self.fly(
            mission_id,
            MissionState.APPROVED,
            MissionState.UPLOADING,
            MissionState.READY,
            MissionState.IN_FLIGHT,
        )

    async def recording_of(self, mission_id: str) -> RecordingRecord | None:
        found = await self.store.recordings.list(mission_id=mission_id)
        if not found:
            return None
        return await self.store.recordings.get(found[0].id)

    async def until(self, mission_id: str, what: str, check: Any, timeout_s: float = 20) -> Any:
        deadline = time.monotonic() + timeout_s
        last: RecordingRecord | None = None
        while time.monotonic() < deadline:
            last = await self.recording_of(mission_id)
            if last is not None and check(last):
                return last
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/db/mc.db"
        return
    async with throwaway_postgres() as url:
        yield url


@pytest.fixture
async def rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    async with Store.open(db_url, clock=Ticker()) as store, EventBus[object]() as bus:
        settings = RecordingSettings(
            tmp_path / "recordings",
            segment_s=SEGMENT_S,
            retention_days=RETENTION_DAYS,
            purge_interval_s=3600,
            preset="ultrafast",
        )
        yield Rig(store, bus, MissionBook(store, bus, clock), clock, ThreadCamera({3}), settings)


def recorder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("recorder", "test cam"))]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count_frames(data: bytes) -> int:
    with av.open(io.BytesIO(data), mode="r") as container:
        return len(list(container.decode(container.streams.video[0])))


async def record_one_flight(rig: Rig, n: int = 1, *, segments: int = 2) -> RecordingRecord:
    """Fly mission ``m-n`` on the camera drone until ``segments`` segments are stored, pause
    and resume it, then complete it: the finished recording."""
    mission_id = await rig.new_mission(n, CAMERA_DRONE)
    async with rig.recorder() as recorder:
        await rig.take_off(mission_id)
        await rig.until(mission_id, f"{segments} segments", lambda r: len(r.segments) >= segments)
        await rig.fly(mission_id, MissionState.PAUSED, MissionState.IN_FLIGHT)
        assert recorder.recording == {mission_id}
        await rig.fly(mission_id, MissionState.COMPLETED)
        done = await rig.until(mission_id, "complete", lambda r: r.state != "recording")
    assert recorder_threads() == []
    return done  # type: ignore[no-any-return]


# -- recording ---------------------------------------------------------------------------------


async def test_a_flight_is_recorded_in_hashed_segments_and_audited(rig: Rig) -> None:
    rec = await record_one_flight(rig)
    assert rec.state is RecordingState.COMPLETE
    assert rec.stop_reason == "mission completed"
    assert rec.drone_id == CAMERA_DRONE
    assert rec.stopped_at == rig.clock.now
    assert rec.retain_until == rig.clock.now + timedelta(days=RETENTION_DAYS)
    assert len(rec.segments) >= 2
    assert [s.n for s in rec.segments] == list(range(1, len(rec.segments) + 1))
    directory = rig.settings.root_dir / rec.dir
    assert sorted(p.name for p in directory.iterdir()) == [s.file for s in rec.segments]
    for seg in rec.segments:
        data = (directory / seg.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == seg.sha256
        assert len(data) == seg.bytes
        assert count_frames(data) == seg.frames > 0
        assert (seg.width_px, seg.height_px) == (320, 240)
        assert seg.started_at <= seg.ended_at
    assert rec.frames == sum(s.frames for s in rec.segments)
    assert rec.frames + rec.dropped_frames == rig.camera.frames_sent  # each written or dropped
    entries = await rig.store.audit_entries(rec.id)
    assert [(e.action, e.object_type, e.actor) for e in entries] == [
        ("recording.start", "recording", "system"),
        ("recording.stop", "recording", "system"),
    ]
    assert entries[0].after is not None and entries[0].after["mission_id"] == "m-1"
    assert entries[1].after is not None
    assert entries[1].after["segments_sha256"] == segments_digest(rec.segments)
    assert entries[1].after["frames"] == rec.frames
    report = await rig.store.verify_audit()
    assert report.ok, report.reason


async def test_one_recording_per_mission_and_none_before_it_flies(rig: Rig) -> None:
    mission_id = await rig.new_mission(1, CAMERA_DRONE)
    async with rig.recorder() as recorder:
        await rig.fly(mission_id, MissionState.APPROVED, MissionState.UPLOADING)
        await asyncio.sleep(0.2)
        assert await rig.recording_of(mission_id) is None
        await rig.fly(mission_id, MissionState.READY, MissionState.IN_FLIGHT)
        first = await rig.until(mission_id, "a segment", lambda r: len(r.segments) >= 1)
        await rig.fly(mission_id, MissionState.LINK_LOST, MissionState.RETURNING)
        await asyncio.sleep(0.3)
        assert recorder.recording == {mission_id}
        await rig.fly(mission_id, MissionState.ABORTED)
        done = await rig.until(mission_id, "stopped", lambda r: r.state != "recording")
    assert done.id == first.id
    assert done.state is RecordingState.COMPLETE
    assert done.stop_reason == "mission aborted"
    assert len(await rig.store.recordings.list(mission_id=mission_id)) == 1


async def test_a_writer_that_cannot_keep_up_drops_the_oldest_frames_and_counts_them(
    rig: Rig,
) -> None:
    rig.camera.burst = 200  # 3000 frames/s for a writer that manages a few hundred
    rig.settings = replace(rig.settings, queue_frames=2)
    rec = await record_one_flight(rig, segments=1)
    assert rec.state is RecordingState.COMPLETE
    assert rec.dropped_frames > rec.frames > 0
    assert rec.frames + rec.dropped_frames == rig.camera.frames_sent
    entries = await rig.store.audit_entries(rec.id)
    assert entries[-1].after is not None
    assert entries[-1].after["dropped_frames"] == rec.dropped_frames


async def test_a_drone_without_video_source_gives_a_failed_recording(rig: Rig) -> None:
    mission_id = await rig.new_mission(1, NO_CAMERA_DRONE)
    async with rig.recorder():
        await rig.take_off(mission_id)
        rec = await rig.until(mission_id, "failed", lambda r: r.state != "recording")
        await rig.fly(mission_id, MissionState.PAUSED)  # no second attempt
        await asyncio.sleep(0.2)
    assert rec.state is RecordingState.FAILED
    assert (
        rec.stop_reason
        == f"drone {NO_CAMERA_DRONE} has no video source (none configured or announced)"
    )
    assert rec.segments == ()
    entries = await rig.store.audit_entries(rec.id)
    assert [e.action for e in entries] == ["recording.start", "recording.stop"]
    assert entries[1].after is not None and entries[1].after["state"] == "failed"
    assert len(await rig.store.recordings.list(mission_id=mission_id)) == 1
    with pytest.raises(RecordingError, match="no video was recorded"):
        async with rig.recorder() as recorder:
            await recorder.export(rec.id, PAT)


async def test_a_restart_goes_on_with_the_same_recording_and_salvages_a_cut_segment(
    rig: Rig,
) -> None:
    mission_id = await rig.new_mission(1, CAMERA_DRONE)
    async with rig.recorder():
        await rig.take_off(mission_id)
        before = await rig.until(mission_id, "2 segments", lambda r: len(r.segments) >= 2)
    suspended = await rig.recording_of(mission_id)
    assert suspended is not None and suspended.state is RecordingState.RECORDING
    assert suspended.id == before.id
    stored = len(suspended.segments)
    # a crash's leftover: an unfinished .part file numbered after the stored ones
    directory = rig.settings.root_dir / suspended.dir
    cut = SegmentWriter(directory, EncoderSettings(segment_s=60), first_n=stored + 1)
    for i in range(20):
        cut.write(np.full((240, 320, 3), i * 10, np.uint8), time.time() + i / FPS)
    cut.abort()
    assert (directory / (segment_name(stored + 1) + ".part")).exists()

    async with rig.recorder() as recorder:
        await recorder.resume(await rig.store.active_missions())
        assert recorder.recording == {mission_id}
        await rig.until(mission_id, "new segments", lambda r: len(r.segments) >= stored + 2)
        await rig.fly(mission_id, MissionState.COMPLETED)
        done = await rig.until(mission_id, "complete", lambda r: r.state != "recording")
    assert done.id == suspended.id
    assert done.state is RecordingState.COMPLETE
    assert [s.n for s in done.segments] == list(range(1, len(done.segments) + 1))
    salvaged = done.segments[stored]
    assert salvaged.file == segment_name(stored + 1)
    assert 0 < salvaged.frames <= 20
    for seg in done.segments:
        assert file_sha256(directory / seg.file) == seg.sha256
    actions = [e.action for e in await rig.store.audit_entries(done.id)]
    assert actions == ["recording.start", "recording.start", "recording.stop"]
    resumed = (await rig.store.audit_entries(done.id))[1].after
    assert resumed is not None and resumed["resumed"] is True
    assert (await rig.store.verify_audit()).ok


async def test_a_recording_whose_mission_ended_while_down_is_closed_on_start_up(
    rig: Rig,
) -> None:
    mission_id = await rig.new_mission(1, CAMERA_DRONE)
    async with rig.recorder():
        await rig.take_off(mission_id)
        await rig.until(mission_id, "a segment", lambda r: len(r.segments) >= 1)
    await rig.fly(mission_id, MissionState.COMPLETED)  # nobody is listening
    async with rig.recorder() as recorder:
        await recorder.resume(await rig.store.active_missions())
        assert recorder.recording == frozenset()
    rec = await rig.recording_of(mission_id)
    assert rec is not None and rec.state is RecordingState.COMPLETE
    assert rec.stop_reason == "mission completed while the service was down"


# -- export ------------------------------------------------------------------------------------


async def test_export_is_a_zip_whose_manifest_hashes_match_and_is_audited(rig: Rig) -> None:
    rec = await record_one_flight(rig)
    async with rig.recorder() as recorder:
        rig.clock.advance(timedelta(minutes=5))
        path = await recorder.export(rec.id, PAT)
    try:
        data = path.read_bytes()
        assert path.parent == rig.settings.root_dir / EXPORTS_DIR
    finally:
        path.unlink()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        contents = {name: archive.read(name) for name in names if name != "manifest.json"}
    assert sorted(contents) == [s.file for s in rec.segments]
    assert manifest["mission_id"] == "m-1"
    assert manifest["drone_id"] == CAMERA_DRONE
    assert manifest["recording"]["id"] == rec.id
    assert manifest["exported_by"] == {"name": "pat", "role": "pilot"}
    assert datetime.fromisoformat(manifest["exported_at"]) == rig.clock.now
    assert manifest["segments_sha256"] == segments_digest(rec.segments)
    for seg in manifest["segments"]:
        assert hashlib.sha256(contents[seg["file"]]).hexdigest() == seg["sha256"]
        assert len(contents[seg["file"]]) == seg["bytes"]
    entries = await rig.store.audit_entries(rec.id)
    assert [e.action for e in entries][-1] == "recording.export"
    after = entries[-1].after
    assert after is not None
    assert after["sha256"] == hashlib.sha256(data).hexdigest()
    assert after["bytes"] == len(data)
    assert (entries[-1].actor, entries[-1].role) == ("pat", "pilot")
    assert (await rig.store.verify_audit()).ok


async def test_an_altered_segment_file_or_hash_row_makes_export_refuse(
    rig: Rig, db_url: str
) -> None:
    rec = await record_one_flight(rig)
    target = rec.segments[1]
    path = rig.settings.root_dir / rec.dir / target.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    async with rig.recorder() as recorder:
        with pytest.raises(RecordingError, match=f"segment {target.file} was altered") as info:
            await recorder.export(rec.id, PAT)
        assert info.value.recording_id == rec.id
        # an intruder who also rewrites the hash row is caught by the audited digest
        forged = hashlib.sha256(bytes(data)).hexdigest()
        await raw(
            db_url,
            f"UPDATE recording_segments SET sha256 = '{forged}' "
            f"WHERE recording_id = '{rec.id}' AND n = {target.n}",
        )
        with pytest.raises(RecordingError, match="audited when it stopped"):
            await recorder.export(rec.id, PAT)
        path.unlink()
        await raw(
            db_url,
            f"UPDATE recording_segments SET sha256 = '{target.sha256}' "
            f"WHERE recording_id = '{rec.id}' AND n = {target.n}",
        )
        with pytest.raises(RecordingError, match=f"segment {target.file} is missing"):
            await recorder.export(rec.id, PAT)
    assert list((rig.settings.root_dir / EXPORTS_DIR).iterdir()) == []
    actions = [e.action for e in await rig.store.audit_entries(rec.id)]
    assert "recording.export" not in actions


# -- retention ---------------------------------------------------------------------------------


async def test_purge_deletes_files_past_retention_and_a_legal_hold_wins(rig: Rig) -> None:
    rec = await record_one_flight(rig)
    assert rec.retain_until is not None
    directory = rig.settings.root_dir / rec.dir
    admin = Actor("ada", "admin")
    async with rig.recorder() as recorder:
        rig.clock.advance(timedelta(days=RETENTION_DAYS) - timedelta(seconds=1))
        assert await recorder.purge_due() == []
        hold = rec.retain_until + timedelta(days=365)
        held = await rig.store.recordings.extend_retention(rec.id, hold, admin)
        assert held.retain_until == hold
        rig.clock.advance(timedelta(days=1))
        assert await recorder.purge_due() == []
        assert directory.is_dir()
        rig.clock.advance(timedelta(days=365))
        assert await recorder.purge_due() == [rec.id]
        assert not directory.exists()
        assert await recorder.purge_due() == []
        with pytest.raises(RecordingError, match="purged"):
            await recorder.export(rec.id, PAT)
    purged = await rig.store.recordings.get(rec.id)
    assert purged is not None and purged.state is RecordingState.PURGED
    assert purged.segments == rec.segments  # the rows stay: what existed, and its hashes
    entries = await rig.store.audit_entries(rec.id)
    assert [e.action for e in entries][-2:] == ["recording.retain", "recording.purge"]
    assert entries[-1].actor == SYSTEM.name
    assert (await rig.store.verify_audit()).ok


async def test_retention_is_never_shortened(rig: Rig) -> None:
    rec = await record_one_flight(rig)
    assert rec.retain_until is not None
    admin = Actor("ada", "admin")
    with pytest.raises(InvalidValue, match="never shortened") as info:
        await rig.store.recordings.extend_retention(
            rec.id, rec.retain_until - timedelta(seconds=1), admin
        )
    assert info.value.field == "retain_until"
    same = await rig.store.recordings.extend_retention(rec.id, rec.retain_until, admin)
    assert same.retain_until == rec.retain_until
    assert [e.action for e in await rig.store.audit_entries(rec.id)] == [
        "recording.start",
        "recording.stop",
    ]


# -- HTTP --------------------------------------------------------------------------------------


@dataclass
class MiniServices:
    """What the recordings routes and the auth dependency reach on ``app.state``."""

    store: Store
    recorder: Recorder | None


@contextlib.asynccontextmanager
async def api(rig: Rig, recorder: Recorder | None) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(recordings_api.router)
    app.state.services = MiniServices(rig.store, recorder)
    clients: dict[str, httpx.AsyncClient] = {}
    async with contextlib.AsyncExitStack() as stack:
        for role in ("responder", "pilot", "viewer", "admin"):
            name = f"{role}-{len(await rig.store.list_users())}"
            token = await rig.store.add_user(name, role)
            clients[role] = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://mc",
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
        yield clients


async def test_the_http_api_lists_reads_exports_and_holds_recordings(rig: Rig) -> None:
    rec = await record_one_flight(rig)
    async with rig.recorder() as recorder, api(rig, recorder) as c:
        r = await c["viewer"].get("/api/recordings", params={"mission_id": "m-1"})
        assert r.status_code == 200, r.text
        assert [x["id"] for x in r.json()] == [rec.id]
        assert r.json()[0]["state"] == "complete"
        r = await c["viewer"].get("/api/recordings", params={"state": "purged"})
        assert r.json() == []
        r = await c["viewer"].get("/api/recordings", params={"drone_id": CAMERA_DRONE})
        assert [x["id"] for x in r.json()] == [rec.id]
        assert (await c["responder"].get("/api/recordings")).status_code == 403
        assert (await c["viewer"].get("/api/recordings", params={"state": "x"})).status_code == 422

        r = await c["pilot"].get(f"/api/recordings/{rec.id}")
        assert r.status_code == 200
        body = r.json()
        assert [s["sha256"] for s in body["segments"]] == [s.sha256 for s in rec.segments]
        assert body["segments_sha256"] == segments_digest(rec.segments)
        r = await c["pilot"].get("/api/recordings/rec-nope")
        assert r.status_code == 404
        assert r.json()["detail"] == "no recording with id 'rec-nope'"

        assert (await c["viewer"].get(f"/api/recordings/{rec.id}/export")).status_code == 403
        r = await c["pilot"].get(f"/api/recordings/{rec.id}/export")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert f'filename="{rec.id}.zip"' in r.headers["content-disposition"]
        assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
        with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
            assert "manifest.json" in archive.namelist()
        assert list((rig.settings.root_dir / EXPORTS_DIR).iterdir()) == []  # deleted
        assert (await c["admin"].get("/api/recordings/rec-nope/export")).status_code == 404

        assert rec.retain_until is not None
        later = (rec.retain_until + timedelta(days=10)).isoformat()
        r = await c["pilot"].post(f"/api/recordings/{rec.id}/retain", json={"retain_until": later})
        assert r.status_code == 403
        r = await c["admin"].post(f"/api/recordings/{rec.id}/retain", json={"retain_until": later})
        assert r.status_code == 200, r.text
        assert datetime.fromisoformat(r.json()["retain_until"]) == rec.retain_until + timedelta(
            days=10
        )
        for bad in (
            {"retain_until": rec.retain_until.isoformat()},  # earlier than the hold now
            {"retain_until": "2030-01-01T00:00:00"},  # no time zone
            {"retain_until": "soon"},
        ):
            r = await c["admin"].post(f"/api/recordings/{rec.id}/retain", json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["detail"][0]["loc"] == ["body", "retain_until"]
        r = await c["admin"].post("/api/recordings/rec-nope/retain", json={"retain_until": later})
        assert r.status_code == 404

        path = rig.settings.root_dir / rec.dir / rec.segments[0].file
        path.write_bytes(path.read_bytes()[:-10])
        r = await c["admin"].get(f"/api/recordings/{rec.id}/export")
        assert r.status_code == 409
        assert f"segment {rec.segments[0].file} was altered" in r.json()["detail"]

    async with api(rig, None) as c:
        r = await c["pilot"].get(f"/api/recordings/{rec.id}/export")
        assert r.status_code == 503
        assert "not running" in r.json()["detail"]
        assert (await c["viewer"].get(f"/api/recordings/{rec.id}")).status_code == 200


def test_recording_settings_refuse_bad_values(tmp_path: Path) -> None:
    bad: tuple[tuple[str, Any], ...] = (
        ("queue_frames", 0),
        ("retention_days", -1.0),
        ("segment_s", 0.0),
        ("preset", "slowest"),
    )
    for field_name, value in bad:
        with pytest.raises(VideoSettingsError, match=field_name):
            RecordingSettings(tmp_path, **{field_name: value})
