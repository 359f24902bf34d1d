"""What the service announces: incident, mission and alert events.

Events are values; the store gives each a sequence number when it persists it (in the same
transaction as the state change it reports), and only then is it published. Screens that
reconnect ask for the events after the last sequence number they saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["AlertSeverity", "Event", "EventKind", "event_topic"]


class EventKind(StrEnum):
    """The kinds of event; the bus topic is ``events/<kind with dots as slashes>``."""

    INCIDENT_CREATED = "incident.created"
    INCIDENT_UPDATED = "incident.updated"
    MISSION_CREATED = "mission.created"
    MISSION_UPDATED = "mission.updated"
    ALERT = "alert"


class AlertSeverity(StrEnum):
    """How urgent an alert is for the pilot."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Event:
    """One announcement.

    Attributes:
        kind: see :class:`EventKind`.
        subject_id: the incident or mission id (for alerts: the mission, else the drone).
        at: aware UTC time of the change.
        payload: JSON-ready details (the incident or mission as the API shows it, or the
            alert's ``severity``, ``text``, ``drone_id`` and ``mission_id``).
        seq: the store's sequence number; 0 until persisted.
    """

    kind: EventKind
    subject_id: str
    at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (what ``/ws/events`` sends)."""
        return {
            "seq": self.seq,
            "kind": self.kind.value,
            "subject_id": self.subject_id,
            "at": self.at.isoformat(),
            "payload": dict(self.payload),
        }


def event_topic(kind: EventKind) -> str:
    """The bus topic of events of ``kind`` (``events/mission/updated`` ...)."""
    return "events/" + kind.value.replace(".", "/")
