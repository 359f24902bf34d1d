"""JSON forms of incidents and missions: what the API returns and events carry.

One place, so a screen sees the same shape from ``GET /api/missions/{id}``, from
``/ws/events`` and (later) from MQTT.
"""

from __future__ import annotations

import math
from typing import Any

from flight_plans.mission import MissionItem
from mission_control.domain.incident import Incident
from mission_control.domain.mission import Mission

__all__ = ["incident_json", "item_json", "mission_json", "mission_summary_json"]


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def incident_json(incident: Incident) -> dict[str, Any]:
    """The incident as the API shows it."""
    return {
        "id": incident.id,
        "source": incident.source,
        "external_id": incident.external_id,
        "kind": incident.kind,
        "priority": incident.priority,
        "lat_deg": incident.lat_deg,
        "lon_deg": incident.lon_deg,
        "description": incident.description,
        "reported_by": incident.reported_by,
        "pattern": None if incident.pattern is None else incident.pattern.value,
        "radius_m": incident.radius_m,
        "status": incident.status.value,
        "status_reason": incident.status_reason,
        "created_at": incident.created_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
    }


def item_json(seq: int, item: MissionItem) -> dict[str, Any]:
    """One mission item: sequence number, command, frame, params, position."""
    pos = item.position
    return {
        "seq": seq,
        "command": int(item.command),
        "name": item.name,
        "frame": int(item.frame),
        "params": [_num(p) for p in (item.param1, item.param2, item.param3, item.param4)],
        "lat_deg": None if pos is None else pos.lat_deg,
        "lon_deg": None if pos is None else pos.lon_deg,
        "alt_m": _num(item.alt_m) if item.is_global else None,
        "alt_datum": None if item.alt_datum is None else item.alt_datum.value,
    }


def mission_summary_json(mission: Mission) -> dict[str, Any]:
    """The mission without its items and report (lists and events)."""
    home = mission.plan.mission.home
    assert home is not None  # a domain Mission always has its home
    return {
        "id": mission.id,
        "incident_id": mission.incident_id,
        "drone_id": mission.drone_id,
        "state": mission.state.value,
        "pattern": mission.pattern.value,
        "eta_s": round(mission.eta_s, 1),
        "airspace_ok": mission.airspace_ok,
        "launch": {"lat_deg": home.lat_deg, "lon_deg": home.lon_deg, "alt_amsl_m": home.alt_amsl_m},
        "item_count": len(mission.plan.mission.items),
        "station_item": mission.station_item,
        "created_at": mission.created_at.isoformat(),
        "updated_at": mission.updated_at.isoformat(),
        "expires_at": mission.expires_at.isoformat(),
        "approved_by": mission.approved_by,
        "approved_at": None if mission.approved_at is None else mission.approved_at.isoformat(),
        "reason": mission.reason,
    }


def mission_json(mission: Mission) -> dict[str, Any]:
    """The whole mission: summary, items, fence, airspace report, notes and history."""
    fence = mission.plan.fence
    return {
        **mission_summary_json(mission),
        "items": [item_json(i, it) for i, it in enumerate(mission.plan.mission.items)],
        "fence": {
            "inclusion_count": fence.inclusion_count,
            "exclusion_count": fence.exclusion_count,
        },
        "airspace_report": dict(mission.airspace_report),
        "notes": list(mission.notes),
        "authorisations": dict(mission.authorisations),
        "history": [t.to_json() for t in mission.history],
    }
