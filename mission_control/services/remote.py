"""Drones whose links another service instance holds, as this instance learns them over MQTT.

Each instance publishes its own drones' telemetry (``fleet/{drone}/telemetry``) and a
retained summary (``fleet/{drone}/state``). :class:`RemoteFleet` keeps, per remote drone, the
newest sample of each kind from either source, so the
:class:`~mission_control.services.drones.DroneDirectory` can snapshot a remote drone for
dispatch and show it on ``/api/drones`` exactly like a local one.

A remote drone's link is reported as its owner last said, but ``lost`` when nothing was heard
about it for ``stale_after_s`` or its owner's status went offline (its MQTT last will): a
dead instance's drones do not look healthy while their leases wait to be taken over. The
change is published on the local bus as a link event, so screens see it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from mission_control.api.telemetry_json import KIND_BY_SAMPLE
from mission_control.bus import EventBus
from mission_control.vehicles.telemetry import TelemetryKind, link_topic, telemetry_topic
from mission_control.vehicles.types import (
    Battery,
    FlightMode,
    Gps,
    Health,
    Home,
    LandedState,
    LinkEvent,
    LinkState,
    Modes,
    Position,
    Sample,
    TelemetryEvent,
    VehicleIdentity,
)

__all__ = ["RemoteDrone", "RemoteFleet"]

_NAN = math.nan


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _NAN


class RemoteDrone:
    """What is known of one drone linked to another instance (read like a vehicle link)."""

    __slots__ = ("_age_s", "_heard_s", "_identity", "_latest", "_link", "drone_id", "owner")

    def __init__(self, drone_id: int) -> None:
        self.drone_id = drone_id
        self.owner: str | None = None
        self._latest: dict[str, Sample] = {}
        self._identity = VehicleIdentity(drone_id, "unknown", "unknown")
        self._link = LinkState.LOST
        self._age_s = 0.0
        self._heard_s = -math.inf

    @property
    def identity(self) -> VehicleIdentity:
        return self._identity

    @property
    def reported_state(self) -> LinkState:
        """The link state its owner last reported."""
        return self._link

    @property
    def heard_s(self) -> float:
        """``time.monotonic()`` when anything about it was last received."""
        return self._heard_s

    def latest(self, kind: TelemetryKind | str) -> Sample | None:
        """The newest sample of ``kind`` from its telemetry or its state summary."""
        return self._latest.get(TelemetryKind(kind).value)

    def heartbeat_age_s(self, now_s: float | None = None) -> float:
        """The owner's last reported heartbeat age, aged by the time since it was heard."""
        now = time.monotonic() if now_s is None else now_s
        return self._age_s + max(0.0, now - self._heard_s)

    def _keep(self, kind: str, sample: Sample) -> None:
        old = self._latest.get(kind)
        if old is None or sample.received_s >= old.received_s:
            self._latest[kind] = sample

    def apply_sample(self, kind: str, sample: Sample, owner: str, now_s: float) -> None:
        self.owner = owner
        self._heard_s = now_s
        self._keep(kind, sample)

    def apply_link(self, event: LinkEvent, owner: str, now_s: float) -> None:
        self.owner = owner
        self._heard_s = now_s
        self._link = event.state
        self._age_s = event.heartbeat_age_s

    def apply_state(self, doc: dict[str, Any], owner: str, now_s: float) -> None:
        """Take a ``fleet/{drone}/state`` summary (the ``/api/drones`` form plus owner)."""
        self.owner = owner
        self._heard_s = now_s
        try:
            self._link = LinkState(str(doc.get("link")))
        except ValueError:
            self._link = LinkState.LOST
        age = doc.get("heartbeat_age_s")
        self._age_s = float(age) if isinstance(age, int | float) and math.isfinite(age) else 0.0
        self._identity = VehicleIdentity(
            self.drone_id,
            str(doc.get("autopilot") or "unknown"),
            str(doc.get("vehicle_type") or "unknown"),
            doc.get("firmware_version") if isinstance(doc.get("firmware_version"), str) else None,
        )
        for kind, sample in _samples_of(doc, now_s):
            self._keep(kind, sample)


def _kind_of(sample: Sample) -> str:
    return KIND_BY_SAMPLE[type(sample)].value


def _samples_of(doc: dict[str, Any], now_s: float) -> Iterable[tuple[str, Sample]]:
    """The samples a state summary implies (position, home, modes, battery, gps, health)."""
    pos = doc.get("position")
    if isinstance(pos, dict):
        yield (
            "position",
            Position(
                _float(pos.get("lat_deg")),
                _float(pos.get("lon_deg")),
                _float(pos.get("alt_amsl_m")),
                _float(pos.get("alt_rel_m")),
                now_s,
            ),
        )
    home = doc.get("home")
    if isinstance(home, dict):
        yield (
            "home",
            Home(
                _float(home.get("lat_deg")),
                _float(home.get("lon_deg")),
                _float(home.get("alt_amsl_m")),
                now_s,
            ),
        )
    mode = doc.get("flight_mode")
    if isinstance(mode, str):
        try:
            flight_mode = FlightMode(mode)
        except ValueError:
            flight_mode = FlightMode.UNKNOWN
        landed = doc.get("landed")
        landed_state = (
            LandedState.UNKNOWN
            if not isinstance(landed, bool)
            else LandedState.ON_GROUND
            if landed
            else LandedState.IN_AIR
        )
        yield "modes", Modes(flight_mode, bool(doc.get("armed")), landed_state, now_s)
    pct = doc.get("battery_pct")
    if isinstance(pct, int | float) and not isinstance(pct, bool):
        yield "battery", Battery(float(pct), _NAN, now_s)
    fix = doc.get("gps_fix")
    if isinstance(fix, str):
        yield "gps", Gps(fix, 0, now_s)
    armable = doc.get("armable")
    if isinstance(armable, bool):
        # only ``armable`` is summarised; the sensor flags are not known here
        yield "health", Health(armable, armable, armable, armable, armable, armable, armable, now_s)


class RemoteFleet:
    """The remote drones, fed by the MQTT bridge; link changes go to the local bus.

    Args:
        bus: the local bus (link changes of remote drones are published there).
        stale_after_s: a drone nothing was heard about for this long is shown ``lost``.
    """

    def __init__(self, bus: EventBus[object], *, stale_after_s: float) -> None:
        self._bus = bus
        self._stale_after_s = stale_after_s
        self._drones: dict[int, RemoteDrone] = {}
        self._offline: set[str] = set()
        self._shown: dict[int, LinkState] = {}

    def get(self, drone_id: int) -> RemoteDrone | None:
        return self._drones.get(drone_id)

    def ids(self) -> list[int]:
        return sorted(self._drones)

    def forget(self, drone_id: int) -> None:
        """Drop a drone (this instance now holds its link)."""
        self._drones.pop(drone_id, None)
        self._shown.pop(drone_id, None)

    def _drone(self, drone_id: int) -> RemoteDrone:
        drone = self._drones.get(drone_id)
        if drone is None:
            drone = self._drones[drone_id] = RemoteDrone(drone_id)
        return drone

    def state_of(self, drone: RemoteDrone, now_s: float | None = None) -> LinkState:
        """Its link as this instance should show it (``lost`` when stale or owner offline)."""
        now = time.monotonic() if now_s is None else now_s
        if drone.owner in self._offline or now - drone.heard_s > self._stale_after_s:
            return LinkState.LOST
        return drone.reported_state

    # -- feeding ---------------------------------------------------------------------------------
    def apply_telemetry(self, drone_id: int, owner: str, events: Iterable[object]) -> None:
        """A telemetry batch from ``owner``: kept, and republished on the local bus."""
        now = time.monotonic()
        drone = self._drone(drone_id)
        self._offline.discard(owner)
        for event in events:
            if isinstance(event, TelemetryEvent):
                kind = TelemetryKind(_kind_of(event.sample))
                drone.apply_sample(kind.value, event.sample, owner, now)
                self._bus.publish(telemetry_topic(drone_id, kind), event)
            elif isinstance(event, LinkEvent):
                drone.apply_link(event, owner, now)
        self._announce(drone, now)

    def apply_state(self, drone_id: int, owner: str, doc: dict[str, Any]) -> None:
        """A (possibly retained) state summary from ``owner``."""
        now = time.monotonic()
        drone = self._drone(drone_id)
        drone.apply_state(doc, owner, now)
        self._announce(drone, now)

    def instance_status(self, instance: str, online: bool) -> None:
        """An instance's status topic changed (``online: false`` is its last will)."""
        if online:
            self._offline.discard(instance)
        else:
            self._offline.add(instance)
        self.check()

    def check(self) -> None:
        """Publish link changes of stale drones (call periodically)."""
        now = time.monotonic()
        for drone in list(self._drones.values()):
            self._announce(drone, now)

    def _announce(self, drone: RemoteDrone, now: float) -> None:
        state = self.state_of(drone, now)
        previous = self._shown.get(drone.drone_id)
        if previous is state:
            return
        self._shown[drone.drone_id] = state
        event = LinkEvent(drone.drone_id, state, previous, drone.heartbeat_age_s(now), now)
        self._bus.publish(link_topic(drone.drone_id), event)
