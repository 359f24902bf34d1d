"""Live video: ``/ws/video/{drone_id}``, snapshots, MJPEG and the sources' status.

Every route admits the reading roles (pilot, viewer, admin); a drone's video (websocket,
snapshot, MJPEG) also admits a responder while that drone serves a mission for an incident
the responder reported (its overwatch), and refuses it (403) otherwise. The websocket and the two
image routes take the token as ``?token=`` (an ``<img src>`` or a video wall cannot send
headers); the image routes also accept ``Authorization: Bearer``. ``?width=`` picks the
size: the smallest configured width at least that wide, else full size (never upscaled).
See :mod:`mission_control.api.video_stream` for the websocket's messages and close codes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, status
from fastapi.responses import Response, StreamingResponse

from mission_control.api.auth import READERS, Role, authenticate_token
from mission_control.api.responders import owns_drone_video
from mission_control.api.state import services_of
from mission_control.api.video_stream import (
    MJPEG_MEDIA_TYPE,
    mjpeg_parts,
    serve_video,
    tune_send_buffer,
)
from mission_control.api.ws import _admit, _deny
from mission_control.services.video import VideoService
from mission_control.store import Actor
from mission_control.video.errors import NoVideoSource, VideoSettingsError
from mission_control.video.relay import RelayClosed

__all__ = ["router"]

router = APIRouter(tags=["video"])

SNAPSHOT_TIMEOUT_S = 5.0
"""How long a snapshot waits for a first frame from a source that was not running."""

Width = Annotated[
    int | None,
    Query(ge=1, le=16_384, description="wanted width in pixels (default: full size)"),
]


TokenQuery = Annotated[
    str | None,
    Query(description="access token, for clients that cannot send headers (<img>, walls)"),
]


async def _caller(request: Request, token: str | None) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    given = value.strip() if scheme.lower() == "bearer" and value.strip() else token
    actor = await authenticate_token(request, given)
    if actor is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid token is required (Authorization: Bearer TOKEN or ?token=TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


async def _reader(request: Request, token: TokenQuery = None) -> Actor:
    """A reading role by ``Authorization: Bearer`` or ``?token=``."""
    actor = await _caller(request, token)
    if actor.role not in READERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {actor.role!r} may not do this")
    return actor


async def _watcher(request: Request, drone_id: int, token: TokenQuery = None) -> Actor:
    """A reading role, or a responder for the drone now assigned to (flying) a mission for
    an incident it reported; by ``Authorization: Bearer`` or ``?token=``."""
    actor = await _caller(request, token)
    if actor.role == Role.RESPONDER and await owns_drone_video(
        services_of(request), actor, drone_id
    ):
        return actor
    if actor.role not in READERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, _refusal(actor, drone_id))
    return actor


def _refusal(actor: Actor, drone_id: int) -> str:
    if actor.role == Role.RESPONDER:
        return (
            f"role 'responder' may watch only the drone serving its own incident; "
            f"drone {drone_id} is not"
        )
    return f"role {actor.role!r} may not watch video"


Reader = Annotated[Actor, Depends(_reader)]
Watcher = Annotated[Actor, Depends(_watcher)]


def _video(request: Request | WebSocket) -> VideoService:
    video = services_of(request).video
    if video is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "video is not running")
    return video


@router.websocket("/ws/video/{drone_id}")
async def video_ws(websocket: WebSocket, drone_id: int) -> None:
    """One drone's live video: binary frames (32-byte header + JPEG) and JSON status."""
    actor = await _admit(websocket, responders=True)
    if actor is None:
        return
    services = services_of(websocket)
    if actor.role == Role.RESPONDER and not await owns_drone_video(services, actor, drone_id):
        await _deny(websocket, 403, _refusal(actor, drone_id))
        return
    video = services.video
    if video is None:
        await _deny(websocket, 503, "video is not running")
        return
    raw = websocket.query_params.get("width")
    width: int | None = None
    if raw:
        try:
            width = int(raw)
        except ValueError:
            width = -1
    try:
        video.relay.admit(drone_id, width)
    except NoVideoSource as exc:
        await _deny(websocket, 404, str(exc))
        return
    except VideoSettingsError as exc:
        await _deny(websocket, 422, f"{exc.field}: {exc.reason}")
        return
    except RelayClosed:
        await _deny(websocket, 503, "video is stopping")
        return
    await serve_video(websocket, video.relay, drone_id, width)


@router.get(
    "/api/drones/{drone_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="The newest frame of a drone's camera as a JPEG",
)
async def snapshot(
    drone_id: int, request: Request, actor: Watcher, width: Width = None
) -> Response:
    video = _video(request)
    frame = await video.relay.snapshot(drone_id, width, SNAPSHOT_TIMEOUT_S)
    return Response(
        frame.jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Seq": str(frame.seq),
            "X-Capture-Time": f"{frame.capture_unix_s:.6f}",
        },
    )


@router.get(
    "/api/drones/{drone_id}/video.mjpeg",
    response_class=StreamingResponse,
    responses={200: {"content": {"multipart/x-mixed-replace": {}}}},
    summary="A drone's live video as MJPEG (multipart/x-mixed-replace), for <img> and walls",
)
async def mjpeg(drone_id: int, request: Request, actor: Watcher, width: Width = None) -> Response:
    video = _video(request)
    video.relay.admit(drone_id, width)  # 404 / 422 before the response starts
    tune_send_buffer(request, video.relay.settings.socket_send_buffer_bytes)
    return StreamingResponse(
        mjpeg_parts(video.relay, drone_id, width),
        media_type=MJPEG_MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/api/video", summary="Video sources and what the relay is serving")
async def video_status(request: Request, actor: Reader) -> dict[str, Any]:
    video = _video(request)
    channels = {c.drone_id: c for c in video.relay.channels()}
    drones = []
    for drone_id, url in video.sources().items():
        ch = channels.get(drone_id)
        drones.append(
            {
                "drone_id": drone_id,
                "source": url,
                "state": ch.source.state.value if ch is not None else "stopped",
                "reason": ch.source.reason if ch is not None else "",
                "fps_in": round(ch.input_fps, 1) if ch is not None else 0.0,
                "viewers": sum(ch.viewers_per_tier.values()) if ch is not None else 0,
                "recording": ch is not None and ch.taps > 0,
                "ws_path": f"/ws/video/{drone_id}",
                "snapshot_path": f"/api/drones/{drone_id}/snapshot.jpg",
                "mjpeg_path": f"/api/drones/{drone_id}/video.mjpeg",
            }
        )
    return {"tiers_px": list(video.relay.settings.tiers_px), "drones": drones}
