"""HTTP status mapping of the service's errors, and the request-size limit.

The only place errors become status codes: 404 unknown id, 409 illegal transition (with
the current state) or airspace refusal (with the report), 413 oversized body, 422 bad
field (with its name), 502 vehicle refused a command, 503 database or dispatcher trouble.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mission_control.domain.dispatch import DispatchError
from mission_control.domain.errors import IllegalTransition, InvalidField
from mission_control.services.errors import (
    AirspaceRefused,
    ForwardedError,
    NoPlanError,
    NotFoundError,
    ServiceError,
    VehicleCommandFailed,
    ZoneImportError,
)
from mission_control.store import StoreError
from mission_control.video.errors import NoVideoSource, VideoSettingsError
from mission_control.video.relay import RelayClosed, SnapshotTimeout

__all__ = ["BodyLimit", "field_error", "install_error_handlers"]


def field_error(field: str, reason: str, where: str = "body") -> JSONResponse:
    """A 422 shaped like FastAPI's own validation errors."""
    return JSONResponse(
        {"detail": [{"loc": [where, field], "msg": reason, "type": "value_error"}]},
        status_code=422,
    )


def _json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by its text (``"nan"``, ``"inf"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    """Map the service's exceptions to responses."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the rejected input, and a NaN or an infinity sent as
        # JSON text (``NaN``, ``Infinity``) cannot be rendered back: it answered 500
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, 422)

    @app.exception_handler(InvalidField)
    async def _invalid(request: Request, exc: InvalidField) -> JSONResponse:
        return field_error(exc.field, exc.reason)

    @app.exception_handler(ZoneImportError)
    async def _zones(request: Request, exc: ZoneImportError) -> JSONResponse:
        return field_error(exc.field, exc.reason)

    @app.exception_handler(DispatchError)
    async def _dispatch(request: Request, exc: DispatchError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(NoPlanError)
    async def _no_plan(request: Request, exc: NoPlanError) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=422)

    @app.exception_handler(NotFoundError)
    async def _missing(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(IllegalTransition)
    async def _illegal(request: Request, exc: IllegalTransition) -> JSONResponse:
        body: dict[str, Any] = {
            "detail": str(exc),
            "current_state": exc.current,
            "requested_state": exc.requested,
        }
        return JSONResponse(body, status_code=409)

    @app.exception_handler(AirspaceRefused)
    async def _airspace(request: Request, exc: AirspaceRefused) -> JSONResponse:
        return JSONResponse(
            {
                "detail": str(exc),
                "current_state": "pending_approval",
                "airspace_report": exc.report,
            },
            status_code=409,
        )

    @app.exception_handler(VehicleCommandFailed)
    async def _vehicle(request: Request, exc: VehicleCommandFailed) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=502)

    @app.exception_handler(ForwardedError)
    async def _forwarded(request: Request, exc: ForwardedError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(NoVideoSource)
    async def _no_video(request: Request, exc: NoVideoSource) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(VideoSettingsError)
    async def _video_field(request: Request, exc: VideoSettingsError) -> JSONResponse:
        return field_error(exc.field, exc.reason, "query")

    @app.exception_handler(SnapshotTimeout)
    async def _no_frame(request: Request, exc: SnapshotTimeout) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=504)

    @app.exception_handler(RelayClosed)
    async def _relay_closed(request: Request, exc: RelayClosed) -> JSONResponse:
        return JSONResponse({"detail": f"video: {exc}"}, status_code=503)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": f"database error: {exc}"}, status_code=503)

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, before parsing.

    Both a declared ``Content-Length`` and a streamed (chunked) body are checked.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes or declared < 0:
                    await self._refuse(send)
                    return
        seen = 0
        too_big = False
        started = False

        async def limited() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if too_big:
                # FastAPI turns any error while reading a JSON body into its own 400: the
                # answer to a streamed body over the limit is 413 whoever caught _TooLarge
                if not started:
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
