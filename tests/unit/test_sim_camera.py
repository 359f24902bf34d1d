"""The simulated camera: projection, procedural scene, burnt-in stamp and frame source."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import aclosing

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from flight_plans.geodesy import GeoPoint, LocalFrame
from sim.camera import (
    CameraPose,
    CameraSpec,
    Scene,
    Stamp,
    decode_stamp,
    project_to_image,
    render,
    stamp_region,
)
from sim.errors import SimConfigError
from sim.video import FrameSource

ORIGIN = GeoPoint(47.397743, 8.545594)
FRAME = LocalFrame(ORIGIN)
SPEC = CameraSpec()  # 640 x 360, hfov 80°
CENTRE = ((SPEC.width_px - 1) / 2, (SPEC.height_px - 1) / 2)
WALL_S = 1_795_000_000.123


def at(x_east_m: float, y_north_m: float) -> GeoPoint:
    return FRAME.to_geo(x_east_m, y_north_m)


def pose_at(
    x_east_m: float, y_north_m: float, alt_m: float = 100.0, heading_deg: float = 0.0, **kw: float
) -> CameraPose:
    p = at(x_east_m, y_north_m)
    kw.setdefault("gimbal_pitch_deg", -90.0)
    return CameraPose(p.lat_deg, p.lon_deg, alt_m, heading_deg, **kw)


def red_mask(image: NDArray[np.uint8]) -> NDArray[np.bool_]:
    b, g, r = (image[..., k].astype(int) for k in range(3))
    mask: NDArray[np.bool_] = (r > 150) & (g < 90) & (b < 90)
    return mask


def red_centroid(image: NDArray[np.uint8]) -> tuple[float, float]:
    ys, xs = np.nonzero(red_mask(image))
    assert len(xs) > 0, "no red marker in the image"
    return float(xs.mean()), float(ys.mean())


SCENE = Scene(ORIGIN, seed=7, incident=ORIGIN)


def shot(pose: CameraPose, scene: Scene = SCENE, spec: CameraSpec = SPEC) -> NDArray[np.uint8]:
    return render(scene, pose, spec, frame_no=1, wall_time_s=WALL_S, label="sys 1")


# -- projection ------------------------------------------------------------------------


def test_straight_down_above_the_incident_sees_the_marker_at_the_image_centre() -> None:
    """Nadir camera at 100 m directly above the incident: marker projects to, and is drawn at, the centre."""
    pose = pose_at(0.0, 0.0)
    u, v = project_to_image(SCENE, pose, SPEC, ORIGIN) or (math.nan, math.nan)
    assert (u, v) == pytest.approx(CENTRE, abs=0.01)
    assert red_centroid(shot(pose)) == pytest.approx(CENTRE, abs=2.0)


@pytest.mark.parametrize(
    ("x_east_m", "y_north_m", "du_sign", "dv_sign"),
    [
        (30.0, 0.0, -1, 0),  # drone east of the marker: marker appears left (west)
        (-30.0, 0.0, 1, 0),  # drone west: marker right
        (0.0, 30.0, 0, 1),  # drone north: marker below (south, image up = north)
        (0.0, -30.0, 0, -1),  # drone south: marker above
    ],
)
def test_moving_the_drone_moves_the_marker_the_opposite_way(
    x_east_m: float, y_north_m: float, du_sign: int, dv_sign: int
) -> None:
    """Heading north, nadir: 30 m of travel moves the marker 30 * f / h px against the motion."""
    expected_px = 30.0 * SPEC.focal_px / 100.0  # ≈ 114 px
    u, v = red_centroid(shot(pose_at(x_east_m, y_north_m)))
    assert u - CENTRE[0] == pytest.approx(du_sign * expected_px, abs=3.0)
    assert v - CENTRE[1] == pytest.approx(dv_sign * expected_px, abs=3.0)


@pytest.mark.parametrize(
    ("heading_deg", "gimbal_yaw_deg", "direction"),
    [
        (0.0, 0.0, (0, -1)),  # marker 30 m north, camera top = north: marker up
        (90.0, 0.0, (-1, 0)),  # camera top = east: north is left
        (0.0, 90.0, (-1, 0)),  # the gimbal's yaw adds to the heading
        (180.0, 0.0, (0, 1)),  # camera top = south: north is down
        (45.0, 225.0, (1, 0)),  # 45 + 225 = 270: camera top = west, north is right
    ],
)
def test_yawing_rotates_the_image(
    heading_deg: float, gimbal_yaw_deg: float, direction: tuple[int, int]
) -> None:
    """Yaw turns the view: a marker 30 m north of the drone moves round the image centre."""
    pose = pose_at(0.0, -30.0, heading_deg=heading_deg, gimbal_yaw_deg=gimbal_yaw_deg)
    u, v = red_centroid(shot(pose))
    r = 30.0 * SPEC.focal_px / 100.0
    assert (u - CENTRE[0], v - CENTRE[1]) == pytest.approx(
        (direction[0] * r, direction[1] * r), abs=3.0
    )


def test_higher_altitude_makes_the_marker_smaller() -> None:
    """Twice the height, half the size: the marker's area shrinks about four times."""
    area = [int(red_mask(shot(pose_at(0.0, 0.0, alt_m=h))).sum()) for h in (50.0, 100.0, 200.0)]
    assert area[0] > area[1] > area[2] > 0
    assert area[1] / area[2] == pytest.approx(4.0, rel=0.15)


@settings(max_examples=60, deadline=None)
@given(
    heading_deg=st.floats(-720.0, 720.0),
    alt_m=st.floats(20.0, 400.0),
    east_m=st.floats(-40.0, 40.0),
    north_m=st.floats(-40.0, 40.0),
)
def test_nadir_projection_preserves_distance_from_the_centre(
    heading_deg: float, alt_m: float, east_m: float, north_m: float
) -> None:
    """Looking straight down, a ground point d metres off lands f * d / h px from the centre, whatever the heading."""
    pose = pose_at(east_m, north_m, alt_m=alt_m, heading_deg=heading_deg)
    uv = project_to_image(SCENE, pose, SPEC, ORIGIN)
    assert uv is not None
    r_px = math.hypot(uv[0] - CENTRE[0], uv[1] - CENTRE[1])
    assert r_px == pytest.approx(SPEC.focal_px * math.hypot(east_m, north_m) / alt_m, abs=0.05)


def test_points_behind_the_camera_do_not_project() -> None:
    """A forward-looking camera does not see the ground point 200 m behind it."""
    pose = pose_at(0.0, 200.0, alt_m=50.0, gimbal_pitch_deg=-20.0)  # looking north
    assert project_to_image(SCENE, pose, SPEC, ORIGIN) is None


def test_sky_fills_the_top_half_at_pitch_zero_and_vanishes_looking_down() -> None:
    """At pitch 0 the horizon is the middle row; at -90 no sky is visible."""
    sky = np.array((235, 206, 160), np.uint8)
    level = shot(pose_at(0.0, 0.0, gimbal_pitch_deg=0.0))
    assert (level[100:170, 300:640] == sky).all(axis=-1).mean() > 0.99
    assert (level[200:300, 300:640] == sky).all(axis=-1).mean() == 0.0
    assert (shot(pose_at(0.0, 0.0)) == sky).all(axis=-1).sum() == 0


@pytest.mark.parametrize(
    "pose",
    [
        pose_at(0.0, 0.0, alt_m=0.0, gimbal_pitch_deg=0.0),  # on the ground, looking level
        pose_at(5.0, -3.0, alt_m=2.0, heading_deg=33.0, gimbal_pitch_deg=-5.0),
        pose_at(0.0, 0.0, alt_m=-20.0, gimbal_pitch_deg=-45.0),  # below the take-off point
        pose_at(3000.0, -4000.0, alt_m=1200.0, gimbal_pitch_deg=-30.0),  # far out and high
        pose_at(0.0, 0.0, alt_m=5000.0, gimbal_pitch_deg=0.0),  # sees thousands of blocks
    ],
)
def test_extreme_poses_render_a_full_frame(pose: CameraPose) -> None:
    """Grazing, ground-level and distant poses still give a valid, stamped frame."""
    image = shot(pose)
    assert image.shape == (360, 640, 3)
    assert image.dtype == np.uint8
    assert decode_stamp(image) == Stamp(1, round(WALL_S * 1000))


# -- scene ------------------------------------------------------------------------------


def test_the_same_seed_renders_the_same_city() -> None:
    """Equal seeds give identical frames; another seed gives another city."""
    pose = pose_at(120.0, -80.0, alt_m=80.0, heading_deg=30.0, gimbal_pitch_deg=-45.0)
    a = shot(pose, Scene(ORIGIN, seed=11))
    b = shot(pose, Scene(ORIGIN, seed=11))
    c = shot(pose, Scene(ORIGIN, seed=12))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_with_incident_moves_or_removes_the_marker() -> None:
    """The marker follows the incident; None removes it."""
    pose = pose_at(0.0, 0.0)
    moved = SCENE.with_incident(at(20.0, 0.0))
    u, v = red_centroid(shot(pose, moved))
    assert (u - CENTRE[0], v - CENTRE[1]) == pytest.approx(
        (20.0 * SPEC.focal_px / 100.0, 0.0), abs=3.0
    )
    assert red_mask(shot(pose, SCENE.with_incident(None))).sum() == 0
    assert SCENE.with_incident(None).seed == SCENE.seed


def test_the_city_is_not_red() -> None:
    """No block, roof or tree is marker-red, so red pixels mean the incident."""
    empty = Scene(ORIGIN, seed=3)
    for pose in (pose_at(0.0, 0.0, alt_m=300.0), pose_at(0.0, 0.0, gimbal_pitch_deg=-20.0)):
        assert red_mask(shot(pose, empty)).sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"seed": 1.5}, "seed"),
        ({"road_spacing_m": 10.0}, "road_spacing_m"),
        ({"incident": (47.0, 8.0)}, "incident"),
    ],
)
def test_scene_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(SimConfigError) as info:
        Scene(ORIGIN, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# -- value types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lat_deg", 91.0),
        ("lat_deg", math.nan),
        ("lon_deg", -180.5),
        ("alt_rel_m", math.inf),
        ("heading_deg", math.nan),
        ("gimbal_pitch_deg", 10.0),
        ("gimbal_pitch_deg", -91.0),
        ("gimbal_yaw_deg", math.inf),
        ("heading_deg", "north"),
    ],
)
def test_pose_validation_names_the_field(field: str, value: object) -> None:
    """A bad pose value raises SimConfigError carrying the field's name and value."""
    args: dict[str, object] = {
        "lat_deg": 47.0,
        "lon_deg": 8.0,
        "alt_rel_m": 50.0,
        "heading_deg": 0.0,
        "gimbal_pitch_deg": -45.0,
        "gimbal_yaw_deg": 0.0,
    }
    args[field] = value
    with pytest.raises(SimConfigError) as info:
        CameraPose(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"width_px": 641}, "width_px"),
        ({"width_px": 100}, "width_px"),
        ({"height_px": 5000}, "height_px"),
        ({"hfov_deg": 179.0}, "hfov_deg"),
        ({"fps": 0.0}, "fps"),
    ],
)
def test_spec_validation_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(SimConfigError) as info:
        CameraSpec(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_render_refuses_a_negative_frame_number() -> None:
    with pytest.raises(SimConfigError) as info:
        render(SCENE, pose_at(0.0, 0.0), SPEC, frame_no=-1, wall_time_s=WALL_S)
    assert info.value.field == "frame_no"


# -- stamp ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [SPEC, CameraSpec(1280, 720), CameraSpec(320, 180)])
@pytest.mark.parametrize(
    ("frame_no", "wall_time_s"), [(0, 0.0), (123_456, WALL_S), (2**32 - 1, 4_102_444_800.999)]
)
def test_stamp_round_trips_on_a_clean_render(
    spec: CameraSpec, frame_no: int, wall_time_s: float
) -> None:
    image = render(SCENE, pose_at(0.0, 0.0), spec, frame_no=frame_no, wall_time_s=wall_time_s)
    assert decode_stamp(image) == Stamp(frame_no, round(wall_time_s * 1000))


@pytest.mark.parametrize("spec", [SPEC, CameraSpec(1280, 720)])
def test_stamp_survives_jpeg_quality_50(spec: CameraSpec) -> None:
    pose = pose_at(40.0, 10.0, alt_m=60.0, heading_deg=20.0, gimbal_pitch_deg=-30.0)
    image = render(SCENE, pose, spec, frame_no=98_765, wall_time_s=WALL_S)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 50])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decode_stamp(decoded) == Stamp(98_765, round(WALL_S * 1000))
    assert decode_stamp(cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY)) == Stamp(
        98_765, round(WALL_S * 1000)
    )


def test_stamp_survives_uniform_downscaling() -> None:
    image = render(SCENE, pose_at(0.0, 0.0), CameraSpec(1280, 720), frame_no=5, wall_time_s=WALL_S)
    small = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
    assert decode_stamp(small) == Stamp(5, round(WALL_S * 1000))


def test_a_damaged_or_missing_stamp_decodes_to_none() -> None:
    """Unstamped images and a stamp with one flipped cell are refused (sync byte and CRC)."""
    image = shot(pose_at(0.0, 0.0)).copy()
    x0, y0, _, _ = stamp_region(SPEC)
    cell = 8
    for row, col in [(1, 3), (2, 20), (3, 25)]:
        damaged = image.copy()
        y, x = y0 + row * cell, x0 + col * cell
        damaged[y : y + cell, x : x + cell] = 255 - damaged[y : y + cell, x : x + cell]
        assert decode_stamp(damaged) is None
    assert decode_stamp(np.zeros((360, 640, 3), np.uint8)) is None
    noise = np.random.default_rng(1).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    assert decode_stamp(noise) is None
    assert decode_stamp(np.zeros((20, 20, 3), np.uint8)) is None


# -- frame source -----------------------------------------------------------------------


def _source(fps: float = 30.0, **kw: object) -> FrameSource:
    spec = CameraSpec(320, 180, fps=fps)
    return FrameSource(lambda: pose_at(0.0, 0.0), SCENE, spec, label="sys 9", **kw)  # type: ignore[arg-type]


async def test_frames_come_at_the_frame_rate_with_increasing_numbers() -> None:
    """At 30 fps, 7 frames after the first take about 7/30 s; numbers count up from 0."""
    source = _source(30.0)
    got = []
    t0 = time.monotonic()
    async with aclosing(source.frames()) as frames:
        async for frame in frames:
            got.append(frame)
            if len(got) == 8:
                break
    elapsed_s = time.monotonic() - t0
    assert [f.frame_no for f in got] == list(range(8))
    assert 0.2 <= elapsed_s < 0.6
    assert got[-1].image.shape == (180, 320, 3)
    assert not got[-1].image.flags.writeable
    assert decode_stamp(got[-1].image) == Stamp(7, round(got[-1].wall_time_s * 1000))
    assert source.latest() is got[-1]
    assert source.consumers == 0  # the generator cleaned up


async def test_a_slow_consumer_gets_fresh_frames_not_a_backlog() -> None:
    """Consumer 4 periods slow: each frame is rendered when asked for, never queued."""
    source = _source(20.0)
    ages_s = []
    async with aclosing(source.frames()) as frames:
        async for frame in frames:
            ages_s.append(time.monotonic() - frame.mono_time_s)
            if len(ages_s) == 4:
                break
            await asyncio.sleep(0.2)
    assert max(ages_s) < 0.05
    assert source.latest() is not None


async def test_consumers_on_the_same_tick_share_one_render() -> None:
    source = _source(20.0)

    async def take(n: int) -> list[int]:
        out = []
        async with aclosing(source.frames()) as frames:
            async for frame in frames:
                out.append(frame.frame_no)
                if len(out) == n:
                    return out
        return out

    a, b = await asyncio.gather(take(5), take(5))
    assert a == b
    assert source.latest() is not None and source.latest().frame_no == a[-1]  # type: ignore[union-attr]


async def test_no_frames_while_the_camera_is_off() -> None:
    """pose_fn returning None pauses the stream; frames resume when it returns a pose."""
    poses: list[CameraPose | None] = [None] * 3 + [pose_at(0.0, 0.0)] * 10
    source = FrameSource(lambda: poses.pop(0), SCENE, CameraSpec(320, 180, fps=50.0))
    assert source.capture() is None
    assert source.latest() is None
    async with aclosing(source.frames()) as frames:
        first = await asyncio.wait_for(anext(frames), timeout=2.0)
    assert first.frame_no == 0


async def test_a_new_scene_shows_from_the_next_frame() -> None:
    source = FrameSource(lambda: pose_at(0.0, 0.0), Scene(ORIGIN, seed=7), SPEC)
    before = source.capture()
    source.scene = source.scene.with_incident(ORIGIN)
    after = source.capture()
    assert before is not None and after is not None
    assert red_mask(before.image).sum() == 0
    assert red_centroid(after.image) == pytest.approx(CENTRE, abs=2.0)
    assert after.frame_no == before.frame_no + 1
