"""``/api/plans/preview``: what dispatch would plan, with its airspace check; nothing stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from flight_plans.qgc import plan_to_qgc_json
from mission_control.api.auth import Role, require
from mission_control.api.schemas import PreviewIn
from mission_control.api.state import services_of
from mission_control.domain.incident import Incident, PatternKind
from mission_control.services.views import item_json
from mission_control.store import Actor

router = APIRouter(prefix="/api/plans", tags=["plans"])


@router.post("/preview", summary="Plan and check a mission for an incident (no side effects)")
async def preview(
    body: PreviewIn,
    request: Request,
    actor: Annotated[Actor, Depends(require(Role.PILOT, Role.ADMIN))],
) -> dict[str, Any]:
    services = services_of(request)
    now = services.clock()
    incident = Incident(
        id="preview",
        source="preview",
        kind=body.kind,
        priority=body.priority,
        lat_deg=body.lat_deg,
        lon_deg=body.lon_deg,
        reported_by=actor.name,
        created_at=now,
        updated_at=now,
        description=body.description,
        pattern=None if body.pattern is None else PatternKind(body.pattern),
        radius_m=body.radius_m,
    )
    p = await services.dispatcher.preview(incident, body.drone_id)
    return {
        "drone_id": p.drone_id,
        "pattern": p.pattern.value,
        "eta_s": round(p.eta_s, 1),
        "station_item": p.station_item,
        "notes": list(p.notes),
        "items": [item_json(i, it) for i, it in enumerate(p.plan.mission.items)],
        "airspace_report": p.report.to_json(),
        "plan": plan_to_qgc_json(p.plan),
    }
