"""Video wiring: which source each drone's camera has, and what the relay's pipeline knows.

:class:`VideoService` is the one place that ties :mod:`mission_control.video` to the rest
of the service:

* **sources** — a drone's source is, in order: the one configured for it
  (``MC_VIDEO_SOURCES`` / ``--video ID=URL``); the built-in simulated camera of a simulated
  drone; the stream the drone announces in VIDEO_STREAM_INFORMATION (PX4's camera: RTP/UDP
  H.264 on port 5600). No source → :class:`NoVideoSource` (HTTP 404).
* **context** — the pipeline runs on source threads and must not touch the loop's objects,
  so a task refreshes an immutable :class:`DroneContext` per watched drone (position,
  heading, the point of interest of its mission, the mission id) five times a second; the
  threads read the newest one (one reference read).
* **privacy** — the camera view of a frame that carries none (real drones report no gimbal
  attitude) is estimated from that context: aimed at the mission's point of interest when
  there is one, else along the heading at ``video_default_pitch_deg``.
* **status** — every source change is published on the bus (``video/{id}/source``); a
  source lost while it was up, and its return, are stored as pilot alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from mission_control.airspace.zones import Zone
from mission_control.bus import EventBus
from mission_control.config import Settings
from mission_control.domain.events import AlertSeverity
from mission_control.services.drones import DroneDirectory
from mission_control.services.missions import MissionBook
from mission_control.services.zones import ZoneRegistry
from mission_control.video.errors import NoVideoSource, SourceSpecError
from mission_control.video.footprint import estimate_view
from mission_control.video.frames import (
    CameraView,
    DecodedFrame,
    FrameSink,
    Image,
    SourceState,
    SourceStatus,
    StatusSink,
)
from mission_control.video.overlay import OverlayInfo, draw_overlay
from mission_control.video.privacy import PrivacyMasker, PrivacySettings
from mission_control.video.relay import RelaySettings, VideoRelay
from mission_control.video.source_url import SourceSpec, parse_source, source_from_stream_info
from mission_control.video.sources import SourceSettings, VideoSource
from sim.errors import SimConfigError
from sim.fleet import Fleet

__all__ = ["DroneContext", "VideoService", "VideoSourceEvent", "video_topic"]

log = logging.getLogger(__name__)

CONTEXT_PERIOD_S = 0.2
"""How often the context of watched drones is refreshed for the source threads."""

ROI_COMMAND = 195  # MAV_CMD_DO_SET_ROI_LOCATION


def video_topic(drone_id: int) -> str:
    """The bus topic of a drone's video source status."""
    return f"video/{drone_id}/source"


@dataclass(frozen=True, slots=True)
class VideoSourceEvent:
    """A drone's video source changed state (published on :func:`video_topic`)."""

    drone_id: int
    status: SourceStatus


@dataclass(frozen=True, slots=True)
class DroneContext:
    """What the pipeline knows about a drone (immutable; replaced, never changed).

    Attributes:
        lat_deg, lon_deg: last position (None: unknown).
        alt_rel_m: height above home; alt_amsl_m: above mean sea level.
        heading_deg: last heading (None: unknown).
        roi: ``(lat_deg, lon_deg, alt_agl_m)`` the camera is aimed at (the mission's
            DO_SET_ROI_LOCATION), or None.
        mission_id: the mission the drone flies, if any.
    """

    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_rel_m: float | None = None
    alt_amsl_m: float | None = None
    heading_deg: float | None = None
    roi: tuple[float, float, float] | None = None
    mission_id: str | None = None


_UNKNOWN = DroneContext()


class VideoService:
    """Sources, pipeline context and the relay (an async context manager owning them).

    Args:
        settings: the service settings (``video_*``).
        bus: where source status is published.
        drones: positions and assignments of the drones.
        zones: the airspace zones (privacy zones among them).
        book: mission reads (for the point of interest) and alerts.
        sim: the built-in simulated fleet, if it flies.
        source_settings: timing knobs of the sources (tests shorten them).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        bus: EventBus[Any],
        drones: DroneDirectory,
        zones: ZoneRegistry,
        book: MissionBook,
        sim: Fleet | None,
        source_settings: SourceSettings | None = None,
    ) -> None:
        self.settings = settings
        self._bus = bus
        self._drones = drones
        self._zones = zones
        self._book = book
        self._sim = sim
        self._source_settings = source_settings or SourceSettings()
        self._configured = _configured_sources(settings.video_sources)
        self._context: dict[int, DroneContext] = {}
        self._roi: dict[str, tuple[float, float, float] | None] = {}
        self._was_up: set[int] = set()
        self._down_alerted: set[int] = set()
        self._alert_tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.masker = PrivacyMasker(
            PrivacySettings(faces=settings.video_privacy_faces, zones=settings.video_privacy_zones),
            zones=self._zone_list,
            view_of=self._view_of,
        )
        self.relay = VideoRelay(
            RelaySettings(
                tiers_px=settings.video_tiers_px,
                jpeg_quality=settings.video_jpeg_quality,
                linger_s=settings.video_linger_s,
                lag_threshold_s=settings.video_lag_threshold_s,
                disconnect_after_s=settings.video_disconnect_after_s,
            ),
            self._open_source,
            resolve=self.source_of,
            prepare=self.masker.prepare,
            redact=self.masker.redact if settings.video_privacy_faces else None,
            annotate=self._annotate if settings.video_overlay else None,
            on_status=self._on_status,
        )

    # -- sources -------------------------------------------------------------------------------

    def source_of(self, drone_id: int) -> SourceSpec:
        """The drone's video source (see the module docstring for the order).

        Raises:
            NoVideoSource: none configured, simulated or announced.
        """
        spec = self._configured.get(drone_id)
        if spec is not None:
            if spec.kind == "sim" and self._sim_frames(drone_id, configured=True) is None:
                raise NoVideoSource(drone_id)  # "sim" for a drone the built-in sim lacks
            return spec
        if self._sim_frames(drone_id) is not None:
            return SourceSpec(kind="sim")
        link = self._drones.link(drone_id)
        info = link.video_stream if link is not None else None
        if info is not None:
            try:
                announced = source_from_stream_info(info.uri, info.stream_type, info.encoding)
            except SourceSpecError as exc:
                log.warning("drone %d announces an unusable video stream: %s", drone_id, exc)
                announced = None
            if announced is not None:
                return announced
        raise NoVideoSource(drone_id)

    def sources(self) -> dict[int, str]:
        """Every drone with a known source → its URL (credentials redacted)."""
        found: dict[int, str] = {}
        for drone_id in sorted({*self._configured, *self._drones.ids()}):
            with contextlib.suppress(NoVideoSource):
                found[drone_id] = self.source_of(drone_id).redacted()
        return found

    def _sim_frames(self, drone_id: int, *, configured: bool = False) -> Any:
        """The in-process frames of a built-in drone: by default only with
        ``sim_camera=inproc`` (with ``rtp`` the simulated cameras stream like PX4's and
        are watched through what they announce); always when ``sim`` was configured."""
        if self._sim is None or not (configured or self.settings.sim_camera == "inproc"):
            return None
        try:
            return self._sim.vehicle(drone_id).frames
        except SimConfigError:  # not one of the simulated drones
            return None

    def _open_source(self, drone_id: int, sink: FrameSink, on_status: StatusSink) -> VideoSource:
        spec = self.source_of(drone_id)
        return VideoSource(
            spec,
            sink,
            on_status,
            self._source_settings,
            label=f"drone-{drone_id}",
            sim_frames=self._sim_frames(drone_id, configured=True) if spec.kind == "sim" else None,
        )

    # -- status --------------------------------------------------------------------------------

    def _on_status(self, drone_id: int, status: SourceStatus) -> None:
        self._bus.publish(video_topic(drone_id), VideoSourceEvent(drone_id, status))
        if status.state is SourceState.UP:
            self._was_up.add(drone_id)
            if drone_id in self._down_alerted:
                self._down_alerted.discard(drone_id)
                self._alert(drone_id, AlertSeverity.INFO, f"video from drone {drone_id} is back")
        elif status.state is SourceState.DOWN and drone_id in self._was_up:
            self._was_up.discard(drone_id)
            self._down_alerted.add(drone_id)
            self._alert(
                drone_id,
                AlertSeverity.WARNING,
                f"video from drone {drone_id} lost ({status.reason}); reconnecting",
            )
        elif status.state is SourceState.STOPPED:  # nobody watches: not an alert
            self._was_up.discard(drone_id)
            self._down_alerted.discard(drone_id)

    def _alert(self, drone_id: int, severity: AlertSeverity, text: str) -> None:
        mission_id = self._drones.assigned_to(drone_id)

        async def store() -> None:
            try:
                await self._book.alert(severity, text, drone_id=drone_id, mission_id=mission_id)
            except Exception:  # the store may be closing; the bus already has the status
                log.exception("drone %d: could not store the video alert", drone_id)

        task = asyncio.get_running_loop().create_task(store(), name=f"video-alert-{drone_id}")
        self._alert_tasks.add(task)
        task.add_done_callback(self._alert_tasks.discard)

    # -- pipeline context (read on source threads) -----------------------------------------------

    def context(self, drone_id: int) -> DroneContext:
        """The newest context of a drone (safe from any thread)."""
        return self._context.get(drone_id, _UNKNOWN)

    def _zone_list(self) -> tuple[Zone, ...]:
        return self._zones.zones

    def _view_of(self, drone_id: int, frame: DecodedFrame) -> CameraView | None:
        ctx = self.context(drone_id)
        if ctx.lat_deg is None or ctx.lon_deg is None or ctx.alt_rel_m is None:
            return None
        h, w = frame.image.shape[:2]
        return estimate_view(
            ctx.lat_deg,
            ctx.lon_deg,
            max(ctx.alt_rel_m, 0.0),
            ctx.heading_deg or 0.0,
            roi=ctx.roi,
            default_pitch_deg=self.settings.video_default_pitch_deg,
            hfov_deg=self._hfov(drone_id),
            aspect=w / h if h else 16 / 9,
        )

    def _hfov(self, drone_id: int) -> float:
        link = self._drones.link(drone_id)
        info = link.video_stream if link is not None else None
        if info is not None and 1.0 < info.hfov_deg < 179.0:
            return info.hfov_deg
        return self.settings.video_hfov_deg

    def _annotate(self, image: Image, frame: DecodedFrame, drone_id: int) -> bool:
        ctx = self.context(drone_id)
        if frame.view is not None and ctx.lat_deg is None:  # sim camera before telemetry
            ctx = DroneContext(frame.view.lat_deg, frame.view.lon_deg, frame.view.alt_agl_m)
        draw_overlay(
            image,
            OverlayInfo(
                drone_id=drone_id,
                capture_unix_s=frame.capture_unix_s,
                lat_deg=ctx.lat_deg,
                lon_deg=ctx.lon_deg,
                alt_rel_m=ctx.alt_rel_m,
                alt_amsl_m=ctx.alt_amsl_m,
                heading_deg=ctx.heading_deg,
                mission_id=ctx.mission_id,
            ),
        )
        return True

    async def _refresh(self) -> None:
        while True:
            watched = {c.drone_id for c in self.relay.channels()}
            for drone_id in watched:
                self._context[drone_id] = await self._context_now(drone_id)
            for drone_id in set(self._context) - watched:
                del self._context[drone_id]
            await asyncio.sleep(CONTEXT_PERIOD_S)

    async def _context_now(self, drone_id: int) -> DroneContext:
        snap = self._drones.snapshot(drone_id)
        mission_id = self._drones.assigned_to(drone_id)
        roi = await self._roi_of(mission_id) if mission_id else None
        if snap is None:
            return DroneContext(roi=roi, mission_id=mission_id)
        link = self._drones.link(drone_id)
        heading = link.latest("heading") if link is not None else None
        return DroneContext(
            lat_deg=snap.lat_deg,
            lon_deg=snap.lon_deg,
            alt_rel_m=snap.alt_rel_m,
            alt_amsl_m=snap.alt_amsl_m,
            heading_deg=getattr(heading, "heading_deg", None),
            roi=roi,
            mission_id=mission_id,
        )

    async def _roi_of(self, mission_id: str) -> tuple[float, float, float] | None:
        if mission_id not in self._roi:
            roi = None
            with contextlib.suppress(Exception):  # unknown mission: no point of interest
                mission = await self._book.mission(mission_id)
                for item in mission.plan.mission.items:
                    if int(item.command) == ROI_COMMAND and item.position is not None:
                        p = item.position
                        roi = (p.lat_deg, p.lon_deg, float(item.alt_m))
                        break
            if len(self._roi) > 256:
                self._roi.clear()
            self._roi[mission_id] = roi
        return self._roi[mission_id]

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.relay.__aenter__()
        self._task = asyncio.create_task(self._refresh(), name="video-context")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.relay.__aexit__(exc_type, exc, tb)
        finally:
            tasks = list(self._alert_tasks)
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)


def _configured_sources(raw: Mapping[int, str]) -> dict[int, SourceSpec]:
    """Parse the configured sources up front, so a typo fails at start-up.

    Raises:
        SourceSpecError: naming the drone and what is wrong with its source.
    """
    specs: dict[int, SourceSpec] = {}
    for drone_id, text in raw.items():
        try:
            specs[drone_id] = parse_source(text)
        except SourceSpecError as exc:
            raise SourceSpecError(
                f"video_sources[{drone_id}].{exc.field}", exc.value, exc.reason
            ) from None
    return specs
