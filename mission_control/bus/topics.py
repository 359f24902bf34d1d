"""The MQTT topics of one site (``mc/{site}/...``) and the ids that may stand in a level."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mission_control.api.telemetry_json import MAX_DRONE_ID
from mission_control.bus.jsonread import MessageError

__all__ = [
    "ID_RE",
    "ID_WHAT",
    "INSTANCE_RE",
    "INSTANCE_WHAT",
    "SITE_RE",
    "SITE_WHAT",
    "Topics",
    "check_level",
    "drone_level",
]

SITE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
INSTANCE_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
"""Incident, mission and request ids: one topic level, at most 128 characters."""
_DRONE_RE: Final = re.compile(r"[1-9][0-9]{0,2}")

SITE_WHAT: Final = "1 to 64 characters of A-Z a-z 0-9 _ -"
INSTANCE_WHAT: Final = "1 to 64 characters of A-Z a-z 0-9 _ . -"
ID_WHAT: Final = "an id (1 to 128 characters of A-Z a-z 0-9 _ . : -, a letter or digit first)"


def check_level(field: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    """``value`` if ``pattern`` matches all of it.

    Raises:
        MessageError: on ``field``, saying the value is not ``what``.
    """
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:79] + "…"
        raise MessageError(field, f"{shown} is not {what}")
    return value


def drone_level(drone_id: int) -> str:
    """The topic level of a MAVLink system id.

    Raises:
        MessageError: on ``"drone_id"``: not an integer from 1 to ``MAX_DRONE_ID``.
    """
    if type(drone_id) is not int or not 1 <= drone_id <= MAX_DRONE_ID:
        raise MessageError("drone_id", f"{drone_id!r} is not a system id (1 to {MAX_DRONE_ID})")
    return str(drone_id)


@dataclass(frozen=True, slots=True)
class Topics:
    """The MQTT topics of one site: ``mc/{site}/...``.

    Builders validate the ids they put into a level; parsers return ``None`` for a topic of
    another shape or with an invalid id.

    Raises:
        MessageError: ``site`` is not 1 to 64 characters of ``[A-Za-z0-9_-]`` (field
            ``"site"``); a builder's id is invalid (field ``"drone_id"``, ``"mission_id"``...).
    """

    site: str = "local"

    def __post_init__(self) -> None:
        check_level("site", self.site, SITE_RE, SITE_WHAT)

    @property
    def prefix(self) -> str:
        """``mc/{site}``."""
        return f"mc/{self.site}"

    # -- topics
    @property
    def incidents_new(self) -> str:
        return f"{self.prefix}/incidents/new"

    @property
    def incidents_rejected(self) -> str:
        return f"{self.prefix}/incidents/rejected"

    def incident_events(self, incident_id: str) -> str:
        level = check_level("incident_id", incident_id, ID_RE, ID_WHAT)
        return f"{self.prefix}/incidents/{level}/events"

    def telemetry(self, drone_id: int) -> str:
        return f"{self.prefix}/fleet/{drone_level(drone_id)}/telemetry"

    def state(self, drone_id: int) -> str:
        return f"{self.prefix}/fleet/{drone_level(drone_id)}/state"

    def mission_events(self, mission_id: str) -> str:
        level = check_level("mission_id", mission_id, ID_RE, ID_WHAT)
        return f"{self.prefix}/missions/{level}/events"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}/alerts"

    def instance_status(self, instance: str) -> str:
        return f"{self.prefix}/instances/{self._instance(instance)}/status"

    def requests(self, instance: str) -> str:
        return f"{self.prefix}/instances/{self._instance(instance)}/requests"

    def replies(self, instance: str) -> str:
        return f"{self.prefix}/instances/{self._instance(instance)}/replies"

    @staticmethod
    def _instance(instance: str) -> str:
        return check_level("instance", instance, INSTANCE_RE, INSTANCE_WHAT)

    # -- subscription patterns
    @property
    def telemetry_pattern(self) -> str:
        return f"{self.prefix}/fleet/+/telemetry"

    @property
    def state_pattern(self) -> str:
        return f"{self.prefix}/fleet/+/state"

    @property
    def mission_events_pattern(self) -> str:
        return f"{self.prefix}/missions/+/events"

    @property
    def incident_events_pattern(self) -> str:
        return f"{self.prefix}/incidents/+/events"

    @property
    def status_pattern(self) -> str:
        return f"{self.prefix}/instances/+/status"

    def subscriptions(self, instance: str) -> tuple[str, ...]:
        """Every pattern an instance subscribes to, its own requests and replies included."""
        return (
            self.incidents_new,
            self.telemetry_pattern,
            self.state_pattern,
            self.mission_events_pattern,
            self.incident_events_pattern,
            self.alerts,
            self.status_pattern,
            self.requests(instance),
            self.replies(instance),
        )

    # -- parsers
    def _middle(self, topic: str, head: str, tail: str) -> str | None:
        start = f"{self.prefix}/{head}/"
        end = f"/{tail}"
        if not (topic.startswith(start) and topic.endswith(end)):
            return None
        level = topic[len(start) : len(topic) - len(end)]
        return level if level and "/" not in level else None

    def _drone(self, topic: str, tail: str) -> int | None:
        level = self._middle(topic, "fleet", tail)
        if level is None or _DRONE_RE.fullmatch(level) is None:
            return None
        drone_id = int(level)
        return drone_id if drone_id <= MAX_DRONE_ID else None

    def _named(self, topic: str, head: str, tail: str, pattern: re.Pattern[str]) -> str | None:
        level = self._middle(topic, head, tail)
        return level if level is not None and pattern.fullmatch(level) else None

    def parse_telemetry(self, topic: str) -> int | None:
        """The drone id of a ``fleet/{drone}/telemetry`` topic."""
        return self._drone(topic, "telemetry")

    def parse_state(self, topic: str) -> int | None:
        """The drone id of a ``fleet/{drone}/state`` topic."""
        return self._drone(topic, "state")

    def parse_mission_events(self, topic: str) -> str | None:
        """The mission id of a ``missions/{id}/events`` topic."""
        return self._named(topic, "missions", "events", ID_RE)

    def parse_incident_events(self, topic: str) -> str | None:
        """The incident id of an ``incidents/{id}/events`` topic."""
        return self._named(topic, "incidents", "events", ID_RE)

    def parse_instance_status(self, topic: str) -> str | None:
        """The instance of an ``instances/{instance}/status`` topic."""
        return self._named(topic, "instances", "status", INSTANCE_RE)

    def parse_requests(self, topic: str) -> str | None:
        """The instance of an ``instances/{instance}/requests`` topic."""
        return self._named(topic, "instances", "requests", INSTANCE_RE)

    def parse_replies(self, topic: str) -> str | None:
        """The instance of an ``instances/{instance}/replies`` topic."""
        return self._named(topic, "instances", "replies", INSTANCE_RE)
