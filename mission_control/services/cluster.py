"""Several instances, one fleet: vehicle-link leases, the leading dispatcher, forwarded commands.

Clustered (``MC_MQTT_URL`` set), every instance is given the same vehicle URLs. Each URL is
a lease (``link:{url}``) in the shared database: the instance holding it opens the link,
flies that drone's missions and publishes its telemetry; the others see the drone through
MQTT. If the holder dies its leases stop being renewed and another instance takes them
over after ``lease_ttl_s`` — it opens the links and resumes following their missions, as
after a restart. One more lease, ``dispatcher``, names the instance that dispatches and
expires pending missions, so each incident is planned once and no drone is given twice.

A pilot may use any instance: approvals are database changes (the holder of the drone's
link starts the mission when it sees the change); a command for a drone in the air goes to
the holder over MQTT (:meth:`Cluster.forward_command`) and its answer comes back as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, Literal

from mission_control.bus.messages import CommandRequest
from mission_control.domain.errors import IllegalTransition
from mission_control.domain.events import Event, EventKind
from mission_control.domain.mission import Mission, MissionState
from mission_control.services.approvals import Approvals
from mission_control.services.bridge import MqttBridge, RequestFailed
from mission_control.services.dispatcher import Dispatcher
from mission_control.services.drones import DroneDirectory
from mission_control.services.errors import (
    ForwardedError,
    NotFoundError,
    ServiceError,
    VehicleCommandFailed,
)
from mission_control.services.executor import Executor
from mission_control.services.leases import LeaseInfo, LeaseKeeper
from mission_control.services.missions import MissionBook
from mission_control.services.remote import RemoteFleet
from mission_control.services.views import mission_json
from mission_control.store import Actor, Store, StoreError
from mission_control.vehicles.errors import VehicleError
from mission_control.vehicles.fleet import VehicleFleet

__all__ = ["DISPATCHER_LEASE", "Cluster", "link_lease"]

log = logging.getLogger(__name__)

DISPATCHER_LEASE = "dispatcher"
_LINK = "link:"
_SWEEP_S = 5.0
SETTLE_S = 3.0
"""After start-up, vehicle links are left alone this long, so that instances started
together see each other and split them (healthy links are never moved later)."""


def link_lease(url: str) -> str:
    """The lease name of a vehicle URL."""
    return _LINK + url


class Cluster:
    """Joins this instance to the others (``async with``); see the module docstring."""

    def __init__(
        self,
        *,
        instance: str,
        store: Store,
        bridge: MqttBridge,
        fleet: VehicleFleet,
        drones: DroneDirectory,
        remote: RemoteFleet,
        book: MissionBook,
        executor: Executor,
        dispatcher: Dispatcher,
        approvals: Approvals,
        vehicle_urls: tuple[str, ...],
        lease_ttl_s: float,
        command_timeout_s: float,
    ) -> None:
        self.instance = instance
        self._store = store
        self._bridge = bridge
        self._fleet = fleet
        self._drones = drones
        self._remote = remote
        self._book = book
        self._executor = executor
        self._dispatcher = dispatcher
        self._timeout_s = command_timeout_s
        self.leading = False
        self.keeper = LeaseKeeper(
            store,
            instance,
            balanced=[link_lease(u) for u in vehicle_urls],
            singletons=[DISPATCHER_LEASE],
            ttl_s=lease_ttl_s,
            settle_s=SETTLE_S,
            on_acquired=self._acquired,
            on_lost=self._lost,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._opening: dict[str, asyncio.Task[object]] = {}
        executor.only_local = True
        executor.forward = self.forward_command
        dispatcher.clustered = True
        dispatcher.leading = self._is_leading
        dispatcher.forward = self._forward_dispatch
        approvals.leading = self._is_leading
        bridge.serve("mission.command", self._serve_command)
        bridge.serve("incident.dispatch", self._serve_dispatch)

    def _is_leading(self) -> bool:
        return self.leading

    async def __aenter__(self) -> Cluster:
        sub = self._book.bus.subscribe("events/#", maxsize=10_000, policy="drop_oldest")
        self._tasks.append(asyncio.create_task(self._follow(sub), name="cluster: follow"))
        self._tasks.append(asyncio.create_task(self._sweep(), name="cluster: sweep"))
        await self.keeper.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.keeper.__aexit__(None, None, None)
        opening = list(self._opening.values())
        for pending in opening:
            pending.cancel()
        await asyncio.gather(*opening, return_exceptions=True)

    # -- leases --------------------------------------------------------------------------------
    async def _acquired(self, info: LeaseInfo) -> None:
        if info.name == DISPATCHER_LEASE:
            self.leading = True
            log.info("this instance now dispatches")
            self._spawn(info.name, self._dispatcher.sweep())
            return
        # opening a link takes seconds: not on the keeper's task, which must keep renewing
        self._spawn(info.name, self._open_link(info))

    def _spawn(self, name: str, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work, name=f"cluster: {name}")
        self._opening[name] = task
        task.add_done_callback(lambda t: self._done(name, t))

    def _done(self, name: str, task: asyncio.Task[object]) -> None:
        if self._opening.get(name) is task:
            del self._opening[name]
        if not task.cancelled() and task.exception() is not None:
            log.error("cluster: %s failed", name, exc_info=task.exception())

    async def _open_link(self, info: LeaseInfo) -> None:
        url = info.name.removeprefix(_LINK)
        drone_id = await self._fleet.attach(url, expect_system_id=info.drone_id)
        log.info("vehicle link %s held here (drone %s)", url, drone_id)
        if drone_id is None:
            return
        if drone_id != info.drone_id:
            await self.keeper.set_drone(info.name, drone_id)
        self._remote.forget(drone_id)
        await self._resume(drone_id)

    async def _lost(self, name: str) -> None:
        opening = self._opening.pop(name, None)
        if opening is not None:
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        if name == DISPATCHER_LEASE:
            self.leading = False
            log.warning("this instance no longer dispatches")
            return
        url = name.removeprefix(_LINK)
        drone_id = await self._fleet.detach(url)
        log.warning("vehicle link %s given up (drone %s)", url, drone_id)
        if drone_id is not None:
            await self._executor.stop_drone(drone_id)

    async def _resume(self, drone_id: int) -> None:
        """Follow the drone's missions that are under way (as after a restart)."""
        for m in await self._store.active_missions():
            if m.drone_id == drone_id:
                self._drones.assign(m.drone_id, m.id)
                self._executor.start(m)

    # -- what the others did -------------------------------------------------------------------
    async def _follow(self, sub: Any) -> None:
        """Start missions approved elsewhere for drones linked here; dispatch new incidents
        reported elsewhere when this instance leads."""
        async for _, event in sub:
            if not isinstance(event, Event):
                continue
            try:
                if event.kind is EventKind.INCIDENT_CREATED and self.leading:
                    self._dispatcher.submit(event.subject_id, open_only=True)
                elif event.kind in (EventKind.MISSION_CREATED, EventKind.MISSION_UPDATED):
                    await self._maybe_start(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster: handling %s %s failed", event.kind, event.subject_id)

    async def _maybe_start(self, event: Event) -> None:
        drone_id = event.payload.get("drone_id")
        state = event.payload.get("state")
        if not isinstance(drone_id, int) or not self._drones.is_local(drone_id):
            return
        if state in (None, MissionState.PENDING_APPROVAL.value):
            return
        if event.subject_id in self._executor.running:
            return
        mission = await self._book.mission(event.subject_id)
        self._executor.start(mission)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_S)
            if self.leading:
                with contextlib.suppress(StoreError):
                    await self._dispatcher.sweep()

    # -- forwarding ----------------------------------------------------------------------------
    async def forward_command(
        self, mission: Mission, action: str, actor: Actor, reason: str
    ) -> Mission:
        """Run a pilot's command on the instance holding ``mission``'s drone link.

        Raises:
            VehicleCommandFailed: no instance holds it, or it did not answer in time.
            ForwardedError: it answered with an error (its status and body are kept).
        """
        holder = await self.keeper.holder_of_drone(mission.drone_id)
        if holder is None:
            raise VehicleCommandFailed(
                mission.id, action, f"no instance holds drone {mission.drone_id}'s link"
            )
        if holder == self.instance:  # being taken over right now
            raise VehicleCommandFailed(
                mission.id, action, "this instance is opening the drone's link: try again"
            )
        request = CommandRequest(
            id="-",
            reply_to="-",
            op="mission.command",
            deadline=self._book.clock(),
            actor_name=actor.name,
            actor_role=actor.role,
            mission_id=mission.id,
            command=_command(action),
            reason=reason,
        )
        try:
            status, body = await self._bridge.request(holder, request, timeout_s=self._timeout_s)
        except RequestFailed as exc:
            raise VehicleCommandFailed(mission.id, action, str(exc)) from None
        if status != 200:
            raise ForwardedError(status, body)
        return await self._book.mission(mission.id)

    async def _serve_command(self, request: CommandRequest) -> tuple[int, dict[str, Any]]:
        if request.mission_id is None or request.command is None:
            return 400, {"detail": "mission.command needs mission_id and command"}
        mission_id, action, reason = request.mission_id, request.command, request.reason
        try:
            actor = Actor(request.actor_name, request.actor_role)
        except ValueError as exc:
            return 400, {"detail": f"actor: {exc}"}
        try:
            mission = await self._executor.command(mission_id, action, actor, reason)
        except NotFoundError as exc:
            return 404, {"detail": str(exc)}
        except IllegalTransition as exc:
            return 409, {
                "detail": str(exc),
                "current_state": exc.current,
                "requested_state": exc.requested,
            }
        except (VehicleCommandFailed, VehicleError) as exc:
            return 502, {"detail": str(exc)}
        except (ServiceError, StoreError) as exc:
            return 503, {"detail": str(exc)}
        return 200, mission_json(mission)

    async def _forward_dispatch(self, incident_id: str) -> None:
        leader = next(
            (
                lease.holder
                for lease in await self.keeper.leases()
                if lease.name == DISPATCHER_LEASE
            ),
            None,
        )
        if leader is None:
            raise ServiceError("no instance dispatches right now: try again shortly")
        request = CommandRequest(
            id="-",
            reply_to="-",
            op="incident.dispatch",
            deadline=self._book.clock(),
            actor_name="system",
            actor_role="system",
            incident_id=incident_id,
        )
        try:
            status, body = await self._bridge.request(leader, request, timeout_s=5.0)
        except RequestFailed as exc:
            raise ServiceError(f"the dispatching instance did not answer: {exc}") from None
        if status != 200:
            raise ForwardedError(status, body)

    async def _serve_dispatch(self, request: CommandRequest) -> tuple[int, dict[str, Any]]:
        incident_id = request.incident_id
        if incident_id is None:
            return 400, {"detail": "incident_id: a string"}
        if not self.leading:
            return 503, {"detail": f"{self.instance} no longer dispatches: try again"}
        try:
            self._dispatcher.submit(incident_id)
        except ServiceError as exc:
            return 503, {"detail": str(exc)}
        return 200, {"incident_id": incident_id, "queued": True}


def _command(action: str) -> Literal["pause", "resume", "rtl", "abort"]:
    if action == "pause":
        return "pause"
    if action == "resume":
        return "resume"
    if action == "rtl":
        return "rtl"
    if action == "abort":
        return "abort"
    raise ValueError(f"unknown command {action!r}")
