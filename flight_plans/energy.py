"""Distance, time and energy of a multicopter mission, and battery feasibility.

The model flies the mission the way PX4 does, segment by segment:

* ``NAV_TAKEOFF``: vertical climb at home to the take-off altitude;
* nav items (waypoint, loiter, land, ...): a straight 3-D leg from the previous position;
  horizontal and vertical motion are simultaneous, so a leg lasts
  ``max(horizontal / ground_speed, |climb| / vertical_speed)``; then the item's hold
  (waypoint param1, ``LOITER_TIME`` param1, ``LOITER_TURNS`` circles);
* ``DO_CHANGE_SPEED`` changes the horizontal speed of later legs;
* ``NAV_RETURN_TO_LAUNCH``: climb to the return altitude if lower (PX4 ``RTL_RETURN_ALT``),
  fly home, descend, land;
* ``NAV_LAND``: fly over the point, descend at the descent speed to ``land_slow_alt_m``, then
  at the landing speed.

Power (electrical, at the battery): ``P = P_hover + k_parasite · v³`` for horizontal airspeed
``v`` — the parasite term grows with the cube of speed; the induced-power saving of
forward flight is ignored, which errs on the safe side — plus ``m·g·v_z / η`` while climbing.
Descents are charged hover power (no regeneration). Wind, when given, changes the ground
speed of each leg (wind triangle), not the airspeed.

Altitudes: relative to home. AMSL items are converted with the mission's home altitude;
terrain-relative items are taken relative to home, because no elevation data is used here
(the service's terrain provider resolves them before checks that need real terrain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flight_plans._validate import finite, in_range, non_negative, positive
from flight_plans.errors import InvalidValueError
from flight_plans.geodesy import GeoPoint, inverse
from flight_plans.mission import AltDatum, MavCmd, Mission, MissionItem

G_M_S2 = 9.80665


@dataclass(frozen=True, slots=True)
class VehicleProfile:
    """Speeds and power of a multicopter. Defaults: a ~1.5 kg quad with PX4 default limits.

    Attributes:
        cruise_speed_m_s: horizontal speed until a ``DO_CHANGE_SPEED`` (PX4 ``MPC_XY_CRUISE``).
        climb_speed_m_s: vertical speed up (PX4 ``MPC_Z_VEL_MAX_UP``).
        descent_speed_m_s: vertical speed down (PX4 ``MPC_Z_VEL_MAX_DN``).
        land_speed_m_s: final landing speed (PX4 ``MPC_LAND_SPEED``).
        land_slow_alt_m: height above ground below which the landing speed applies.
        rtl_return_alt_rel_m: return altitude for RTL (PX4 ``RTL_RETURN_ALT``).
        mass_kg: take-off mass.
        hover_power_w: electrical power while hovering.
        parasite_power_coeff_w_s3_m3: ``k`` in ``k · v³``.
        climb_efficiency: fraction of electrical power that becomes potential energy (0..1].
    """

    cruise_speed_m_s: float = 10.0
    climb_speed_m_s: float = 3.0
    descent_speed_m_s: float = 1.5
    land_speed_m_s: float = 0.7
    land_slow_alt_m: float = 10.0
    rtl_return_alt_rel_m: float = 60.0
    mass_kg: float = 1.5
    hover_power_w: float = 180.0
    parasite_power_coeff_w_s3_m3: float = 0.06
    climb_efficiency: float = 0.6

    def __post_init__(self) -> None:
        for name in (
            "cruise_speed_m_s",
            "climb_speed_m_s",
            "descent_speed_m_s",
            "land_speed_m_s",
            "mass_kg",
            "hover_power_w",
        ):
            object.__setattr__(self, name, positive(name, getattr(self, name)))
        for name in ("land_slow_alt_m", "rtl_return_alt_rel_m", "parasite_power_coeff_w_s3_m3"):
            object.__setattr__(self, name, non_negative(name, getattr(self, name)))
        eff = in_range("climb_efficiency", self.climb_efficiency, 0.0, 1.0)
        if eff == 0.0:
            raise InvalidValueError("climb_efficiency", eff, "must be > 0")
        object.__setattr__(self, "climb_efficiency", eff)

    def level_power_w(self, airspeed_m_s: float) -> float:
        """Electrical power in level flight at ``airspeed_m_s``."""
        return self.hover_power_w + self.parasite_power_coeff_w_s3_m3 * airspeed_m_s**3

    def climb_power_w(self, climb_rate_m_s: float) -> float:
        """Extra electrical power to climb at ``climb_rate_m_s`` (0 when descending)."""
        return self.mass_kg * G_M_S2 * max(climb_rate_m_s, 0.0) / self.climb_efficiency


@dataclass(frozen=True, slots=True)
class Wind:
    """A steady wind: the direction it blows *from* (degrees true) and its speed."""

    from_deg: float = 0.0
    speed_m_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "from_deg", finite("wind.from_deg", self.from_deg) % 360.0)
        object.__setattr__(self, "speed_m_s", non_negative("wind.speed_m_s", self.speed_m_s))


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of the estimated flight."""

    kind: str
    """``climb``, ``leg``, ``hold``, ``descend``, ``land`` or ``return``."""
    item_index: int | None
    horizontal_m: float
    vertical_m: float
    time_s: float
    energy_wh: float


@dataclass(frozen=True, slots=True)
class MissionEstimate:
    """The totals of a mission estimate.

    Attributes:
        horizontal_distance_m: ground track length (geodesic), including the RTL leg.
        climb_m / descent_m: total vertical travel up / down.
        time_s: total flight time (excluding any unlimited loiter).
        energy_wh: total battery energy (excluding any unlimited loiter).
        open_ended_at: index of a ``NAV_LOITER_UNLIM`` item where the mission holds until
            commanded, if any: the totals then cover the flight up to that item, and
            :func:`feasibility` reports how long the vehicle can stay there.
        hold_power_w: power drawn while holding at that item (0 if none).
        segments: the pieces, in order.
    """

    horizontal_distance_m: float
    climb_m: float
    descent_m: float
    time_s: float
    energy_wh: float
    open_ended_at: int | None
    hold_power_w: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class BatteryState:
    """What is left in the battery.

    Attributes:
        capacity_wh: usable energy of a full pack.
        remaining_fraction: state of charge, 0..1 (not percent).
    """

    capacity_wh: float
    remaining_fraction: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "capacity_wh", positive("capacity_wh", self.capacity_wh))
        object.__setattr__(
            self,
            "remaining_fraction",
            in_range("remaining_fraction", self.remaining_fraction, 0.0, 1.0),
        )

    @property
    def remaining_wh(self) -> float:
        """Energy left, in watt-hours."""
        return self.capacity_wh * self.remaining_fraction


@dataclass(frozen=True, slots=True)
class Feasibility:
    """Verdict of :func:`feasibility`.

    Attributes:
        feasible: the mission completes with the reserve left in the battery.
        required_wh: energy the mission needs.
        available_wh: energy left now minus the reserve.
        margin_wh: ``available_wh - required_wh`` (negative when infeasible).
        reserve_wh: energy kept back.
        max_hold_s: for an open-ended mission, how long the vehicle can hold at the
            ``LOITER_UNLIM`` item and still fly the rest with the reserve intact.
        reason: one sentence for a pilot.
    """

    feasible: bool
    required_wh: float
    available_wh: float
    margin_wh: float
    reserve_wh: float
    max_hold_s: float | None
    reason: str


class _Flight:
    """Accumulates segments while walking the mission (internal)."""

    def __init__(self, profile: VehicleProfile, wind: Wind) -> None:
        self.profile = profile
        self.wind = wind
        self.speed_m_s = profile.cruise_speed_m_s
        self.segments: list[Segment] = []

    def ground_speed(self, track_deg: float) -> float:
        """Ground speed along ``track_deg`` for the current airspeed and the wind."""
        v, w = self.speed_m_s, self.wind.speed_m_s
        if w == 0.0:
            return v
        # wind blows *towards* from_deg + 180
        rel = math.radians(self.wind.from_deg + 180.0 - track_deg)
        along, cross = w * math.cos(rel), w * math.sin(rel)
        if abs(cross) >= v:
            return 0.0
        return math.sqrt(v * v - cross * cross) + along

    def move(
        self, kind: str, index: int | None, horizontal_m: float, track_deg: float, dz_m: float
    ) -> None:
        p = self.profile
        if horizontal_m > 0.0:
            gs = self.ground_speed(track_deg)
            if gs <= 0.0:
                raise InvalidValueError(
                    "wind.speed_m_s",
                    self.wind.speed_m_s,
                    f"the vehicle cannot make headway on this leg at {self.speed_m_s:g} m/s",
                    item_index=index,
                )
            t_h = horizontal_m / gs
        else:
            t_h = 0.0
        t_v = dz_m / p.climb_speed_m_s if dz_m > 0 else -dz_m / p.descent_speed_m_s
        t = max(t_h, t_v)
        if t <= 0.0:
            return
        airspeed = self.speed_m_s if horizontal_m > 0.0 else 0.0
        power = p.level_power_w(airspeed) + p.climb_power_w(dz_m / t)
        self.segments.append(Segment(kind, index, horizontal_m, dz_m, t, power * t / 3600.0))

    def hold(self, index: int, time_s: float, circle_m: float = 0.0) -> None:
        if time_s <= 0.0 and circle_m <= 0.0:
            return
        p = self.profile
        if circle_m > 0.0:
            time_s = max(time_s, circle_m / self.speed_m_s)
            power = p.level_power_w(self.speed_m_s)
        else:
            power = p.hover_power_w
        self.segments.append(Segment("hold", index, circle_m, 0.0, time_s, power * time_s / 3600))

    def land(self, index: int | None, from_alt_m: float) -> None:
        p = self.profile
        fast = max(from_alt_m - p.land_slow_alt_m, 0.0)
        slow = min(from_alt_m, p.land_slow_alt_m)
        if fast > 0:
            self.move("descend", index, 0.0, 0.0, -fast)
        if slow > 0:
            t = slow / p.land_speed_m_s
            self.segments.append(
                Segment("land", index, 0.0, -slow, t, p.hover_power_w * t / 3600.0)
            )


def _alt_rel_m(item: MissionItem, mission: Mission, previous_m: float) -> float:
    if item.alt_datum is AltDatum.AMSL:
        if mission.home is None:
            return previous_m  # unknown without home: assume level flight
        return item.alt_m - mission.home.alt_amsl_m
    return item.alt_m


def _has_place(item: MissionItem) -> bool:
    """False for items whose lat/lon 0/0 means "where the vehicle is" (PX4 convention)."""
    return not (item.lat_deg == 0.0 and item.lon_deg == 0.0)


def estimate(
    mission: Mission,
    profile: VehicleProfile | None = None,
    *,
    wind: Wind | None = None,
    start: GeoPoint | None = None,
) -> MissionEstimate:
    """Estimate distance, time and energy of flying ``mission`` from the ground at home.

    Args:
        mission: the mission; its ``home`` (or ``start``) is where the flight begins.
        profile: vehicle speeds and power; defaults to :class:`VehicleProfile`'s defaults.
        wind: steady wind; none by default.
        start: launch point when the mission has no home (else the first nav item).

    Raises:
        InvalidValueError: the wind is too strong to make headway on some leg.
    """
    profile = profile or VehicleProfile()
    flight = _Flight(profile, wind or Wind())
    home = mission.home.point if mission.home else start
    pos: GeoPoint | None = home
    alt = 0.0
    airborne = False
    open_ended_at: int | None = None
    hold_power = 0.0

    def fly_to(kind: str, index: int | None, target: GeoPoint, target_alt: float) -> None:
        nonlocal pos, alt
        if pos is None:
            pos = target
        track, _, dist = inverse(pos, target)
        flight.move(kind, index, dist, track, target_alt - alt)
        pos, alt = target, target_alt

    for i, it in enumerate(mission.items):
        cmd = it.command
        if cmd == MavCmd.DO_CHANGE_SPEED:
            if it.param2 > 0 and math.isfinite(it.param2):
                flight.speed_m_s = it.param2
            continue
        if cmd == MavCmd.NAV_RETURN_TO_LAUNCH:
            if pos is not None and home is not None:
                if alt < profile.rtl_return_alt_rel_m:
                    flight.move("climb", i, 0.0, 0.0, profile.rtl_return_alt_rel_m - alt)
                    alt = profile.rtl_return_alt_rel_m
                fly_to("return", i, home, alt)
            flight.land(i, alt)
            alt, airborne = 0.0, False
            break
        if not it.is_nav:
            continue
        target_alt = _alt_rel_m(it, mission, alt)
        target = it.position if _has_place(it) else pos
        if cmd == MavCmd.NAV_TAKEOFF:
            if target is not None and pos is not None and airborne:
                fly_to("leg", i, target, target_alt)
            else:
                pos = pos or target
                flight.move("climb", i, 0.0, 0.0, target_alt - alt)
                alt = target_alt
            airborne = True
            continue
        if target is None:
            continue
        if not airborne:
            # PX4 takes off by itself to the first item's altitude when there is no takeoff item
            flight.move("climb", i, 0.0, 0.0, max(target_alt, 0.0))
            alt, airborne = max(target_alt, 0.0), True
        if cmd == MavCmd.NAV_LAND:
            fly_to("leg", i, target, alt)
            flight.land(i, alt)
            alt, airborne = 0.0, False
            break
        fly_to("leg", i, target, target_alt)
        if cmd == MavCmd.NAV_WAYPOINT or cmd == MavCmd.NAV_LOITER_TIME:
            flight.hold(i, max(it.param1, 0.0) if math.isfinite(it.param1) else 0.0)
        elif cmd == MavCmd.NAV_LOITER_TURNS:
            radius = abs(it.param3) if math.isfinite(it.param3) else 0.0
            turns = max(it.param1, 0.0) if math.isfinite(it.param1) else 0.0
            flight.hold(i, 0.0, 2 * math.pi * radius * turns)
        elif cmd == MavCmd.NAV_LOITER_UNLIM:
            open_ended_at = i
            hold_power = profile.hover_power_w
            break  # the vehicle holds here until commanded on

    segs = tuple(flight.segments)
    return MissionEstimate(
        horizontal_distance_m=sum(s.horizontal_m for s in segs if s.kind != "hold"),
        climb_m=sum(s.vertical_m for s in segs if s.vertical_m > 0),
        descent_m=-sum(s.vertical_m for s in segs if s.vertical_m < 0),
        time_s=sum(s.time_s for s in segs),
        energy_wh=sum(s.energy_wh for s in segs),
        open_ended_at=open_ended_at,
        hold_power_w=hold_power,
        segments=segs,
    )


def feasibility(
    mission: Mission,
    battery: BatteryState,
    *,
    reserve_fraction: float = 0.2,
    profile: VehicleProfile | None = None,
    wind: Wind | None = None,
) -> Feasibility:
    """Can the vehicle fly ``mission`` and land with ``reserve_fraction`` of a full pack left?

    For an open-ended mission (``NAV_LOITER_UNLIM``) the energy to get there and to return
    home from there is required, and ``max_hold_s`` says how long it can hold on station.

    Raises:
        InvalidValueError: ``reserve_fraction`` outside [0, 1), or an estimate error.
    """
    reserve_f = in_range("reserve_fraction", reserve_fraction, 0.0, 1.0)
    if reserve_f >= 1.0:
        raise InvalidValueError("reserve_fraction", reserve_fraction, "must be < 1")
    profile = profile or VehicleProfile()
    est = estimate(mission, profile, wind=wind)
    required = est.energy_wh
    max_hold_s: float | None = None
    if est.open_ended_at is not None and mission.home is not None:
        # add the way home from the holding point
        rest = Mission(
            (*mission.items[: est.open_ended_at + 1], MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH)),
            mission.home,
        )
        est_home = estimate(_without_unlim(rest), profile, wind=wind)
        required = est_home.energy_wh
    reserve = battery.capacity_wh * reserve_f
    available = battery.remaining_wh - reserve
    margin = available - required
    if est.open_ended_at is not None:
        max_hold_s = max(margin, 0.0) * 3600.0 / profile.hover_power_w
    feasible = margin >= 0.0
    if feasible:
        reason = (
            f"needs {required:.1f} Wh of {available:.1f} Wh available "
            f"(reserve {reserve:.1f} Wh kept)"
        )
    else:
        reason = (
            f"needs {required:.1f} Wh but only {available:.1f} Wh are available above the "
            f"{reserve_f:.0%} reserve"
        )
    return Feasibility(feasible, required, available, margin, reserve, max_hold_s, reason)


def _without_unlim(mission: Mission) -> Mission:
    """The mission with ``LOITER_UNLIM`` turned into a plain waypoint (for the way home)."""
    items = tuple(
        MissionItem(
            MavCmd.NAV_WAYPOINT,
            it.frame,
            0.0,
            0.0,
            0.0,
            math.nan,
            it.lat_deg,
            it.lon_deg,
            it.alt_m,
        )
        if it.command == MavCmd.NAV_LOITER_UNLIM
        else it
        for it in mission.items
    )
    return Mission(items, mission.home)
