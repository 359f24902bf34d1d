"""One vehicle over MAVSDK: identity, telemetry, link health, and commands with typed results.

A :class:`VehicleLink` wraps one MAVSDK ``System``; nothing above it sees a MAVSDK type.
Telemetry is drained by a :class:`~mission_control.vehicles.telemetry.TelemetryFeed`.
Every command

- fails fast with :class:`LinkLost` while the link is LOST (nothing is sent);
- runs through the vehicle's :class:`~mission_control.vehicles.calls.CallRunner` (a few
  calls in flight per vehicle, each under a deadline), so a dead vehicle never delays
  another one's commands;
- maps MAVSDK's result to a typed error (:func:`~mission_control.vehicles.convert.error_for`):
  a refusal becomes :class:`CommandRejected` carrying the STATUSTEXT the vehicle sent
  around it, MAVSDK's TIMEOUT or our deadline :class:`CommandTimeout`.

Uploads are verified: each list is read back and compared field by field
(:class:`UploadMismatch` names the first differing item).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from mavsdk.asyncio import MavsdkError
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.gimbal import GimbalAsync, GimbalMode, SendMode
from mavsdk.asyncio.plugins.info import InfoAsync
from mavsdk.asyncio.plugins.mavlink_direct import MavlinkDirectAsync
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync

from flight_plans.geodesy import GeoPoint
from flight_plans.mission import Mission, MissionItemInt
from flight_plans.plan import Fence, RallyPoint
from mission_control.vehicles import convert
from mission_control.vehicles.calls import CallRunner
from mission_control.vehicles.errors import CommandTimeout, LinkLost, VehicleError
from mission_control.vehicles.health import LinkHealth
from mission_control.vehicles.inbox import Inbox
from mission_control.vehicles.onboard import ListName, OnboardLists
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.status_texts import StatusTextLog
from mission_control.vehicles.telemetry import (
    EventPublisher,
    TelemetryFeed,
    TelemetryKind,
    link_topic,
)
from mission_control.vehicles.types import (
    FlightMode,
    LinkEvent,
    LinkState,
    Sample,
    StatusText,
    VehicleIdentity,
    VideoStreamInfo,
)

T = TypeVar("T")

_log = logging.getLogger(__name__)

# arm() in these modes makes MAVSDK switch to HOLD first, and abort the whole process if
# that switch is refused (docs/mavsdk-4.1-notes.md §3): we switch, and check, ourselves
_MODES_MAVSDK_LEAVES_BEFORE_ARMING = frozenset((FlightMode.MISSION, FlightMode.RETURN_TO_LAUNCH))
_RATE_SETTERS = {  # the kinds of settings.RATE_KINDS
    TelemetryKind.POSITION: "set_rate_position",  # GLOBAL_POSITION_INT: velocity, heading too
    TelemetryKind.ATTITUDE: "set_rate_attitude_euler",
    TelemetryKind.BATTERY: "set_rate_battery",
    TelemetryKind.GPS: "set_rate_gps_info",
    TelemetryKind.HOME: "set_rate_home",
    TelemetryKind.HEALTH: "set_rate_health",
}


class VehicleLink:
    """The service's handle on one vehicle (made, started and closed by ``VehicleFleet``).

    Args:
        system: the ``mavsdk.asyncio.System``.
        system_id: its MAVLink system id.
        settings: timeouts and limits.
        bus: where telemetry (``vehicles/{id}/telemetry/{kind}``) and link events
            (``vehicles/{id}/link``) are published.
        inbox: the fleet's hand-off from MAVSDK's callback thread to the loop.
        now_s: monotonic time of discovery; the link starts CONNECTED.
    """

    def __init__(
        self,
        system: Any,
        system_id: int,
        settings: VehicleLinkSettings,
        bus: EventPublisher,
        inbox: Inbox,
        *,
        now_s: float,
    ) -> None:
        self.system_id = system_id
        self.settings = settings
        self._system = system
        self._bus = bus
        self._health = LinkHealth(system_id, settings.health, now_s)
        self._texts = StatusTextLog(settings.status_text_history)
        self._calls = CallRunner(system_id, settings.max_concurrent_commands)
        self._telemetry = TelemetryAsync(system)
        self._action = ActionAsync(system)
        self._mission = MissionRawAsync(system)
        self._direct = MavlinkDirectAsync(system)
        self._info = InfoAsync(system)
        self._gimbal: Any = None  # made on first use: alive, it polls for gimbal managers
        self._feed = TelemetryFeed(
            system_id,
            telemetry=self._telemetry,
            mission_raw=self._mission,
            direct=self._direct,
            health=self._health,
            texts=self._texts,
            bus=bus,
            inbox=inbox,
        )
        self._identity = VehicleIdentity(system_id, "unknown", "unknown", None)
        self._lists = OnboardLists(
            system_id,
            system=system,
            mission_raw=self._mission,
            direct=self._direct,
            command=self._command,
            texts=self._texts,
            settings=settings,
        )
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to telemetry; ask for the identity and the configured stream rates
        (idempotent)."""
        self._feed.start()
        if not self._tasks:
            for name, work in (("identity", self._identify()), ("rates", self._apply_rates())):
                self._tasks.append(
                    asyncio.create_task(work, name=f"vehicle {self.system_id}: {name}")
                )

    async def close(self) -> int:
        """Stop the link's tasks (cancel, then await) and its subscriptions, then wait for
        running MAVSDK calls (up to ``settings.drain_timeout_s``; cancelling one would not
        stop its thread). Returns how many calls are still running."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._feed.stop()
        left = await self._calls.drain(self.settings.drain_timeout_s)
        if not left:  # a plugin is not destroyed under a running call
            plugins = (self._telemetry, self._action, self._mission, self._direct, self._info)
            for plugin in (*plugins, self._gimbal, self._lists.geofence):
                if plugin is not None:
                    plugin.destroy()
        return left

    # -- what we know ------------------------------------------------------------------------

    @property
    def identity(self) -> VehicleIdentity:
        """System id, autopilot, vehicle type and (once received) firmware version."""
        return self._identity

    @property
    def state(self) -> LinkState:
        """The link state found by the last health check."""
        return self._health.state

    @property
    def status_texts(self) -> tuple[StatusText, ...]:
        """The vehicle's recent STATUSTEXTs, oldest first (at most ``status_text_history``)."""
        return self._texts.texts

    @property
    def calls_in_flight(self) -> int:
        """MAVSDK calls running for this vehicle (including abandoned ones)."""
        return self._calls.in_flight

    @property
    def video_stream(self) -> VideoStreamInfo | None:
        """The camera stream the vehicle last announced (VIDEO_STREAM_INFORMATION), if any."""
        return self._feed.video_stream

    def latest(self, kind: TelemetryKind | str) -> Sample | None:
        """The newest sample of ``kind`` (``"position"``, ``TelemetryKind.MODES``...), or None."""
        return self._feed.latest(TelemetryKind(kind))

    def heartbeat_age_s(self, now_s: float | None = None) -> float:
        """Seconds since the last HEARTBEAT (discovery counts as one)."""
        return self._health.heartbeat_age_s(time.monotonic() if now_s is None else now_s)

    def check_health(self, now_s: float | None = None) -> LinkEvent | None:
        """Evaluate the link; publish the event on ``vehicles/{id}/link`` if the state changed."""
        event = self._health.evaluate(time.monotonic() if now_s is None else now_s)
        if event is not None:
            self._bus.publish(link_topic(self.system_id), event)
        return event

    def announce(self, now_s: float) -> None:
        """Publish the discovery: CONNECTED, with no previous state."""
        event = LinkEvent(self.system_id, LinkState.CONNECTED, None, 0.0, now_s)
        self._bus.publish(link_topic(self.system_id), event)

    # -- the command path --------------------------------------------------------------------

    def _ensure_reachable(self, action: str) -> None:
        now = time.monotonic()
        self.check_health(now)
        if self._health.state is LinkState.LOST:
            raise LinkLost(self.system_id, action, self._health.heartbeat_age_s(now))

    async def _command(
        self, action: str, fn: Callable[[], Awaitable[T]], *, timeout_s: float | None = None
    ) -> T:
        start = time.monotonic()
        limit = self.settings.command_timeout_s if timeout_s is None else timeout_s
        try:
            return await self._calls.run(action, fn, timeout_s=limit, check=self._ensure_reachable)
        except MavsdkError as exc:
            now = time.monotonic()
            reason = ""
            if convert.is_refusal(exc):
                reason = await self._texts.reason_around(now, self.settings.reason_window_s)
            raise convert.error_for(
                self.system_id,
                action,
                exc,
                reason,
                elapsed_s=now - start,
                heartbeat_age_s=self._health.heartbeat_age_s(now),
            ) from None

    # -- commands ------------------------------------------------------------------------------

    async def arm(self) -> None:
        """Arm. A vehicle in MISSION or RTL is first switched to HOLD, and arming waits until
        its heartbeat shows it left that mode.

        Raises:
            LinkLost, CommandRejected (with the vehicle's reason), CommandTimeout.
        """
        # MAVSDK's own cached mode, not our (batched) Modes: the one its arm() will look at
        if self._feed.cached_flight_mode() in _MODES_MAVSDK_LEAVES_BEFORE_ARMING:
            await self._command("arm: switch to hold", self._action.hold)
            confirmed = await self._feed.wait_modes(
                lambda m: m.flight_mode not in _MODES_MAVSDK_LEAVES_BEFORE_ARMING,
                self.settings.mode_confirm_timeout_s,
            )
            if (
                confirmed is None
                or self._feed.cached_flight_mode() in _MODES_MAVSDK_LEAVES_BEFORE_ARMING
            ):
                raise CommandTimeout(
                    self.system_id, "arm: wait for hold", self.settings.mode_confirm_timeout_s
                )
        await self._command("arm", self._action.arm)

    async def disarm(self) -> None:
        await self._command("disarm", self._action.disarm)

    async def start_mission(self) -> None:
        """Start (or resume) the uploaded mission: PX4 switches to AUTO.MISSION."""
        await self._command("start mission", self._mission.start_mission)

    async def pause(self) -> None:
        """Hold position (AUTO.LOITER); :meth:`resume` continues the mission."""
        await self._command("pause", self._action.hold)

    async def resume(self) -> None:
        """Continue the mission from its current item."""
        await self._command("resume", self._mission.start_mission)

    async def return_to_launch(self) -> None:
        await self._command("return to launch", self._action.return_to_launch)

    async def land(self) -> None:
        await self._command("land", self._action.land)

    async def goto(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float, *, yaw_deg: float = math.nan
    ) -> None:
        """Fly to a point and hold there (DO_REPOSITION; MAVSDK switches to HOLD first).

        Args:
            alt_amsl_m: altitude above mean sea level.
            yaw_deg: heading to face there, degrees clockwise from north; NaN keeps the
                current one (MAVSDK sends it in radians).

        Raises:
            flight_plans.errors.InvalidValueError: latitude/longitude out of range.
            LinkLost, CommandRejected, CommandTimeout.
        """
        p = GeoPoint(lat_deg, lon_deg)
        alt = _finite("alt_amsl_m", alt_amsl_m)
        yaw = yaw_deg if math.isfinite(yaw_deg) else math.nan
        await self._command(
            "goto", lambda: self._action.goto_location(p.lat_deg, p.lon_deg, alt, yaw)
        )

    async def set_speed(self, speed_m_s: float) -> None:
        """Set the ground speed (DO_CHANGE_SPEED) for the current flight."""
        speed = _finite("speed_m_s", speed_m_s)
        if speed <= 0:
            raise ValueError(f"speed_m_s must be > 0, got {speed_m_s}")
        await self._command("set speed", lambda: self._action.set_current_speed(speed))

    async def set_current_item(self, index: int) -> None:
        """Make mission item ``index`` the current one (the vehicle flies there next)."""
        await self._lists.ensure_mission_count_known()
        await self._command(
            "set current item", lambda: self._mission.set_current_mission_item(index)
        )

    async def set_roi(self, lat_deg: float, lon_deg: float, alt_rel_m: float) -> None:
        """Point the camera (gimbal 0 = all) at a location; altitude above home.

        MAVSDK 4.1 sends DO_SET_ROI_LOCATION in MAV_FRAME_GLOBAL_RELATIVE_ALT (observed).
        """
        p = GeoPoint(lat_deg, lon_deg)
        alt = _finite("alt_rel_m", alt_rel_m)
        gimbal = self._gimbal_plugin()
        await self._command(
            "set roi", lambda: gimbal.set_roi_location(0, p.lat_deg, p.lon_deg, alt)
        )

    async def set_gimbal(self, pitch_deg: float, yaw_deg: float) -> None:
        """Point gimbal 0 (all): pitch down negative, yaw relative to the vehicle's heading."""
        pitch, yaw = _finite("pitch_deg", pitch_deg), _finite("yaw_deg", yaw_deg)
        gimbal = self._gimbal_plugin()
        await self._command(
            "set gimbal",
            lambda: gimbal.set_angles(0, 0.0, pitch, yaw, GimbalMode.YAW_FOLLOW, SendMode.ONCE),
        )

    async def set_rate(self, kind: TelemetryKind | str, rate_hz: float) -> None:
        """Ask the vehicle to stream ``kind`` at ``rate_hz`` (SET_MESSAGE_INTERVAL).

        Raises:
            ValueError: ``kind`` has no rate of its own (modes, status texts...).
        """
        setter = _RATE_SETTERS.get(TelemetryKind(kind))
        if setter is None:
            raise ValueError(f"{kind}: its rate cannot be set")
        rate = _finite("rate_hz", rate_hz)
        await self._command(f"set {kind} rate", lambda: getattr(self._telemetry, setter)(rate))

    def _gimbal_plugin(self) -> Any:
        if self._gimbal is None:
            self._gimbal = GimbalAsync(self._system)
        return self._gimbal

    # -- on-board lists ------------------------------------------------------------------------

    async def upload(
        self,
        *,
        mission: Mission | None = None,
        fence: Fence | None = None,
        rally: Sequence[RallyPoint] | None = None,
    ) -> None:
        """Upload and verify by reading back: fence, then rally points, then the mission.

        ``None`` leaves a list as it is on board; an empty fence, rally list or mission
        clears it. All within ``settings.upload_timeout_s``.

        Raises:
            UploadMismatch: a list read back differs (names the list and the first item).
            LinkLost, CommandRejected, CommandTimeout.
        """
        await self._lists.upload(mission=mission, fence=fence, rally=rally)

    async def upload_items(self, list_name: ListName, items: Sequence[MissionItemInt]) -> None:
        """Upload raw ``MISSION_ITEM_INT`` fields to one list and verify them."""
        await self._lists.upload_items(list_name, items)

    async def clear(self, *, mission: bool = True, fence: bool = True, rally: bool = True) -> None:
        """Empty the chosen on-board lists (all three by default)."""
        await self._lists.clear(mission=mission, fence=fence, rally=rally)

    async def _apply_rates(self) -> None:
        """``settings.telemetry_rates_hz``; a lost request is sent again (twice at most)."""
        for kind, rate_hz in self.settings.telemetry_rates_hz:
            for attempt in range(3):
                try:
                    await self.set_rate(kind, rate_hz)
                    break
                except CommandTimeout:
                    if attempt == 2:
                        _log.warning("vehicle %d: no answer setting %s rate", self.system_id, kind)
                except VehicleError as exc:  # refused, or the link is lost: keep defaults
                    _log.warning("vehicle %d: %s", self.system_id, exc)
                    break

    # -- identity --------------------------------------------------------------------------------

    async def _identify(self) -> None:
        """Autopilot and vehicle type from the heartbeat; firmware from AUTOPILOT_VERSION
        through the Info plugin, which may take a few seconds to arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.identity_timeout_s
        # through the call runner: close() then waits for a call in flight before it
        # destroys the plugins (destroying Info under get_version aborted the process)
        run = self._calls.run
        step_s = self.settings.identity_timeout_s + 1.0
        while True:
            autopilot = convert.autopilot_name(
                await run("identify", self._system.autopilot_type, timeout_s=step_s)
            )
            vehicle = convert.vehicle_type_name(
                await run("identify", self._system.vehicle_type, timeout_s=step_s)
            )
            firmware = None
            with contextlib.suppress(MavsdkError, CommandTimeout):  # not yet: ask again below
                version = await run("identify", self._info.get_version, timeout_s=step_s)
                firmware = convert.firmware_version(version)
            self._identity = VehicleIdentity(self.system_id, autopilot, vehicle, firmware)
            left = deadline - loop.time()
            if (firmware is not None and autopilot != "unknown") or left <= 0:
                return
            await asyncio.sleep(min(0.5, left))


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)
