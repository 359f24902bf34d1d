"""``/api/recordings``: evidence recordings of mission video — list, read, export, hold.

Listing and reading need only the store; exporting needs the running recorder (503
without it). An export verifies every segment file against its recorded SHA-256 and
streams a zip (``manifest.json`` + the MPEG-TS segments) with the archive's SHA-256 in
``X-Content-SHA256``; a recording whose files were altered is refused (409, naming the
segment). Retention only ever moves later (a legal hold).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from mission_control.api.auth import READERS, Role, require
from mission_control.api.errors import field_error
from mission_control.api.state import services_of
from mission_control.store import Actor, InvalidValue
from mission_control.store.recordings import RecordingRecord, RecordingState
from mission_control.video.errors import RecordingError
from mission_control.video.recording import Recorder

__all__ = ["router"]

router = APIRouter(prefix="/api/recordings", tags=["recordings"])


class SegmentOut(BaseModel):
    """One MPEG-TS segment file of a recording."""

    n: int = Field(description="1, 2, 3 … in recording order")
    file: str = Field(description="file name in the export (seg-00001.ts)")
    started_at: datetime = Field(description="capture time of its first frame (UTC)")
    ended_at: datetime = Field(description="capture time of its last frame (UTC)")
    frames: int
    bytes: int
    sha256: str = Field(description="hex SHA-256 of the file, taken when it was closed")
    width_px: int
    height_px: int


class RecordingOut(BaseModel):
    """An evidence recording of one mission's video."""

    id: str
    mission_id: str
    drone_id: int = Field(description="MAVLink system id")
    state: RecordingState
    started_at: datetime
    stopped_at: datetime | None = Field(description="null while recording")
    retain_until: datetime | None = Field(
        description="files are kept at least until then (null while recording)"
    )
    frames: int
    bytes: int
    dropped_frames: int = Field(description="frames the writer could not keep up with")
    stop_reason: str = Field(description="why it stopped ('' while recording)")


class RecordingDetailOut(RecordingOut):
    """A recording with its segments."""

    segments: list[SegmentOut]
    segments_sha256: str = Field(description="SHA-256 over the segment list (in the audit log)")


class RetainIn(BaseModel):
    """A legal hold: keep the files at least until then."""

    model_config = ConfigDict(extra="forbid")

    retain_until: AwareDatetime = Field(
        description="ISO 8601 with a time zone; never earlier than the current retain_until"
    )


class _TempFileResponse(FileResponse):
    """A file response that deletes the file afterwards, even if the client went away."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await asyncio.to_thread(Path(self.path).unlink, missing_ok=True)


async def _recording(request: Request, recording_id: str) -> RecordingRecord:
    found = await services_of(request).store.recordings.get(recording_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no recording with id {recording_id!r}")
    return found


def _recorder(request: Request) -> Recorder:
    # getattr: the Services of a service built without video have no recorder at all
    recorder: Recorder | None = getattr(services_of(request), "recorder", None)
    if recorder is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "evidence recording is not running on this instance (video disabled)",
        )
    return recorder


@router.get("", response_model=list[RecordingOut], summary="List recordings (newest first)")
async def list_recordings(
    request: Request,
    actor: Annotated[Actor, Depends(require(*READERS))],
    mission_id: Annotated[
        str | None, Query(max_length=100, description="only this mission's recording")
    ] = None,
    drone_id: Annotated[
        int | None, Query(ge=1, le=255, description="only this drone's (MAVLink system id)")
    ] = None,
    state: Annotated[
        list[RecordingState] | None, Query(description="only these states (repeatable)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many (1..1000)")] = 100,
    offset: Annotated[int, Query(ge=0, description="skip this many first (paging)")] = 0,
) -> list[dict[str, Any]]:
    found = await services_of(request).store.recordings.list(
        mission_id=mission_id,
        drone_id=drone_id,
        state=set(state) if state else None,
        limit=limit,
        offset=offset,
    )
    return [r.to_json() for r in found]


@router.get(
    "/{recording_id}",
    response_model=RecordingDetailOut,
    summary="One recording, with its segments and their SHA-256",
    responses={404: {"description": "no such recording"}},
)
async def get_recording(
    recording_id: str, request: Request, actor: Annotated[Actor, Depends(require(*READERS))]
) -> dict[str, Any]:
    return (await _recording(request, recording_id)).to_json(segments=True)


@router.get(
    "/{recording_id}/export",
    summary="The recording as a zip: manifest.json and its verified MPEG-TS segments",
    response_class=FileResponse,
    response_model=None,
    responses={
        200: {
            "content": {"application/zip": {}},
            "headers": {"X-Content-SHA256": {"description": "hex SHA-256 of the zip"}},
        },
        404: {"description": "no such recording"},
        409: {"description": "purged, no video, or a segment file was altered (named)"},
        503: {"description": "the recorder is not running on this instance"},
    },
)
async def export_recording(
    recording_id: str,
    request: Request,
    actor: Annotated[Actor, Depends(require(Role.PILOT, Role.ADMIN))],
) -> Response:
    recorder = _recorder(request)
    await _recording(request, recording_id)
    try:
        out = await recorder.export_zip(recording_id, actor)
    except RecordingError as exc:
        body = {"detail": f"recording {recording_id}: {exc.reason}", "recording_id": recording_id}
        return JSONResponse(body, status_code=status.HTTP_409_CONFLICT)
    return _TempFileResponse(
        out.path,
        media_type="application/zip",
        filename=out.filename,
        headers={"X-Content-SHA256": out.sha256},
    )


@router.post(
    "/{recording_id}/retain",
    response_model=RecordingDetailOut,
    summary="Keep a recording's files at least until a later date (legal hold)",
    responses={
        404: {"description": "no such recording"},
        409: {"description": "the recording is purged already"},
        422: {"description": "retain_until is malformed or earlier than the current one"},
    },
)
async def retain_recording(
    recording_id: str,
    body: RetainIn,
    request: Request,
    actor: Annotated[Actor, Depends(require(Role.ADMIN))],
) -> dict[str, Any] | JSONResponse:
    await _recording(request, recording_id)
    try:
        found = await services_of(request).store.recordings.extend_retention(
            recording_id, body.retain_until, actor
        )
    except InvalidValue as exc:
        if exc.field == "retain_until":
            return field_error(exc.field, exc.reason)
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)
    return found.to_json(segments=True)
