"""Photo survey of a polygon: a "lawnmower" of parallel lines with camera triggering.

Geometry happens in a :class:`~flight_plans.geodesy.LocalFrame` centred on the polygon, in
a rotated ``(u, v)`` system: ``u`` along the lines (bearing ``angle_deg``), ``v`` to their
right. Lines are ``spacing = across_track * (1 - side_overlap)`` apart.

Coverage argument (what the tests check):

* **Across the lines.** With ``D`` the polygon's extent in ``v``, we fly
  ``n = ceil(D / spacing)`` lines, centred on the extent. The first line is then at most
  half a spacing in from the polygon's edge, so every polygon point is within
  ``spacing / 2`` of a line — the same as any interior point between two lines. Since
  ``spacing / 2 = (across_track / 2) * (1 - side_overlap) <= across_track / 2``, every
  point lies in some line's image strip, and points near the edge get the same side
  overlap as the interior instead of being seen by a single strip.
* **Along a line.** The camera is on over every stretch where the line's *strip*
  (``|v - c| <= across_track / 2``) meets the polygon — not just where the centre line
  does — so slanted edges and corners between lines are photographed too. Photos are at
  most ``trigger_distance = along_track * (1 - front_overlap)`` apart, with one at each end
  of the stretch (as QGroundControl does), so every point of the stretch is within
  ``along_track / 2`` of a photo centre.

Holes: a line's camera stretch is split where the strip's intersection with the polygon
breaks (the hole spans the whole strip) by more than one trigger distance; a hole narrower
than the strip is flown over with the camera on, because the strip beside it still needs
images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from shapely.geometry import Polygon as ShapelyPolygon

from flight_plans import _pattern_items as _it
from flight_plans._validate import finite, non_negative
from flight_plans.camera import CameraModel, Footprint, overlap
from flight_plans.errors import InvalidValueError
from flight_plans.geodesy import GeoPoint, path_length_m
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import MavCmd, Mission, MissionItem

DO_SET_CAM_TRIGG_DIST = 206
"""MAVLink ``MAV_CMD_DO_SET_CAM_TRIGG_DIST``: param1 distance (m, 0 = stop), param3 1 = one
photo immediately."""


class SurveyTrigger(StrEnum):
    """How the survey operates the camera."""

    DISTANCE = "distance"
    """Distance triggering (``DO_SET_CAM_TRIGG_DIST``) on each camera stretch: on, with an
    immediate photo, at its start; off, with a last photo, at its end (as QGroundControl)."""
    HOVER_AND_CAPTURE = "hover_and_capture"
    """Stop at each photo point, hold, take one photo (``IMAGE_START_CAPTURE``): for
    rolling-shutter cameras or autopilots without a distance trigger."""
    NONE = "none"
    """Fly the lines without camera commands (e.g. while recording video)."""


@dataclass(frozen=True, slots=True)
class SurveyStats:
    """Numbers a planner shows next to a survey.

    Attributes:
        transect_count: lines flown.
        segment_count: camera stretches (a line split by a hole counts twice).
        photo_count: estimated photos (0 with :attr:`SurveyTrigger.NONE`).
        line_spacing_m: distance between adjacent lines.
        trigger_distance_m: distance between photos along a line.
        gsd_cm_px: ground sampling distance, centimetres per pixel.
        footprint: ground footprint of one image.
        area_m2: area of the polygon (holes excluded).
        path_length_m: geodesic length of the fragment from its first to its last waypoint.
    """

    transect_count: int
    segment_count: int
    photo_count: int
    line_spacing_m: float
    trigger_distance_m: float
    gsd_cm_px: float
    footprint: Footprint
    area_m2: float
    path_length_m: float


@dataclass(frozen=True, slots=True)
class SurveyResult:
    """A survey fragment and its numbers."""

    mission: Mission
    stats: SurveyStats


Span = tuple[float, float]
_Stop = tuple[float, float, str]  # (u, v, kind): kind in wp | on | off | capture


def _camera_spans(
    shape: ShapelyPolygon,
    along: tuple[float, float],
    right: tuple[float, float],
    v_c: float,
    half_width_m: float,
    u_range: Span,
    merge_gap_m: float,
) -> list[Span]:
    """``u`` intervals where the strip ``|v - v_c| <= half_width_m`` meets the polygon."""

    def xy(u: float, v: float) -> tuple[float, float]:
        return (u * along[0] + v * right[0], u * along[1] + v * right[1])

    lo, hi = u_range
    band = ShapelyPolygon(
        [
            xy(lo, v_c - half_width_m),
            xy(hi, v_c - half_width_m),
            xy(hi, v_c + half_width_m),
            xy(lo, v_c + half_width_m),
        ]
    )
    piece = shape.intersection(band)
    spans: list[Span] = []
    for part in getattr(piece, "geoms", [piece]):
        if part.geom_type != "Polygon" or part.area <= 0.0:
            continue  # touching points/lines: their neighbourhood is in an adjacent piece
        us = [x * along[0] + y * along[1] for x, y in part.exterior.coords]
        spans.append((min(us), max(us)))
    spans.sort()
    merged: list[Span] = []
    for s_lo, s_hi in spans:
        if merged and s_lo - merged[-1][1] <= merge_gap_m:
            merged[-1] = (merged[-1][0], max(merged[-1][1], s_hi))
        else:
            merged.append((s_lo, s_hi))
    return merged


def _line_stops(
    v_c: float,
    spans: Sequence[Span],
    direction: int,
    *,
    turnaround_m: float,
    trigger: SurveyTrigger,
    trigger_distance_m: float,
) -> list[_Stop]:
    """The stops of one line flown in ``direction`` (+1: along +u, -1: along -u)."""
    ordered = [(a, b) if direction > 0 else (b, a) for a, b in spans]
    if direction < 0:
        ordered.reverse()
    stops: list[_Stop] = []
    if turnaround_m > 0.0:
        stops.append((ordered[0][0] - direction * turnaround_m, v_c, "wp"))
    for start, end in ordered:
        if trigger is SurveyTrigger.DISTANCE:
            stops += [(start, v_c, "on"), (end, v_c, "off")]
        elif trigger is SurveyTrigger.HOVER_AND_CAPTURE:
            k = max(1, math.ceil(abs(end - start) / trigger_distance_m - 1e-9))
            stops += [(start + (end - start) * j / k, v_c, "capture") for j in range(k + 1)]
        else:
            stops += [(start, v_c, "wp"), (end, v_c, "wp")]
    if turnaround_m > 0.0:
        stops.append((ordered[-1][1] + direction * turnaround_m, v_c, "wp"))
    return stops


def _photo_count(spans: Sequence[Span], trigger: SurveyTrigger, trigger_distance_m: float) -> int:
    total = 0
    for a, b in spans:
        ratio = (b - a) / trigger_distance_m
        if trigger is SurveyTrigger.DISTANCE:
            total += math.floor(ratio + 1e-9) + 2  # entry photo, distance photos, exit photo
        elif trigger is SurveyTrigger.HOVER_AND_CAPTURE:
            total += max(1, math.ceil(ratio - 1e-9)) + 1
    return total


def survey_plan(
    polygon: GeoPolygon,
    camera: CameraModel,
    *,
    alt_rel_m: float,
    front_overlap: float = 0.7,
    side_overlap: float = 0.7,
    angle_deg: float = 0.0,
    turnaround_m: float = 10.0,
    trigger: SurveyTrigger = SurveyTrigger.DISTANCE,
    entry_from: GeoPoint | None = None,
    nadir_gimbal: bool = True,
    capture_hold_s: float = 4.0,
) -> SurveyResult:
    """A photo survey of ``polygon`` as a mission fragment, with its numbers.

    Lines run at bearing ``angle_deg`` (degrees clockwise from true north, as
    QGroundControl's survey "angle"), alternate direction (boustrophedon) and extend
    ``turnaround_m`` beyond the camera stretch at both ends so the vehicle is aligned and
    at speed when photos start. See the module docstring for the coverage argument.

    Items: ``DO_SET_ROI_NONE`` (a leftover ROI would turn the vehicle and rotate the
    footprints), ``DO_GIMBAL_MANAGER_PITCHYAW`` -90° (if ``nadir_gimbal``), then per line
    ``NAV_WAYPOINT`` s (frame ``GLOBAL_RELATIVE_ALT``) with the camera commands of
    ``trigger``. Waypoint acceptance radius is ``min(1 m, trigger_distance / 4)`` so photos
    start and stop close to where they are planned.

    Args:
        polygon: area to photograph (holes are areas that need no photos).
        camera: the camera; the footprint is computed for ``alt_rel_m`` above flat ground
            at the home elevation.
        alt_rel_m: flight altitude above home, metres (> 0).
        front_overlap: overlap of successive photos along a line, in ``[0, 1)``.
        side_overlap: overlap of adjacent lines' images, in ``[0, 1)``.
        angle_deg: bearing of the lines, degrees clockwise from true north.
        turnaround_m: run-in/run-out beyond each line's camera stretch, metres (>= 0).
        trigger: how the camera is operated.
        entry_from: if given (e.g. the launch point), start at the corner nearest to it.
        nadir_gimbal: point the gimbal straight down first (the footprint model assumes it).
        capture_hold_s: hold at each photo point with :attr:`SurveyTrigger.HOVER_AND_CAPTURE`.

    Raises:
        InvalidValueError: altitude not positive, overlap outside ``[0, 1)``, negative
            turnaround or hold, non-finite angle, unknown trigger.
    """
    alt = _it.altitude("alt_rel_m", alt_rel_m)
    front = overlap("front_overlap", front_overlap)
    side = overlap("side_overlap", side_overlap)
    angle = finite("angle_deg", angle_deg) % 360.0
    turnaround = non_negative("turnaround_m", turnaround_m)
    hold = non_negative("capture_hold_s", capture_hold_s)
    try:
        mode = SurveyTrigger(trigger)
    except ValueError:
        raise InvalidValueError("trigger", trigger, "not a SurveyTrigger") from None

    footprint = camera.footprint(alt)
    spacing = footprint.across_track_m * (1.0 - side)
    trigger_distance = footprint.along_track_m * (1.0 - front)
    frame = _it.polygon_frame(polygon)
    shape = polygon.to_local(frame)
    theta = math.radians(angle)
    along = (math.sin(theta), math.cos(theta))
    right = (math.cos(theta), -math.sin(theta))
    exterior = list(shape.exterior.coords)
    us = [x * along[0] + y * along[1] for x, y in exterior]
    vs = [x * right[0] + y * right[1] for x, y in exterior]
    v_lo, v_hi = min(vs), max(vs)
    n_lines = max(1, math.ceil((v_hi - v_lo) / spacing - 1e-9))
    v_mid = (v_lo + v_hi) / 2.0
    lines: list[tuple[float, list[Span]]] = []
    for i in range(n_lines):
        v_c = v_mid + (i - (n_lines - 1) / 2.0) * spacing
        spans = _camera_spans(
            shape,
            along,
            right,
            v_c,
            footprint.across_track_m / 2.0,
            (min(us) - 1.0, max(us) + 1.0),
            trigger_distance,
        )
        if spans:
            lines.append((v_c, spans))

    def stops_of(order: Sequence[tuple[float, list[Span]]], first_dir: int) -> list[_Stop]:
        out: list[_Stop] = []
        for i, (v_c, spans) in enumerate(order):
            direction = first_dir if i % 2 == 0 else -first_dir
            out += _line_stops(
                v_c,
                spans,
                direction,
                turnaround_m=turnaround,
                trigger=mode,
                trigger_distance_m=trigger_distance,
            )
        return out

    order, first_dir = lines, 1
    if entry_from is not None:
        ex, ey = frame.to_local(entry_from)
        best = math.inf
        for cand in (lines, lines[::-1]):
            for d in (1, -1):
                u0, v0, _ = _line_stops(
                    cand[0][0],
                    cand[0][1],
                    d,
                    turnaround_m=turnaround,
                    trigger=mode,
                    trigger_distance_m=trigger_distance,
                )[0]
                x0 = u0 * along[0] + v0 * right[0]
                y0 = u0 * along[1] + v0 * right[1]
                dist = math.hypot(x0 - ex, y0 - ey)
                if dist < best:
                    best, order, first_dir = dist, cand, d
    stops = stops_of(order, first_dir)
    points = frame.to_geo_many(
        (u * along[0] + v * right[0], u * along[1] + v * right[1]) for u, v, _ in stops
    )

    accept = min(1.0, trigger_distance / 4.0)
    items: list[MissionItem] = [_it.roi_none()]
    if nadir_gimbal:
        items.append(_it.gimbal_pitch_yaw(_it.GIMBAL_NADIR_DEG, 0.0))
    for p, (_, _, kind) in zip(points, stops, strict=True):
        if kind == "capture":
            items.append(_it.waypoint(p, alt, acceptance_radius_m=accept, hold_s=hold))
            items.append(
                MissionItem.do(
                    MavCmd.IMAGE_START_CAPTURE,
                    0.0,
                    0.0,
                    1.0,
                    math.nan,
                    math.nan,
                    math.nan,
                    math.nan,
                )
            )
            continue
        items.append(_it.waypoint(p, alt, acceptance_radius_m=accept))
        if kind == "on":
            items.append(MissionItem.do(DO_SET_CAM_TRIGG_DIST, trigger_distance, 0.0, 1.0))
        elif kind == "off":
            items.append(MissionItem.do(DO_SET_CAM_TRIGG_DIST, 0.0, 0.0, 1.0))

    stats = SurveyStats(
        transect_count=len(lines),
        segment_count=sum(len(s) for _, s in lines),
        photo_count=sum(_photo_count(s, mode, trigger_distance) for _, s in lines),
        line_spacing_m=spacing,
        trigger_distance_m=trigger_distance,
        gsd_cm_px=camera.gsd_cm_px(alt),
        footprint=footprint,
        area_m2=float(shape.area),
        path_length_m=path_length_m(points),
    )
    return SurveyResult(Mission(tuple(items)), stats)


def survey(
    polygon: GeoPolygon,
    camera: CameraModel,
    *,
    alt_rel_m: float,
    front_overlap: float = 0.7,
    side_overlap: float = 0.7,
    angle_deg: float = 0.0,
    turnaround_m: float = 10.0,
    trigger: SurveyTrigger = SurveyTrigger.DISTANCE,
    entry_from: GeoPoint | None = None,
) -> Mission:
    """The mission fragment of :func:`survey_plan` (same arguments and errors)."""
    return survey_plan(
        polygon,
        camera,
        alt_rel_m=alt_rel_m,
        front_overlap=front_overlap,
        side_overlap=side_overlap,
        angle_deg=angle_deg,
        turnaround_m=turnaround_m,
        trigger=trigger,
        entry_from=entry_from,
    ).mission
