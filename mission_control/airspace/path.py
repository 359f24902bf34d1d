"""The 3-D path a mission flies, as the airspace checker sees it.

A mission becomes a polyline of :class:`PathPoint` (position and altitude relative to the
launch point) plus the loiter circles it holds on. It follows what PX4 does: vertical
take-off at the launch point, straight legs between nav items with altitude changing
linearly along each leg, return-to-launch (climb to the return altitude if lower, fly home,
descend), landing (descend where it is). Items at 0°/0° ("here", as PX4 reads them) only
change altitude. A mission ending with neither RTL nor LAND ends hovering at its last item.

Terrain-relative (AGL) items are converted with a :class:`TerrainProvider`; with
:class:`FlatTerrain` AGL equals "above launch".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flight_plans.geodesy import WGS84, GeoPoint
from flight_plans.mission import AltDatum, MavCmd, Mission, MissionItem
from mission_control.airspace.terrain import TerrainProvider

MAX_LEG_M = 10_000.0
"""Legs longer than this are split along the geodesic (keeps local-frame errors tiny)."""


@dataclass(frozen=True, slots=True)
class PathPoint:
    """A point of the flight path.

    Attributes:
        point: horizontal position.
        alt_rel_m: altitude above the launch point.
        item_index: the mission item that put the vehicle here (None for launch).
        phase: ``launch``, ``takeoff``, ``mission``, ``rtl`` or ``land``.
    """

    point: GeoPoint
    alt_rel_m: float
    item_index: int | None
    phase: str


@dataclass(frozen=True, slots=True)
class LoiterCircle:
    """A circle flown (or held) around an item's position."""

    center: GeoPoint
    radius_m: float
    alt_rel_m: float
    item_index: int


@dataclass(frozen=True, slots=True)
class FlightPath:
    """The mission's path: points in flight order and loiter circles."""

    points: tuple[PathPoint, ...]
    circles: tuple[LoiterCircle, ...]
    launch: GeoPoint


def _loiter_radius_m(it: MissionItem) -> float:
    r = it.param2 if it.command == MavCmd.NAV_LOITER_TO_ALT else it.param3
    return abs(r) if math.isfinite(r) else 0.0


def _is_here(it: MissionItem) -> bool:
    return it.lat_deg == 0.0 and it.lon_deg == 0.0


def flight_path(
    mission: Mission,
    *,
    launch: GeoPoint,
    launch_alt_amsl_m: float | None,
    terrain: TerrainProvider,
    rtl_alt_rel_m: float,
) -> FlightPath:
    """Turn ``mission`` into the path the vehicle flies from ``launch``.

    AMSL items need ``launch_alt_amsl_m``; when it is ``None`` their altitude is taken as
    unknown and they keep the previous altitude (the checker then treats AMSL-limited
    zones as covering every altitude, so nothing is missed).
    """
    ground_launch = terrain.elevation_amsl_m([launch])[0]
    pts: list[PathPoint] = [PathPoint(launch, 0.0, None, "launch")]
    circles: list[LoiterCircle] = []

    def here() -> PathPoint:
        return pts[-1]

    def rel(it: MissionItem, at: GeoPoint) -> float:
        if it.alt_datum is AltDatum.AMSL:
            return (
                it.alt_m - launch_alt_amsl_m if launch_alt_amsl_m is not None else here().alt_rel_m
            )
        if it.alt_datum is AltDatum.TERRAIN:
            return it.alt_m + terrain.elevation_amsl_m([at])[0] - ground_launch
        return it.alt_m

    def go(to: GeoPoint, alt: float, index: int | None, phase: str) -> None:
        cur = here()
        _, _, dist = WGS84.inv(cur.point.lon_deg, cur.point.lat_deg, to.lon_deg, to.lat_deg)
        if dist > MAX_LEG_M:
            n = math.ceil(dist / MAX_LEG_M)
            mids = WGS84.npts(cur.point.lon_deg, cur.point.lat_deg, to.lon_deg, to.lat_deg, n - 1)
            for k, (lo, la) in enumerate(mids, start=1):
                frac = k / n
                pts.append(
                    PathPoint(
                        GeoPoint(la, lo), cur.alt_rel_m + (alt - cur.alt_rel_m) * frac, index, phase
                    )
                )
        pts.append(PathPoint(to, alt, index, phase))

    airborne = False
    for i, it in enumerate(mission.items):
        cmd = it.command
        if cmd == MavCmd.NAV_RETURN_TO_LAUNCH:
            if here().alt_rel_m < rtl_alt_rel_m:
                go(here().point, rtl_alt_rel_m, i, "rtl")
            go(launch, here().alt_rel_m, i, "rtl")
            go(launch, 0.0, i, "land")
            break
        if not it.is_nav:
            continue
        target = here().point if _is_here(it) else GeoPoint(it.lat_deg, it.lon_deg)
        alt = rel(it, target)
        if cmd in (MavCmd.NAV_TAKEOFF, MavCmd.NAV_VTOL_TAKEOFF) and not airborne:
            go(here().point, alt, i, "takeoff")
            if target != here().point:
                go(target, alt, i, "mission")
            airborne = True
            continue
        if not airborne:
            go(here().point, alt, i, "takeoff")
            airborne = True
        if cmd in (MavCmd.NAV_LAND, MavCmd.NAV_VTOL_LAND):
            go(target, here().alt_rel_m, i, "mission")
            go(target, 0.0, i, "land")
            break
        go(target, alt, i, "mission")
        if cmd in (
            MavCmd.NAV_LOITER_TIME,
            MavCmd.NAV_LOITER_TURNS,
            MavCmd.NAV_LOITER_UNLIM,
            MavCmd.NAV_LOITER_TO_ALT,
        ):
            radius = _loiter_radius_m(it)
            if radius > 0.0:
                circles.append(LoiterCircle(target, radius, alt, i))
    return FlightPath(tuple(pts), tuple(circles), launch)
