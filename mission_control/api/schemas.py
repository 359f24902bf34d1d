"""The JSON bodies of the REST API, with units and ranges documented for OpenAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommandIn",
    "DroneOut",
    "HealthOut",
    "IncidentIn",
    "IncidentOut",
    "MissionOut",
    "MissionSummaryOut",
    "PreviewIn",
    "ZoneOut",
]

_IN = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

PatternName = Literal["orbit", "hover", "survey", "expanding_square"]


class IncidentIn(BaseModel):
    """A request for aerial overwatch of a place."""

    model_config = _IN

    lat_deg: float = Field(ge=-90, le=90, description="latitude, degrees (WGS84)")
    lon_deg: float = Field(ge=-180, le=180, description="longitude, degrees (WGS84)")
    kind: str = Field(
        min_length=1,
        max_length=64,
        description="what happened: shots_fired, fire, traffic_collision, missing_person …",
    )
    priority: int = Field(ge=1, le=5, description="1 (most urgent) to 5")
    description: str = Field("", max_length=4000, description="free text for the pilot")
    pattern: PatternName | None = Field(
        None, description="flight pattern at the incident (default: overwatch orbit)"
    )
    radius_m: float | None = Field(
        None, ge=10, le=2000, description="pattern radius, metres (default: by incident kind)"
    )
    external_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="the sender's own id (e.g. CAD event number); a repeat is not duplicated",
    )


class PreviewIn(IncidentIn):
    """An incident to plan for without storing anything."""

    drone_id: int | None = Field(
        None, ge=1, le=255, description="plan for this drone (default: the one dispatch picks)"
    )


class CommandIn(BaseModel):
    """Optional body of a mission command."""

    model_config = _IN

    reason: str = Field("", max_length=1000, description="why, for the audit log")


class IncidentOut(BaseModel):
    """An incident."""

    id: str
    source: str = Field(description="api, mqtt, …")
    external_id: str | None
    kind: str
    priority: int = Field(description="1 (most urgent) to 5")
    lat_deg: float = Field(description="latitude, degrees (WGS84)")
    lon_deg: float = Field(description="longitude, degrees (WGS84)")
    description: str
    reported_by: str = Field(description="user name of the reporter")
    pattern: str | None
    radius_m: float | None = Field(description="requested pattern radius, metres")
    status: str = Field(description="open, dispatching, covered, unserviceable or closed")
    status_reason: str | None = Field(description="why the status was set")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")


class LaunchOut(BaseModel):
    lat_deg: float = Field(description="latitude, degrees")
    lon_deg: float = Field(description="longitude, degrees")
    alt_amsl_m: float = Field(description="altitude above mean sea level, metres")


class MissionSummaryOut(BaseModel):
    """A mission without its items."""

    id: str
    incident_id: str
    drone_id: int = Field(description="MAVLink system id of the drone")
    state: str = Field(
        description="pending_approval, approved, uploading, ready, in_flight, paused, "
        "returning, completed, rejected, expired, aborted, failed or link_lost"
    )
    pattern: str
    eta_s: float = Field(description="estimated seconds from approval to on station")
    airspace_ok: bool = Field(description="the last airspace check passed")
    launch: LaunchOut
    item_count: int
    station_item: int = Field(description="index of the first item on station")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    expires_at: str = Field(description="a pending mission expires at this time (UTC)")
    approved_by: str | None
    approved_at: str | None = Field(description="ISO 8601, UTC")
    reason: str = Field(description="why the last state change happened")


class ItemOut(BaseModel):
    seq: int
    command: int = Field(description="MAV_CMD number")
    name: str = Field(description="MAV_CMD name")
    frame: int = Field(description="MAV_FRAME number")
    params: list[float | None] = Field(description="param1..param4 (null: unset/NaN)")
    lat_deg: float | None = Field(description="latitude, degrees (global frames)")
    lon_deg: float | None = Field(description="longitude, degrees (global frames)")
    alt_m: float | None = Field(description="altitude, metres above alt_datum")
    alt_datum: str | None = Field(description="rel (above home), amsl or terrain")


class FenceCountOut(BaseModel):
    inclusion_count: int
    exclusion_count: int


class TransitionOut(BaseModel):
    from_state: str | None
    to_state: str
    at: str = Field(description="ISO 8601, UTC")
    by: str = Field(description="user name, or 'system'")
    reason: str


class MissionOut(MissionSummaryOut):
    """A mission with its items, fence, airspace report, notes and history."""

    items: list[ItemOut]
    fence: FenceCountOut
    airspace_report: dict[str, Any] = Field(
        description="ok, violations and warnings (each with zone, leg and depth in metres), "
        "time window, legs and circles checked, error bound in metres"
    )
    notes: list[str]
    authorisations: dict[str, str]
    history: list[TransitionOut]


class PositionOut(BaseModel):
    lat_deg: float = Field(description="latitude, degrees (WGS84)")
    lon_deg: float = Field(description="longitude, degrees (WGS84)")
    alt_amsl_m: float | None = Field(description="metres above mean sea level")
    alt_rel_m: float | None = Field(None, description="metres above home")


class DroneOut(BaseModel):
    """A drone as the fleet reports it."""

    drone_id: int = Field(description="MAVLink system id")
    instance: str | None = Field(
        None, description="the service instance that holds the drone's link (clustered)"
    )
    link: str = Field(description="connected, degraded or lost")
    heartbeat_age_s: float = Field(description="seconds since the last heartbeat")
    autopilot: str
    vehicle_type: str
    firmware_version: str | None
    position: PositionOut | None
    home: PositionOut | None
    flight_mode: str | None
    armed: bool
    landed: bool
    battery_pct: float | None = Field(description="state of charge, percent")
    gps_fix: str | None
    armable: bool | None
    mission_id: str | None = Field(description="the mission it is assigned to")
    available: bool = Field(description="connected, landed, disarmed and unassigned")


class ZoneOut(BaseModel):
    """An airspace zone in force."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="identifier, plus #part for later parts of one zone")


class HealthOut(BaseModel):
    """Liveness and what the service is connected to."""

    status: Literal["ok", "degraded"]
    database: str = Field(description="sqlite or postgresql")
    drones_connected: int
    drones_known: int
    zones: int
    missions_active: int
    simulated_fleet: bool
    uptime_s: float = Field(description="seconds since start-up")
    instance: str = Field(description="this instance's name (MQTT client id, leases)")
    mqtt: Literal["disabled", "connected", "disconnected"] = Field(
        description="the MQTT bridge's broker connection"
    )
    dispatching: bool = Field(description="this instance dispatches (clustered: the leader)")
    links_held: list[int] = Field(description="drones whose vehicle link this instance holds")
