"""``/api/me`` and ``/api/ui-config``: what the web UI asks before it draws a screen.

``/api/me`` tells a logged-in page who its token belongs to (any role; 401 for a missing or
unknown token), so the page can pick the screens of that role. ``/api/ui-config`` is
public and holds nothing secret: the map's tile template and limits, where to centre the
map, the video widths served, the site name and the version.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from mission_control.api.auth import Role, require
from mission_control.api.state import services_of
from mission_control.store import Actor

__all__ = ["MeOut", "UiConfigOut", "router"]

router = APIRouter(prefix="/api", tags=["ui"])


class MeOut(BaseModel):
    """The user a bearer token belongs to."""

    name: str = Field(description="user name")
    role: str = Field(description="responder, pilot, viewer or admin")


class UiConfigOut(BaseModel):
    """What the web UI needs before login (no secrets)."""

    map_tiles_url: str | None = Field(
        description="tile URL template with {z}/{x}/{y} (null: a plain grid, no tiles)"
    )
    map_attribution: str = Field(description="the tile provider's attribution text")
    map_max_zoom: int = Field(description="deepest map zoom level (1..22)")
    center: tuple[float, float] = Field(
        description="initial map centre: latitude, longitude in degrees (WGS84)"
    )
    video_tiers_px: list[int] = Field(
        description="JPEG widths the video relay serves, pixels (0: full size)"
    )
    site: str = Field(description="this site's name (MC_SITE)")
    version: str = Field(description="the service's version")


@router.get("/me", response_model=MeOut, summary="Who the bearer token belongs to")
async def me(
    actor: Annotated[Actor, Depends(require(*Role))],
) -> dict[str, Any]:
    return {"name": actor.name, "role": str(actor.role)}


@router.get("/ui-config", response_model=UiConfigOut, summary="The web UI's settings (public)")
async def ui_config(request: Request) -> dict[str, Any]:
    services = services_of(request)
    settings = services.settings
    lat, lon, _ = settings.sim_home
    center = (lat, lon)
    if services.sim is None:  # real vehicles: centre on the first one with a position
        for snap in services.drones.snapshots():
            if snap.lat_deg is not None and snap.lon_deg is not None:
                center = (snap.lat_deg, snap.lon_deg)
                break
    return {
        "map_tiles_url": settings.map_tiles_url,
        "map_attribution": settings.map_attribution,
        "map_max_zoom": settings.map_max_zoom,
        "center": center,
        "video_tiers_px": list(settings.video_tiers_px),
        "site": settings.site,
        "version": request.app.version,
    }
