"""``/api/missions``: list, read, the QGC plan, and the pilot's decisions and commands."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from flight_plans.qgc import dumps_plan
from mission_control.api.auth import READERS, Role, require
from mission_control.api.responders import owns_incident, owns_mission
from mission_control.api.schemas import CommandIn, MissionOut, MissionSummaryOut
from mission_control.api.state import services_of
from mission_control.domain.errors import InvalidField
from mission_control.domain.mission import Mission, MissionState
from mission_control.services.errors import NotFoundError
from mission_control.services.views import mission_json, mission_summary_json
from mission_control.store import Actor

router = APIRouter(prefix="/api/missions", tags=["missions"])

Action = Literal["approve", "reject", "pause", "resume", "rtl", "abort"]


_FOLLOWERS = (*READERS, Role.RESPONDER)
"""Who may read missions: the reading roles, and a responder for its own incidents."""


@router.get(
    "",
    response_model=list[MissionSummaryOut],
    summary="List missions (newest first); a responder sees those of its own incidents",
)
async def list_missions(
    request: Request,
    actor: Annotated[Actor, Depends(require(*_FOLLOWERS))],
    state: Annotated[
        list[str] | None,
        Query(description="only these states (repeat or comma-separate)"),
    ] = None,
    incident_id: Annotated[
        str | None, Query(max_length=100, description="only the missions of this incident")
    ] = None,
    drone_id: Annotated[
        int | None, Query(ge=1, le=255, description="only this drone's (MAVLink system id)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many (1..1000)")] = 100,
    offset: Annotated[int, Query(ge=0, description="skip this many first (paging)")] = 0,
) -> list[dict[str, Any]]:
    services = services_of(request)
    states = _states(state)
    if actor.role == Role.RESPONDER and (
        incident_id is None or not await owns_incident(services, actor, incident_id)
    ):
        return []  # a responder lists the missions of one of its incidents
    found = await services.store.list_missions(
        state=states,
        incident_id=incident_id,
        drone_id=drone_id,
        limit=limit,
        offset=offset,
    )
    return [mission_summary_json(m) for m in found]


def _states(raw: list[str] | None) -> set[MissionState] | None:
    """``?state=a&state=b`` or ``?state=a,b``.

    Raises:
        InvalidField: an unknown state (names it and the known ones).
    """
    if not raw:
        return None
    names = [p.strip() for r in raw for p in r.split(",") if p.strip()]
    known = {s.value for s in MissionState}
    unknown = sorted(set(names) - known)
    if unknown:
        raise InvalidField("state", f"unknown {unknown}; known: {sorted(known)}")
    return {MissionState(n) for n in names} or None


async def _mission(request: Request, mission_id: str) -> Mission:
    return await services_of(request).book.mission(mission_id)


@router.get("/{mission_id}", response_model=MissionOut, summary="One mission, with its plan")
async def get_mission(
    mission_id: str, request: Request, actor: Annotated[Actor, Depends(require(*_FOLLOWERS))]
) -> dict[str, Any]:
    mission = await _mission(request, mission_id)
    if actor.role == Role.RESPONDER and not await owns_mission(
        services_of(request), actor, mission
    ):
        raise NotFoundError("mission", mission_id)  # not 403: the id is not even confirmed
    return mission_json(mission)


@router.get(
    "/{mission_id}/plan",
    summary="The mission as a QGroundControl .plan file",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def get_plan(
    mission_id: str, request: Request, actor: Annotated[Actor, Depends(require(*READERS))]
) -> Response:
    mission = await _mission(request, mission_id)
    text = dumps_plan(mission.plan)
    json.loads(text)  # always valid JSON: a failure here is a bug worth a 500
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{mission.id}.plan"'},
    )


@router.post(
    "/{mission_id}/{action}",
    response_model=MissionOut,
    summary="Approve, reject, pause, resume, return to launch, or abort",
    responses={
        409: {"description": "not allowed in the current state, or the airspace check fails"},
        502: {"description": "the vehicle did not carry out the command"},
    },
)
async def command(
    mission_id: str,
    action: Action,
    request: Request,
    actor: Annotated[Actor, Depends(require(Role.PILOT))],
    body: Annotated[CommandIn | None, Body()] = None,
) -> dict[str, Any]:
    services = services_of(request)
    reason = body.reason if body is not None else ""
    if action == "approve":
        mission = await services.approvals.approve(mission_id, actor, reason)
    elif action == "reject":
        mission = await services.approvals.reject(mission_id, actor, reason)
    else:
        mission = await services.executor.command(mission_id, action, actor, reason)
    return mission_json(mission)
