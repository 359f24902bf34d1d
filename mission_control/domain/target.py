"""What one dispatch flies at the incident, worked out once for all drones.

:func:`target_for` fixes the pattern (orbit when none is requested), its size (the
incident's radius or the policy's radius for its kind) and how far it reaches from the
incident, and whether a blocking zone is near enough to move it. From that,
:func:`battery_shortfall` refuses drones whose battery cannot cover even a lower bound of
the flight, before any route is planned, and :func:`station_for` builds the pattern a
given route leads to: centred on the incident, or a stand-off orbit (or hover) outside the
zone it is in, camera on the incident.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from flight_plans.energy import VehicleProfile, estimate
from flight_plans.geodesy import GeoPoint, LocalFrame, bearing_deg, distance_m, path_length_m
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, Mission, MissionItem
from flight_plans.patterns import expanding_square, hover, orbit, survey
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.routing import Route
from mission_control.domain.dispatch_policy import DispatchError, DispatchPolicy, RejectionKind
from mission_control.domain.errors import InvalidField
from mission_control.domain.fleet import DroneSnapshot
from mission_control.domain.incident import Incident, PatternKind
from mission_control.domain.standoff import ZoneClearance, standoff_centre

__all__ = [
    "Station",
    "Target",
    "battery_shortfall",
    "clearance_for",
    "nav_points",
    "station_for",
    "target_for",
]


@dataclass(frozen=True, slots=True)
class Target:
    """What one dispatch flies at the incident, worked out once for every drone.

    Attributes:
        incident: the incident.
        point: where it is.
        pattern: the pattern requested (orbit when none is).
        radius_m: orbit radius / survey half-side / search half-extent, metres.
        reach_m: farthest point of the pattern from the incident, metres.
        pattern_path_m: horizontal length of a survey or search pattern (0 otherwise).
        near_zone: a blocking zone comes within ``reach_m`` plus the margin of the
            incident (the pattern may be moved, so the battery pre-check counts no transit).
        t0, t1: the flight window zones are considered for.
        index: the zones.
        policy: the policy.
        expanding: the expanding-square fragment (the same for every drone), if requested.
        pattern_blocked_by: for a survey or search, what a leg of it comes within the
            margin of (a zone's label); an orbit is flown instead.
    """

    incident: Incident
    point: GeoPoint
    pattern: PatternKind
    radius_m: float
    reach_m: float
    pattern_path_m: float
    near_zone: bool
    t0: datetime
    t1: datetime
    index: ZoneIndex
    policy: DispatchPolicy
    expanding: Mission | None = None
    pattern_blocked_by: str | None = None


def clearance_for(t: Target, launch_alt_amsl_m: float | None) -> ZoneClearance:
    """Zone clearance around the incident for altitudes between station and transit."""
    p = t.policy
    return ZoneClearance(
        t.index,
        t.point,
        margin_m=p.route_margin_m,
        t0=t.t0,
        t1=t.t1,
        alt_lo_rel_m=min(p.station_alt_rel_m, p.transit_alt_rel_m),
        alt_hi_rel_m=max(p.station_alt_rel_m, p.transit_alt_rel_m),
        launch_alt_amsl_m=launch_alt_amsl_m,
    )


def _survey_square(
    point: GeoPoint, radius_m: float, policy: DispatchPolicy, entry_from: GeoPoint | None
) -> Mission:
    """A photo survey of the square of side ``2 * radius_m`` centred on ``point``."""
    f, r = LocalFrame(point), radius_m
    square = GeoPolygon(tuple(f.to_geo_many([(-r, -r), (r, -r), (r, r), (-r, r)])))
    return survey(square, policy.camera, alt_rel_m=policy.station_alt_rel_m, entry_from=entry_from)


def _expanding(point: GeoPoint, radius_m: float, policy: DispatchPolicy) -> Mission:
    """An expanding square whose last full square has half-side ``radius_m``."""
    tracks = policy.search_tracks_per_radius
    return expanding_square(
        point,
        track_spacing_m=radius_m / tracks,
        legs=4 * tracks + 1,
        alt_rel_m=policy.station_alt_rel_m,
    )


def nav_points(m: Mission) -> list[GeoPoint]:
    """The positions the vehicle flies to, in order."""
    return [p for _, it in m.nav_items() if (p := it.position) is not None]


def target_for(
    incident: Incident, index: ZoneIndex, *, at: datetime, policy: DispatchPolicy
) -> Target:
    """The pattern, its size and reach, and the zones' verdict near the incident.

    Raises:
        InvalidField: ``at`` is not an aware datetime.
    """
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidField("at", "must be an aware datetime")
    point = GeoPoint(incident.lat_deg, incident.lon_deg)
    pattern = incident.pattern or PatternKind.ORBIT
    radius = incident.radius_m or policy.orbit_radius_m(incident.kind)
    reach, path, search, pts = radius, 0.0, None, []
    if pattern is PatternKind.HOVER:
        reach = 0.0
    elif pattern in (PatternKind.SURVEY, PatternKind.EXPANDING_SQUARE):
        if pattern is PatternKind.EXPANDING_SQUARE:
            search = _expanding(point, radius, policy)
        pts = nav_points(search or _survey_square(point, radius, policy, None))
        reach = max(distance_m(point, p) for p in pts)
        path = path_length_m(pts)
    t1 = at + timedelta(seconds=policy.flight_window_s)
    t = Target(incident, point, pattern, radius, reach, path, False, at, t1, index, policy, search)
    clearance = clearance_for(t, None)
    if clearance.disc_clear((0.0, 0.0), reach):
        return t
    # a zone is near: does the survey or search itself come too close to it?
    blocked = next(
        (c for a, b in itertools.pairwise(pts) if (c := clearance.segment_conflict(a, b))), None
    )
    return replace(t, near_zone=True, pattern_blocked_by=blocked)


# -- battery pre-check ---------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _ground_wh(
    profile: VehicleProfile, takeoff_alt_rel_m: float, transit_alt_rel_m: float
) -> float:
    """Energy of the take-off, the climb to transit altitude and the landing over home.

    The same for every home (no horizontal flight), so it is worked out once per profile.
    """
    home = HomePosition(45.0, 7.0)  # any point: the flight is vertical
    ground = Mission(
        (
            MissionItem.at(MavCmd.NAV_TAKEOFF, 45.0, 7.0, alt_rel_m=takeoff_alt_rel_m),
            MissionItem.at(MavCmd.NAV_WAYPOINT, 45.0, 7.0, alt_rel_m=transit_alt_rel_m),
            MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH),
        ),
        home,
    )
    return estimate(ground, profile).energy_wh


def _energy_floor_wh(t: Target, drone: DroneSnapshot, home: HomePosition) -> tuple[float, float]:
    """A lower bound of the energy any planned mission needs, and the one-way transit used.

    Take-off, climb and landing over home are estimated exactly; the transit counts only
    the straight distance to the pattern's nearest possible point, both ways, at cruise
    speed (none when a zone may move the pattern); the station counts hover power for the
    time on station (an orbit draws more) or the pattern's own path at cruise speed.
    """
    p, pol = drone.profile, t.policy
    wh_per_m = p.level_power_w(p.cruise_speed_m_s) / p.cruise_speed_m_s / 3600.0
    one_way = 0.0 if t.near_zone else max(0.0, distance_m(home.point, t.point) - t.reach_m)
    hold_wh = p.hover_power_w * pol.time_on_station_s / 3600.0
    if t.pattern in (PatternKind.ORBIT, PatternKind.HOVER):
        station = hold_wh
    else:
        station = t.pattern_path_m * wh_per_m
        if t.near_zone:
            station = min(station, hold_wh)  # may become a stand-off orbit
    ground = _ground_wh(p, pol.takeoff_alt_rel_m, pol.transit_alt_rel_m)
    return ground + 2.0 * one_way * wh_per_m + station, one_way


def battery_shortfall(t: Target, drone: DroneSnapshot) -> str | None:
    """Why the battery cannot cover the flight even before planning it, or ``None``.

    Needs ``drone.home`` and ``drone.battery_fraction`` (the caller checks them first).
    """
    assert drone.home is not None and drone.battery_fraction is not None
    floor_wh, one_way = _energy_floor_wh(t, drone, drone.home)
    remaining = drone.capacity_wh * drone.battery_fraction
    reserve = drone.capacity_wh * t.policy.reserve_fraction
    if floor_wh + reserve <= remaining:
        return None
    if t.pattern in (PatternKind.ORBIT, PatternKind.HOVER):
        station = f"{t.policy.time_on_station_s / 60.0:.0f} min on station"
    else:
        station = f"the {t.pattern.value.replace('_', ' ')} ({t.pattern_path_m / 1000:.1f} km)"
    trip = f"{2 * one_way / 1000:.1f} km there and back, " if one_way > 0 else ""
    return (
        f"battery {drone.battery_fraction * 100:.0f} % ({remaining:.1f} Wh) cannot cover "
        f"{floor_wh + reserve:.1f} Wh needed: at least {floor_wh:.1f} Wh to fly ({trip}"
        f"{station}, take-off and landing) plus the "
        f"{t.policy.reserve_fraction * 100:.0f} % reserve ({reserve:.1f} Wh)"
    )


@dataclass(frozen=True, slots=True)
class Station:
    """The pattern flown at the incident for one drone.

    Attributes:
        fragment: the pattern's mission items (no take-off, no return).
        pattern: the pattern flown (an orbit replaces a survey or search stood off).
        radius_m: orbit radius, survey half-side or search half-extent (0 for a hover).
        notes: sentences for the pilot (stand-off, replaced pattern).
    """

    fragment: Mission
    pattern: PatternKind
    radius_m: float
    notes: tuple[str, ...]


_COMPASS = (
    "north",
    "north-east",
    "east",
    "south-east",
    "south",
    "south-west",
    "west",
    "north-west",
)


def _compass(deg: float) -> str:
    """The nearest of eight compass directions for a bearing in degrees."""
    return _COMPASS[round(deg / 45.0) % 8]


def station_for(
    t: Target, c: ZoneClearance, r: Route, home: HomePosition, drone_id: int
) -> Station:
    """The pattern at the end of route ``r`` (from ``home``), clear of the zones.

    An orbit stays centred on the incident when its disc keeps the margin; otherwise (and
    always when the route stood off) it is moved out by :func:`standoff_centre`, with the
    camera's region of interest left on the incident. A hover stands off at the route's
    end. A survey or search whose route stood off becomes a stand-off orbit.

    Raises:
        DispatchError: no orbit position keeps the margin (kind ``no_route``).
    """
    pol, inc = t.policy, t.point
    alt = pol.station_alt_rel_m
    pattern = t.pattern
    notes: list[str] = []
    if pattern in (PatternKind.SURVEY, PatternKind.EXPANDING_SQUARE):
        name = pattern.value.replace("_", " ")
        if not r.goal_reached:
            notes.append(
                f"the {name} cannot be flown: the incident is in or near {r.standoff_from}; "
                "flying a stand-off orbit instead"
            )
            pattern = PatternKind.ORBIT
        elif t.pattern_blocked_by is not None:
            notes.append(
                f"the {name} would come within {pol.route_margin_m:.0f} m of "
                f"{t.pattern_blocked_by}: flying an orbit instead"
            )
            pattern = PatternKind.ORBIT
    if pattern is PatternKind.HOVER:
        end = r.points[-1]
        off = distance_m(inc, end) if not r.goal_reached else 0.0
        if off > 0.0:
            notes.append(
                f"stand-off hover {off:.0f} m {_compass(bearing_deg(inc, end))} of the incident, "
                f"outside {r.standoff_from}; camera on the incident"
            )
        frag = hover(
            inc,
            alt_rel_m=alt,
            time_s=pol.time_on_station_s,
            offset_m=off,
            offset_bearing_deg=bearing_deg(inc, end) if off > 0.0 else 0.0,
        )
        return Station(frag, pattern, 0.0, tuple(notes))
    if pattern is PatternKind.SURVEY:
        frag = _survey_square(
            t.point, t.radius_m, pol, r.points[-2] if len(r.points) > 1 else home.point
        )
        return Station(frag, pattern, t.radius_m, ())
    if pattern is PatternKind.EXPANDING_SQUARE:
        assert t.expanding is not None
        return Station(t.expanding, pattern, t.radius_m, ())
    end_xy = None if r.goal_reached else c.xy(r.points[-1])
    found = standoff_centre(
        c,
        radius_m=t.radius_m,
        min_radius_m=min(pol.min_orbit_radius_m, t.radius_m),
        standoff_xy=end_xy,
        fallback_direction_xy=c.xy(home.point),
    )
    if found is None:
        near = c.nearest_blocking((0.0, 0.0), t.radius_m * 4 + pol.route_margin_m)
        which = r.standoff_from or (near[0].label if near else "the operating area's edge")
        raise DispatchError(
            drone_id,
            RejectionKind.NO_ROUTE,
            f"no orbit of {pol.min_orbit_radius_m:.0f}–{t.radius_m:.0f} m radius watching the "
            f"incident keeps {pol.route_margin_m:.0f} m from {which}",
        )
    pitch = -math.degrees(math.atan2(alt, found.offset_m)) if found.offset_m > 0 else None
    entry_from = (
        r.points[-1] if not r.goal_reached else (r.points[-2] if len(r.points) > 1 else home.point)
    )
    frag = orbit(
        found.centre,
        radius_m=found.radius_m,
        alt_rel_m=alt,
        time_on_station_s=pol.time_on_station_s,
        speed_m_s=pol.orbit_speed_m_s,
        gimbal_pitch_deg=pitch,
        entry_from=entry_from,
    )
    if found.offset_m > 0:
        frag = Mission(tuple(_roi_on(it, inc) for it in frag.items))
        where = (
            f"the incident is in or near {r.standoff_from}"
            if r.standoff_from
            else "a zone is too near the incident for a centred orbit"
        )
        notes.append(
            f"stand-off orbit: {where}; circling {found.radius_m:.0f} m around a point "
            f"{found.offset_m:.0f} m {_compass(bearing_deg(inc, found.centre))} of it, keeping "
            f"{pol.route_margin_m:.0f} m clear of zones, camera on the incident"
        )
    return Station(frag, PatternKind.ORBIT, found.radius_m, tuple(notes))


def _roi_on(item: MissionItem, p: GeoPoint) -> MissionItem:
    """``item``, with a region of interest moved onto ``p``."""
    if item.command != MavCmd.DO_SET_ROI_LOCATION:
        return item
    return MissionItem.at(MavCmd.DO_SET_ROI_LOCATION, p.lat_deg, p.lon_deg, alt_rel_m=item.alt_m)
