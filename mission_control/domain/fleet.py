"""The fleet as dispatch sees it: one immutable snapshot per drone.

The services layer builds snapshots from the vehicle links' latest telemetry; the dispatch
policy (:mod:`.dispatch`) takes them as plain values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flight_plans.energy import VehicleProfile
from flight_plans.mission import HomePosition
from mission_control.domain.errors import InvalidField

__all__ = ["DroneSnapshot"]


@dataclass(frozen=True, slots=True)
class DroneSnapshot:
    """What is known about one drone at one instant.

    Attributes:
        drone_id: MAVLink system id.
        link: ``connected``, ``degraded`` or ``lost``.
        lat_deg, lon_deg, alt_amsl_m: last position (``None`` if none yet).
        alt_rel_m: height above home, metres.
        home: the home (launch) position the autopilot reports, if any.
        armed: motors armed.
        landed: on the ground (landed state ``on_ground``).
        battery_fraction: remaining charge 0..1 (``None`` if unknown).
        capacity_wh: usable pack energy when full.
        profile: speeds and power for the energy estimate.
        mission_id: the non-terminal mission it is assigned to, if any.
        gps_fix: the GPS fix type (``fix_3d`` ...), ``None`` if unknown.
        armable: the autopilot's pre-arm checks pass (``None`` if unknown).
    """

    drone_id: int
    link: str = "connected"
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    alt_rel_m: float | None = None
    home: HomePosition | None = None
    armed: bool = False
    landed: bool = True
    battery_fraction: float | None = None
    capacity_wh: float = 100.0
    profile: VehicleProfile = field(default_factory=VehicleProfile)
    mission_id: str | None = None
    gps_fix: str | None = None
    armable: bool | None = None

    def __post_init__(self) -> None:
        if self.link not in {"connected", "degraded", "lost"}:
            raise InvalidField("link", f"must be connected, degraded or lost, got {self.link!r}")
        if self.battery_fraction is not None and not (
            math.isfinite(self.battery_fraction) and 0.0 <= self.battery_fraction <= 1.0
        ):
            raise InvalidField("battery_fraction", "must be within 0..1")
        if not math.isfinite(self.capacity_wh) or self.capacity_wh <= 0:
            raise InvalidField("capacity_wh", "must be > 0")

    @property
    def has_position(self) -> bool:
        """True once a position has been received."""
        return self.lat_deg is not None and self.lon_deg is not None
