"""``/api/incidents``: report, list, read; re-dispatch and close."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from mission_control.api.auth import READERS, Role, require
from mission_control.api.schemas import IncidentIn, IncidentOut
from mission_control.api.state import services_of
from mission_control.domain.incident import Incident, IncidentStatus, PatternKind
from mission_control.services.dispatcher import new_id
from mission_control.services.errors import NotFoundError
from mission_control.services.views import incident_json
from mission_control.store import Actor

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

_REPORTERS = (Role.RESPONDER, Role.PILOT, Role.ADMIN)
_ALL = (Role.RESPONDER, *READERS)


def _visible(incident: Incident, actor: Actor) -> bool:
    return actor.role != Role.RESPONDER or incident.reported_by == actor.name


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentOut,
    summary="Report an incident; a drone is dispatched for it",
    responses={200: {"description": "a repeat of an incident already reported (unchanged)"}},
)
async def create_incident(
    body: IncidentIn,
    request: Request,
    response: Response,
    actor: Annotated[Actor, Depends(require(*_REPORTERS))],
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="a retry with the same key returns the first result"),
    ] = None,
) -> dict[str, Any]:
    services = services_of(request)
    now = services.clock()
    incident = Incident(
        id=new_id("inc"),
        source="api",
        external_id=body.external_id,
        kind=body.kind,
        priority=body.priority,
        lat_deg=body.lat_deg,
        lon_deg=body.lon_deg,
        description=body.description,
        reported_by=actor.name,
        created_at=now,
        updated_at=now,
        pattern=None if body.pattern is None else PatternKind(body.pattern),
        radius_m=body.radius_m,
    )
    stored, created = await services.report_incident(incident, actor, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return incident_json(stored)


@router.get("", response_model=list[IncidentOut], summary="List incidents (newest first)")
async def list_incidents(
    request: Request,
    actor: Annotated[Actor, Depends(require(*_ALL))],
    status_: Annotated[
        IncidentStatus | None, Query(alias="status", description="only this status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many (1..1000)")] = 100,
    offset: Annotated[int, Query(ge=0, description="skip this many first (paging)")] = 0,
) -> list[dict[str, Any]]:
    store = services_of(request).store
    mine = actor.name if actor.role == Role.RESPONDER else None
    found = await store.list_incidents(status=status_, reported_by=mine, limit=limit, offset=offset)
    return [incident_json(i) for i in found]


async def _get(request: Request, incident_id: str, actor: Actor) -> Incident:
    incident = await services_of(request).store.get_incident(incident_id)
    if incident is None or not _visible(incident, actor):
        raise NotFoundError("incident", incident_id)
    return incident


@router.get("/{incident_id}", response_model=IncidentOut, summary="One incident")
async def get_incident(
    incident_id: str, request: Request, actor: Annotated[Actor, Depends(require(*_ALL))]
) -> dict[str, Any]:
    return incident_json(await _get(request, incident_id, actor))


@router.post(
    "/{incident_id}/dispatch",
    response_model=IncidentOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Dispatch again (after a rejection, a failure or when no drone was free)",
)
async def redispatch(
    incident_id: str,
    request: Request,
    actor: Annotated[Actor, Depends(require(Role.PILOT, Role.ADMIN))],
) -> dict[str, Any]:
    services = services_of(request)
    incident = await _get(request, incident_id, actor)
    if incident.status is IncidentStatus.DISPATCHING or incident.terminal:
        from mission_control.domain.errors import IllegalTransition

        raise IllegalTransition("incident", incident.id, incident.status.value, "dispatching")
    await services.dispatcher.redispatch(incident.id)
    return incident_json(incident)


@router.post("/{incident_id}/close", response_model=IncidentOut, summary="Close an incident")
async def close_incident(
    incident_id: str,
    request: Request,
    actor: Annotated[Actor, Depends(require(Role.PILOT, Role.ADMIN))],
) -> dict[str, Any]:
    services = services_of(request)
    await _get(request, incident_id, actor)
    closed = await services.book.set_incident_status(
        incident_id, IncidentStatus.CLOSED, actor, f"closed by {actor.name}"
    )
    return incident_json(closed)
