"""Live video through the whole service: real FFmpeg RTP senders and the simulated cameras,
the relay, ``/ws/video``, snapshots, privacy zones, evidence recording and source alerts."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import websockets
from service_harness import (
    FAST,
    HOME,
    ServiceHandle,
    incident_at,
    pending_mission_for,
    ready_drones,
    running_service,
    square_zone,
    state_is,
    wait_for,
)
from video_harness import free_even_port, need_ffmpeg, rtp_sender
from websockets.exceptions import ConnectionClosed, InvalidStatus

from flight_plans.geodesy import GeoPoint, destination
from mission_control.video.wire import Flags, unpack

pytestmark = pytest.mark.integration

CAMERA = 2
"""The drone id the ffmpeg camera is configured for (no vehicle flies with that id)."""


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    return need_ffmpeg()


@dataclass
class Watched:
    """What one ``/ws/video`` viewer received."""

    frames: list[tuple[int, int, float, float, bytes]] = field(default_factory=list)
    """(seq, flags, capture_unix_s, received_unix_s, jpeg) per frame."""
    states: list[str] = field(default_factory=list)

    def seqs(self) -> list[int]:
        return [f[0] for f in self.frames]


async def watch(
    ws: Any, got: Watched, until: Callable[[Watched], bool], timeout_s: float = 30.0
) -> None:
    """Read a video socket until ``until(got)``."""
    async with asyncio.timeout(timeout_s):
        while not until(got):
            message = await ws.recv()
            if isinstance(message, str):
                doc = json.loads(message)
                if doc["kind"] == "source":
                    got.states.append(doc["state"])
                continue
            header, jpeg = unpack(message)
            got.frames.append(
                (header.seq, int(header.flags), header.capture_unix_s, time.time(), jpeg)
            )


def decode(jpeg: bytes) -> np.ndarray[Any, Any]:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable JPEG"
    return image


def video_ws(svc: ServiceHandle, drone_id: int, *, token: str | None = "viewer", **q: Any) -> Any:
    query = "&".join(
        ([f"token={svc.tokens[token]}"] if token else []) + [f"{k}={v}" for k, v in q.items()]
    )
    return websockets.connect(f"{svc.ws_url}/ws/video/{drone_id}?{query}", max_size=None)


async def test_an_ffmpeg_rtp_stream_reaches_two_viewers_as_jpegs_encoded_once(
    ffmpeg: str, tmp_path: Path
) -> None:
    """Debian's ffmpeg sends RTP/UDP H.264 (as PX4's camera does) to a configured source;
    viewers at different widths get decodable JPEGs of their size with increasing sequence
    numbers at the source's rate, though a fourth viewer reads only two frames a second;
    each frame is encoded once per size whatever the viewers, and the source shows up in
    ``/api/video``."""
    port = free_even_port()
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    sources = {CAMERA: f"rtp://127.0.0.1:{port}"}
    async with (
        rtp_sender(ffmpeg, port, size="1280x720", rate=15),
        running_service(database_url=db, sim_vehicles=1, video_sources=sources) as svc,
        video_ws(svc, CAMERA) as full,
        video_ws(svc, CAMERA, width=320) as small,
        video_ws(svc, CAMERA, width=320) as small_2,
        video_ws(svc, CAMERA) as slow,
    ):
        got = [Watched(), Watched(), Watched()]
        slow_reader = asyncio.create_task(_read_slowly(slow), name="test-slow-viewer")
        await asyncio.gather(
            *(
                watch(ws, g, lambda g: len(g.frames) >= 60)
                for ws, g in zip((full, small, small_2), got, strict=True)
            )
        )
        status = svc.services.video.relay.status(CAMERA) if svc.services.video else None
        slow_reader.cancel()
        await asyncio.gather(slow_reader, return_exceptions=True)
        async with svc.client("viewer") as c:
            listed = (await c.get("/api/video")).json()
            snap = await c.get(f"/api/drones/{CAMERA}/snapshot.jpg", params={"width": 640})
    for g, width in zip(got, (1280, 320, 320), strict=True):
        assert g.states[0] in ("connecting", "up") and "up" in g.states
        seqs = g.seqs()
        assert seqs == sorted(set(seqs)), "sequence numbers must increase"
        for _, flags, captured, received, jpeg in g.frames[-5:]:
            image = decode(jpeg)
            assert image.shape[1] == width and image.shape[0] == width * 9 // 16
            assert Flags.OVERLAY in Flags(flags)
            assert 0 <= received - captured < 1.0
    assert status is not None
    for g in got:  # the slow viewer does not hold the others back
        assert _rate(g) >= 0.85 * status.input_fps > 0.85 * 14
    # the full-size and 320 px tiers each encoded once per frame, never once per viewer
    assert status.encodes_per_tier[320] <= status.frames_in + 1
    assert status.encodes_per_tier[0] <= status.frames_in + 1
    assert status.viewers_per_tier == {0: 2, 320: 2, 640: 0}
    drone = next(d for d in listed["drones"] if d["drone_id"] == CAMERA)
    assert drone["source"] == f"rtp://127.0.0.1:{port}" and drone["state"] == "up"
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert decode(snap.content).shape[:2] == (360, 640)


async def _read_slowly(ws: Any) -> None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.recv()
            await asyncio.sleep(0.5)


def _rate(got: Watched) -> float:
    """Frames per second received, after the first second."""
    times = [f[3] for f in got.frames]
    window = [t for t in times if t >= times[0] + 1.0]
    return (len(window) - 1) / (window[-1] - window[0])


async def test_a_source_that_stops_and_comes_back_is_reconnected_and_announced(
    ffmpeg: str, tmp_path: Path
) -> None:
    """The camera's sender dies: viewers are told ``down`` and a warning alert is stored;
    it comes back on the same port: ``up`` again, frames continue with higher sequence
    numbers on the same socket, and an info alert says so."""
    port = free_even_port()
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    sources = {CAMERA: f"rtp://127.0.0.1:{port}"}
    async with running_service(database_url=db, sim_vehicles=1, video_sources=sources) as svc:
        got = Watched()
        async with video_ws(svc, CAMERA, width=320) as ws:
            async with rtp_sender(ffmpeg, port, rate=15):
                await watch(ws, got, lambda g: len(g.frames) >= 10)
            last_seq = got.seqs()[-1]
            await watch(ws, got, lambda g: g.states[-1] == "down", timeout_s=15)
            async with rtp_sender(ffmpeg, port, rate=15):
                await watch(ws, got, lambda g: g.states[-1] == "up", timeout_s=30)
                n = len(got.frames)
                await watch(ws, got, lambda g: len(g.frames) >= n + 10)
        assert got.seqs()[-1] > last_seq + 5
        assert got.seqs() == sorted(set(got.seqs()))

        async def alerts() -> list[str]:
            events = await svc.services.store.events_since(0, limit=1000)
            return [e.payload["text"] for e in events if e.kind.value == "alert"]

        texts = await wait_for(lambda: _has_back(alerts()), 10, "the video alerts", period_s=0.2)
    assert any(t.startswith(f"video from drone {CAMERA} lost") for t in texts), texts
    assert f"video from drone {CAMERA} is back" in texts


async def _has_back(texts: Any) -> list[str] | None:
    got: list[str] = await texts
    return got if any(t.endswith("is back") for t in got) else None


async def test_viewers_without_a_valid_token_or_of_a_drone_without_video_are_refused(
    tmp_path: Path,
) -> None:
    """No token or an unknown one: 401; a responder: 403; a drone with no camera: 404; a
    bad width: 422 — all before the socket is accepted, and the HTTP routes alike."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=1) as svc:
        cases = [
            (video_ws(svc, 1, token=None), 401),
            (websockets.connect(f"{svc.ws_url}/ws/video/1?token=forged"), 401),
            (video_ws(svc, 1, token="responder"), 403),
            (video_ws(svc, 7), 404),
            (video_ws(svc, 1, width="wide"), 422),
        ]
        for connecting, status in cases:
            with pytest.raises(InvalidStatus) as refused:
                async with connecting:
                    pass
            assert refused.value.response.status_code == status
        async with svc.client(None) as anonymous:
            r = await anonymous.get("/api/drones/1/snapshot.jpg")
            assert r.status_code == 401
            r = await anonymous.get("/api/drones/1/video.mjpeg", params={"token": "forged"})
            assert r.status_code == 401
        # a viewer token in the query works for <img src> clients
        async with svc.client(None) as anonymous:
            r = await anonymous.get(
                "/api/drones/1/snapshot.jpg", params={"token": svc.tokens["viewer"]}
            )
            assert r.status_code == 200 and decode(r.content).shape[:2] == (360, 640)


def privacy_zone(center: GeoPoint, half_m: float) -> dict[str, Any]:
    """A camera-only privacy zone: reason PRIVACY, no flight restriction."""
    zone = square_zone(center, half_m, "PRIV-1")
    zone["properties"].update(
        {"name": "clinic garden", "reason": ["PRIVACY"], "restriction": "no_restriction"}
    )
    return zone


async def test_the_sim_camera_feeds_a_mission_end_to_end_recorded_and_privacy_masked(
    tmp_path: Path,
) -> None:
    """A simulated drone flies an overwatch mission: its camera is watched live (overlay
    burned in), frames are blanked while it looks at a privacy zone around the incident,
    the mission is recorded in hashed segments with audit entries, and the export's
    manifest matches the files."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    target = destination(GeoPoint(HOME[0], HOME[1]), 45, 300)
    async with running_service(
        database_url=db,
        sim_vehicles=1,
        video_record=True,
        video_segment_s=2.0,
        video_dir=str(tmp_path / "recordings"),
        **FAST,
    ) as svc:
        await ready_drones(svc, 1)
        async with svc.client("admin") as c:
            r = await c.post("/api/zones", json=privacy_zone(target, 60))
            assert r.status_code == 201, r.text
        async with svc.client("responder") as c:
            r = await c.post("/api/incidents", json=incident_at(300))
            assert r.status_code == 201, r.text
        mission = await pending_mission_for(svc, r.json()["id"])
        assert mission["airspace_ok"], "a privacy zone does not restrict flight"
        got = Watched()
        async with video_ws(svc, mission["drone_id"], width=320) as ws:
            async with svc.client("pilot") as c:
                r = await c.post(f"/api/missions/{mission['id']}/approve")
                assert r.status_code == 200, r.text
            # on station the camera is aimed at the incident, inside the privacy zone
            await watch(ws, got, lambda g: any(f[1] & Flags.PRIVACY_ZONE for f in g.frames), 120)
        await wait_for(lambda: state_is(svc, mission["id"], "completed"), 150, "completion")
        masked = [f for f in got.frames if f[1] & Flags.PRIVACY_ZONE]
        clear = [f for f in got.frames if not f[1] & Flags.PRIVACY_ZONE]
        assert clear, "frames before the camera saw the zone are not masked"
        # the camera's own picture (its black-and-white stamp at the bottom left among it)
        # is gone from a blanked frame: that corner is flat grey
        assert _corner_contrast(decode(clear[0][4])) > 40
        assert _corner_contrast(decode(masked[-1][4])) < 5

        async with svc.client("pilot") as c:

            async def recording() -> Any:
                r = await c.get("/api/recordings", params={"mission_id": mission["id"]})
                found = r.json()
                return found[0] if found and found[0]["state"] == "complete" else None

            rec = await wait_for(recording, 40, "the mission's recording completed")
            detail = (await c.get(f"/api/recordings/{rec['id']}")).json()
            r = await c.get(f"/api/recordings/{rec['id']}/export")
            assert r.status_code == 200, r.text
        audit = await svc.services.store.audit_entries(rec["id"])
        assert (await svc.services.store.verify_audit()).ok
    assert rec["drone_id"] == mission["drone_id"] and rec["frames"] > 0
    assert len(detail["segments"]) >= 2
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        hashes = {s["file"]: s["sha256"] for s in manifest["segments"]}
        assert hashes == {s["file"]: s["sha256"] for s in detail["segments"]}
        for name in hashes:
            assert any(n.endswith(name) for n in z.namelist())
    actions = [a.action for a in audit]
    assert actions[0] == "recording.start" and "recording.stop" in actions
    assert "recording.export" in actions


def _corner_contrast(image: np.ndarray[Any, Any]) -> float:
    """Standard deviation of the grey levels in the bottom-left eighth of the image (where
    the simulated camera draws its machine-readable stamp)."""
    h, w = image.shape[:2]
    grey = cv2.cvtColor(image[h - h // 8 :, : w // 3], cv2.COLOR_BGR2GRAY)
    return float(np.std(grey))


async def test_a_drone_announcing_its_stream_is_watched_through_it(tmp_path: Path) -> None:
    """A drone whose camera streams RTP H.264 and announces it in VIDEO_STREAM_INFORMATION
    (the simulated cameras in ``rtp`` mode, as PX4 does) is watched through that stream,
    with nothing configured."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=1, sim_camera="rtp") as svc:
        video = svc.services.video
        assert video is not None
        spec = await wait_for(
            lambda: _announced(video, 1), 20, "the announced stream", period_s=0.2
        )
        assert spec.kind == "rtp"
        got = Watched()
        async with video_ws(svc, 1) as ws:
            await watch(ws, got, lambda g: len(g.frames) >= 15)
    assert got.seqs() == sorted(set(got.seqs()))
    assert decode(got.frames[-1][4]).shape[:2] == (360, 640)


def _announced(video: Any, drone_id: int) -> Any:
    with contextlib.suppress(Exception):
        spec = video.source_of(drone_id)
        return spec if spec.kind == "rtp" else None
    return None


async def test_closing_while_viewers_watch_ends_their_sockets(tmp_path: Path) -> None:
    """Stopping the service while a viewer watches closes its socket (1001 or 1012) and
    leaves no source thread behind."""
    import threading

    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    got = Watched()
    closed: list[int | None] = []
    async with running_service(database_url=db, sim_vehicles=1) as svc:
        ws = await video_ws(svc, 1, width=320)
        await watch(ws, got, lambda g: len(g.frames) >= 3)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed as exc:
                closed.append(exc.rcvd.code if exc.rcvd else None)
    await ws.close()
    assert closed and closed[0] in (1001, 1012, None)
    left = [t.name for t in threading.enumerate() if t.name.startswith("video-source-")]
    assert left == []
