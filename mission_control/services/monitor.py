"""Following a mission in flight: progress, airspace look-ahead, battery, link.

:class:`FlightMonitor` reads the drone's telemetry from the bus (latest per topic, so a
burst never queues) and drives the mission's state:

- mission progress reaches the station item → the incident is covered;
- the vehicle switches to RTL or LAND → ``returning``; on the ground and disarmed after
  flying → ``completed``;
- each position is assessed against the zones in force with a look-ahead: a predicted
  breach → hold and a warning; an actual breach → RTL and a critical alert;
- battery below the RTL threshold → RTL and an alert;
- link lost → ``link_lost`` and a critical alert; link back → the state the vehicle's mode
  shows.

It stops when the mission reaches a terminal state (including a pilot's abort).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from flight_plans.geodesy import GeoPoint
from mission_control.airspace.assess import Assessor
from mission_control.bus import Message
from mission_control.domain.errors import IllegalTransition
from mission_control.domain.events import AlertSeverity
from mission_control.domain.incident import IncidentStatus
from mission_control.domain.mission import Mission, MissionState
from mission_control.services.drones import DroneDirectory
from mission_control.services.missions import SYSTEM, MissionBook
from mission_control.services.zones import ZoneRegistry
from mission_control.vehicles.errors import VehicleError
from mission_control.vehicles.types import (
    Battery,
    FlightMode,
    LandedState,
    LinkEvent,
    LinkState,
    MissionProgress,
    Modes,
    Position,
    TelemetryEvent,
    VelocityNed,
)

__all__ = ["FlightMonitor", "MonitorSettings", "station_position_item"]

log = logging.getLogger(__name__)

S = MissionState
_RETURN_MODES = {FlightMode.RETURN_TO_LAUNCH, FlightMode.LAND}


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """Thresholds of the in-flight monitor.

    Attributes:
        lookahead_s: how far ahead the track is predicted for airspace breaches.
        battery_rtl_fraction: state of charge (0..1) below which the drone returns.
        link_wait_s: after a restart, how long to wait for the drone's link before the
            mission counts as ``link_lost``.
        tick_s: how often the monitor wakes without telemetry (link and state checks).
        assessor_refresh_s: rebuild the airspace assessor at least this often (schedules).
    """

    lookahead_s: float = 10.0
    battery_rtl_fraction: float = 0.25
    link_wait_s: float = 20.0
    tick_s: float = 0.5
    assessor_refresh_s: float = 60.0


def station_position_item(mission: Mission) -> int:
    """Index of the first item at or after ``station_item`` that flies to a position."""
    items = mission.plan.mission.items
    for i in range(mission.station_item, len(items)):
        if items[i].is_nav and items[i].position is not None:
            return i
    return mission.station_item


class FlightMonitor:
    """Follows one mission until it ends.

    Args:
        command_lock: held by a pilot's command from sending it to the vehicle until the
            new state is stored; the monitor takes it to command the vehicle itself, or to
            record a return mode, so neither acts on a state the other is changing.
    """

    def __init__(
        self,
        book: MissionBook,
        drones: DroneDirectory,
        zones: ZoneRegistry,
        settings: MonitorSettings,
        *,
        command_lock: asyncio.Lock | None = None,
    ) -> None:
        self._book = book
        self._drones = drones
        self._zones = zones
        self.settings = settings
        self._command_lock = command_lock or asyncio.Lock()
        self._assessor: Assessor | None = None
        self._assessor_key: tuple[int, float] = (-1, 0.0)
        self._velocity = (0.0, 0.0, 0.0)
        self._airborne = False
        self._on_station = False
        self._breach_handled = False
        self._battery_handled = False
        self._mission: Mission | None = None

    async def follow(self, mission: Mission, *, recovered: bool = False) -> None:
        """Drive ``mission`` from its telemetry until it is terminal.

        Args:
            recovered: the mission was already flying when this monitor started (a restart):
                the drone counts as airborne, so landing and disarming completes it.
        """
        self._mission = mission
        incident = await self._book.incident(mission.incident_id)
        self._on_station = incident.status is not IncidentStatus.DISPATCHING
        self._airborne = recovered
        bus = self._book.bus
        pattern = f"vehicles/{mission.drone_id}/#"
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with bus.subscribe(pattern, maxsize=64, policy="latest_per_topic") as sub:
            while True:
                current = await self._book.mission(mission.id)
                self._mission = current
                if current.terminal:
                    return
                try:
                    msg: Message[object] = await asyncio.wait_for(
                        anext(sub), timeout=self.settings.tick_s
                    )
                except TimeoutError:
                    await self._idle(current, loop.time() - started)
                    continue
                except StopAsyncIteration:
                    return
                try:
                    await self._handle(current, msg.event)
                except IllegalTransition:
                    continue  # a pilot changed the state meanwhile: re-read and go on

    # -- events ------------------------------------------------------------------------------
    async def _idle(self, mission: Mission, waited_s: float) -> None:
        link = self._drones.link(mission.drone_id)
        if (
            link is None
            and waited_s > self.settings.link_wait_s
            and mission.state is not S.LINK_LOST
        ):
            await self._link_lost(mission, "the drone has not reconnected since the restart")
        elif link is not None and link.state is LinkState.LOST and mission.state is not S.LINK_LOST:
            await self._link_lost(mission, "no heartbeat from the drone")

    async def _handle(self, mission: Mission, event: object) -> None:
        if isinstance(event, LinkEvent):
            if event.state is LinkState.LOST and mission.state is not S.LINK_LOST:
                await self._link_lost(mission, f"no heartbeat for {event.heartbeat_age_s:.1f} s")
            elif event.state is not LinkState.LOST and mission.state is S.LINK_LOST:
                await self._link_back(mission)
            return
        if not isinstance(event, TelemetryEvent):
            return
        sample = event.sample
        if mission.state is S.LINK_LOST:
            link = self._drones.link(mission.drone_id)
            if link is not None and link.state is not LinkState.LOST:
                await self._link_back(mission)
            return
        if isinstance(sample, Modes):
            await self._modes(mission, sample)
        elif isinstance(sample, MissionProgress):
            await self._progress(mission, sample)
        elif isinstance(sample, VelocityNed):
            self._velocity = (sample.north_m_s, sample.east_m_s, sample.down_m_s)
        elif isinstance(sample, Position):
            if sample.alt_rel_home_m > 2.0:
                self._airborne = True
            await self._airspace(mission, sample)
        elif isinstance(sample, Battery):
            await self._battery(mission, sample)

    async def _modes(self, mission: Mission, modes: Modes) -> None:
        if modes.landed_state in {LandedState.IN_AIR, LandedState.TAKING_OFF} or modes.armed:
            self._airborne = self._airborne or modes.landed_state is not LandedState.ON_GROUND
        if self._airborne and modes.landed_state is LandedState.ON_GROUND and not modes.armed:
            await self._book.transition(
                mission.id, S.COMPLETED, SYSTEM, reason="landed and disarmed"
            )
            return
        if modes.flight_mode in _RETURN_MODES and mission.state in {S.IN_FLIGHT, S.PAUSED}:
            # a pilot's RTL or abort being carried out records itself, with the pilot's name
            async with self._command_lock:
                await self._book.transition(
                    mission.id,
                    S.RETURNING,
                    SYSTEM,
                    reason=f"vehicle in {modes.flight_mode.value.replace('_', ' ')}",
                    expect=lambda m: m.state in {S.IN_FLIGHT, S.PAUSED},
                )

    async def _progress(self, mission: Mission, progress: MissionProgress) -> None:
        # MISSION_CURRENT names the item being flown *to*: the drone is on station once
        # it has reached the pattern's first position, i.e. the current item is past it
        if self._on_station or progress.current <= station_position_item(mission):
            return
        self._on_station = True
        await self._book.on_station(mission)

    def _assessor_for(self, mission: Mission) -> Assessor:
        now = self._book.clock()
        key = (self._zones.version, now.timestamp() // self.settings.assessor_refresh_s)
        if self._assessor is None or key != self._assessor_key:
            home = mission.plan.mission.home
            assert home is not None
            self._assessor = Assessor(
                self._zones.index(),
                launch=home,
                at=now,
                authorisations=mission.authorisations,
            )
            self._assessor_key = key
        return self._assessor

    async def _airspace(self, mission: Mission, pos: Position) -> None:
        if mission.state not in {S.IN_FLIGHT, S.PAUSED, S.RETURNING} or not self._airborne:
            return
        assessor = self._assessor_for(mission)
        a = assessor.assess(
            GeoPoint(pos.lat_deg, pos.lon_deg),
            pos.alt_rel_home_m,
            self._velocity,
            lookahead_s=self.settings.lookahead_s,
        )
        if a.in_breach:
            if self._breach_handled:
                return
            self._breach_handled = True
            where = ", ".join(a.inside) or "outside the operating area"
            await self._book.alert(
                AlertSeverity.CRITICAL,
                f"drone {mission.drone_id} is in breach ({where}): returning to launch",
                drone_id=mission.drone_id,
                mission_id=mission.id,
            )
            await self._rtl(mission, f"airspace breach: {where}")
        elif a.seconds_to_breach is not None:
            if self._breach_handled or mission.state is not S.IN_FLIGHT:
                return
            self._breach_handled = True
            await self._book.alert(
                AlertSeverity.WARNING,
                f"drone {mission.drone_id} would enter {a.breach_zone} in "
                f"{a.seconds_to_breach:.0f} s: holding position",
                drone_id=mission.drone_id,
                mission_id=mission.id,
            )
            link = self._drones.link(mission.drone_id)
            if link is None:
                return
            async with self._command_lock:
                if (await self._book.mission(mission.id)).state is not S.IN_FLIGHT:
                    return  # a pilot's command came first: do not undo it
                with contextlib.suppress(VehicleError):
                    await link.pause()
                    await self._book.transition(
                        mission.id,
                        S.PAUSED,
                        SYSTEM,
                        reason=f"predicted breach of {a.breach_zone}: holding",
                    )
        else:
            self._breach_handled = False

    async def _battery(self, mission: Mission, battery: Battery) -> None:
        fraction = battery.remaining_pct / 100.0
        if self._battery_handled or fraction >= self.settings.battery_rtl_fraction:
            return
        if mission.state not in {S.IN_FLIGHT, S.PAUSED}:
            return
        self._battery_handled = True
        await self._book.alert(
            AlertSeverity.CRITICAL,
            f"drone {mission.drone_id} battery {battery.remaining_pct:.0f} %: returning to launch",
            drone_id=mission.drone_id,
            mission_id=mission.id,
        )
        await self._rtl(mission, f"battery {battery.remaining_pct:.0f} %")

    async def _rtl(self, mission: Mission, why: str) -> None:
        link = self._drones.link(mission.drone_id)
        if link is None:
            return
        async with self._command_lock:  # a pilot's resume must not slip in between
            try:
                await link.return_to_launch()
            except VehicleError as exc:
                await self._book.alert(
                    AlertSeverity.CRITICAL,
                    f"drone {mission.drone_id}: return to launch failed: {exc}",
                    drone_id=mission.drone_id,
                    mission_id=mission.id,
                )
                return
            await self._book.transition(
                mission.id,
                S.RETURNING,
                SYSTEM,
                reason=why,
                expect=lambda m: m.state in {S.IN_FLIGHT, S.PAUSED},
            )

    async def _link_lost(self, mission: Mission, why: str) -> None:
        await self._book.transition(mission.id, S.LINK_LOST, SYSTEM, reason=why)
        await self._book.alert(
            AlertSeverity.CRITICAL,
            f"lost the link to drone {mission.drone_id} ({why}); its failsafe applies",
            drone_id=mission.drone_id,
            mission_id=mission.id,
        )

    async def _link_back(self, mission: Mission) -> None:
        link = self._drones.link(mission.drone_id)
        modes = None if link is None else link.latest("modes")
        if not isinstance(modes, Modes):
            return  # wait for a heartbeat that shows what the vehicle does
        if modes.landed_state is LandedState.ON_GROUND and not modes.armed:
            target = S.COMPLETED
        elif modes.flight_mode in _RETURN_MODES:
            target = S.RETURNING
        elif modes.flight_mode is FlightMode.HOLD:
            target = S.PAUSED
        else:
            target = S.IN_FLIGHT
        await self._book.transition(
            mission.id, target, SYSTEM, reason=f"link restored (vehicle {modes.flight_mode.value})"
        )
        await self._book.alert(
            AlertSeverity.INFO,
            f"link to drone {mission.drone_id} restored",
            drone_id=mission.drone_id,
            mission_id=mission.id,
        )
