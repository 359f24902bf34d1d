"""Photo survey: line placement, coverage, camera commands, statistics."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPoint, Point
from shapely.geometry import Polygon as ShapelyPolygon

from flight_plans.camera import CameraModel
from flight_plans.errors import InvalidValueError
from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import MavCmd, MavFrame, Mission
from flight_plans.patterns import SurveyTrigger, survey, survey_plan

CENTER = GeoPoint(47.3769, 8.5417)
# 10 x 5 mm sensor behind a 5 mm lens, 4000 x 2000 px: at 50 m a 100 m x 50 m footprint
ROUND = CameraModel(10.0, 5.0, 5.0, 4000, 2000)
ONE_INCH = CameraModel(13.2, 8.8, 8.8, 5472, 3648)
TRIG = 206


def polygon_from_local(
    origin: GeoPoint,
    xy: list[tuple[float, float]],
    holes: tuple[list[tuple[float, float]], ...] = (),
) -> GeoPolygon:
    f = LocalFrame(origin)
    return GeoPolygon(tuple(f.to_geo_many(xy)), tuple(tuple(f.to_geo_many(h)) for h in holes))


RECT = [(-150.0, -100.0), (150.0, -100.0), (150.0, 100.0), (-150.0, 100.0)]


@dataclass
class Segment:
    """A camera-on stretch in local metres (start -> end)."""

    start: tuple[float, float]
    end: tuple[float, float]


def camera_segments(m: Mission, frame: LocalFrame) -> list[Segment]:
    """Camera-on stretches: from the waypoint before a trigger-on to the one before its off."""
    out: list[Segment] = []
    last: tuple[float, float] | None = None
    start: tuple[float, float] | None = None
    for it in m:
        if it.command == MavCmd.NAV_WAYPOINT:
            last = frame.to_local(GeoPoint(it.lat_deg, it.lon_deg))
        elif int(it.command) == TRIG:
            assert last is not None
            if it.param1 > 0:
                assert start is None, "trigger turned on twice"
                start = last
            else:
                assert start is not None, "trigger turned off while off"
                out.append(Segment(start, last))
                start = None
    assert start is None, "camera left on at the end of the survey"
    return out


def photo_centres(segs: list[Segment], distance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Photo centres (immediate shot at start, every distance_m, immediate shot at end) and
    the unit along-track vector of each."""
    centres: list[tuple[float, float]] = []
    dirs: list[tuple[float, float]] = []
    for s in segs:
        dx, dy = s.end[0] - s.start[0], s.end[1] - s.start[1]
        length = math.hypot(dx, dy)
        u = (dx / length, dy / length) if length > 0 else (1.0, 0.0)
        k = 0
        while k * distance_m < length:
            centres.append((s.start[0] + u[0] * k * distance_m, s.start[1] + u[1] * k * distance_m))
            dirs.append(u)
            k += 1
        centres.append(s.end)
        dirs.append(u)
    return np.array(centres), np.array(dirs)


def sample_points(shape: ShapelyPolygon, n_grid: int = 14) -> np.ndarray:
    """Vertices, points along every edge, and a grid of interior points (holes excluded)."""
    pts: list[tuple[float, float]] = []
    rings = [shape.exterior, *shape.interiors]
    for ring in rings:
        coords = list(ring.coords)
        for (x0, y0), (x1, y1) in itertools.pairwise(coords):
            for t in np.linspace(0.0, 1.0, 8, endpoint=False):
                pts.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    minx, miny, maxx, maxy = shape.bounds
    for x in np.linspace(minx, maxx, n_grid):
        for y in np.linspace(miny, maxy, n_grid):
            if shape.contains(Point(x, y)):
                pts.append((x, y))
    return np.array(pts)


def assert_covered(
    points: np.ndarray,
    centres: np.ndarray,
    dirs: np.ndarray,
    across_m: float,
    along_m: float,
    tol: float = 0.05,
) -> None:
    """Every point lies in at least one footprint rectangle (oriented along its line)."""
    rel = points[:, None, :] - centres[None, :, :]
    du = rel[:, :, 0] * dirs[None, :, 0] + rel[:, :, 1] * dirs[None, :, 1]
    dv = -rel[:, :, 0] * dirs[None, :, 1] + rel[:, :, 1] * dirs[None, :, 0]
    inside = (np.abs(du) <= along_m / 2 + tol) & (np.abs(dv) <= across_m / 2 + tol)
    missed = points[~inside.any(axis=1)]
    assert len(missed) == 0, f"{len(missed)} points not photographed, e.g. {missed[:3]}"


def line_offsets(segs: list[Segment], angle_deg: float) -> list[float]:
    """Across-track offset (to the right of angle_deg) of each segment, in flight order."""
    th = math.radians(angle_deg)
    return [s.start[0] * math.cos(th) - s.start[1] * math.sin(th) for s in segs]


def distinct_lines(offsets: list[float]) -> list[float]:
    out: list[float] = []
    for v in sorted(offsets):
        if not out or v - out[-1] > 0.5:
            out.append(v)
    return out


# -- reference cases --------------------------------------------------------------------------


def test_rectangle_reference_lines_items_and_stats() -> None:
    """300 m x 200 m, lines north-south: 10 lines 30 m apart centred on the rectangle, each
    run in 10 m before the edge, trigger on at the south edge (20 m, one photo now), off at
    the north edge (one last photo), run out 10 m; next line back south."""
    polygon = polygon_from_local(CENTER, RECT)
    result = survey_plan(
        polygon, ROUND, alt_rel_m=50.0, front_overlap=0.6, side_overlap=0.7, angle_deg=0.0
    )
    st_ = result.stats
    assert st_.transect_count == 10 and st_.segment_count == 10
    assert st_.line_spacing_m == pytest.approx(30.0)
    assert st_.trigger_distance_m == pytest.approx(20.0)
    assert st_.gsd_cm_px == pytest.approx(2.5)
    assert (st_.footprint.across_track_m, st_.footprint.along_track_m) == (100.0, 50.0)
    assert st_.photo_count == 10 * (200 // 20 + 2)
    assert st_.area_m2 == pytest.approx(60_000.0, rel=1e-6)
    assert st_.path_length_m == pytest.approx(10 * 220.0 + 9 * 30.0, abs=0.05)

    m = result.mission
    assert [int(it.command) for it in m.items[:2]] == [197, 1000]
    assert m.items[1].param1 == -90.0 and m.items[1].param2 == 0.0
    frame = LocalFrame(CENTER)
    body = m.items[2:]
    assert len(body) == 10 * 6
    for i in range(10):
        x = -135.0 + 30.0 * i
        ys = [-110.0, -100.0, 100.0, 110.0] if i % 2 == 0 else [110.0, 100.0, -100.0, -110.0]
        line = body[6 * i : 6 * i + 6]
        assert [int(it.command) for it in line] == [16, 16, TRIG, 16, TRIG, 16]
        wps = [it for it in line if it.command == MavCmd.NAV_WAYPOINT]
        for it, y in zip(wps, ys, strict=True):
            assert it.frame is MavFrame.GLOBAL_RELATIVE_ALT and it.alt_m == 50.0
            got = frame.to_local(GeoPoint(it.lat_deg, it.lon_deg))
            assert got == pytest.approx((x, y), abs=0.01)
        on, off = line[2], line[4]
        assert (on.param1, on.param2, on.param3) == (20.0, 0.0, 1.0)
        assert (off.param1, off.param2, off.param3) == (0.0, 0.0, 1.0)


def test_angle_90_runs_lines_east_west() -> None:
    """Lines at 90° cross the 200 m north-south extent: ceil(200/30) = 7 lines, 300 m long."""
    polygon = polygon_from_local(CENTER, RECT)
    result = survey_plan(polygon, ROUND, alt_rel_m=50.0, front_overlap=0.6, angle_deg=90.0)
    assert result.stats.transect_count == 7
    assert result.stats.photo_count == 7 * (300 // 20 + 2)
    segs = camera_segments(result.mission, LocalFrame(CENTER))
    for s in segs:
        assert s.start[1] == pytest.approx(s.end[1], abs=0.01)  # constant northing
        assert abs(s.end[0] - s.start[0]) == pytest.approx(300.0, abs=0.01)


def test_wide_hole_splits_the_lines_that_cross_it() -> None:
    """A hole wider than the image strip splits the lines whose whole strip it covers, and
    the camera is off over it; the rest of the polygon is still covered."""
    hole = [(-100.0, -30.0), (100.0, -30.0), (100.0, 30.0), (-100.0, 30.0)]
    polygon = polygon_from_local(CENTER, RECT, (hole,))
    result = survey_plan(polygon, ROUND, alt_rel_m=50.0, front_overlap=0.6)
    assert result.stats.transect_count == 10
    assert result.stats.segment_count == 14  # lines at x = -45, -15, 15, 45 are split
    frame = LocalFrame(CENTER)
    segs = camera_segments(result.mission, frame)
    for s in segs:
        if abs(s.start[0]) <= 50.0:
            ys = sorted((s.start[1], s.end[1]))
            assert ys[1] <= -30.0 + 0.01 or ys[0] >= 30.0 - 0.01
    shape = ShapelyPolygon(RECT, [hole])
    centres, dirs = photo_centres(segs, result.stats.trigger_distance_m)
    assert_covered(sample_points(shape), centres, dirs, 100.0, 50.0)


def test_narrow_hole_is_flown_over_with_camera_on() -> None:
    """A hole narrower than the strip does not split lines: the strip beside it needs photos."""
    hole = [(-10.0, -30.0), (10.0, -30.0), (10.0, 30.0), (-10.0, 30.0)]
    polygon = polygon_from_local(CENTER, RECT, (hole,))
    result = survey_plan(polygon, ROUND, alt_rel_m=50.0)
    assert result.stats.segment_count == result.stats.transect_count == 10


def test_hover_and_capture_items() -> None:
    """Hover-and-capture: hold 4 s then one photo at points at most a trigger distance apart."""
    polygon = polygon_from_local(CENTER, RECT)
    result = survey_plan(
        polygon,
        ROUND,
        alt_rel_m=50.0,
        front_overlap=0.6,
        trigger=SurveyTrigger.HOVER_AND_CAPTURE,
        turnaround_m=0.0,
    )
    m = result.mission
    items = list(m)
    captures = [i for i, it in enumerate(items) if it.command == MavCmd.IMAGE_START_CAPTURE]
    assert len(captures) == result.stats.photo_count == 10 * 11
    assert all(int(it.command) != TRIG for it in m)
    frame = LocalFrame(CENTER)
    prev: tuple[float, float] | None = None
    for i in captures:
        wp, cap = items[i - 1], items[i]
        assert wp.command == MavCmd.NAV_WAYPOINT and wp.param1 == 4.0
        assert (cap.param1, cap.param2, cap.param3) == (0.0, 0.0, 1.0)
        here = frame.to_local(GeoPoint(wp.lat_deg, wp.lon_deg))
        if prev is not None and abs(here[0] - prev[0]) < 0.5:  # same line
            assert math.hypot(here[0] - prev[0], here[1] - prev[1]) <= 20.0 + 1e-6
        prev = here


def test_no_trigger_and_no_turnaround() -> None:
    """NONE: no camera commands; turnaround 0: lines start at the polygon edge."""
    polygon = polygon_from_local(CENTER, RECT)
    m = survey(polygon, ROUND, alt_rel_m=50.0, trigger=SurveyTrigger.NONE, turnaround_m=0.0)
    assert set(m.commands) == {16, 197, 1000}
    first = LocalFrame(CENTER).to_local(GeoPoint(m.items[2].lat_deg, m.items[2].lon_deg))
    assert first == pytest.approx((-135.0, -100.0), abs=0.01)
    assert survey_plan(polygon, ROUND, alt_rel_m=50.0, trigger="none").stats.photo_count == 0


@pytest.mark.parametrize(
    ("entry_xy", "corner"),
    [((900.0, 900.0), (1, 1)), ((-900.0, 900.0), (-1, 1)), ((800.0, -700.0), (1, -1))],
)
def test_entry_from_starts_at_nearest_corner(
    entry_xy: tuple[float, float], corner: tuple[int, int]
) -> None:
    """The first waypoint is at the corner of the pattern nearest entry_from."""
    polygon = polygon_from_local(CENTER, RECT)
    frame = LocalFrame(CENTER)
    m = survey(polygon, ROUND, alt_rel_m=50.0, entry_from=frame.to_geo(*entry_xy))
    x, y = frame.to_local(GeoPoint(m.items[2].lat_deg, m.items[2].lon_deg))
    assert (x > 0, y > 0) == (corner[0] > 0, corner[1] > 0)
    assert abs(x) == pytest.approx(135.0, abs=0.01) and abs(y) == pytest.approx(110.0, abs=0.01)


def test_survey_across_the_antimeridian() -> None:
    """A field straddling 180°: the local frame is centred on it, not on the mean longitude."""
    origin = GeoPoint(65.0, 179.999)
    polygon = polygon_from_local(origin, RECT)
    result = survey_plan(polygon, ROUND, alt_rel_m=50.0, front_overlap=0.6)
    assert result.stats.area_m2 == pytest.approx(60_000.0, rel=1e-4)
    assert result.stats.transect_count == 10
    frame = LocalFrame(origin)
    segs = camera_segments(result.mission, frame)
    centres, dirs = photo_centres(segs, result.stats.trigger_distance_m)
    assert_covered(sample_points(ShapelyPolygon(RECT)), centres, dirs, 100.0, 50.0)


def test_survey_is_survey_plan_mission() -> None:
    """survey() is the mission of survey_plan()."""
    polygon = polygon_from_local(CENTER, RECT)
    assert (
        survey(polygon, ONE_INCH, alt_rel_m=60.0, angle_deg=30.0)
        == survey_plan(polygon, ONE_INCH, alt_rel_m=60.0, angle_deg=30.0).mission
    )


# -- properties --------------------------------------------------------------------------------


@st.composite
def survey_polygons(draw: st.DrawFn) -> tuple[GeoPoint, list[tuple[float, float]]]:
    """Convex polygons from random points, or rotated rectangles, 50-400 m across."""
    origin = draw(
        st.builds(
            GeoPoint,
            st.one_of(st.floats(-70.0, 70.0), st.sampled_from([70.0, -65.0])),
            st.floats(-179.0, 179.0),
        )
    )
    size = draw(st.floats(50.0, 400.0))
    if draw(st.booleans()):
        raw = draw(
            st.lists(st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0)), min_size=3, max_size=10)
        )
        hull = MultiPoint([(x * size, y * size) for x, y in raw]).convex_hull
        if hull.geom_type == "Polygon" and hull.area > 0.02 * size * size:
            return origin, [(float(x), float(y)) for x, y in list(hull.exterior.coords)[:-1]]
    aspect = draw(st.floats(0.05, 1.0))
    rot = math.radians(draw(st.floats(0.0, 180.0)))
    w, h = size, size * aspect
    corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
    c, s = math.cos(rot), math.sin(rot)
    return origin, [(x * c - y * s, x * s + y * c) for x, y in corners]


@settings(max_examples=40, deadline=None)
@given(
    poly=survey_polygons(),
    alt=st.floats(50.0, 120.0),
    front=st.floats(0.0, 0.8),
    side=st.floats(0.0, 0.8),
    angle=st.floats(0.0, 180.0),
    landscape=st.booleans(),
)
def test_survey_covers_polygon_with_requested_overlap(
    poly: tuple[GeoPoint, list[tuple[float, float]]],
    alt: float,
    front: float,
    side: float,
    angle: float,
    landscape: bool,
) -> None:
    """Every sampled polygon point (vertices, edges, interior) is inside a photo footprint;
    lines are exactly one spacing apart, every point within half a spacing of a line, and
    successive lines are flown in opposite directions."""
    origin, xy = poly
    polygon = polygon_from_local(origin, xy)
    camera = CameraModel(13.2, 8.8, 8.8, 5472, 3648, landscape=landscape)
    result = survey_plan(
        polygon, camera, alt_rel_m=alt, front_overlap=front, side_overlap=side, angle_deg=angle
    )
    fp = camera.footprint(alt)
    spacing = fp.across_track_m * (1 - side)
    assert result.stats.line_spacing_m == pytest.approx(spacing)
    assert result.stats.trigger_distance_m == pytest.approx(fp.along_track_m * (1 - front))

    frame = LocalFrame(origin)
    segs = camera_segments(result.mission, frame)
    assert len(segs) == result.stats.segment_count
    shape = ShapelyPolygon(xy)
    pts = sample_points(shape)
    centres, dirs = photo_centres(segs, result.stats.trigger_distance_m)
    assert_covered(pts, centres, dirs, fp.across_track_m, fp.along_track_m)

    # lines along angle_deg, one spacing apart, every point within half a spacing of one
    th = math.radians(angle)
    for s in segs:
        dx, dy = s.end[0] - s.start[0], s.end[1] - s.start[1]
        if math.hypot(dx, dy) > 1.0:
            assert abs(dx * math.cos(th) - dy * math.sin(th)) < 1e-3 * math.hypot(dx, dy) + 0.01
    offsets = distinct_lines(line_offsets(segs, angle))
    assert len(offsets) == result.stats.transect_count
    # The survey works in a frame centred on the polygon, this test in one centred on a
    # corner: grid north differs by the meridian convergence (~7e-5 rad at 70° over
    # 160 m), which shifts measured offsets by a few centimetres along a 325 m line.
    for a, b in itertools.pairwise(offsets):
        assert b - a == pytest.approx(spacing, abs=0.05)
    v = pts[:, 0] * math.cos(th) - pts[:, 1] * math.sin(th)
    nearest = np.min(np.abs(v[:, None] - np.array(offsets)[None, :]), axis=1)
    assert float(nearest.max()) <= spacing / 2 + 0.05

    # boustrophedon: consecutive lines in flight order point in opposite directions
    line_dirs: list[tuple[float, float, float]] = []  # (offset, ux, uy) per line, flight order
    for s, off in zip(segs, line_offsets(segs, angle), strict=True):
        if line_dirs and abs(line_dirs[-1][0] - off) < 0.5:
            continue
        dx, dy = s.end[0] - s.start[0], s.end[1] - s.start[1]
        n = math.hypot(dx, dy) or 1.0
        line_dirs.append((off, dx / n, dy / n))
    for (_, ax, ay), (_, bx, by) in itertools.pairwise(line_dirs):
        assert ax * bx + ay * by <= 0.0


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alt_rel_m": 0.0}, "alt_rel_m"),
        ({"alt_rel_m": -20.0}, "alt_rel_m"),
        ({"alt_rel_m": math.nan}, "alt_rel_m"),
        ({"front_overlap": 1.0}, "front_overlap"),
        ({"front_overlap": -0.1}, "front_overlap"),
        ({"side_overlap": 1.2}, "side_overlap"),
        ({"side_overlap": math.nan}, "side_overlap"),
        ({"angle_deg": math.inf}, "angle_deg"),
        ({"turnaround_m": -1.0}, "turnaround_m"),
        ({"trigger": "sometimes"}, "trigger"),
        ({"capture_hold_s": -1.0}, "capture_hold_s"),
    ],
)
def test_survey_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad survey input raises a typed error naming the field."""
    polygon = polygon_from_local(CENTER, RECT)
    args: dict[str, object] = {"alt_rel_m": 50.0}
    args.update(kwargs)
    with pytest.raises(InvalidValueError) as exc:
        survey_plan(polygon, ROUND, **args)  # type: ignore[arg-type]
    assert exc.value.field == field
