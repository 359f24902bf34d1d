"""``/api/drones`` and ``/api/health``."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from mission_control.api.auth import READERS, require
from mission_control.api.schemas import DroneOut, HealthOut
from mission_control.api.state import services_of
from mission_control.services.errors import NotFoundError
from mission_control.store import Actor

router = APIRouter(tags=["drones"])


@router.get("/api/drones", response_model=list[DroneOut], summary="Every drone known")
async def list_drones(
    request: Request, actor: Annotated[Actor, Depends(require(*READERS))]
) -> list[dict[str, Any]]:
    drones = services_of(request).drones
    return [d for i in drones.ids() if (d := drones.to_json(i)) is not None]


@router.get("/api/drones/{drone_id}", response_model=DroneOut, summary="One drone")
async def get_drone(
    drone_id: int, request: Request, actor: Annotated[Actor, Depends(require(*READERS))]
) -> dict[str, Any]:
    found = services_of(request).drones.to_json(drone_id)
    if found is None:
        raise NotFoundError("drone", str(drone_id))
    return found


@router.get("/api/health", response_model=HealthOut, tags=["health"], summary="Liveness")
async def health(request: Request) -> dict[str, Any]:
    services = services_of(request)
    snaps = services.drones.snapshots()
    ok = await services.store.ping()
    return {
        "status": "ok" if ok else "degraded",
        "database": services.store.dialect,
        "drones_connected": sum(1 for s in snaps if s.link == "connected"),
        "drones_known": len(snaps),
        "zones": len(services.zones.zones),
        "missions_active": len(services.executor.running),
        "simulated_fleet": services.sim is not None,
        "uptime_s": round(time.monotonic() - services.started_s, 1),
        "instance": services.settings.instance,
        "mqtt": (
            "disabled"
            if services.bridge is None
            else "connected"
            if services.bridge.client.connected
            else "disconnected"
        ),
        "dispatching": services.cluster is None or services.cluster.leading,
        "links_held": sorted(d for d in services.drones.ids() if services.drones.is_local(d)),
    }
