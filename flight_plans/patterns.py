"""Mission patterns for drone-as-first-responder flights.

Each pattern returns a :class:`~flight_plans.mission.Mission` *fragment*: no take-off, no
landing; wrap it with :func:`with_takeoff_and_rtl` (or join fragments with ``+``).
Positional items use ``MAV_FRAME_GLOBAL_RELATIVE_ALT``: altitudes are metres above home.
Points are placed on the WGS84 ellipsoid (``pyproj.Geod``), planar work (buffers, grids)
happens in a :class:`~flight_plans.geodesy.LocalFrame`.

Waypoint acceptance radius (``NAV_WAYPOINT`` param2) is set on every path so that the
vehicle flows through the points without cutting the corner by more than the pattern's
tolerance: with 0 PX4 falls back to its ``NAV_ACC_RAD`` parameter, which can be large
enough to shrink a small orbit or skip points. With turn angle ``θ`` at a waypoint the
flown path passes within ``r·sin θ`` of it for ``θ < 90°`` (and within ``r`` otherwise), so
``r = min(cut / sin θ (cut if θ >= 90°), half of each adjacent leg)``.

The photo survey lives in :mod:`flight_plans.survey` (re-exported here).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.polygon import orient

from flight_plans import _pattern_items as _it
from flight_plans._validate import finite, non_negative, positive
from flight_plans.camera import CameraModel, Footprint
from flight_plans.errors import InvalidPolygonError, InvalidValueError
from flight_plans.geodesy import GeoPoint, bearing_deg, destination, distance_m, inverse
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, Mission, MissionItem
from flight_plans.survey import SurveyResult, SurveyStats, SurveyTrigger, survey, survey_plan

__all__ = [
    "MIN_ORBIT_POINTS",
    "CameraModel",
    "Footprint",
    "SurveyResult",
    "SurveyStats",
    "SurveyTrigger",
    "expanding_square",
    "hover",
    "orbit",
    "orbit_points_per_turn",
    "perimeter",
    "sector_search",
    "survey",
    "survey_plan",
    "with_takeoff_and_rtl",
]

MIN_ORBIT_POINTS = 8
"""Fewest waypoints per orbit turn (45° turns), whatever the chord tolerance."""

_Leg = tuple[float, float, float]  # (departure azimuth, back azimuth, length m)


def _acceptance_radius_m(before: _Leg | None, after: _Leg | None, max_cut_m: float) -> float:
    limit = max_cut_m
    if before is not None and after is not None:
        arrival = (before[1] + 180.0) % 360.0
        turn = abs((after[0] - arrival + 180.0) % 360.0 - 180.0)
        if turn < 90.0:
            s = math.sin(math.radians(turn))
            limit = max_cut_m / s if s > 1e-12 else math.inf
    halves = [leg[2] / 2.0 for leg in (before, after) if leg is not None]
    return min(limit, *halves) if halves else limit


def _path(points: Sequence[GeoPoint], alt_rel_m: float, max_cut_m: float) -> list[MissionItem]:
    """Waypoints through ``points`` (consecutive duplicates dropped) with acceptance radii."""
    pts: list[GeoPoint] = []
    for p in points:
        if not pts or distance_m(pts[-1], p) > 1e-3:
            pts.append(p)
    legs = [inverse(a, b) for a, b in itertools.pairwise(pts)]
    return [
        _it.waypoint(
            p,
            alt_rel_m,
            acceptance_radius_m=_acceptance_radius_m(
                legs[i - 1] if i > 0 else None, legs[i] if i < len(legs) else None, max_cut_m
            ),
        )
        for i, p in enumerate(pts)
    ]


def orbit_points_per_turn(radius_m: float, max_chord_error_m: float) -> int:
    """Waypoints per turn so that no chord strays more than ``max_chord_error_m`` inside the
    circle: the smallest ``n >= MIN_ORBIT_POINTS`` with ``radius·(1 - cos(π/n)) <= error``.

    Raises:
        InvalidValueError: radius or error not finite and positive.
    """
    r = positive("radius_m", radius_m)
    e = positive("max_chord_error_m", max_chord_error_m)
    if e >= r:
        return MIN_ORBIT_POINTS
    half_step = 2.0 * math.asin(math.sqrt(e / (2.0 * r)))  # acos(1 - e/r), stable for small e/r
    return max(MIN_ORBIT_POINTS, math.ceil(math.pi / half_step))


def orbit(
    center: GeoPoint,
    *,
    radius_m: float,
    alt_rel_m: float,
    clockwise: bool = True,
    turns: float | None = None,
    time_on_station_s: float | None = None,
    speed_m_s: float = 5.0,
    gimbal_pitch_deg: float | None = None,
    max_chord_error_m: float = 1.0,
    entry_from: GeoPoint | None = None,
    roi_alt_rel_m: float = 0.0,
) -> Mission:
    """Overwatch orbit: circle ``center`` with the camera locked on it.

    PX4 multicopters hover at the point of a ``NAV_LOITER_TURNS`` in a mission instead of
    circling, so the orbit is flown as waypoints *on* the circle: each is exactly
    ``radius_m`` from the centre on the ellipsoid, and there are enough per turn
    (:func:`orbit_points_per_turn`) that the straight legs stay within
    ``max_chord_error_m`` of the circle. The first point is the one nearest ``entry_from``
    (e.g. the launch point), else due north of the centre. Fractional turns are rounded up
    to the next waypoint.

    Items: ``DO_SET_ROI_LOCATION`` (centre, ``roi_alt_rel_m``), ``DO_GIMBAL_MANAGER_PITCHYAW``
    (``gimbal_pitch_deg``, default the depression angle ``-atan((alt - roi_alt) / radius)``
    — constant all round the circle, so it also serves gimbals that cannot track an ROI),
    ``NAV_WAYPOINT`` (entry), ``DO_CHANGE_SPEED`` (``speed_m_s``, which stays in force
    after the orbit), the circle's ``NAV_WAYPOINT`` s, ``DO_SET_ROI_NONE``.

    Args:
        center: the point watched (WGS84).
        radius_m: geodesic radius of the circle, metres.
        alt_rel_m: orbit altitude above home, metres.
        clockwise: direction seen from above (bearings from the centre increase).
        turns: number of turns (> 0); exclusive with ``time_on_station_s``.
        time_on_station_s: seconds to orbit at ``speed_m_s``; turns are derived from it.
        speed_m_s: ground speed on the circle, m/s.
        gimbal_pitch_deg: camera pitch, degrees in [-90, 90], negative = down.
        max_chord_error_m: largest distance of the flown path inside the circle, metres.
        entry_from: where the vehicle comes from, to choose the first point.
        roi_alt_rel_m: altitude of the watched point above home (0: ground at home level).

    Raises:
        InvalidValueError: a value is not finite, radius/altitude/speed/error not > 0,
            turns or time not > 0, both or neither of ``turns`` / ``time_on_station_s``,
            pitch outside [-90, 90].
    """
    r = positive("radius_m", radius_m)
    alt = _it.altitude("alt_rel_m", alt_rel_m)
    speed = positive("speed_m_s", speed_m_s)
    roi_alt = finite("roi_alt_rel_m", roi_alt_rel_m)
    n = orbit_points_per_turn(r, max_chord_error_m)
    if (turns is None) == (time_on_station_s is None):
        raise InvalidValueError("turns", turns, "give exactly one of turns and time_on_station_s")
    chord_m = 2.0 * r * math.sin(math.pi / n)
    if turns is not None:
        steps = math.ceil(positive("turns", turns) * n - 1e-9)
    elif time_on_station_s is not None:
        # the flown polygon is n chords long per turn: use that, not the circumference
        t = positive("time_on_station_s", time_on_station_s)
        steps = math.ceil(t * speed / chord_m - 1e-9)
    steps = max(1, steps)
    pitch = (
        _it.depression_pitch_deg(alt - roi_alt, r)
        if gimbal_pitch_deg is None
        else _it.gimbal_pitch("gimbal_pitch_deg", gimbal_pitch_deg)
    )
    start = 0.0
    if entry_from is not None and distance_m(center, entry_from) > 1e-6:
        start = bearing_deg(center, entry_from)
    sign = 1.0 if clockwise else -1.0
    step_deg = 360.0 / n
    points = [destination(center, start + sign * i * step_deg, r) for i in range(steps + 1)]
    waypoints = _path(points, alt, max_chord_error_m)
    return Mission(
        (
            _it.roi_location(center, roi_alt),
            _it.gimbal_pitch_yaw(pitch),
            waypoints[0],
            _it.change_speed(speed),
            *waypoints[1:],
            _it.roi_none(),
        )
    )


def hover(
    point: GeoPoint,
    *,
    alt_rel_m: float,
    time_s: float | None = None,
    offset_m: float = 0.0,
    offset_bearing_deg: float = 0.0,
    roi: bool = True,
    gimbal_pitch_deg: float | None = None,
    roi_alt_rel_m: float = 0.0,
) -> Mission:
    """Hover over ``point``, or stand off ``offset_m`` from it, camera on the point.

    The vehicle holds at the point ``offset_m`` from ``point`` on bearing
    ``offset_bearing_deg`` (e.g. ``offset_m=80, offset_bearing_deg=180``: 80 m south of a
    fire). ``time_s=None`` holds until the operator moves on (``NAV_LOITER_UNLIM``), else
    for ``time_s`` seconds (``NAV_LOITER_TIME``); radius 0 (hover), yaw NaN.

    Items: ``DO_SET_ROI_LOCATION`` on ``point`` and ``DO_GIMBAL_MANAGER_PITCHYAW`` (default
    pitch: the depression angle to the point, -90° when straight above) if ``roi``; the
    loiter; ``DO_SET_ROI_NONE`` if ``roi``. Without ``roi`` a gimbal item is added only when
    ``gimbal_pitch_deg`` is given.

    Raises:
        InvalidValueError: altitude or time not > 0, negative offset, a value not finite,
            pitch outside [-90, 90].
    """
    alt = _it.altitude("alt_rel_m", alt_rel_m)
    hold_s = None if time_s is None else positive("time_s", time_s)
    off = non_negative("offset_m", offset_m)
    brg = _it.bearing("offset_bearing_deg", offset_bearing_deg)
    roi_alt = finite("roi_alt_rel_m", roi_alt_rel_m)
    pitch = (
        None if gimbal_pitch_deg is None else _it.gimbal_pitch("gimbal_pitch_deg", gimbal_pitch_deg)
    )
    station = destination(point, brg, off) if off > 0.0 else point
    items: list[MissionItem] = []
    if roi:
        items.append(_it.roi_location(point, roi_alt))
        if pitch is None:
            pitch = _it.depression_pitch_deg(alt - roi_alt, off)
    if pitch is not None:
        items.append(_it.gimbal_pitch_yaw(pitch))
    if hold_s is None:
        params = (0.0, 0.0, 0.0, math.nan)
        cmd = MavCmd.NAV_LOITER_UNLIM
    else:
        params = (hold_s, 0.0, 0.0, math.nan)
        cmd = MavCmd.NAV_LOITER_TIME
    items.append(
        MissionItem.at(cmd, station.lat_deg, station.lon_deg, alt_rel_m=alt, params=params)
    )
    if roi:
        items.append(_it.roi_none())
    return Mission(tuple(items))


def _leg(start: GeoPoint, course_deg: float, length_m: float) -> tuple[GeoPoint, float]:
    """End of a geodesic leg and the course (azimuth) on which it arrives there."""
    end = destination(start, course_deg, length_m)
    _, back, _ = inverse(start, end)
    return end, (back + 180.0) % 360.0


def expanding_square(
    datum: GeoPoint,
    *,
    track_spacing_m: float,
    legs: int,
    alt_rel_m: float,
    first_bearing_deg: float = 0.0,
    clockwise: bool = True,
    max_corner_cut_m: float = 1.0,
) -> Mission:
    """IAMSAR expanding square search (SS) from ``datum``.

    Leg lengths are ``S, S, 2S, 2S, 3S, 3S, …`` (``S = track_spacing_m``), with a 90° turn
    (right if ``clockwise``) after each leg; the first leg starts at the datum on
    ``first_bearing_deg``. Legs are geodesics and each turn is 90° relative to the course
    on which the previous leg *arrives*, so the pattern stays square (parallel tracks
    ``S`` apart) even at high latitudes where meridians converge.

    Items: ``legs + 1`` ``NAV_WAYPOINT`` s (datum, then the end of each leg).

    Raises:
        InvalidValueError: spacing or altitude not > 0, ``legs`` not an integer >= 1,
            bearing not finite.
    """
    s = positive("track_spacing_m", track_spacing_m)
    n = _it.count("legs", legs)
    alt = _it.altitude("alt_rel_m", alt_rel_m)
    course = _it.bearing("first_bearing_deg", first_bearing_deg)
    cut = positive("max_corner_cut_m", max_corner_cut_m)
    turn = 90.0 if clockwise else -90.0
    points = [datum]
    for k in range(1, n + 1):
        end, arrival = _leg(points[-1], course, math.ceil(k / 2) * s)
        points.append(end)
        course = (arrival + turn) % 360.0
    return Mission(tuple(_path(points, alt, cut)))


# Radials of one IAMSAR sector pattern, degrees from the first bearing (clockwise); None is
# the datum. Legs: out R, 120° turn, across R, 120° turn, back R through the datum and on R,
# … three equilateral triangles, the last leg ending at the datum.
_SECTOR_RADIALS: tuple[float | None, ...] = (0, 60, None, 240, 300, None, 120, 180, None)


def sector_search(
    datum: GeoPoint,
    *,
    radius_m: float,
    alt_rel_m: float,
    first_bearing_deg: float = 0.0,
    rounds: int = 1,
    clockwise: bool = True,
    max_corner_cut_m: float = 1.0,
) -> Mission:
    """IAMSAR sector search (VS) centred on ``datum``.

    One round is three equilateral triangles with an apex at the datum: out ``radius_m``
    on ``first_bearing_deg``, turn 120° (right if ``clockwise``), across ``radius_m``, turn
    120°, back through the datum and on ``radius_m``, … ending at the datum. The six outer
    vertices are at bearings ``b, b+60, …, b+300`` from the datum, each exactly
    ``radius_m`` away on the ellipsoid. Each further round is rotated a further 30° in the
    turning direction, so its legs fall between those of the previous round (IAMSAR).

    Items: ``9 * rounds + 1`` ``NAV_WAYPOINT`` s, the datum first and last.

    Raises:
        InvalidValueError: radius or altitude not > 0, ``rounds`` not an integer >= 1,
            bearing not finite.
    """
    r = positive("radius_m", radius_m)
    alt = _it.altitude("alt_rel_m", alt_rel_m)
    base = _it.bearing("first_bearing_deg", first_bearing_deg)
    n = _it.count("rounds", rounds)
    cut = positive("max_corner_cut_m", max_corner_cut_m)
    sign = 1.0 if clockwise else -1.0
    points = [datum]
    for j in range(n):
        b = base + sign * 30.0 * j
        for off in _SECTOR_RADIALS:
            points.append(datum if off is None else destination(datum, b + sign * off, r))
    return Mission(tuple(_path(points, alt, cut)))


def _buffer_quad_segs(offset_m: float, max_sagitta_m: float) -> int:
    """Segments per quarter circle so a buffer's round corners stay within the sagitta."""
    if max_sagitta_m >= offset_m:
        return 1
    max_step = 2.0 * (2.0 * math.asin(math.sqrt(max_sagitta_m / (2.0 * offset_m))))
    return max(1, math.ceil((math.pi / 2.0) / max_step))


def perimeter(
    polygon: GeoPolygon,
    *,
    offset_m: float,
    alt_rel_m: float,
    roi_center: bool = True,
    laps: int = 1,
    clockwise: bool = True,
    max_deviation_m: float = 1.0,
    entry_from: GeoPoint | None = None,
    gimbal_pitch_deg: float | None = None,
    roi_alt_rel_m: float = 0.0,
) -> Mission:
    """Fly around ``polygon`` at ``offset_m`` outside it, ``laps`` times, closing the loop.

    The ring is the polygon's outline (holes ignored) buffered by ``offset_m`` in a
    :class:`LocalFrame` with *round* joins — so every point of the ring is ``offset_m`` from
    the polygon (mitred corners would be farther out, unboundedly at sharp corners) — then
    simplified. Every waypoint is ``offset_m`` from the polygon; the flown path stays within
    about ``max_deviation_m`` of the true offset line (arc sagitta, simplification and the
    corner cut allowed by the acceptance radius get a third of the budget each).
    ``offset_m=0`` flies the outline itself. The loop starts at the vertex nearest
    ``entry_from``, else the northernmost one.

    Items: ``DO_SET_ROI_LOCATION`` on the polygon's centroid (if ``roi_center``),
    ``DO_GIMBAL_MANAGER_PITCHYAW`` (only if ``gimbal_pitch_deg`` is given), the
    ``NAV_WAYPOINT`` s, ``DO_SET_ROI_NONE`` (if ``roi_center``).

    Raises:
        InvalidValueError: negative offset, altitude/deviation not > 0, ``laps`` not an
            integer >= 1, a value not finite, pitch outside [-90, 90].
        InvalidPolygonError: the offset outline is not a single polygon.
    """
    off = non_negative("offset_m", offset_m)
    alt = _it.altitude("alt_rel_m", alt_rel_m)
    n_laps = _it.count("laps", laps)
    dev = positive("max_deviation_m", max_deviation_m)
    roi_alt = finite("roi_alt_rel_m", roi_alt_rel_m)
    pitch = (
        None if gimbal_pitch_deg is None else _it.gimbal_pitch("gimbal_pitch_deg", gimbal_pitch_deg)
    )
    frame = _it.polygon_frame(polygon)
    shape = polygon.to_local(frame)
    ring = ShapelyPolygon(shape.exterior)
    if off > 0.0:
        ring = ring.buffer(off, quad_segs=_buffer_quad_segs(off, dev / 3.0), join_style="round")
    ring = ring.simplify(dev / 3.0, preserve_topology=True)
    if ring.geom_type != "Polygon" or ring.is_empty:
        raise InvalidPolygonError("polygon", f"offset outline is a {ring.geom_type}")
    ring = orient(ring, sign=-1.0 if clockwise else 1.0)
    xy = [(float(x), float(y)) for x, y in list(ring.exterior.coords)[:-1]]
    if entry_from is not None:
        ex, ey = frame.to_local(entry_from)
        start = min(range(len(xy)), key=lambda i: math.hypot(xy[i][0] - ex, xy[i][1] - ey))
    else:
        start = max(range(len(xy)), key=lambda i: xy[i][1])
    loop = xy[start:] + xy[:start]
    points = frame.to_geo_many(loop * n_laps + [loop[0]])
    items: list[MissionItem] = []
    if roi_center:
        c = shape.centroid
        items.append(_it.roi_location(frame.to_geo(float(c.x), float(c.y)), roi_alt))
    if pitch is not None:
        items.append(_it.gimbal_pitch_yaw(pitch))
    items += _path(points, alt, dev / 3.0)
    if roi_center:
        items.append(_it.roi_none())
    return Mission(tuple(items))


_NOT_IN_FRAGMENT = frozenset(
    {
        MavCmd.NAV_TAKEOFF,
        MavCmd.NAV_VTOL_TAKEOFF,
        MavCmd.NAV_LAND,
        MavCmd.NAV_VTOL_LAND,
        MavCmd.NAV_RETURN_TO_LAUNCH,
    }
)


def with_takeoff_and_rtl(
    fragment: Mission,
    home: HomePosition,
    *,
    takeoff_alt_rel_m: float,
    transit_alt_rel_m: float | None = None,
    speed_m_s: float | None = None,
) -> Mission:
    """A complete mission: take off at ``home``, fly ``fragment``, return to launch.

    Items: ``NAV_TAKEOFF`` at home to ``takeoff_alt_rel_m`` (PX4 style: param1 pitch 0,
    param4 yaw NaN); ``DO_CHANGE_SPEED`` (ground speed) if ``speed_m_s``; if
    ``transit_alt_rel_m`` is given, a ``NAV_WAYPOINT`` above home at that altitude (only
    when it is higher than the take-off altitude: climb before leaving) and one above the
    fragment's first flown position, so the transit is flown at that altitude; the
    fragment; ``NAV_RETURN_TO_LAUNCH`` (frame ``MISSION``, params 0; the autopilot's RTL
    altitude applies). The returned mission's ``home`` is ``home``.

    Raises:
        InvalidValueError: an altitude or speed not > 0; the fragment already takes off,
            lands or returns; the fragment carries a different home.
    """
    takeoff_alt = _it.altitude("takeoff_alt_rel_m", takeoff_alt_rel_m)
    transit = (
        None if transit_alt_rel_m is None else _it.altitude("transit_alt_rel_m", transit_alt_rel_m)
    )
    speed = None if speed_m_s is None else positive("speed_m_s", speed_m_s)
    if fragment.home is not None and fragment.home != home:
        raise InvalidValueError("fragment.home", fragment.home, f"differs from home {home}")
    for i, it in enumerate(fragment.items):
        if it.command in _NOT_IN_FRAGMENT:
            raise InvalidValueError(
                "fragment", it.name, "a fragment must not take off, land or return", item_index=i
            )
    items: list[MissionItem] = [
        MissionItem.at(
            MavCmd.NAV_TAKEOFF,
            home.lat_deg,
            home.lon_deg,
            alt_rel_m=takeoff_alt,
            params=(0.0, 0.0, 0.0, math.nan),
        )
    ]
    if speed is not None:
        items.append(_it.change_speed(speed))
    if transit is not None:
        if transit > takeoff_alt:
            items.append(_it.waypoint(home.point, transit))
        first = next((it.position for it in fragment.items if it.is_nav), None)
        if first is not None:
            items.append(_it.waypoint(first, transit))
    items += fragment.items
    items.append(MissionItem.do(MavCmd.NAV_RETURN_TO_LAUNCH))
    return Mission(tuple(items), home)
