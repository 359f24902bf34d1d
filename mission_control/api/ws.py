"""Websockets: ``/ws/telemetry`` (latest-wins) and ``/ws/events`` (ordered, replayable).

Both authenticate with ``?token=`` (roles pilot, viewer, admin; ``/ws/events`` also admits a
responder, who gets only the events of its own incidents, their missions and their alerts):
a missing or unknown token is refused with HTTP 401, another role with 403, before the
socket is accepted.

``/ws/events?since=SEQ`` first replays the stored events after ``SEQ`` (or, for a new
screen without a ``since``, ``?recent=N`` replays the last ``N``, at most 1000), then sends new
ones as they happen, each one JSON object ``{seq, kind, subject_id, at, payload}`` in
sequence order. Events are stored before they are announced, so the store is the backlog:
a client too slow for its bounded live queue loses nothing — when it falls behind, the
missing events are read back from the store, never held in memory per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from mission_control.api.auth import READERS, Role, authenticate_token
from mission_control.api.responders import ResponderScope
from mission_control.api.state import services_of
from mission_control.api.telemetry_hub import serve_telemetry
from mission_control.domain.events import Event
from mission_control.store import Actor

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter()

EVENT_QUEUE = 1000
"""Live events buffered per client before it is served from the store instead."""
REPLAY_PAGE = 500
RECENT_MAX = 1000
"""The most events ``?recent=`` replays to a new screen."""
SEND_TIMEOUT_S = 10.0


async def _admit(websocket: WebSocket, *, responders: bool = False) -> Actor | None:
    """The caller, if its ``?token=`` is valid and its role may watch (else the socket is
    refused: 401 or 403). ``responders``: a responder is admitted too (the route then
    limits what it sees to its own incidents)."""
    token = websocket.query_params.get("token")
    actor = await authenticate_token(websocket, token)
    if actor is None:
        await _deny(websocket, 401, "a valid ?token= is required")
        return None
    if actor.role not in READERS and not (responders and actor.role == Role.RESPONDER):
        await _deny(websocket, 403, f"role {actor.role!r} may not watch this")
        return None
    return actor


async def _deny(websocket: WebSocket, status: int, detail: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=status))
    else:
        await websocket.close(code=1008, reason=detail)


def _int_param(websocket: WebSocket, name: str) -> int | None:
    raw = websocket.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return -1
    return value


@router.websocket("/ws/telemetry")
async def telemetry(websocket: WebSocket) -> None:
    """Latest telemetry of every drone (see :mod:`mission_control.api.telemetry_hub`)."""
    if await _admit(websocket) is None:
        return
    drones: set[int] | None = None
    raw = websocket.query_params.get("drones")
    if raw:
        try:
            drones = {int(x) for x in raw.split(",") if x.strip()}
        except ValueError:
            await _deny(websocket, 422, "drones: comma-separated system ids")
            return
    kinds_raw = websocket.query_params.get("kinds")
    kinds = {k.strip() for k in kinds_raw.split(",") if k.strip()} if kinds_raw else None
    await serve_telemetry(websocket, services_of(websocket).telemetry, drones=drones, kinds=kinds)


@router.websocket("/ws/events")
async def events(websocket: WebSocket) -> None:
    """Incident, mission and alert events in order; ``?since=SEQ`` replays missed ones.
    A responder gets only those of its own incidents (and their missions and alerts)."""
    actor = await _admit(websocket, responders=True)
    if actor is None:
        return
    since = _int_param(websocket, "since")
    if since is not None and since < 0:
        await _deny(websocket, 422, "since: a sequence number >= 0")
        return
    recent = _int_param(websocket, "recent")
    if recent is not None and not 0 <= recent <= RECENT_MAX:
        await _deny(websocket, 422, f"recent: a number of events 0..{RECENT_MAX}")
        return
    services = services_of(websocket)
    scope = await ResponderScope.load(services, actor) if actor.role == Role.RESPONDER else None
    admits = scope.admits if scope is not None else _everything
    async with services.bus.subscribe("events/#", maxsize=EVENT_QUEUE, policy="drop_oldest") as sub:
        last = since
        if last is None:
            last = max(0, await services.store.last_event_seq() - (recent or 0))
        await websocket.accept()
        sender = asyncio.create_task(
            _send_events(websocket, services.store, sub, last, admits), name="events-ws-send"
        )
        receiver = asyncio.create_task(_until_disconnect(websocket), name="events-ws-receive")
        try:
            await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sender.cancel()
            receiver.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)
        if not sender.cancelled() and isinstance(sender.exception(), TimeoutError):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await websocket.close(1013, "too slow: reconnect with ?since=")


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


def _everything(event: Event) -> bool:
    return True


async def _send_events(
    websocket: WebSocket, store: Any, sub: Any, last: int, admits: Callable[[Event], bool]
) -> None:
    last = await _replay(websocket, store, last, admits)
    dropped = sub.dropped
    async for message in sub:
        event = message.event
        if not isinstance(event, Event) or event.seq <= last:
            continue
        if event.seq != last + 1 or sub.dropped != dropped:
            dropped = sub.dropped
            last = await _replay(websocket, store, last, admits)  # fill the gap from the store
            if event.seq <= last:
                continue
        if admits(event):
            await _send(websocket, event.to_json())
        last = event.seq


async def _replay(
    websocket: WebSocket, store: Any, last: int, admits: Callable[[Event], bool]
) -> int:
    while True:
        page: list[Event] = await store.events_since(last, limit=REPLAY_PAGE)
        for event in page:
            if admits(event):
                await _send(websocket, event.to_json())
            last = event.seq
        if len(page) < REPLAY_PAGE:
            return last


async def _send(websocket: WebSocket, doc: dict[str, Any]) -> None:
    await asyncio.wait_for(websocket.send_text(json.dumps(doc)), SEND_TIMEOUT_S)
