"""The body: a multicopter point mass and its battery. Pure, stepped with a time delta.

Positions are metres in the vehicle's local frame (x east, y north, z up above the flat
ground at launch altitude). The position controller is PX4-like in what a ground station
sees: speeds and climb rates capped by the ``MPC_*`` limits, acceleration-limited changes,
a deceleration profile that stops on the setpoint, and a yaw-rate limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flight_plans.energy import VehicleProfile

# Half the smallest accel step: below this a speed counts as zero.
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Limits:
    """Kinematic limits (PX4 ``MPC_*`` parameters)."""

    speed_xy_m_s: float = 5.0
    climb_m_s: float = 3.0
    descent_m_s: float = 1.5
    accel_xy_m_s2: float = 3.0
    accel_z_m_s2: float = 4.0
    yaw_rate_deg_s: float = 45.0


def wrap_180(angle_deg: float) -> float:
    """``angle_deg`` wrapped to [-180, 180)."""
    return (angle_deg + 180.0) % 360.0 - 180.0


def _approach_speed(dist_m: float, v_max: float, accel: float, dt_s: float) -> float:
    """Speed that reaches ``dist_m`` and stops there, capped, with no overshoot.

    The continuous profile √(2·a·d) asks for more than ``a`` when stepped (each step moves
    at the new speed), so the velocity lags and the vehicle overshoots and dithers around a
    hold point. This is the stepped solution: braking by a·dt per step from this speed
    covers exactly ``dist_m``.
    """
    if dist_m <= 0.0:
        return 0.0
    half = 0.5 * accel * dt_s
    stepped = math.sqrt(half * half + 2.0 * accel * dist_m) - half
    return min(v_max, stepped, dist_m / dt_s)


class PointMass:
    """Position, velocity and heading of the airframe."""

    def __init__(self, x_m: float = 0.0, y_m: float = 0.0, z_m: float = 0.0) -> None:
        self.x_m = x_m
        self.y_m = y_m
        self.z_m = z_m
        self.vx_m_s = 0.0
        self.vy_m_s = 0.0
        self.vz_m_s = 0.0
        self.yaw_deg = 0.0
        self.yaw_rate_deg_s = 0.0

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.vx_m_s, self.vy_m_s)

    def distance_xy_m(self, x_m: float, y_m: float) -> float:
        return math.hypot(x_m - self.x_m, y_m - self.y_m)

    def stop(self) -> None:
        self.vx_m_s = self.vy_m_s = self.vz_m_s = 0.0
        self.yaw_rate_deg_s = 0.0

    def fly_to(self, x_m: float, y_m: float, z_m: float, limits: Limits, dt_s: float) -> None:
        """Move towards the setpoint for ``dt_s``, braking so as to stop on it."""
        dx, dy, dz = x_m - self.x_m, y_m - self.y_m, z_m - self.z_m
        dist_xy = math.hypot(dx, dy)
        v_xy = _approach_speed(dist_xy, limits.speed_xy_m_s, limits.accel_xy_m_s2, dt_s)
        if dist_xy > _EPS:
            want_vx, want_vy = v_xy * dx / dist_xy, v_xy * dy / dist_xy
        else:
            want_vx = want_vy = 0.0
        v_z_max = limits.climb_m_s if dz > 0 else limits.descent_m_s
        want_vz = math.copysign(_approach_speed(abs(dz), v_z_max, limits.accel_z_m_s2, dt_s), dz)
        self.fly_velocity(want_vx, want_vy, want_vz, limits, dt_s)

    def fly_velocity(
        self, vx_m_s: float, vy_m_s: float, vz_m_s: float, limits: Limits, dt_s: float
    ) -> None:
        """Change velocity towards the wanted one within the acceleration limits, then move."""
        ax, ay = vx_m_s - self.vx_m_s, vy_m_s - self.vy_m_s
        a_xy = math.hypot(ax, ay)
        max_dv = limits.accel_xy_m_s2 * dt_s
        if a_xy > max_dv:
            ax, ay = ax * max_dv / a_xy, ay * max_dv / a_xy
        self.vx_m_s += ax
        self.vy_m_s += ay
        dvz = vz_m_s - self.vz_m_s
        max_dvz = limits.accel_z_m_s2 * dt_s
        self.vz_m_s += max(-max_dvz, min(max_dvz, dvz))
        self.x_m += self.vx_m_s * dt_s
        self.y_m += self.vy_m_s * dt_s
        self.z_m += self.vz_m_s * dt_s

    def turn_to(self, yaw_deg: float, limits: Limits, dt_s: float) -> None:
        """Yaw towards ``yaw_deg`` (0 = north, clockwise) at no more than the yaw-rate limit."""
        err = wrap_180(yaw_deg - self.yaw_deg)
        step = limits.yaw_rate_deg_s * dt_s
        turn = max(-step, min(step, err))
        self.yaw_rate_deg_s = turn / dt_s if dt_s > 0 else 0.0
        self.yaw_deg = (self.yaw_deg + turn) % 360.0

    def settle_on_ground(self) -> None:
        """Clamp to the ground plane and stop (touchdown or resting)."""
        self.z_m = 0.0
        self.stop()


@dataclass(frozen=True, slots=True)
class BatterySpec:
    """Pack parameters (PX4 ``BAT1_*``)."""

    capacity_mah: float = 5000.0
    n_cells: int = 4
    v_charged_cell: float = 4.05
    v_empty_cell: float = 3.5
    internal_resistance_ohm: float = 0.02

    @property
    def energy_wh(self) -> float:
        nominal = 0.5 * (self.v_charged_cell + self.v_empty_cell) * self.n_cells
        return self.capacity_mah / 1000.0 * nominal


class Battery:
    """State of charge, voltage and current of the pack.

    The draw follows :class:`flight_plans.energy.VehicleProfile`'s power model (hover power
    plus parasite power at airspeed plus climb power), so the planner's energy estimates and
    the simulated flights agree. ``drain_s`` > 0 replaces the physics with a linear drain of a
    full pack in that many seconds while armed (PX4 SIH's ``SIM_BAT_DRAIN``).
    """

    def __init__(self, spec: BatterySpec, profile: VehicleProfile, soc: float = 1.0) -> None:
        self.spec = spec
        self.profile = profile
        self.soc = max(0.0, min(1.0, soc))
        self.current_a = 0.0
        self.consumed_mah = 0.0

    @property
    def voltage_v(self) -> float:
        """Pack voltage under load: a LiPo-like curve between empty and charged, minus sag."""
        s = self.soc
        # steep at both ends, flat in the middle
        shape = 0.15 * (1 - (1 - s) ** 6) + 0.85 * s if s > 0 else 0.0
        v_cell = (
            self.spec.v_empty_cell + (self.spec.v_charged_cell - self.spec.v_empty_cell) * shape
        )
        return max(
            0.0, v_cell * self.spec.n_cells - self.current_a * self.spec.internal_resistance_ohm
        )

    def step(
        self,
        dt_s: float,
        *,
        armed: bool,
        airspeed_m_s: float,
        climb_m_s: float,
        drain_s: float = 0.0,
        floor_soc: float = 0.0,
    ) -> None:
        if not armed:
            self.current_a = 0.3  # avionics only
            power_w = self.current_a * max(self.voltage_v, 1.0)
        elif drain_s > 0:
            power_w = self.spec.energy_wh * 3600.0 / drain_s
        else:
            power_w = self.profile.level_power_w(airspeed_m_s) + self.profile.climb_power_w(
                climb_m_s
            )
        v = max(self.voltage_v, 0.5 * self.spec.v_empty_cell * self.spec.n_cells)
        self.current_a = power_w / v
        used_wh = power_w * dt_s / 3600.0
        self.soc = max(floor_soc, self.soc - used_wh / self.spec.energy_wh)
        self.consumed_mah += self.current_a * dt_s / 3.6

    def set_soc(self, soc: float) -> None:
        self.soc = max(0.0, min(1.0, soc))
