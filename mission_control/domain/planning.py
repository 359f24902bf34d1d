"""One drone's flight to one incident: transit, pattern, return, energy and airspace.

:func:`plan_for` builds the whole mission for a drone and either returns a
:class:`Proposal` that passed the energy and airspace checks or raises
:class:`~mission_control.domain.dispatch_policy.DispatchError` saying why not.

The pattern at the incident and its stand-off variants come from :mod:`.target`.
The mission, all altitudes above home (the drone's home position, AMSL altitude known)::

    take-off ─ climb over home to transit altitude ─ route (airspace routing, margin kept)
    ─ pattern at station altitude (orbit / hover with the camera on the incident, survey
    square, expanding square) ─ the route back ─ return to launch

The way in leaves the route at its last corner for the pattern's first point, and the way
back rejoins it at its last corner, when those straight legs keep the margin (checked in
:mod:`.standoff`); otherwise they pass through the route's end, and if even that is not
clear a route is planned to (or from) the pattern itself. The return follows the route
because an autopilot's return-to-launch flies straight home, across whatever the route
went around.

When the incident is inside (or within the margin of) a blocking zone the route ends at
a stand-off point; the orbit is then centred outside the zone so that its whole circle
keeps the margin (:func:`~.standoff.standoff_centre`), with the camera still on the
incident. A survey or search cannot be flown there: a stand-off orbit replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flight_plans.energy import BatteryState, Feasibility, feasibility
from flight_plans.geodesy import GeoPoint, distance_m, path_length_m
from flight_plans.mission import HomePosition, MavCmd, Mission, MissionItem
from flight_plans.patterns import with_takeoff_and_rtl
from flight_plans.plan import Plan
from mission_control.airspace.check import check
from mission_control.airspace.errors import NoRouteError
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.routing import Route, RouteRequestError, route
from mission_control.airspace.violations import AirspaceReport
from mission_control.airspace.zones import Zone
from mission_control.domain.dispatch_policy import DispatchError, DispatchPolicy, RejectionKind
from mission_control.domain.fleet import DroneSnapshot
from mission_control.domain.incident import Incident, PatternKind
from mission_control.domain.standoff import ZoneClearance
from mission_control.domain.target import (
    Target,
    clearance_for,
    nav_points,
    station_for,
    target_for,
)

__all__ = ["Proposal", "plan_drone", "plan_for"]

_JOIN_M = 1.0
"""A pattern starting within this distance of the route's end starts where the route ends."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """A planned, checked flight for one drone.

    Attributes:
        drone_id: the drone.
        plan: the whole mission (home = the drone's home); the fence is empty until upload.
        report: the airspace check of ``plan.mission`` at the dispatch time.
        eta_s: take-off time plus the route's length at cruise speed, seconds.
        station_item: index in ``plan.mission.items`` of the pattern's first item:
            reaching it means "on station".
        pattern: the pattern flown (a stand-off orbit replaces a survey or search that the
            zones do not allow).
        radius_m: the orbit radius, survey half-side or search half-extent, metres.
        notes: sentences for the pilot: route detours, stand-off, battery margin, warnings.
        feasibility: the energy verdict of the mission with the reserve.
        standoff_from: the zone the incident is in (or too near), if a stand-off was flown.
        route_length_m: length of the route from home to the incident or stand-off point.
    """

    drone_id: int
    plan: Plan
    report: AirspaceReport
    eta_s: float
    station_item: int
    pattern: PatternKind
    radius_m: float
    notes: tuple[str, ...]
    feasibility: Feasibility
    standoff_from: str | None
    route_length_m: float


# -- the mission -----------------------------------------------------------------------------------


def _route(
    t: Target,
    drone_id: int,
    a: GeoPoint,
    b: GeoPoint,
    home: HomePosition,
    *,
    standoff: bool,
    what: str,
) -> Route:
    pol = t.policy
    try:
        return route(
            a,
            b,
            t.index,
            margin_m=pol.route_margin_m,
            at=t.t0,
            until=t.t1,
            alt_rel_m=pol.transit_alt_rel_m,
            launch_alt_amsl_m=home.alt_amsl_m,
            standoff=standoff,
        )
    except NoRouteError as e:
        raise DispatchError(
            drone_id, RejectionKind.NO_ROUTE, f"no route {what}: {e.reason}"
        ) from None
    except RouteRequestError as e:
        raise DispatchError(drone_id, RejectionKind.NO_ROUTE, f"no route {what}: {e}") from None


def _waypoints(points: Sequence[GeoPoint], alt_rel_m: float, margin_m: float) -> list[MissionItem]:
    if not points:
        return []
    path = Route(tuple(points), path_length_m(points), 0.0, margin_m=margin_m)
    return list(path.to_mission(alt_rel_m=alt_rel_m).items)


def _way_in(c: ZoneClearance, pts: list[GeoPoint], entry: GeoPoint) -> list[GeoPoint] | None:
    """Route points to fly before the pattern's first point (``None``: no clear join)."""
    if len(pts) == 1 or distance_m(pts[-1], entry) < _JOIN_M:
        return pts[:-1] or pts
    if c.segment_clear(pts[-2], entry):
        return pts[:-1]
    return pts if c.segment_clear(pts[-1], entry) else None


def _way_back(c: ZoneClearance, pts: list[GeoPoint], last: GeoPoint) -> list[GeoPoint] | None:
    """Route points (reversed, ending at home) to fly after the pattern's last point."""
    back = pts[::-1]
    if len(back) == 1 or distance_m(back[0], last) < _JOIN_M:
        return back[1:] or back
    if c.segment_clear(last, back[1]):
        return back[1:]
    return back if c.segment_clear(last, back[0]) else None


def _home(drone: DroneSnapshot) -> HomePosition:
    if drone.home is None:
        reason = "no home position yet" if drone.has_position else "no position/home yet"
        raise DispatchError(drone.drone_id, RejectionKind.NOT_READY, reason)
    return drone.home


def _summary(report: AirspaceReport) -> str:
    first = report.violations[0]
    more = len(report.violations) - 1
    tail = f" (and {more} more finding{'s' if more > 1 else ''})" if more else ""
    return f"airspace check failed: {first.message}{tail}"


def plan_drone(t: Target, drone: DroneSnapshot) -> Proposal:
    """Plan, energy-check and airspace-check ``drone``'s flight to ``t``.

    Availability (link, missions, flying) is the caller's concern; see
    :func:`mission_control.domain.dispatch.dispatch`.

    Raises:
        DispatchError: no home or battery level, no route or stand-off orbit, not enough
            energy with the reserve, or the mission fails the airspace check.
    """
    pol, did = t.policy, drone.drone_id
    home = _home(drone)
    if drone.battery_fraction is None:
        raise DispatchError(did, RejectionKind.NOT_READY, "battery unknown")
    c = clearance_for(t, home.alt_amsl_m)
    r = _route(t, did, home.point, t.point, home, standoff=True, what="to the incident")
    station = station_for(t, c, r, home, did)
    nav = nav_points(station.fragment)
    pts = list(r.points)
    way_in = _way_in(c, pts, nav[0])
    if way_in is None:
        there = _route(t, did, home.point, nav[0], home, standoff=False, what="to the pattern")
        way_in = list(there.points[:-1])
    way_back = _way_back(c, pts, nav[-1])
    if way_back is None:
        back = _route(t, did, nav[-1], home.point, home, standoff=False, what="home")
        way_back = list(back.points[1:])
    items = _waypoints(way_in, pol.transit_alt_rel_m, pol.route_margin_m)
    if pol.takeoff_alt_rel_m >= pol.transit_alt_rel_m and len(items) > 1:
        items = items[1:]  # already at transit altitude over home after the take-off
    station_item = 1 + len(items)
    items += station.fragment.items
    if any(it.command == MavCmd.DO_CHANGE_SPEED for it in station.fragment.items):
        cruise = drone.profile.cruise_speed_m_s
        items.append(MissionItem.do(MavCmd.DO_CHANGE_SPEED, 1.0, cruise, -1.0, 0.0))
    items += _waypoints([nav[-1], *way_back], pol.transit_alt_rel_m, pol.route_margin_m)[1:]
    mission = with_takeoff_and_rtl(
        Mission(tuple(items)), home, takeoff_alt_rel_m=pol.takeoff_alt_rel_m
    )
    battery = BatteryState(drone.capacity_wh, drone.battery_fraction)
    feas = feasibility(
        mission, battery, reserve_fraction=pol.reserve_fraction, profile=drone.profile
    )
    if not feas.feasible:
        raise DispatchError(
            did,
            RejectionKind.BATTERY,
            f"battery {drone.battery_fraction * 100:.0f} % ({battery.remaining_wh:.1f} Wh): "
            f"the planned flight {feas.reason}",
        )
    report = check(mission, t.index, at=t.t0, rules=pol.rules, launch=home)
    if not report.ok:
        raise DispatchError(did, RejectionKind.AIRSPACE, _summary(report))
    notes = [
        *r.notes,
        *station.notes,
        f"battery: {feas.reason}, margin {feas.margin_wh:.1f} Wh",
        *(f"warning: {w.message}" for w in report.warnings),
    ]
    return Proposal(
        drone_id=did,
        plan=Plan(mission=mission, hover_speed_m_s=drone.profile.cruise_speed_m_s),
        report=report,
        eta_s=pol.takeoff_s(drone.profile) + r.length_m / drone.profile.cruise_speed_m_s,
        station_item=station_item,
        pattern=station.pattern,
        radius_m=station.radius_m,
        notes=tuple(notes),
        feasibility=feas,
        standoff_from=r.standoff_from,
        route_length_m=r.length_m,
    )


def plan_for(
    incident: Incident,
    drone: DroneSnapshot,
    zones: ZoneIndex | Sequence[Zone],
    *,
    at: datetime,
    policy: DispatchPolicy | None = None,
) -> Proposal:
    """The flight ``drone`` would fly for ``incident`` if launched at ``at`` (a preview).

    Args:
        incident: where and what; its pattern and radius (or the policy's defaults).
        drone: the drone; its home, battery and profile are used, its availability is not
            checked (that is :func:`~mission_control.domain.dispatch.dispatch`'s job).
        zones: the zones (build a :class:`ZoneIndex` once and reuse it).
        at: the launch time (aware); zones in force during the flight window count.
        policy: the dispatch policy (default :class:`DispatchPolicy`).

    Raises:
        DispatchError: no plan is possible; ``reason`` says why (no route and which zone,
            battery figures, airspace findings).
        InvalidField: ``at`` is not aware.
    """
    pol = policy or DispatchPolicy()
    index = zones if isinstance(zones, ZoneIndex) else ZoneIndex(zones)
    return plan_drone(target_for(incident, index, at=at, policy=pol), drone)
