"""``/api/zones``: list, add one, import a file, delete."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status

from mission_control.api.auth import READERS, Role, require
from mission_control.api.schemas import ZoneOut
from mission_control.api.state import services_of
from mission_control.services.errors import ZoneImportError
from mission_control.store import Actor

router = APIRouter(prefix="/api/zones", tags=["zones"])

Format = Literal["auto", "geojson", "ed269", "ed318", "qgc"]


def _document(description: str) -> dict[str, Any]:
    """OpenAPI for a body read as text (FastAPI cannot infer it from the signature)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


async def _text(request: Request) -> str:
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ZoneImportError("body", f"not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ZoneImportError("body", "empty: send a zone document")
    return text


@router.get("", response_model=list[ZoneOut], summary="Every zone in force or scheduled")
async def list_zones(
    request: Request, actor: Annotated[Actor, Depends(require(*READERS))]
) -> list[dict[str, Any]]:
    return services_of(request).zones.summaries()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=list[ZoneOut],
    summary="Add zones from a GeoJSON Feature or FeatureCollection (plain GeoJSON properties)",
    openapi_extra=_document(
        "a GeoJSON Feature or FeatureCollection ([lon, lat] degrees; vertical limits in "
        "metres: floor_m, ceiling_m with floor_ref, ceiling_ref AGL, AMSL or REL)"
    ),
)
async def add_zone(
    request: Request, actor: Annotated[Actor, Depends(require(Role.ADMIN))]
) -> list[dict[str, Any]]:
    return await _import(request, actor, "geojson", source="api")


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=list[ZoneOut],
    summary="Import a zone file: GeoJSON, EUROCAE ED-269 or ED-318, or a QGC .plan geofence",
    openapi_extra=_document(
        "the file's text: GeoJSON, EUROCAE ED-269 or ED-318 JSON, or a QGroundControl .plan"
    ),
)
async def import_zones(
    request: Request,
    actor: Annotated[Actor, Depends(require(Role.ADMIN))],
    format: Annotated[Format, Query(description="the file's format (auto: detect)")] = "auto",
    source: Annotated[str, Query(max_length=200, description="a name for the file")] = "import",
) -> list[dict[str, Any]]:
    return await _import(request, actor, format, source=source)


async def _import(request: Request, actor: Actor, fmt: str, *, source: str) -> list[dict[str, Any]]:
    registry = services_of(request).zones
    text = await _text(request)
    try:
        json.loads(text)
    except ValueError as exc:
        raise ZoneImportError("body", f"not JSON: {exc}") from None
    zones = registry.parse(text, source=source, format=fmt)
    keys = set(await registry.add(zones, actor, source=source))
    return [z for z in registry.summaries() if z["id"] in keys]


@router.delete("/{zone_id}", summary="Delete a zone (every part, given its bare identifier)")
async def delete_zone(
    zone_id: str, request: Request, actor: Annotated[Actor, Depends(require(Role.ADMIN))]
) -> dict[str, Any]:
    deleted = await services_of(request).zones.delete(zone_id, actor)
    return {"deleted": deleted}
