"""Turning incidents into pending missions, one at a time, in an owned worker task.

New incidents are queued (bounded); the worker snapshots the fleet, runs the pure dispatch
policy (:func:`mission_control.domain.dispatch.dispatch`) off the event loop, and either
stores a ``pending_approval`` mission together with the incident's ``dispatching`` status,
or marks the incident ``unserviceable`` with the policy's reason — never a silent drop.
One worker means two incidents never get the same drone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from mission_control.domain.dispatch import DispatchPolicy, Proposal, dispatch, plan_for
from mission_control.domain.incident import Incident, IncidentStatus
from mission_control.domain.mission import Mission, MissionState, Transition
from mission_control.services.drones import DroneDirectory
from mission_control.services.errors import NoPlanError, NotFoundError, ServiceError
from mission_control.services.missions import SYSTEM, MissionBook
from mission_control.services.zones import ZoneRegistry

__all__ = ["Dispatcher", "new_id"]

log = logging.getLogger(__name__)

_DISPATCHABLE = {IncidentStatus.OPEN, IncidentStatus.UNSERVICEABLE, IncidentStatus.COVERED}


def new_id(prefix: str) -> str:
    """A new random id such as ``m-3f2a9c1b7d4e``."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Dispatcher:
    """Plans a mission for each queued incident.

    Args:
        book: persisted changes.
        drones: the fleet's snapshots and assignments.
        zones: the zones in force.
        policy: the dispatch policy.
        pending_ttl_s: how long a pending mission waits for a pilot.
        queue_size: incidents waiting to be dispatched at most.
    """

    def __init__(
        self,
        book: MissionBook,
        drones: DroneDirectory,
        zones: ZoneRegistry,
        policy: DispatchPolicy,
        *,
        pending_ttl_s: float,
        queue_size: int = 10_000,
    ) -> None:
        self._book = book
        self._drones = drones
        self._zones = zones
        self.policy = policy
        self._ttl = timedelta(seconds=pending_ttl_s)
        self._queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue(queue_size)
        self._queued: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.clustered = False
        """Several instances: only the one holding the dispatcher lease (:attr:`leading`)
        dispatches, and drone assignments are re-read from the store before each plan."""
        self.leading: Callable[[], bool] = lambda: True
        self.forward: Callable[[str], Awaitable[None]] | None = None
        """Clustered: hands a pilot's re-dispatch to the leading instance."""

    async def __aenter__(self) -> Dispatcher:
        self._task = asyncio.create_task(self._worker(), name="dispatcher")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def submit(self, incident_id: str, *, open_only: bool = False) -> None:
        """Queue an incident for dispatch (once: a queued incident is not queued again).

        Args:
            open_only: dispatch only if it is still ``open`` when its turn comes (new
                reports); False also re-dispatches an unserviceable or covered one.

        Raises:
            ServiceError: the queue is full (the caller reports it; the incident stays open).
        """
        if not self.leading():
            return  # the leading instance sweeps open incidents; re-dispatch: redispatch()
        if incident_id in self._queued:
            return
        try:
            self._queue.put_nowait((incident_id, open_only))
        except asyncio.QueueFull:
            raise ServiceError("the dispatcher is overloaded: try again shortly") from None
        self._queued.add(incident_id)

    async def redispatch(self, incident_id: str) -> None:
        """A pilot asked to dispatch again: here, or by the leading instance.

        Raises:
            ServiceError: the queue is full, or the leading instance cannot be reached.
        """
        if self.leading() or self.forward is None:
            self.submit(incident_id)
        else:
            await self.forward(incident_id)

    async def sweep(self) -> int:
        """Queue every ``open`` incident (the leading instance's catch-up after a take-over
        or a lost notification); returns how many were queued."""
        before = len(self._queued)
        for incident in await self._book.store.list_incidents(
            status=IncidentStatus.OPEN, limit=1000
        ):
            with contextlib.suppress(ServiceError):
                self.submit(incident.id, open_only=True)
        return len(self._queued) - before

    async def _worker(self) -> None:
        while True:
            incident_id, open_only = await self._queue.get()
            try:
                await self.dispatch(incident_id, open_only=open_only)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatch of incident %s failed", incident_id)
                with contextlib.suppress(Exception):
                    await self._book.set_incident_status(
                        incident_id,
                        IncidentStatus.UNSERVICEABLE,
                        SYSTEM,
                        "dispatch failed with an internal error (see the service log)",
                    )
            finally:
                self._queued.discard(incident_id)

    async def dispatch(self, incident_id: str, *, open_only: bool = False) -> Mission | None:
        """Plan a mission for ``incident_id`` now; ``None`` when no drone can serve it.

        Raises:
            NotFoundError: no such incident.
        """
        async with self._lock:
            incident = await self._book.incident(incident_id)
            if incident.status not in _DISPATCHABLE:
                return None
            if open_only and incident.status is not IncidentStatus.OPEN:
                return None
            if self.clustered:
                active = await self._book.store.active_missions()
                self._drones.sync_assignments({m.drone_id: m.id for m in active})
            now = self._book.clock()
            result = await asyncio.to_thread(
                dispatch,
                incident,
                self._drones.snapshots(),
                self._zones.index(),
                at=now,
                policy=self.policy,
            )
            if result.proposal is None:
                reason = result.reason or "no drone can serve this incident"
                await self._book.set_incident_status(
                    incident.id, IncidentStatus.UNSERVICEABLE, SYSTEM, reason
                )
                return None
            mission = self._mission(incident, result.proposal)
            self._drones.assign(mission.drone_id, mission.id)
            try:
                return await self._book.create(mission, incident, SYSTEM)
            except Exception:
                self._drones.release(mission.drone_id, mission.id)
                raise

    async def preview(self, incident: Incident, drone_id: int | None) -> Proposal:
        """The plan dispatch would make for ``incident`` (nothing stored).

        Raises:
            NotFoundError: unknown drone.
            DispatchError: no plan is possible (the reason says why).
        """
        now = self._book.clock()
        index = self._zones.index()
        if drone_id is None:
            result = await asyncio.to_thread(
                dispatch, incident, self._drones.snapshots(), index, at=now, policy=self.policy
            )
            if result.proposal is None:
                raise NoPlanError(result.reason or "no drone can serve this incident")
            return result.proposal
        snap = self._drones.snapshot(drone_id)
        if snap is None:
            raise NotFoundError("drone", str(drone_id))
        return await asyncio.to_thread(plan_for, incident, snap, index, at=now, policy=self.policy)

    def _mission(self, incident: Incident, p: Proposal) -> Mission:
        now = self._book.clock()
        mid = new_id("m")
        return Mission(
            id=mid,
            incident_id=incident.id,
            drone_id=p.drone_id,
            plan=p.plan,
            airspace_report=p.report.to_json(),
            created_at=now,
            updated_at=now,
            expires_at=now + self._ttl,
            pattern=p.pattern,
            eta_s=p.eta_s,
            station_item=p.station_item,
            notes=tuple(p.notes),
            history=(
                Transition(
                    None,
                    MissionState.PENDING_APPROVAL,
                    now,
                    SYSTEM.name,
                    f"planned for drone {p.drone_id}, ETA {p.eta_s:.0f} s",
                ),
            ),
        )
