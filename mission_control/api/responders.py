"""What a responder may follow: the incidents it reported, their missions, their drones.

A responder requests overwatch and then follows it: the incident's status, the mission
flown for it (state, ETA) and the assigned drone's live video. It sees nothing else: no
other incident, mission, event or camera. These checks are the one place that decides it;
routes call them for the ``responder`` role only (the reading roles see everything).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mission_control.domain.events import Event, EventKind
from mission_control.domain.mission import Mission
from mission_control.store import Actor, Role

if TYPE_CHECKING:
    from mission_control.app import Services

__all__ = ["ResponderScope", "owns_drone_video", "owns_incident", "owns_mission"]

OWN_INCIDENTS_LIMIT = 200
"""A responder's newest incidents whose missions are looked up when its event stream opens;
an older one joins the stream with its next change (its events name the reporter)."""


def is_responder(actor: Actor) -> bool:
    return actor.role == Role.RESPONDER


async def owns_incident(services: Services, actor: Actor, incident_id: str) -> bool:
    """True if ``actor`` reported the incident (False for unknown ids)."""
    incident = await services.store.get_incident(incident_id)
    return incident is not None and incident.reported_by == actor.name


async def owns_mission(services: Services, actor: Actor, mission: Mission) -> bool:
    """True if the mission serves an incident ``actor`` reported."""
    return await owns_incident(services, actor, mission.incident_id)


async def owns_drone_video(services: Services, actor: Actor, drone_id: int) -> bool:
    """True if the drone is now assigned to a mission for an incident ``actor`` reported
    (its camera is the responder's overwatch while that mission lasts)."""
    mission_id = services.drones.assigned_to(drone_id)
    if mission_id is None:
        return False
    mission = await services.store.get_mission(mission_id)
    return mission is not None and await owns_mission(services, actor, mission)


class ResponderScope:
    """Which events a responder's ``/ws/events`` stream carries: its incidents' changes,
    the missions of those incidents, and the alerts about those missions.

    Built from the store when the stream opens and grown from the events themselves (a
    new incident it reports, a mission created for one of them), so the filter needs no
    database read per event.
    """

    def __init__(self, name: str, incident_ids: set[str], mission_ids: set[str]) -> None:
        self.name = name
        self.incident_ids = incident_ids
        self.mission_ids = mission_ids

    @classmethod
    async def load(cls, services: Services, actor: Actor) -> ResponderScope:
        store = services.store
        incidents = await store.list_incidents(reported_by=actor.name, limit=OWN_INCIDENTS_LIMIT)
        incident_ids = {i.id for i in incidents}
        mission_ids: set[str] = set()
        for incident_id in incident_ids:
            for m in await store.list_missions(incident_id=incident_id, limit=1000):
                mission_ids.add(m.id)
        return cls(actor.name, incident_ids, mission_ids)

    def admits(self, event: Event) -> bool:
        """Whether the responder sees ``event`` (and learn from it)."""
        payload = event.payload
        if event.kind in (EventKind.INCIDENT_CREATED, EventKind.INCIDENT_UPDATED):
            if payload.get("reported_by") == self.name:
                self.incident_ids.add(event.subject_id)
            return event.subject_id in self.incident_ids
        if event.kind in (EventKind.MISSION_CREATED, EventKind.MISSION_UPDATED):
            if payload.get("incident_id") in self.incident_ids:
                self.mission_ids.add(event.subject_id)
            return event.subject_id in self.mission_ids
        return event.kind is EventKind.ALERT and payload.get("mission_id") in self.mission_ids
