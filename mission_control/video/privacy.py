"""Privacy masking of live video: privacy-zone blanking and face blurring.

Two steps, both on the source's thread (see :mod:`mission_control.video.frames`):

* :meth:`PrivacyMasker.prepare` withholds a whole frame (flag :data:`FLAG_ZONE_BLANKED`)
  while the camera's ground footprint (:mod:`mission_control.video.footprint`) meets an
  airspace zone whose ED-269 ``reason`` includes ``PRIVACY`` and that is in force. Zone
  altitude bands are ignored: a camera looks into a privacy zone from outside its volume.
  Zones are projected into local frames on a 0.02° grid (so all drones of an area share
  them) and kept in one STRtree per frame; a frame then costs one footprint and one tree
  query.
* :meth:`PrivacyMasker.redact` blurs faces (flag :data:`FLAG_FACES_BLURRED`) found by
  OpenCV's Haar model ``haarcascade_frontalface_alt2`` (it finds drawn and low-resolution
  faces that ``_default`` misses) on a grey, equalised copy at most ``detect_width_px``
  wide, every ``detect_every_n`` frames per drone; boxes are carried between detections.

Both may run on several source threads at once: the zone caches are behind a lock, and
each thread gets its own classifier (``cv2.CascadeClassifier`` is not thread-safe).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import cv2
import cv2.data
import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from flight_plans.geodesy import LocalFrame
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.zones import Zone
from mission_control.video.errors import VideoSettingsError
from mission_control.video.footprint import GroundFootprint, ground_footprint
from mission_control.video.frames import CameraView, DecodedFrame, Image

__all__ = [
    "FACE_MODEL",
    "FLAG_FACES_BLURRED",
    "FLAG_ZONE_BLANKED",
    "PRIVACY_REASON",
    "PrivacyMasker",
    "PrivacySettings",
    "face_model_path",
    "is_privacy_zone",
    "privacy_zones",
]

PRIVACY_REASON: Final = "PRIVACY"
"""ED-269 ``reason`` code of privacy zones."""
FLAG_ZONE_BLANKED: Final = 1
"""Wire flag: a privacy zone blanked the frame."""
FLAG_FACES_BLURRED: Final = 2
"""Wire flag: at least one face box was blurred."""
FACE_MODEL: Final = "haarcascade_frontalface_alt2.xml"
GRID_DEG: Final = 0.02
"""Frame centres snap to this grid of latitude/longitude (≈ 2 km cells)."""
CELL_MARGIN_M: Final = 5_000.0
"""Zones are gathered this far beyond ``max_range_m`` around a cell's centre."""
MAX_CELLS: Final = 64
PIXEL_BLOCKS: Final = 7
"""A blurred face becomes at most this many blocks across (and down)."""
BLANK_BGR: Final = (48, 48, 48)
BLANK_TITLE: Final = "PRIVACY ZONE - video withheld"
CIRCLE_SEGMENTS: Final = 64


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_view(drone_id: int, frame: DecodedFrame) -> CameraView | None:
    return None


def face_model_path() -> Path:
    """Path of OpenCV's shipped ``alt2`` frontal-face Haar model."""
    return Path(cv2.data.haarcascades) / FACE_MODEL


def is_privacy_zone(zone: Zone) -> bool:
    """True if one of the zone's ``reason`` codes is ``PRIVACY`` (any case)."""
    return any(r.strip().upper() == PRIVACY_REASON for r in zone.reason)


def privacy_zones(zones: Iterable[Zone], at: datetime) -> tuple[Zone, ...]:
    """The privacy zones among ``zones`` that are in force at ``at`` (aware datetime).

    Raises:
        ZoneError: ``at`` carries no time zone.
    """
    return tuple(z for z in zones if is_privacy_zone(z) and z.active_during(at))


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """How video is masked.

    Attributes:
        faces: blur faces (live screens only; evidence recordings keep them).
        zones: withhold frames whose footprint meets a privacy zone in force.
        max_range_m: horizontal range of the camera footprint.
        detect_width_px: face detection runs on a copy at most this wide.
        detect_every_n: detect on one frame in N per drone; boxes carry over in between.
        detect_scale_factor: step between the detector's scales (larger: faster, may
            miss faces between two scales).
        min_face_px: smallest face detected, in pixels of the detection copy.
        blur_margin: each face box grows by this fraction of its size on every side.
        fail_closed: withhold frames whose camera view is unknown while any privacy zone
            is in force (anywhere: without a position nothing narrower is safe).

    Raises:
        VideoSettingsError: a value is out of range (names the field).
    """

    faces: bool = False
    zones: bool = True
    max_range_m: float = 500.0
    detect_width_px: int = 640
    detect_every_n: int = 2
    detect_scale_factor: float = 1.1
    min_face_px: int = 20
    blur_margin: float = 0.25
    fail_closed: bool = True

    def __post_init__(self) -> None:
        for name in ("faces", "zones", "fail_closed"):
            if not isinstance(getattr(self, name), bool):
                raise VideoSettingsError(name, f"{getattr(self, name)!r} must be true or false")
        for name, lo, hi in (
            ("detect_width_px", 160, 4096),
            ("detect_every_n", 1, 100),
            ("min_face_px", 20, 2000),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise VideoSettingsError(name, f"{v!r} must be an integer in [{lo}, {hi}]")
        for name, flo, fhi in (
            ("max_range_m", 1.0, 50_000.0),
            ("blur_margin", 0.0, 2.0),
            ("detect_scale_factor", 1.01, 2.0),
        ):
            v = getattr(self, name)
            ok = not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
            if not ok or not flo <= v <= fhi:
                raise VideoSettingsError(name, f"{v!r} must be a number in [{flo:g}, {fhi:g}]")


@dataclass(frozen=True, slots=True, eq=False)
class _Cell:
    """Privacy zones near one grid frame, projected into it, in an STRtree."""

    frame: LocalFrame
    reach_m: float
    zones: tuple[Zone, ...]
    tree: shapely.STRtree


@dataclass(slots=True, eq=False)
class _ZoneSet:
    """The privacy zones of one zone list and their per-frame cells."""

    token: tuple[int, ...]
    source: Sequence[Zone]  # keeps the ids in ``token`` alive (and so unique)
    zones: tuple[Zone, ...]
    index: ZoneIndex
    cells: OrderedDict[tuple[float, float], _Cell] = field(default_factory=OrderedDict)


@dataclass(slots=True, eq=False)
class _FaceTrack:
    """One drone's face boxes, as fractions ``(x0, y0, x1, y1)`` of the image size."""

    frames: int = 0
    carried: list[tuple[float, float, float, float]] = field(default_factory=list)
    last_found: list[tuple[float, float, float, float]] = field(default_factory=list)


def _grid_frame(view: CameraView) -> LocalFrame:
    lat = round(round(view.lat_deg / GRID_DEG) * GRID_DEG, 6)
    lon = round(round(view.lon_deg / GRID_DEG) * GRID_DEG, 6)
    return LocalFrame.at(max(-90.0, min(90.0, lat)), max(-180.0, min(180.0, lon)))


class PrivacyMasker:
    """Applies :class:`PrivacySettings` to frames (see the module doc).

    Args:
        settings: what to mask.
        zones: returns the current airspace zones (called once per frame: return the
            same sequence object while nothing changed, then the caches are reused).
        view_of: the camera view of a frame that carries none (e.g. from telemetry and
            :func:`~mission_control.video.footprint.estimate_view`), or None if unknown.
        clock: now, as an aware UTC datetime (zone schedules are evaluated at it).

    Raises:
        VideoSettingsError: faces are enabled and OpenCV's face model cannot be loaded.
    """

    def __init__(
        self,
        settings: PrivacySettings,
        *,
        zones: Callable[[], Sequence[Zone]],
        view_of: Callable[[int, DecodedFrame], CameraView | None] = _no_view,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self._zones = zones
        self._view_of = view_of
        self._clock = clock
        self._lock = threading.Lock()
        self._zone_set: _ZoneSet | None = None
        self._blanks: OrderedDict[tuple[int, int, str], Image] = OrderedDict()
        self._tracks: dict[int, _FaceTrack] = {}
        self._local = threading.local()
        if settings.faces:
            self._model()  # fail now, not on the first frame

    # ---- privacy zones -------------------------------------------------------------

    def prepare(self, drone_id: int, frame: DecodedFrame) -> tuple[Image, int]:
        """The frame's image, or a blanked one (read-only, shared) with
        :data:`FLAG_ZONE_BLANKED` when a privacy zone in force is in view.

        The view is ``frame.view`` if set, else ``view_of(drone_id, frame)``. An unknown
        view while any privacy zone is in force blanks the frame when ``fail_closed``.
        """
        if not self.settings.zones:
            return frame.image, 0
        zs = self._current_zones()
        if zs is None:
            return frame.image, 0
        now = self._clock()
        view = frame.view if frame.view is not None else self._view_of(drone_id, frame)
        if view is None:
            if self.settings.fail_closed and any(z.active_during(now) for z in zs.zones):
                return self._blank(frame.image, "camera view unknown"), FLAG_ZONE_BLANKED
            return frame.image, 0
        hit = self._zone_in_view(zs, view, now)
        if hit is None:
            return frame.image, 0
        return self._blank(frame.image, hit.name or hit.identifier), FLAG_ZONE_BLANKED

    def footprint(self, view: CameraView) -> GroundFootprint:
        """The footprint :meth:`prepare` tests for ``view`` (in its grid frame)."""
        return ground_footprint(
            view, max_range_m=self.settings.max_range_m, frame=_grid_frame(view)
        )

    def _current_zones(self) -> _ZoneSet | None:
        """The privacy zone set of the current zone list (None when it has none)."""
        source = self._zones()
        token = tuple(map(id, source))
        with self._lock:
            zs = self._zone_set
            if zs is None or zs.token != token:
                mine = tuple(z for z in source if is_privacy_zone(z))
                zs = _ZoneSet(token, source, mine, ZoneIndex(mine))
                self._zone_set = zs
        return zs if zs.zones else None

    def _zone_in_view(self, zs: _ZoneSet, view: CameraView, now: datetime) -> Zone | None:
        fp = self.footprint(view)
        if fp.is_empty:
            return None
        cell = self._cell(zs, fp.frame, fp.reach_m())
        hits = cell.tree.query(fp.polygon, predicate="intersects")
        for i in sorted(int(k) for k in hits):
            if cell.zones[i].active_during(now):
                return cell.zones[i]
        return None

    def _cell(self, zs: _ZoneSet, frame: LocalFrame, reach_m: float) -> _Cell:
        key = (frame.origin.lat_deg, frame.origin.lon_deg)
        with self._lock:
            cell = zs.cells.get(key)
            if cell is not None and cell.reach_m >= reach_m:
                zs.cells.move_to_end(key)
                return cell
            reach = max(reach_m * 1.5, self.settings.max_range_m + CELL_MARGIN_M)
            found = zs.index.local(zs.index.near_point(frame.origin, reach), frame)
            geoms: list[BaseGeometry] = []
            for lz in found:
                if lz.polygon is not None:
                    geoms.append(lz.polygon)
                else:  # a circle: polygon around it (circumscribed: never smaller)
                    assert lz.center_xy is not None
                    r = lz.radius_m / math.cos(math.pi / CIRCLE_SEGMENTS)
                    geoms.append(Point(lz.center_xy).buffer(r, quad_segs=CIRCLE_SEGMENTS // 4))
            tree = shapely.STRtree(geoms)
            tree.query(Point(0.0, 0.0))  # build now, under the lock: later queries only read
            cell = _Cell(frame, reach, tuple(lz.zone for lz in found), tree)
            zs.cells[key] = cell
            if len(zs.cells) > MAX_CELLS:
                zs.cells.popitem(last=False)
            return cell

    def _blank(self, like: Image, line2: str) -> Image:
        h, w = like.shape[:2]
        key = (h, w, line2)
        with self._lock:
            hit = self._blanks.get(key)
            if hit is not None:
                return hit
        img = _blank_image(h, w, line2)
        with self._lock:
            self._blanks[key] = img
            if len(self._blanks) > 16:
                self._blanks.popitem(last=False)
        return img

    # ---- faces ---------------------------------------------------------------------

    def redact(self, drone_id: int, image: Image) -> tuple[Image, int]:
        """``image`` with faces blurred on a copy (:data:`FLAG_FACES_BLURRED`), or ``image``
        itself and 0 when faces are off or none is known.

        Call it on every frame of a drone, from that drone's source thread.
        """
        if not self.settings.faces:
            return image, 0
        with self._lock:
            if any(image is b for b in self._blanks.values()):
                return image, 0  # withheld by prepare(): nothing to detect
            track = self._tracks.setdefault(drone_id, _FaceTrack())
        if track.frames % self.settings.detect_every_n == 0:
            found = self._detect(image)
            # last detection's boxes too: a face missed for one pass stays blurred
            track.carried = found + track.last_found
            track.last_found = found
        track.frames += 1
        if not track.carried:
            return image, 0
        out = image.copy()
        h, w = image.shape[:2]
        m = self.settings.blur_margin
        for fx0, fy0, fx1, fy1 in track.carried:
            bw, bh = (fx1 - fx0) * w, (fy1 - fy0) * h
            x0, x1 = max(0, int(fx0 * w - m * bw)), min(w, math.ceil(fx1 * w + m * bw))
            y0, y1 = max(0, int(fy0 * h - m * bh)), min(h, math.ceil(fy1 * h + m * bh))
            if x1 > x0 and y1 > y0:
                _pixelate(out[y0:y1, x0:x1])
        return out, FLAG_FACES_BLURRED

    def forget(self, drone_id: int) -> None:
        """Drop a drone's face boxes (its source stopped)."""
        with self._lock:
            self._tracks.pop(drone_id, None)

    def _model(self) -> cv2.CascadeClassifier:
        model: cv2.CascadeClassifier | None = getattr(self._local, "model", None)
        if model is None:
            path = face_model_path()
            model = cv2.CascadeClassifier(str(path))
            if model.empty():
                raise VideoSettingsError("faces", f"cannot load OpenCV's face model {path}")
            self._local.model = model
        return model

    def _detect(self, image: Image) -> list[tuple[float, float, float, float]]:
        h, w = image.shape[:2]
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.settings.detect_width_px / w)
        if scale < 1.0:
            size = (self.settings.detect_width_px, max(1, round(h * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        gh, gw = grey.shape[:2]
        mn = self.settings.min_face_px
        boxes = self._model().detectMultiScale(
            grey, scaleFactor=self.settings.detect_scale_factor, minNeighbors=3, minSize=(mn, mn)
        )
        return [(x / gw, y / gh, (x + bw) / gw, (y + bh) / gh) for x, y, bw, bh in boxes]


def _pixelate(roi: Image) -> None:
    """Replace ``roi`` (a view) by at most :data:`PIXEL_BLOCKS` x :data:`PIXEL_BLOCKS`
    blocks of its mean colour: no face features survive."""
    h, w = roi.shape[:2]
    small = cv2.resize(
        roi, (min(w, PIXEL_BLOCKS), min(h, PIXEL_BLOCKS)), interpolation=cv2.INTER_AREA
    )
    roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _blank_image(h: int, w: int, line2: str) -> Image:
    """A dark grey frame with :data:`BLANK_TITLE` and ``line2`` centred (read-only)."""
    img = np.full((h, w, 3), BLANK_BGR, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.35, w / 1280.0 * 1.1)
    thick = max(1, round(scale * 2))
    (tw, th), _ = cv2.getTextSize(BLANK_TITLE, font, scale, thick)
    if tw > w * 0.92:  # narrow frames: shrink to fit
        scale *= w * 0.92 / tw
        (tw, th), _ = cv2.getTextSize(BLANK_TITLE, font, scale, thick)
    gap = max(4, th)
    y = (h - gap) // 2
    cv2.putText(img, BLANK_TITLE, ((w - tw) // 2, y), font, scale, (230, 230, 230), thick, 16)
    s2 = scale * 0.8
    text2 = line2 if len(line2) <= 60 else line2[:57] + "..."
    (tw2, th2), _ = cv2.getTextSize(text2, font, s2, max(1, thick - 1))
    if tw2 > w * 0.95:
        s2 *= w * 0.95 / tw2
        (tw2, th2), _ = cv2.getTextSize(text2, font, s2, max(1, thick - 1))
    y2 = y + gap + th2
    cv2.putText(img, text2, ((w - tw2) // 2, y2), font, s2, (190, 190, 190), max(1, thick - 1), 16)
    img.flags.writeable = False
    return img
