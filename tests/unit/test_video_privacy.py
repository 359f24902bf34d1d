"""Privacy masking: privacy-zone blanking and face blurring (mission_control.video.privacy).

Zones are real :class:`Zone` values, faces are drawn faces found by OpenCV's real Haar
model (see tests/video_images.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.typing import NDArray

from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.geometry import GeoCircle, GeoPolygon
from mission_control.airspace.zones import Period, Schedule, Zone
from mission_control.video.errors import VideoSettingsError
from mission_control.video.frames import CameraView, DecodedFrame
from mission_control.video.privacy import (
    BLANK_BGR,
    FLAG_FACES_BLURRED,
    FLAG_ZONE_BLANKED,
    PrivacyMasker,
    PrivacySettings,
    face_model_path,
    privacy_zones,
)
from tests.video_images import count_faces, face_box, faces_image, faces_px, noise_image

HOME = GeoPoint(47.397743, 8.545594)
FRAME = LocalFrame(HOME)
NOW = datetime(2026, 11, 21, 8, 3, 51, tzinfo=UTC)


def square(x_m: float, y_m: float, half_m: float) -> GeoPolygon:
    corners = ((-1, -1), (1, -1), (1, 1), (-1, 1))
    return GeoPolygon(tuple(FRAME.to_geo(x_m + half_m * a, y_m + half_m * b) for a, b in corners))


def zone(
    x_m: float,
    y_m: float,
    half_m: float = 40.0,
    *,
    reason: tuple[str, ...] = ("PRIVACY",),
    schedule: Schedule | None = None,
    name: str = "Hospital garden",
) -> Zone:
    return Zone(
        f"Z{x_m:g}_{y_m:g}",
        square(x_m, y_m, half_m),
        reason=reason,
        schedule=schedule or Schedule(),
        name=name,
    )


def nadir(x_m: float = 0.0, y_m: float = 0.0, alt_m: float = 100.0) -> CameraView:
    p = FRAME.to_geo(x_m, y_m)
    return CameraView(p.lat_deg, p.lon_deg, alt_m, 0.0, -90.0, 90.0, 60.0)


def frame_of(view: CameraView | None, image: NDArray[np.uint8] | None = None) -> DecodedFrame:
    img = noise_image(640, 360) if image is None else image
    img.flags.writeable = False
    return DecodedFrame(img, 1, NOW.timestamp(), time.monotonic(), view)


def masker(
    zones: Sequence[Zone], settings: PrivacySettings | None = None, **kw: object
) -> PrivacyMasker:
    return PrivacyMasker(
        settings or PrivacySettings(),
        zones=lambda: zones,
        clock=lambda: NOW,
        **kw,  # type: ignore[arg-type]
    )


def is_blank(img: NDArray[np.uint8]) -> bool:
    """Mostly the blank grey, with some light text in the middle band."""
    grey = np.all(img == BLANK_BGR, axis=2)
    h = img.shape[0]
    text = img[h // 3 : 2 * h // 3].max() > 150
    return bool(grey.mean() > 0.9 and text)


# ---- privacy zones --------------------------------------------------------------------


def test_privacy_zones_are_those_with_reason_privacy_in_force() -> None:
    later = Schedule((Period(NOW + timedelta(hours=1), NOW + timedelta(hours=2)),))
    a = zone(0, 0, reason=("privacy",))
    b = zone(100, 0, reason=("NOISE", "PRIVACY"))
    c = zone(200, 0, reason=("SENSITIVE",))
    d = zone(300, 0, schedule=later)
    e = zone(400, 0, reason=())
    assert privacy_zones([a, b, c, d, e], NOW) == (a, b)
    assert privacy_zones([d], NOW + timedelta(hours=1.5)) == (d,)


def test_frame_is_blanked_when_the_footprint_overlaps_a_privacy_zone() -> None:
    # nadir at 100 m, 90° x 60°: footprint x ±100 m, y ±57.7 m; zone spans x 80..160
    m = masker([zone(120.0, 0.0)])
    f = frame_of(nadir())
    out, flags = m.prepare(3, f)
    assert flags == FLAG_ZONE_BLANKED
    assert out.shape == f.image.shape and out.dtype == np.uint8
    assert is_blank(out)
    assert not out.flags.writeable  # shared: downstream draws on a copy


def test_frame_passes_when_the_zone_is_1_km_away() -> None:
    m = masker([zone(1_000.0, 0.0)])
    f = frame_of(nadir())
    out, flags = m.prepare(3, f)
    assert flags == 0 and out is f.image


def test_frame_passes_when_footprint_just_misses_the_zone() -> None:
    m = masker([zone(145.0, 0.0)])  # zone from x = 105 m, footprint to x = 100 m
    assert m.prepare(3, frame_of(nadir()))[1] == 0
    assert m.prepare(3, frame_of(nadir(x_m=10.0)))[1] == FLAG_ZONE_BLANKED


def test_frame_passes_when_the_zone_schedule_is_not_in_force() -> None:
    tomorrow = Schedule((Period(NOW + timedelta(days=1), NOW + timedelta(days=2)),))
    m = masker([zone(0.0, 0.0, schedule=tomorrow)])
    assert m.prepare(3, frame_of(nadir()))[1] == 0


def test_frame_passes_when_the_zone_reason_is_not_privacy() -> None:
    m = masker([zone(0.0, 0.0, reason=("SENSITIVE", "EMERGENCY"))])
    assert m.prepare(3, frame_of(nadir()))[1] == 0


def test_circle_privacy_zone_blanks_when_in_view() -> None:
    circle = Zone("C1", GeoCircle(FRAME.to_geo(0.0, 150.0), 100.0), reason=("PRIVACY",))
    m = masker([circle])
    assert m.prepare(3, frame_of(nadir()))[1] == FLAG_ZONE_BLANKED  # 150 - 100 < 57.7
    assert m.prepare(3, frame_of(nadir(y_m=-20.0)))[1] == 0  # 170 - 100 > 57.7


def test_oblique_camera_blanks_a_zone_ahead_but_not_behind() -> None:
    ahead, behind = zone(0.0, 350.0, 30.0), zone(0.0, -350.0, 30.0)
    p = FRAME.to_geo(0.0, 0.0)
    v = CameraView(p.lat_deg, p.lon_deg, 80.0, 0.0, -15.0, 80.0, 45.0)
    assert masker([ahead]).prepare(3, frame_of(v))[1] == FLAG_ZONE_BLANKED
    assert masker([behind]).prepare(3, frame_of(v))[1] == 0
    # beyond max_range_m ahead: not resolvable, not blanked
    far = zone(0.0, 900.0, 30.0)
    assert masker([far], PrivacySettings(max_range_m=500.0)).prepare(3, frame_of(v))[1] == 0


def test_view_of_supplies_the_view_of_frames_without_one() -> None:
    seen: list[int] = []

    def view_of(drone_id: int, frame: DecodedFrame) -> CameraView | None:
        seen.append(drone_id)
        return nadir() if drone_id == 1 else nadir(x_m=2_000.0)

    m = masker([zone(0.0, 0.0)], view_of=view_of)
    assert m.prepare(1, frame_of(None))[1] == FLAG_ZONE_BLANKED
    assert m.prepare(2, frame_of(None))[1] == 0
    assert m.prepare(2, frame_of(nadir()))[1] == FLAG_ZONE_BLANKED  # frame.view wins
    assert seen == [1, 2]


def test_unknown_view_fails_closed_while_a_privacy_zone_is_in_force() -> None:
    f = frame_of(None)
    out, flags = masker([zone(5_000.0, 0.0)]).prepare(3, f)
    assert flags == FLAG_ZONE_BLANKED and is_blank(out)
    open_ = PrivacySettings(fail_closed=False)
    assert masker([zone(5_000.0, 0.0)], open_).prepare(3, f) == (f.image, 0)
    # nothing to protect: no privacy zone, or none in force
    assert masker([zone(0.0, 0.0, reason=("NOISE",))]).prepare(3, f)[1] == 0
    past = Schedule((Period(NOW - timedelta(days=2), NOW - timedelta(days=1)),))
    assert masker([zone(0.0, 0.0, schedule=past)]).prepare(3, f)[1] == 0


def test_zones_disabled_passes_every_frame() -> None:
    f = frame_of(None)
    m = masker([zone(0.0, 0.0)], PrivacySettings(zones=False))
    assert m.prepare(3, f) == (f.image, 0)
    assert m.prepare(3, frame_of(nadir()))[1] == 0


def test_a_new_zone_list_is_used_from_the_next_frame() -> None:
    current: list[tuple[Zone, ...]] = [()]
    m = PrivacyMasker(PrivacySettings(), zones=lambda: current[0], clock=lambda: NOW)
    f = frame_of(nadir())
    assert m.prepare(3, f)[1] == 0
    current[0] = (zone(0.0, 0.0),)
    assert m.prepare(3, f)[1] == FLAG_ZONE_BLANKED
    current[0] = (zone(3_000.0, 0.0),)
    assert m.prepare(3, f)[1] == 0


def test_schedule_is_evaluated_at_the_clock_of_each_frame() -> None:
    window = Schedule((Period(NOW, NOW + timedelta(minutes=10)),))
    now = [NOW - timedelta(minutes=1)]
    zs = (zone(0.0, 0.0, schedule=window),)
    m = PrivacyMasker(PrivacySettings(), zones=lambda: zs, clock=lambda: now[0])
    f = frame_of(nadir())
    assert m.prepare(3, f)[1] == 0
    now[0] = NOW + timedelta(minutes=5)
    assert m.prepare(3, f)[1] == FLAG_ZONE_BLANKED
    now[0] = NOW + timedelta(minutes=11)
    assert m.prepare(3, f)[1] == 0


def test_a_drone_flying_across_grid_cells_keeps_finding_zones() -> None:
    """A zone is found from every cell the drone passes (zones near cell edges too)."""
    zs = [zone(float(x), 0.0, 20.0) for x in range(0, 8_001, 400)]
    m = masker(zs)
    for x in range(0, 8_001, 100):
        blank = x % 400 in (0, 100, 300)  # footprint x ±100 m meets a zone ±20 m at 400 k
        assert m.prepare(3, frame_of(nadir(x_m=float(x))))[1] == (
            FLAG_ZONE_BLANKED if blank else 0
        ), x


def test_blank_frame_keeps_the_frame_size_and_names_the_zone() -> None:
    m = masker([zone(0.0, 0.0, name="School yard")])
    for w, h in ((320, 180), (1920, 1080)):
        out, flags = m.prepare(3, frame_of(nadir(), noise_image(w, h)))
        assert flags == FLAG_ZONE_BLANKED and out.shape == (h, w, 3) and is_blank(out)
    a, _ = m.prepare(3, frame_of(nadir()))
    b, _ = masker([zone(0.0, 0.0, name="Other")]).prepare(3, frame_of(nadir()))
    assert not np.array_equal(a, b)  # the second line differs


def test_prepare_with_50_privacy_zones_costs_well_under_a_millisecond() -> None:
    zs = tuple(zone(2_000.0 + 300 * (i % 10), 2_000.0 + 300 * (i // 10), 80.0) for i in range(50))
    m = masker(zs)
    image = np.zeros((720, 1280, 3), np.uint8)
    frames = [frame_of(nadir(x_m=1.5 * k, y_m=1.5 * k, alt_m=80.0), image) for k in range(2_500)]
    m.prepare(3, frames[0])
    t0 = time.perf_counter()
    blanked = sum(m.prepare(3, f)[1] for f in frames)
    per_frame_us = (time.perf_counter() - t0) / len(frames) * 1e6
    assert blanked > 0
    assert per_frame_us < 2_000.0, per_frame_us  # measured ~150 µs


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("max_range_m", {"max_range_m": 0.0}),
        ("max_range_m", {"max_range_m": float("nan")}),
        ("detect_width_px", {"detect_width_px": 100}),
        ("detect_every_n", {"detect_every_n": 0}),
        ("min_face_px", {"min_face_px": 10}),
        ("blur_margin", {"blur_margin": -0.1}),
        ("detect_scale_factor", {"detect_scale_factor": 1.0}),
        ("faces", {"faces": 1}),
    ],
)
def test_privacy_settings_refuse_bad_values_naming_the_field(
    field: str, kw: dict[str, object]
) -> None:
    with pytest.raises(VideoSettingsError) as e:
        PrivacySettings(**kw)  # type: ignore[arg-type]
    assert e.value.field == field


# ---- faces ----------------------------------------------------------------------------

FACES = PrivacySettings(faces=True)


def changed_outside(before: NDArray[np.uint8], after: NDArray[np.uint8], w: int, h: int) -> int:
    """Changed pixels outside the drawn faces' boxes grown by 60 % of the face size."""
    inside = np.zeros((h, w), bool)
    for cx, cy, s in faces_px(w, h):
        x0, y0, x1, y1 = face_box(cx, cy, s)
        g = int(0.6 * s)
        inside[max(0, y0 - g) : y1 + g, max(0, x0 - g) : x1 + g] = True
    diff = np.any(before != after, axis=2)
    return int((diff & ~inside).sum())


@pytest.mark.parametrize(("w", "h"), [(640, 360), (1280, 720)])
def test_faces_are_blurred_beyond_detection_and_nothing_else_changes(w: int, h: int) -> None:
    image = faces_image(w, h)
    image.flags.writeable = False
    assert count_faces(image) >= 3
    out, flags = PrivacyMasker(FACES, zones=list).redact(3, image)
    assert flags == FLAG_FACES_BLURRED
    assert out is not image and count_faces(out) == 0
    assert changed_outside(image, out, w, h) == 0
    # each face really changed (its eyes are gone)
    for cx, cy, s in faces_px(w, h):
        x0, y0, x1, y1 = face_box(cx, cy, s)
        assert not np.array_equal(out[y0:y1, x0:x1], image[y0:y1, x0:x1])


def test_faces_disabled_returns_the_image_untouched() -> None:
    image = faces_image()
    out, flags = PrivacyMasker(PrivacySettings(faces=False), zones=list).redact(3, image)
    assert flags == 0 and out is image


def test_a_withheld_frame_is_not_searched_for_faces() -> None:
    m = masker([zone(0.0, 0.0)], FACES)
    blank, flags = m.prepare(3, frame_of(nadir()))
    assert flags == FLAG_ZONE_BLANKED
    assert m.redact(3, blank) == (blank, 0)


def test_no_faces_returns_the_image_itself() -> None:
    image = np.full((360, 640, 3), 90, np.uint8)
    assert PrivacyMasker(FACES, zones=list).redact(3, image) == (image, 0)


def test_boxes_carry_over_between_detections_per_drone() -> None:
    """Detection on every 2nd frame; the last detection's boxes stay one more pass."""
    m = PrivacyMasker(FACES, zones=list)
    faces, empty = faces_image(), np.full((360, 640, 3), 90, np.uint8)
    flags = [m.redact(1, img)[1] for img in (faces, empty, empty, empty, empty, empty)]
    assert flags == [2, 2, 2, 2, 0, 0]
    # the carried boxes blur where the faces were, on a frame without faces
    m2 = PrivacyMasker(FACES, zones=list)
    m2.redact(1, faces)
    out, _ = m2.redact(1, faces_image(faces=()))
    assert count_faces(out) == 0
    # another drone has its own boxes
    assert m2.redact(2, empty)[1] == 0
    m2.forget(1)
    assert m2.redact(1, empty)[1] == 0


def test_redact_on_two_threads_at_once_uses_a_model_per_thread() -> None:
    m = PrivacyMasker(PrivacySettings(faces=True, detect_every_n=1), zones=list)
    image = faces_image()
    results: dict[int, list[int]] = {1: [], 2: []}

    def work(drone_id: int) -> None:
        for _ in range(6):
            out, flags = m.redact(drone_id, image)
            results[drone_id].append(flags if count_faces(out) == 0 else -1)

    threads = [threading.Thread(target=work, args=(d,), name=f"redact-{d}") for d in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert results == {1: [2] * 6, 2: [2] * 6}


def test_face_model_is_opencvs_shipped_alt2() -> None:
    assert face_model_path().name == "haarcascade_frontalface_alt2.xml"
    assert face_model_path().is_file()
