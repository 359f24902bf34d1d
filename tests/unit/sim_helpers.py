"""Helpers for flying the simulated vehicle in pure unit tests: no sockets, no clock.

The vehicle starts at PX4 SITL's Zurich home; positions are built with geodesy from there,
and mission items with :class:`flight_plans.mission.MissionItem`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from flight_plans.geodesy import GeoPoint, destination
from flight_plans.mission import MissionItem, MissionItemInt
from sim.mav_cmd import Cmd
from sim.modes import FlightMode
from sim.telemetry_types import Command, CommandResult, Event, ItemReached, StatusText
from sim.vehicle import Vehicle, VehicleConfig

LAUNCH = GeoPoint(47.397743, 8.545594)
GROUND_AMSL_M = 488.0
FORCE = 21196  # COMPONENT_ARM_DISARM param2 magic
DT_S = 0.1


def make_vehicle(*, seed: int = 0, gps_noise_m: float = 0.0, **params: float) -> Vehicle:
    """A vehicle at :data:`LAUNCH` with the given PX4 parameter overrides."""
    return Vehicle(
        VehicleConfig(
            lat_deg=LAUNCH.lat_deg,
            lon_deg=LAUNCH.lon_deg,
            alt_amsl_m=GROUND_AMSL_M,
            seed=seed,
            gps_noise_m=gps_noise_m,
            params=tuple(params.items()),
        )
    )


def point(bearing_deg: float, distance_m: float, *, start: GeoPoint = LAUNCH) -> GeoPoint:
    """The point ``distance_m`` from ``start`` on the initial bearing ``bearing_deg``."""
    return destination(start, bearing_deg, distance_m)


def cmd(v: Vehicle, command: int, *params: float, frame: int | None = None) -> CommandResult:
    """Send a COMMAND_LONG (or COMMAND_INT when ``frame`` is given); params 1..7, NaN = unset."""
    p1, p2, p3, p4, p5, p6, p7 = [*params, *([math.nan] * (7 - len(params)))]
    return v.command(Command(command, p1, p2, p3, p4, p5, p6, p7, frame=frame))


def items(*mission: MissionItem) -> tuple[MissionItemInt, ...]:
    """A mission as the vehicle stores it (MISSION_ITEM_INT fields, seq from 0)."""
    return tuple(it.to_mavlink(i) for i, it in enumerate(mission))


def waypoint(p: GeoPoint, alt_rel_m: float, *, hold_s: float = 0.0) -> MissionItem:
    return MissionItem.at(
        Cmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=alt_rel_m, params=(hold_s, 0, 0, math.nan)
    )


@dataclass
class FlightLog:
    """What the vehicle said and the extremes of its motion while a helper stepped it."""

    events: list[Event] = field(default_factory=list)
    max_ground_speed_m_s: float = 0.0
    max_climb_m_s: float = 0.0
    max_descent_m_s: float = 0.0
    max_alt_rel_m: float = -math.inf
    modes: list[FlightMode] = field(default_factory=list)

    def record(self, v: Vehicle) -> None:
        self.events.extend(v.take_events())
        b = v.body
        self.max_ground_speed_m_s = max(self.max_ground_speed_m_s, b.ground_speed_m_s)
        self.max_climb_m_s = max(self.max_climb_m_s, b.vz_m_s)
        self.max_descent_m_s = max(self.max_descent_m_s, -b.vz_m_s)
        self.max_alt_rel_m = max(self.max_alt_rel_m, v.alt_rel_m)
        if not self.modes or self.modes[-1] is not v.mode:
            self.modes.append(v.mode)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, StatusText)]

    @property
    def reached(self) -> list[int]:
        return [e.seq for e in self.events if isinstance(e, ItemReached)]

    def said(self, fragment: str) -> bool:
        return any(fragment in t for t in self.texts)


def run_until(
    v: Vehicle,
    predicate: Callable[[Vehicle], bool],
    timeout_s: float,
    *,
    dt_s: float = DT_S,
    log: FlightLog | None = None,
    each: Callable[[Vehicle], None] | None = None,
) -> float:
    """Step ``v`` until ``predicate(v)``; return the simulated seconds it took.

    Raises:
        AssertionError: ``timeout_s`` of simulated time passed first.
    """
    elapsed = 0.0
    while not predicate(v):
        if elapsed >= timeout_s:
            raise AssertionError(
                f"not reached within {timeout_s} s: mode {v.mode.name}, armed {v.armed}, "
                f"landed {v.landed_state.name}, xyz ({v.body.x_m:.1f}, {v.body.y_m:.1f}, "
                f"{v.body.z_m:.1f}), mission item {v.navigator.current}"
            )
        v.step(dt_s)
        elapsed += dt_s
        if log is not None:
            log.record(v)
        if each is not None:
            each(v)
    return elapsed


def run_for(
    v: Vehicle,
    duration_s: float,
    *,
    dt_s: float = DT_S,
    log: FlightLog | None = None,
    each: Callable[[Vehicle], None] | None = None,
) -> None:
    """Step ``v`` for ``duration_s`` simulated seconds."""
    for _ in range(round(duration_s / dt_s)):
        v.step(dt_s)
        if log is not None:
            log.record(v)
        if each is not None:
            each(v)


def hovering(alt_rel_m: float = 10.0, *, log: FlightLog | None = None, **params: float) -> Vehicle:
    """A vehicle armed, taken off to ``alt_rel_m`` above launch and settled in Hold."""
    v = make_vehicle(**params)
    assert cmd(v, Cmd.COMPONENT_ARM_DISARM, 1).result == 0
    assert cmd(v, Cmd.NAV_TAKEOFF, *[math.nan] * 6, GROUND_AMSL_M + alt_rel_m).result == 0
    run_until(v, lambda u: u.mode is FlightMode.LOITER, 60, log=log)
    run_for(v, 3.0, log=log)
    v.take_events()
    return v


def settled(v: Vehicle) -> bool:
    b = v.body
    return b.ground_speed_m_s < 0.05 and abs(b.vz_m_s) < 0.05
