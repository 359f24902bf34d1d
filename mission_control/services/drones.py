"""The drones as the services see them: snapshots of the vehicle links, and assignments.

:class:`DroneDirectory` turns each link's latest telemetry into a
:class:`~mission_control.domain.fleet.DroneSnapshot` for dispatch, and into the JSON the
``/api/drones`` endpoints show. It also records which mission each drone is assigned to, so
dispatch never offers a busy drone twice.
"""

from __future__ import annotations

import time
from typing import Any

from flight_plans.energy import VehicleProfile
from flight_plans.mission import HomePosition
from mission_control.domain.fleet import DroneSnapshot
from mission_control.services.remote import RemoteDrone, RemoteFleet
from mission_control.vehicles.fleet import VehicleFleet
from mission_control.vehicles.link import VehicleLink
from mission_control.vehicles.types import (
    Battery,
    Gps,
    Health,
    Home,
    LandedState,
    LinkState,
    Modes,
    Position,
)

__all__ = ["DroneDirectory"]


class DroneDirectory:
    """Snapshots of every known drone plus the drone → mission assignments.

    Args:
        fleet: the vehicle links.
        capacity_wh: usable energy of a full pack (the same for every drone for now).
        profile: speeds and power used in energy estimates.
        remote: drones linked to other instances (clustered; None: this instance alone).
        instance: this instance's name (shown as the owner of its own drones).
    """

    def __init__(
        self,
        fleet: VehicleFleet,
        *,
        capacity_wh: float,
        profile: VehicleProfile | None = None,
        remote: RemoteFleet | None = None,
        instance: str | None = None,
    ) -> None:
        self._fleet = fleet
        self.remote = remote
        self.instance = instance
        self._capacity_wh = capacity_wh
        self._profile = profile or VehicleProfile()
        self._assigned: dict[int, str] = {}

    # -- assignments -------------------------------------------------------------------
    def assign(self, drone_id: int, mission_id: str) -> None:
        """Mark ``drone_id`` as flying ``mission_id``."""
        self._assigned[drone_id] = mission_id

    def release(self, drone_id: int, mission_id: str) -> None:
        """Free ``drone_id`` if it is still assigned to ``mission_id``."""
        if self._assigned.get(drone_id) == mission_id:
            del self._assigned[drone_id]

    def assigned_to(self, drone_id: int) -> str | None:
        """The mission ``drone_id`` is assigned to, if any."""
        return self._assigned.get(drone_id)

    def sync_assignments(self, active: dict[int, str]) -> None:
        """Replace the assignments by the stored ones (drone → active mission): in a cluster
        other instances create and end missions too."""
        self._assigned = dict(active)

    # -- links ---------------------------------------------------------------------------
    def ids(self) -> list[int]:
        """System ids of every drone known: linked here or (clustered) to another instance."""
        local = set(self._fleet.links)
        if self.remote is not None:
            local.update(self.remote.ids())
        return sorted(local)

    def link(self, drone_id: int) -> VehicleLink | None:
        """This instance's link to ``drone_id``, ``None`` if it holds none."""
        return self._fleet.links.get(drone_id)

    def is_local(self, drone_id: int) -> bool:
        """Whether this instance holds ``drone_id``'s link (and so flies its missions)."""
        return drone_id in self._fleet.links

    def owner(self, drone_id: int) -> str | None:
        """The instance holding ``drone_id``'s link, as far as this instance knows."""
        if self.is_local(drone_id):
            return self.instance
        remote = None if self.remote is None else self.remote.get(drone_id)
        return None if remote is None else remote.owner

    def _view(self, drone_id: int) -> tuple[VehicleLink | RemoteDrone, LinkState] | None:
        link = self.link(drone_id)
        if link is not None:
            return link, link.state
        if self.remote is not None:
            remote = self.remote.get(drone_id)
            if remote is not None:
                return remote, self.remote.state_of(remote)
        return None

    def snapshot(self, drone_id: int) -> DroneSnapshot | None:
        """What is known about ``drone_id`` now (``None`` if never discovered)."""
        view = self._view(drone_id)
        if view is None:
            return None
        link, link_state = view
        pos = link.latest("position")
        home = link.latest("home")
        modes = link.latest("modes")
        battery = link.latest("battery")
        gps = link.latest("gps")
        health = link.latest("health")
        snap_home = None
        if isinstance(home, Home):
            snap_home = HomePosition(home.lat_deg, home.lon_deg, home.alt_amsl_m)
        fraction = None
        if isinstance(battery, Battery) and 0.0 <= battery.remaining_pct <= 100.0:
            fraction = battery.remaining_pct / 100.0
        return DroneSnapshot(
            drone_id=drone_id,
            link=link_state.value,
            lat_deg=pos.lat_deg if isinstance(pos, Position) else None,
            lon_deg=pos.lon_deg if isinstance(pos, Position) else None,
            alt_amsl_m=pos.alt_amsl_m if isinstance(pos, Position) else None,
            alt_rel_m=pos.alt_rel_home_m if isinstance(pos, Position) else None,
            home=snap_home,
            armed=modes.armed if isinstance(modes, Modes) else False,
            landed=(
                modes.landed_state is LandedState.ON_GROUND if isinstance(modes, Modes) else False
            ),
            battery_fraction=fraction,
            capacity_wh=self._capacity_wh,
            profile=self._profile,
            mission_id=self._assigned.get(drone_id),
            gps_fix=gps.fix_type if isinstance(gps, Gps) else None,
            armable=health.armable if isinstance(health, Health) else None,
        )

    def snapshots(self) -> list[DroneSnapshot]:
        """Snapshots of every discovered drone, by id."""
        out = []
        for drone_id in self.ids():
            snap = self.snapshot(drone_id)
            if snap is not None:
                out.append(snap)
        return out

    def to_json(self, drone_id: int) -> dict[str, Any] | None:
        """The drone as ``GET /api/drones/{id}`` shows it (``None`` if unknown)."""
        view = self._view(drone_id)
        snap = self.snapshot(drone_id)
        if view is None or snap is None:
            return None
        link = view[0]
        modes = link.latest("modes")
        ident = link.identity
        now = time.monotonic()
        return {
            "drone_id": drone_id,
            "instance": self.owner(drone_id),
            "link": snap.link,
            "heartbeat_age_s": round(link.heartbeat_age_s(now), 3),
            "autopilot": ident.autopilot,
            "vehicle_type": ident.vehicle_type,
            "firmware_version": ident.firmware_version,
            "position": (
                None
                if snap.lat_deg is None
                else {
                    "lat_deg": snap.lat_deg,
                    "lon_deg": snap.lon_deg,
                    "alt_amsl_m": snap.alt_amsl_m,
                    "alt_rel_m": snap.alt_rel_m,
                }
            ),
            "home": (
                None
                if snap.home is None
                else {
                    "lat_deg": snap.home.lat_deg,
                    "lon_deg": snap.home.lon_deg,
                    "alt_amsl_m": snap.home.alt_amsl_m,
                }
            ),
            "flight_mode": modes.flight_mode.value if isinstance(modes, Modes) else None,
            "armed": snap.armed,
            "landed": snap.landed,
            "battery_pct": None if snap.battery_fraction is None else snap.battery_fraction * 100,
            "gps_fix": snap.gps_fix,
            "armable": snap.armable,
            "mission_id": snap.mission_id,
            "available": _available(snap),
        }


def _available(snap: DroneSnapshot) -> bool:
    return (
        snap.link == "connected"
        and snap.landed
        and not snap.armed
        and snap.mission_id is None
        and snap.has_position
    )
