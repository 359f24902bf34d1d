"""Domain values ↔ table rows and JSON documents. Pure: no database, no I/O.

Three forms of an incident or mission:

* the **row** (``*_row``): column name → value, as written to the table, with its ``etag``;
* the **document** (``*_doc``): JSON-ready, what the audit log records (before/after) and
  what the ``etag`` hashes; a mission's plan is the QGroundControl ``.plan`` JSON object;
* the domain value itself, rebuilt by ``*_from_row``.

The ``etag`` is the SHA-256 of the canonical JSON of the document: two values have the same
etag exactly when the store would write the same row for them, which is how an update
checks that the stored row still matches its ``before``. Canonical JSON: sorted keys, no
spaces, UTF-8, no NaN/Infinity; times are UTC ISO 8601 with microseconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flight_plans.errors import FlightPlanError
from flight_plans.qgc import dumps_plan, loads_plan
from mission_control.domain.errors import DomainError
from mission_control.domain.events import Event, EventKind
from mission_control.domain.incident import Incident, IncidentStatus, PatternKind
from mission_control.domain.mission import Mission, MissionState, Transition
from mission_control.store.errors import InvalidValue, UnreadableRow

__all__ = [
    "canonical_json",
    "changed_fields",
    "encode_mission",
    "event_from_row",
    "event_row",
    "incident_doc",
    "incident_from_row",
    "incident_row",
    "mission_doc",
    "mission_from_row",
    "mission_row",
    "mission_summary",
    "sha256_hex",
    "utc_iso",
]


def canonical_json(value: object, *, field: str = "value") -> str:
    """``value`` as canonical JSON text (sorted keys, compact, UTF-8, finite numbers).

    Raises:
        InvalidValue: naming ``field``: the value holds something JSON cannot represent
            (a NaN, a datetime, an object).
    """
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise InvalidValue(field, f"not storable as JSON ({exc})") from None


def sha256_hex(text: str) -> str:
    """Lower-case hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_iso(t: datetime) -> str:
    """``t`` (aware) as UTC ISO 8601 with microseconds: ``2024-05-01T12:00:00.000000+00:00``."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _opt_iso(t: datetime | None) -> str | None:
    return None if t is None else utc_iso(t)


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The top-level keys whose values differ: ``(their values before, their values after)``.

    A key missing on one side is reported as ``None`` there.
    """
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


# -- incidents -------------------------------------------------------------------------------


def incident_doc(incident: Incident) -> dict[str, Any]:
    """The incident as a JSON-ready document (every field)."""
    i = incident
    return {
        "id": i.id,
        "source": i.source,
        "external_id": i.external_id,
        "kind": i.kind,
        "priority": i.priority,
        "lat_deg": i.lat_deg,
        "lon_deg": i.lon_deg,
        "description": i.description,
        "reported_by": i.reported_by,
        "status": i.status.value,
        "status_reason": i.status_reason,
        "pattern": None if i.pattern is None else i.pattern.value,
        "radius_m": i.radius_m,
        "created_at": utc_iso(i.created_at),
        "updated_at": utc_iso(i.updated_at),
    }


def incident_row(incident: Incident) -> dict[str, Any]:
    """The ``incidents`` columns of ``incident`` (without ``version``), ``etag`` included."""
    doc = incident_doc(incident)
    return {
        **doc,
        "created_at": incident.created_at,  # columns hold datetimes, the document ISO text
        "updated_at": incident.updated_at,
        "etag": sha256_hex(canonical_json(doc, field="incident")),
    }


def incident_from_row(row: Mapping[Any, Any]) -> Incident:
    """Rebuild an incident from its ``incidents`` row.

    Raises:
        UnreadableRow: the row does not make a valid incident.
    """
    try:
        return Incident(
            id=row["id"],
            source=row["source"],
            external_id=row["external_id"],
            kind=row["kind"],
            priority=row["priority"],
            lat_deg=row["lat_deg"],
            lon_deg=row["lon_deg"],
            description=row["description"],
            reported_by=row["reported_by"],
            status=IncidentStatus(row["status"]),
            status_reason=row["status_reason"],
            pattern=None if row["pattern"] is None else PatternKind(row["pattern"]),
            radius_m=row["radius_m"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
    except (DomainError, ValueError, KeyError) as exc:
        raise UnreadableRow("incident", str(row.get("id")), str(exc)) from exc


# -- missions --------------------------------------------------------------------------------


def _plan_text(mission: Mission) -> str:
    try:
        return dumps_plan(mission.plan)
    except FlightPlanError as exc:
        raise InvalidValue("plan", f"not storable as a .plan file ({exc})") from exc


def _mission_doc(m: Mission, plan_text: str) -> dict[str, Any]:
    return {
        "id": m.id,
        "incident_id": m.incident_id,
        "drone_id": m.drone_id,
        "state": m.state.value,
        "pattern": m.pattern.value,
        "plan": json.loads(plan_text),
        "airspace_report": dict(m.airspace_report),
        "eta_s": m.eta_s,
        "station_item": m.station_item,
        "notes": list(m.notes),
        "authorisations": dict(m.authorisations),
        "approved_by": m.approved_by,
        "approved_at": _opt_iso(m.approved_at),
        "reason": m.reason,
        "history": [t.to_json() for t in m.history],
        "created_at": utc_iso(m.created_at),
        "updated_at": utc_iso(m.updated_at),
        "expires_at": utc_iso(m.expires_at),
    }


def mission_doc(mission: Mission) -> dict[str, Any]:
    """The mission as a JSON-ready document; ``plan`` is the QGC ``.plan`` JSON object.

    Raises:
        InvalidValue: the plan cannot be written as a ``.plan`` file (a fence polygon with
            holes), or the airspace report is not JSON.
    """
    return _mission_doc(mission, _plan_text(mission))


def mission_summary(mission: Mission) -> dict[str, Any]:
    """The mission document without the plan and the airspace report (an event's default
    payload), with ``airspace_ok`` and ``item_count`` instead."""
    doc = _mission_doc(mission, "{}")
    del doc["plan"], doc["airspace_report"]
    doc["airspace_ok"] = mission.airspace_ok
    doc["item_count"] = len(mission.plan.mission.items)
    return doc


def mission_row(mission: Mission) -> dict[str, Any]:
    """The ``missions`` columns of ``mission`` (without ``version``), ``etag`` included.

    Raises:
        InvalidValue: see :func:`mission_doc`.
    """
    return encode_mission(mission)[0]


def encode_mission(mission: Mission) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(mission_row(mission), mission_doc(mission))``, writing the plan text once.

    Raises:
        InvalidValue: see :func:`mission_doc`.
    """
    m = mission
    plan_text = _plan_text(m)
    doc = _mission_doc(m, plan_text)
    row = {
        "id": m.id,
        "incident_id": m.incident_id,
        "drone_id": m.drone_id,
        "state": m.state.value,
        "pattern": m.pattern.value,
        "plan_qgc": plan_text,
        "airspace_report": canonical_json(doc["airspace_report"], field="airspace_report"),
        "eta_s": m.eta_s,
        "station_item": m.station_item,
        "notes": canonical_json(doc["notes"], field="notes"),
        "authorisations": canonical_json(doc["authorisations"], field="authorisations"),
        "approved_by": m.approved_by,
        "approved_at": m.approved_at,
        "reason": m.reason,
        "history": canonical_json(doc["history"], field="history"),
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "expires_at": m.expires_at,
        "etag": sha256_hex(canonical_json(doc, field="mission")),
    }
    return row, doc


def mission_from_row(row: Mapping[Any, Any]) -> Mission:
    """Rebuild a mission from its ``missions`` row.

    Raises:
        UnreadableRow: the row (or its stored plan) does not make a valid mission.
    """
    mission_id = str(row.get("id"))
    try:
        plan = loads_plan(row["plan_qgc"], source=f"mission {mission_id}")
        return Mission(
            id=row["id"],
            incident_id=row["incident_id"],
            drone_id=row["drone_id"],
            state=MissionState(row["state"]),
            pattern=PatternKind(row["pattern"]),
            plan=plan,
            airspace_report=json.loads(row["airspace_report"]),
            eta_s=row["eta_s"],
            station_item=row["station_item"],
            notes=tuple(json.loads(row["notes"])),
            authorisations=json.loads(row["authorisations"]),
            approved_by=row["approved_by"],
            approved_at=row["approved_at"],
            reason=row["reason"],
            history=tuple(Transition.from_json(t) for t in json.loads(row["history"])),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            expires_at=row["expires_at"],
        )
    except (FlightPlanError, DomainError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableRow("mission", mission_id, str(exc)) from exc


# -- events ----------------------------------------------------------------------------------


def event_row(event: Event) -> dict[str, Any]:
    """The ``events`` columns of ``event`` (without ``seq``, which the database assigns).

    Raises:
        InvalidValue: the payload is not JSON.
    """
    return {
        "kind": EventKind(event.kind).value,
        "subject_id": event.subject_id,
        "at": event.at,
        "payload": canonical_json(dict(event.payload), field="payload"),
    }


def event_from_row(row: Mapping[Any, Any]) -> Event:
    """Rebuild an event (with its ``seq``) from its ``events`` row.

    Raises:
        UnreadableRow: unknown kind or payload not JSON.
    """
    try:
        return Event(
            kind=EventKind(row["kind"]),
            subject_id=row["subject_id"],
            at=row["at"],
            payload=json.loads(row["payload"]),
            seq=int(row["seq"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UnreadableRow("event", str(row.get("seq")), str(exc)) from exc
