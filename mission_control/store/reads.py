"""Read queries of incidents, missions and events (run on a connection the store opens).

List reads validate their paging and filters first and refuse bad values with
:class:`~mission_control.store.errors.InvalidValue` naming the argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mission_control.domain.events import Event
from mission_control.domain.incident import Incident, IncidentStatus
from mission_control.domain.mission import ACTIVE_STATES, Mission, MissionState
from mission_control.store.codec import event_from_row, incident_from_row, mission_from_row
from mission_control.store.errors import InvalidValue
from mission_control.store.models import events, incidents, missions

__all__ = [
    "EVENTS_PAGE",
    "MAX_PAGE",
    "active_missions",
    "check_page",
    "events_since",
    "get_incident",
    "get_mission",
    "last_event_seq",
    "list_incidents",
    "list_missions",
]

MAX_PAGE = 10_000
"""The largest ``limit`` a list read accepts."""

EVENTS_PAGE = 1000
"""The default ``limit`` of event and audit-entry reads."""

_E = TypeVar("_E", bound=StrEnum)


def check_page(limit: int, offset: int = 0) -> None:
    """Refuse a ``limit`` outside 1..:data:`MAX_PAGE` or a negative ``offset``.

    Raises:
        InvalidValue: naming ``limit`` or ``offset``.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidValue("limit", f"must be an integer 1..{MAX_PAGE}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidValue("offset", f"must be an integer >= 0, got {offset!r}")


def _values(kind: type[_E], field: str, given: _E | str | Iterable[_E | str]) -> list[str]:
    items = [given] if isinstance(given, str) else list(given)
    try:
        return [kind(v).value for v in items]
    except ValueError:
        choices = ", ".join(v.value for v in kind)
        raise InvalidValue(field, f"must be among {choices}, got {given!r}") from None


async def get_incident(conn: AsyncConnection, incident_id: str) -> Incident | None:
    """The incident, or ``None``."""
    query = sa.select(incidents).where(incidents.c.id == incident_id)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else incident_from_row(row)


async def list_incidents(
    conn: AsyncConnection,
    *,
    status: IncidentStatus | Iterable[IncidentStatus] | None,
    reported_by: str | None,
    limit: int,
    offset: int,
) -> list[Incident]:
    """Incidents, newest first, optionally of some statuses and/or one reporter.

    Raises:
        InvalidValue: an unknown status, a bad limit or offset.
    """
    check_page(limit, offset)
    query = sa.select(incidents)
    if status is not None:
        query = query.where(incidents.c.status.in_(_values(IncidentStatus, "status", status)))
    if reported_by is not None:
        query = query.where(incidents.c.reported_by == reported_by)
    query = query.order_by(incidents.c.created_at.desc(), incidents.c.id.desc())
    rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
    return [incident_from_row(r) for r in rows]


async def get_mission(conn: AsyncConnection, mission_id: str) -> Mission | None:
    """The mission, or ``None``."""
    query = sa.select(missions).where(missions.c.id == mission_id)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else mission_from_row(row)


async def list_missions(
    conn: AsyncConnection,
    *,
    state: MissionState | Iterable[MissionState] | None,
    incident_id: str | None,
    drone_id: int | None,
    limit: int,
    offset: int,
) -> list[Mission]:
    """Missions, newest first, filtered by state(s), incident and/or drone.

    Raises:
        InvalidValue: an unknown state, a bad limit or offset.
    """
    check_page(limit, offset)
    query = sa.select(missions)
    if state is not None:
        query = query.where(missions.c.state.in_(_values(MissionState, "state", state)))
    if incident_id is not None:
        query = query.where(missions.c.incident_id == incident_id)
    if drone_id is not None:
        query = query.where(missions.c.drone_id == drone_id)
    query = query.order_by(missions.c.created_at.desc(), missions.c.id.desc())
    rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
    return [mission_from_row(r) for r in rows]


async def active_missions(conn: AsyncConnection) -> list[Mission]:
    """Every non-terminal mission, oldest first."""
    query = (
        sa.select(missions)
        .where(missions.c.state.in_(sorted(s.value for s in ACTIVE_STATES)))
        .order_by(missions.c.created_at, missions.c.id)
    )
    rows = (await conn.execute(query)).mappings().all()
    return [mission_from_row(r) for r in rows]


async def events_since(conn: AsyncConnection, seq: int, limit: int) -> list[Event]:
    """Events with a sequence number above ``seq``, oldest first, at most ``limit``.

    Raises:
        InvalidValue: a negative ``seq``, a bad limit.
    """
    check_page(limit)
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise InvalidValue("seq", f"must be an integer >= 0, got {seq!r}")
    query = sa.select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
    rows = (await conn.execute(query)).mappings().all()
    return [event_from_row(r) for r in rows]


async def last_event_seq(conn: AsyncConnection) -> int:
    """The highest stored event sequence number (0 when there is none)."""
    return int(await conn.scalar(sa.select(sa.func.max(events.c.seq))) or 0)
