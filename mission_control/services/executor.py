"""Flying approved missions: check, upload, launch, then hand over to the monitor.

One owned task per mission (:class:`Executor` cancels and awaits them all on shutdown):

1. wait until the drone is ready (link connected, on the ground, disarmed, 3-D GPS fix);
2. ``approved → uploading``; under the zone lock, re-run the airspace check against the
   zones in force *now* and build the fence from the same zones (invariants 1 and 3);
   upload fence and mission, verified by reading them back; ``→ ready``;
3. arm and start: ``→ in_flight``; then :mod:`.monitor` follows the flight to the end.

Any failure before take-off ends in ``failed`` with the reason, and nothing flies. Pilot
commands (pause, resume, RTL, abort) go through :meth:`Executor.command`: the vehicle must
accept the command before the state changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from mission_control.airspace.check import Rules, check
from mission_control.airspace.fence import fence_for
from mission_control.domain.errors import IllegalTransition
from mission_control.domain.events import AlertSeverity
from mission_control.domain.mission import FLYING_STATES, Mission, MissionState
from mission_control.services.drones import DroneDirectory
from mission_control.services.errors import VehicleCommandFailed
from mission_control.services.missions import SYSTEM, MissionBook
from mission_control.services.monitor import FlightMonitor, MonitorSettings
from mission_control.services.zones import ZoneRegistry
from mission_control.store import Actor
from mission_control.vehicles.errors import VehicleError
from mission_control.vehicles.link import VehicleLink

__all__ = ["Executor", "ExecutorSettings", "summarise_report"]

log = logging.getLogger(__name__)

Forward = Callable[[Mission, str, Actor, str], Awaitable[Mission]]
"""Runs a pilot's command on the instance that holds the mission's drone link."""

S = MissionState

_COMMANDS = {
    "pause": S.PAUSED,
    "resume": S.IN_FLIGHT,
    "rtl": S.RETURNING,
    "abort": S.ABORTED,
}


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    """Timing of the executor.

    Attributes:
        ready_timeout_s: how long an approved mission waits for its drone to be ready.
        poll_s: how often readiness is re-evaluated.
        rules: airspace rules of the pre-upload check.
        monitor: settings of the in-flight monitor.
    """

    ready_timeout_s: float = 60.0
    poll_s: float = 0.2
    rules: Rules | None = None
    monitor: MonitorSettings = field(default_factory=MonitorSettings)


def summarise_report(report: dict[str, object]) -> str:
    """One line naming the first violations of an airspace report."""
    violations = report.get("violations")
    if not isinstance(violations, list) or not violations:
        return "no violation listed"
    texts = [str(v.get("message") or v.get("kind")) for v in violations[:3] if isinstance(v, dict)]
    more = len(violations) - len(texts)
    return "; ".join(texts) + (f" (+{more} more)" if more > 0 else "")


def _not_ready_reason(drones: DroneDirectory, drone_id: int) -> str | None:
    snap = drones.snapshot(drone_id)
    if snap is None:
        return f"drone {drone_id} is not connected"
    if snap.link != "connected":
        return f"drone {drone_id} link is {snap.link}"
    if snap.armed or not snap.landed:
        return f"drone {drone_id} is not landed and disarmed"
    if snap.gps_fix not in {"fix_3d", "fix_dgps", "rtk_float", "rtk_fixed"}:
        return f"drone {drone_id} has no 3-D GPS fix ({snap.gps_fix or 'unknown'})"
    if snap.armable is False:
        return f"drone {drone_id} fails its pre-arm checks"
    return None


class Executor:
    """Runs approved missions and recovered ones; carries out pilot commands.

    Args:
        book: persisted mission changes.
        drones: the drones and their links.
        zones: the zones in force.
        settings: timing.
    """

    def __init__(
        self,
        book: MissionBook,
        drones: DroneDirectory,
        zones: ZoneRegistry,
        settings: ExecutorSettings | None = None,
    ) -> None:
        self._book = book
        self._drones = drones
        self._zones = zones
        self.settings = settings or ExecutorSettings()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # per running mission: a pilot's command and its monitor's own actions take turns
        self._command_locks: dict[str, asyncio.Lock] = {}
        self._drone_of: dict[str, int] = {}
        self._closing = False
        self.only_local = False
        """Clustered: run only missions of drones whose link this instance holds."""
        self.forward: Forward | None = None
        """Clustered: carries a command for an airborne drone linked to another instance."""

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    @property
    def running(self) -> list[str]:
        """Ids of missions being executed or monitored."""
        return sorted(self._tasks)

    def start(self, mission: Mission) -> None:
        """Execute (or, after a restart, resume following) ``mission``; idempotent."""
        if self._closing or mission.id in self._tasks or mission.terminal:
            return
        if mission.state is S.PENDING_APPROVAL:
            return
        if self.only_local and not self._drones.is_local(mission.drone_id):
            return  # the instance holding the drone's link runs it
        self._drones.assign(mission.drone_id, mission.id)
        self._drone_of[mission.id] = mission.drone_id
        lock = self._command_locks[mission.id] = asyncio.Lock()
        task = asyncio.create_task(self._run(mission.id, lock), name=f"mission-{mission.id}")
        self._tasks[mission.id] = task
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for mission_id, t in list(self._tasks.items()):
            if t is task:
                del self._tasks[mission_id]
                self._command_locks.pop(mission_id, None)
                self._drone_of.pop(mission_id, None)

    async def stop_drone(self, drone_id: int) -> list[str]:
        """Stop following every mission of ``drone_id`` without changing them (its link
        moved to another instance, which takes them over); returns their ids."""
        ids = [mid for mid, did in self._drone_of.items() if did == drone_id]
        tasks = [self._tasks[mid] for mid in ids if mid in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return ids

    # -- the run ---------------------------------------------------------------------------
    async def _run(self, mission_id: str, command_lock: asyncio.Lock) -> None:
        mission = await self._book.mission(mission_id)
        recovered = mission.state in FLYING_STATES
        try:
            if mission.state in {S.APPROVED, S.UPLOADING}:
                mission = await self._upload(mission)
            if mission.state is S.READY:
                # a pilot's abort waits for the launch to finish, then finds it in flight and
                # returns it: never an aborted mission with a drone taking off
                async with command_lock:
                    mission = await self._launch(mission)
            if mission.state in FLYING_STATES:
                monitor = FlightMonitor(
                    self._book,
                    self._drones,
                    self._zones,
                    self.settings.monitor,
                    command_lock=command_lock,
                )
                await monitor.follow(mission, recovered=recovered)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the mission hanging silently
            log.exception("mission %s: executor error", mission_id)
            with contextlib.suppress(Exception):
                current = await self._book.mission(mission_id)
                if current.can_become(S.FAILED) and current.state not in FLYING_STATES:
                    await self._book.transition(
                        mission_id, S.FAILED, SYSTEM, reason=f"internal error: {exc}"
                    )
        finally:
            with contextlib.suppress(Exception):
                final = await self._book.mission(mission_id)
                if final.terminal:
                    self._drones.release(final.drone_id, final.id)

    async def _fail(self, mission: Mission, reason: str) -> Mission:
        return await self._book.transition(
            mission.id,
            S.FAILED,
            SYSTEM,
            reason=reason,
            expect=lambda m: m.can_become(S.FAILED) and m.state not in FLYING_STATES,
        )

    async def _wait_ready(self, mission: Mission) -> VehicleLink | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ready_timeout_s
        reason: str | None = "not checked"
        while True:
            current = await self._book.mission(mission.id)
            if current.terminal:
                return None  # aborted meanwhile
            reason = _not_ready_reason(self._drones, mission.drone_id)
            link = self._drones.link(mission.drone_id)
            if reason is None and link is not None:
                return link
            if loop.time() >= deadline:
                await self._fail(
                    mission,
                    f"drone not ready within {self.settings.ready_timeout_s:g} s: {reason}",
                )
                return None
            await asyncio.sleep(self.settings.poll_s)

    async def _upload(self, mission: Mission) -> Mission:
        link = await self._wait_ready(mission)
        if link is None:
            return await self._book.mission(mission.id)
        if mission.state is S.APPROVED:
            mission = await self._book.transition(
                mission.id, S.UPLOADING, SYSTEM, reason="checking airspace and uploading"
            )
            if mission.state is not S.UPLOADING:
                return mission
        async with self._zones.lock:  # no zone change between this check and the upload
            now = self._book.clock()
            index = self._zones.index()
            report = await asyncio.to_thread(
                check,
                mission.plan.mission,
                index,
                at=now,
                rules=self.settings.rules,
                authorisations=mission.authorisations,
            )
            doc = report.to_json()
            if not report.ok:
                return await self._book.transition(
                    mission.id,
                    S.FAILED,
                    SYSTEM,
                    reason="the airspace check before upload fails against the zones in "
                    f"force now: {summarise_report(doc)}",
                    change=lambda m: m.with_airspace_report(doc, at=now),
                )
            build = await asyncio.to_thread(
                fence_for,
                mission.plan.mission,
                index,
                at=now,
                until=report.window[1],
                authorisations=mission.authorisations,
                rules=self.settings.rules,
            )
            plan = replace(mission.plan, fence=build.fence)
            mission = await self._book.update(
                mission.id,
                lambda m: m.with_plan(plan, at=now).with_airspace_report(doc, at=now),
                SYSTEM,
                "mission.prepare_upload",
            )
            try:
                await link.upload(mission=plan.mission, fence=plan.fence, rally=())
            except VehicleError as exc:
                return await self._fail(mission, f"upload failed: {exc}")
        return await self._book.transition(
            mission.id,
            S.READY,
            SYSTEM,
            reason=f"fence ({len(plan.fence.polygons) + len(plan.fence.circles)} shapes) and "
            f"mission ({len(plan.mission.items)} items) uploaded and verified",
            expect=lambda m: m.state is S.UPLOADING,
        )

    async def _launch(self, mission: Mission) -> Mission:
        link = self._drones.link(mission.drone_id)
        if link is None:
            return await self._fail(mission, f"drone {mission.drone_id} is not connected")
        try:
            await link.arm()
            await link.start_mission()
        except VehicleError as exc:
            with contextlib.suppress(VehicleError):
                await link.disarm()
            return await self._fail(mission, f"launch failed: {exc}")
        return await self._book.transition(
            mission.id,
            S.IN_FLIGHT,
            SYSTEM,
            reason="armed and started",
            expect=lambda m: m.state is S.READY,
        )

    # -- pilot commands ----------------------------------------------------------------------
    async def command(
        self, mission_id: str, action: str, actor: Actor, reason: str = ""
    ) -> Mission:
        """Carry out a pilot's ``pause`` / ``resume`` / ``rtl`` / ``abort``.

        The vehicle must accept the command before the state changes. The monitor waits
        meanwhile: the vehicle's new mode can show before its acknowledgement arrives (a
        lost ACK is re-sent), and must not be recorded as the system's change.

        Raises:
            NotFoundError, IllegalTransition (state unchanged), VehicleCommandFailed.
        """
        if self.forward is not None:
            mission = await self._book.mission(mission_id)
            if mission.state in FLYING_STATES and not self._drones.is_local(mission.drone_id):
                return await self.forward(mission, action, actor, reason)
        lock = self._command_locks.get(mission_id)
        async with lock if lock is not None else contextlib.nullcontext():
            mission, after, airborne = await self._command(mission_id, action, actor, reason)
        if action in {"rtl", "abort"} and airborne:
            await self._book.alert(
                AlertSeverity.WARNING,
                f"drone {mission.drone_id} returning to launch ({actor.name}: {action})",
                drone_id=mission.drone_id,
                mission_id=mission.id,
                actor=actor,
            )
        return after

    async def _command(
        self, mission_id: str, action: str, actor: Actor, reason: str
    ) -> tuple[Mission, Mission, bool]:
        target = _COMMANDS[action]
        mission = await self._book.mission(mission_id)
        if not mission.can_become(target):
            raise IllegalTransition("mission", mission.id, mission.state.value, target.value)
        airborne = mission.state in FLYING_STATES
        if airborne:
            link = self._drones.link(mission.drone_id)
            if link is None:
                raise VehicleCommandFailed(mission_id, action, "the drone is not connected")
            send = {
                "pause": link.pause,
                "resume": link.resume,
                "rtl": link.return_to_launch,
                "abort": link.return_to_launch,
            }[action]
            try:
                await send()
            except VehicleError as exc:
                raise VehicleCommandFailed(mission_id, action, str(exc)) from None
        why = (
            reason
            or {
                "pause": "pilot paused: holding position",
                "resume": "pilot resumed the mission",
                "rtl": "pilot commanded return to launch",
                "abort": "pilot aborted" + (": returning to launch" if airborne else ""),
            }[action]
        )
        after = await self._book.transition(mission_id, target, actor, reason=why)
        return mission, after, airborne
