"""The one path every incident and mission change takes: validate, persist + audit, announce.

:class:`MissionBook` serialises changes per mission (one lock each), applies the domain's
transition table, writes the new value, its audit entry and its event in one store
transaction, and only then publishes the event on the bus (invariant 4). Incident status
follows its missions here too: a mission on station covers the incident; one that ends
without coverage makes it unserviceable with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from mission_control.bus import EventBus
from mission_control.domain.events import AlertSeverity, Event, EventKind, event_topic
from mission_control.domain.incident import Incident, IncidentStatus
from mission_control.domain.mission import Mission, MissionState
from mission_control.services.errors import NotFoundError
from mission_control.store import Actor, Store

__all__ = ["SYSTEM", "Clock", "MissionBook"]

log = logging.getLogger(__name__)

SYSTEM = Actor("system", "system")
"""The actor of changes the service makes by itself."""

Clock = Callable[[], datetime]

# mission end state → what it means for an incident that was not covered yet
_UNCOVERED_BECAUSE = {
    MissionState.REJECTED: "the pilot rejected mission {id}",
    MissionState.EXPIRED: "mission {id} was not approved in time",
    MissionState.FAILED: "mission {id} failed",
    MissionState.ABORTED: "mission {id} was aborted",
}


class MissionBook:
    """Persisted, announced, serialised changes of incidents and missions.

    Args:
        store: the database.
        bus: where events are published after they are stored.
        clock: aware UTC "now".
    """

    def __init__(self, store: Store, bus: EventBus[object], clock: Clock) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self.listeners: list[Callable[[Mission], None]] = []
        """Called with every mission after a stored transition (e.g. to free its drone)."""

    def lock(self, mission_id: str) -> asyncio.Lock:
        """The lock that serialises changes of ``mission_id``."""
        lock = self._locks.get(mission_id)
        if lock is None:
            lock = self._locks[mission_id] = asyncio.Lock()
        return lock

    def announce(self, events: Iterable[Event]) -> None:
        """Publish stored events on the bus (never blocks)."""
        for event in events:
            self.bus.publish(event_topic(event.kind), event)

    # -- reads ---------------------------------------------------------------------------
    async def mission(self, mission_id: str) -> Mission:
        """The stored mission.

        Raises:
            NotFoundError: no such mission.
        """
        m = await self.store.get_mission(mission_id)
        if m is None:
            raise NotFoundError("mission", mission_id)
        return m

    async def incident(self, incident_id: str) -> Incident:
        """The stored incident.

        Raises:
            NotFoundError: no such incident.
        """
        i = await self.store.get_incident(incident_id)
        if i is None:
            raise NotFoundError("incident", incident_id)
        return i

    # -- incidents -------------------------------------------------------------------------
    async def set_incident_status(
        self, incident_id: str, status: IncidentStatus, actor: Actor, reason: str | None
    ) -> Incident:
        """Move an incident to ``status`` (no-op when it is already there).

        Raises:
            NotFoundError, IllegalTransition.
        """
        before = await self.incident(incident_id)
        if before.status is status:
            return before
        after = before.transition(status, at=self.clock(), reason=reason)
        events = await self.store.update_incident(before, after, actor, f"incident.{status.value}")
        self.announce(events)
        return after

    # -- missions --------------------------------------------------------------------------
    async def create(self, mission: Mission, incident: Incident, actor: Actor) -> Mission:
        """Store a new pending mission and move its incident to ``dispatching`` together."""
        after = incident.transition(
            IncidentStatus.DISPATCHING,
            at=mission.created_at,
            reason=f"mission {mission.id} planned for drone {mission.drone_id}",
        )
        events = await self.store.add_mission(mission, actor, incident_update=(incident, after))
        self.announce(events)
        return mission

    async def transition(
        self,
        mission_id: str,
        state: MissionState,
        actor: Actor,
        *,
        reason: str = "",
        change: Callable[[Mission], Mission] | None = None,
        expect: Callable[[Mission], bool] | None = None,
    ) -> Mission:
        """Move a mission to ``state``, persisting and announcing it.

        Args:
            change: applied to the mission before the transition (e.g. a new report).
            expect: checked under the lock; if it returns False nothing changes and the
                current mission is returned (for system actions racing a pilot).

        Raises:
            NotFoundError, IllegalTransition (nothing written).
        """
        async with self.lock(mission_id):
            before = await self.mission(mission_id)
            if expect is not None and not expect(before):
                return before
            now = self.clock()
            base = change(before) if change is not None else before
            after = base.transition(state, at=now, by=actor.name, reason=reason)
            follow = await self._incident_follows(after, now)
            # the mission's change and what it means for its incident: one transaction
            async with self.store.transaction() as tx:
                await tx.update_mission(before, after, actor, f"mission.{state.value}")
                if follow is not None:
                    inc_before, inc_after = follow
                    await tx.update_incident(
                        inc_before, inc_after, SYSTEM, f"incident.{inc_after.status.value}"
                    )
            self.announce(tx.events)
        for listener in self.listeners:
            listener(after)
        return after

    async def update(
        self, mission_id: str, change: Callable[[Mission], Mission], actor: Actor, action: str
    ) -> Mission:
        """Persist a change that keeps the state (a new report, the uploaded fence)."""
        async with self.lock(mission_id):
            before = await self.mission(mission_id)
            after = change(before)
            events = await self.store.update_mission(before, after, actor, action)
            self.announce(events)
            return after

    async def on_station(self, mission: Mission) -> None:
        """The drone reached the incident: the incident is covered."""
        await self._cover(mission, f"drone {mission.drone_id} on station (mission {mission.id})")

    async def alert(
        self,
        severity: AlertSeverity,
        text: str,
        *,
        drone_id: int | None,
        mission_id: str | None,
        actor: Actor = SYSTEM,
    ) -> Event:
        """Store and announce an alert for the pilots' screens."""
        event = Event(
            EventKind.ALERT,
            mission_id or f"drone-{drone_id}",
            self.clock(),
            {
                "severity": severity.value,
                "text": text,
                "drone_id": drone_id,
                "mission_id": mission_id,
            },
        )
        stored = await self.store.add_event(event, actor)
        self.announce([stored])
        log.warning("alert (%s): %s", severity.value, text)
        return stored

    async def _cover(self, mission: Mission, reason: str) -> None:
        incident = await self.incident(mission.incident_id)
        if incident.status in {IncidentStatus.DISPATCHING, IncidentStatus.UNSERVICEABLE}:
            await self.set_incident_status(incident.id, IncidentStatus.COVERED, SYSTEM, reason)

    async def _incident_follows(
        self, mission: Mission, now: datetime
    ) -> tuple[Incident, Incident] | None:
        """The incident change a mission's new state implies: ``(before, after)`` or None."""
        incident = await self.incident(mission.incident_id)
        if mission.state is MissionState.COMPLETED:
            if incident.status not in {IncidentStatus.DISPATCHING, IncidentStatus.UNSERVICEABLE}:
                return None
            why = f"mission {mission.id} completed"
            return incident, incident.transition(IncidentStatus.COVERED, at=now, reason=why)
        template = _UNCOVERED_BECAUSE.get(mission.state)
        if template is None or incident.status is not IncidentStatus.DISPATCHING:
            return None  # covered stays covered; closed stays closed
        why = template.format(id=mission.id)
        if mission.reason:
            why += f": {mission.reason}"
        return incident, incident.transition(IncidentStatus.UNSERVICEABLE, at=now, reason=why)
