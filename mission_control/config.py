"""The service's settings: one object, built at start-up from ``MC_*`` variables and flags.

Nothing reads the environment at import time: :func:`load_settings` builds a
:class:`Settings` (``MC_DATABASE_URL``, ``MC_PORT`` ...) and the CLI overrides fields from
its flags before handing it to :func:`mission_control.app.create_app`.
"""

from __future__ import annotations

import math
import os
import socket
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mission_control.video.errors import SourceSpecError
from mission_control.video.source_url import parse_source

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Every knob of ``mission-control serve``; environment prefix ``MC_``."""

    model_config = SettingsConfigDict(env_prefix="MC_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="address the HTTP server binds")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port (0: any free port)")
    database_url: str = Field(
        "sqlite+aiosqlite:///mission-control.db",
        description="SQLAlchemy URL: SQLite file (default) or postgresql+asyncpg://…",
    )
    vehicle_urls: tuple[str, ...] = Field(
        (), description="MAVLink URLs of real vehicles (udpin://0.0.0.0:14540 …); none: sim"
    )
    sim_vehicles: int = Field(3, ge=0, le=100, description="built-in simulated drones")
    sim_speed: float = Field(1.0, gt=0, le=100, description="simulated time speed-up")
    sim_home: tuple[float, float, float] = Field(
        (47.397743, 8.545594, 488.0),
        description="launch point of simulated drone 1: lat_deg, lon_deg, alt_amsl_m",
    )
    sim_spacing_m: float = Field(40.0, gt=0, description="distance between simulated drones")
    sim_gcs_port: int = Field(0, ge=0, le=65535, description="MAVLink port (0: a free one)")
    zone_files: tuple[str, ...] = Field((), description="zone files loaded at start-up")

    pending_ttl_s: float = Field(300.0, gt=0, description="a pending mission expires after")
    time_on_station_s: float = Field(600.0, gt=0, description="default time on station")
    battery_capacity_wh: float = Field(77.0, gt=0, description="usable energy of a full pack")
    battery_rtl_fraction: float = Field(
        0.25, ge=0, lt=1, description="in flight, RTL below this state of charge"
    )
    monitor_lookahead_s: float = Field(
        10.0, gt=0, description="airspace look-ahead of the in-flight monitor"
    )
    link_lost_after_s: float = Field(
        3.5, gt=0, le=60, description="heartbeat age (s) after which a drone's link is lost"
    )
    connect_timeout_s: float = Field(
        20.0, gt=0, description="after a restart, wait this long (s) for a flying drone's link"
    )
    max_body_bytes: int = Field(2_000_000, gt=0, description="largest accepted request body")
    demo_users: bool = Field(True, description="create one user per role when none exist")

    mqtt_url: str | None = Field(
        None,
        description="MQTT broker: mqtt://[user:pass@]host[:port] (mqtts:// TLS); unset: none",
    )
    mqtt_username: str | None = Field(None, description="MQTT user name (overrides the URL's)")
    mqtt_password: str | None = Field(None, description="MQTT password (overrides the URL's)")
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = Field(
        "auto", description="MQTT version: auto = 5, falling back to 3.1.1"
    )
    mqtt_tls_ca_file: str | None = Field(None, description="CA bundle for mqtts:// brokers")
    mqtt_tls_insecure: bool = Field(False, description="skip the broker's host-name check")
    mqtt_session_expiry_s: int = Field(
        86_400, ge=0, description="how long the broker keeps our session (and queued incidents)"
    )
    mqtt_telemetry_hz: float = Field(
        10.0, gt=0, le=50, description="MQTT telemetry messages per drone per second, at most"
    )
    mqtt_state_period_s: float = Field(
        5.0, gt=0, le=60, description="re-publish a drone's retained state at least this often"
    )
    mqtt_max_inflight: int = Field(20, ge=1, le=1000, description="QoS 1 publishes in flight")
    site: str = Field(
        "local", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the {site} level of MQTT topics"
    )
    instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="this instance's stable name (MQTT client id, leases); default host-port",
    )
    lease_ttl_s: float = Field(
        8.0, ge=1, le=300, description="a silent instance's vehicle links are taken over after"
    )
    command_timeout_s: float = Field(
        15.0, gt=0, le=120, description="wait this long for another instance to run a command"
    )

    sim_camera: Literal["none", "inproc", "rtp"] = Field(
        "inproc",
        description="built-in drones' cameras: none, in-process frames, or RTP/H.264 streams",
    )

    video_sources: dict[int, str] = Field(
        default_factory=dict,
        description="video source per drone id: sim, rtp://HOST:PORT, rtsp://…, FILE.sdp, "
        "file:PATH (JSON object in MC_VIDEO_SOURCES); others: the drone's announced stream",
    )
    video_tiers_px: tuple[int, ...] = Field(
        (0, 640, 320),
        description="JPEG widths served (0: full size); a viewer gets the "
        "smallest at least as wide as it asks",
    )
    video_jpeg_quality: int = Field(70, ge=1, le=100, description="JPEG quality of relayed frames")
    video_linger_s: float = Field(
        10.0, ge=0, le=600, description="keep a source open this long after its last viewer"
    )
    video_lag_threshold_s: float = Field(
        0.5, gt=0, le=60, description="a viewer whose frames are older than this is behind"
    )
    video_disconnect_after_s: float = Field(
        10.0, gt=0, le=600, description="close a viewer behind for this long (code 1013)"
    )
    video_overlay: bool = Field(True, description="burn drone id, time, position into frames")
    video_privacy_faces: bool = Field(False, description="blur faces in relayed video")
    video_privacy_zones: bool = Field(
        True, description="blank video while the camera sees a zone whose reason is PRIVACY"
    )
    video_default_pitch_deg: float = Field(
        -45.0, ge=-90, le=0, description="gimbal pitch assumed when no point of interest is set"
    )
    video_hfov_deg: float = Field(
        80.0, gt=1, lt=179, description="camera field of view assumed when none is announced"
    )
    video_record: bool = Field(True, description="record each mission's video as evidence")
    video_dir: str = Field("recordings", description="where evidence recordings are written")
    video_segment_s: float = Field(60.0, ge=1, le=3600, description="recording segment length")
    video_retention_days: float = Field(
        30.0, gt=0, le=36_500, description="keep recordings this long after they stop"
    )

    map_tiles_url: str | None = Field(
        None,
        description="web UI map tiles: an http(s) URL template with {z}, {x} and {y} "
        "(OpenStreetMap style, {s} for subdomains); unset: a plain grid with a scale",
    )
    map_attribution: str = Field(
        "", max_length=500, description="the tile provider's attribution shown on the map"
    )
    map_max_zoom: int = Field(19, ge=1, le=22, description="the web UI map's deepest zoom level")

    @field_validator("map_tiles_url")
    @classmethod
    def _tiles_template(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, _, rest = value.partition("://")
        host = rest.split("/", 1)[0]
        if scheme not in ("http", "https") or not host:
            raise ValueError(f"{value!r}: must be an http:// or https:// URL template")
        if any(c.isspace() or c in "\"';," for c in value):
            raise ValueError(f"{value!r}: no spaces, quotes, commas or semicolons in the URL")
        missing = [p for p in ("{z}", "{x}", "{y}") if p not in value]
        if missing:
            raise ValueError(f"{value!r}: the template lacks {', '.join(missing)}")
        return value

    @field_validator("video_sources")
    @classmethod
    def _video_ids(cls, value: dict[int, str]) -> dict[int, str]:
        for drone_id, url in value.items():
            if not 1 <= drone_id <= 255:
                raise ValueError(f"drone id {drone_id}: must be a MAVLink system id 1..255")
            if not isinstance(url, str) or not url.strip():
                raise ValueError(f"drone {drone_id}: the source must be a non-empty string")
            try:
                parse_source(url)
            except SourceSpecError as exc:
                raise ValueError(f"drone {drone_id}: {exc}") from None
        return value

    @field_validator("video_tiers_px")
    @classmethod
    def _tiers(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            raise ValueError("at least one tier (0 = full size)")
        if len(set(value)) != len(value):
            raise ValueError("tiers must be distinct")
        for w in value:
            if w != 0 and not 16 <= w <= 7680:
                raise ValueError(f"{w}: a tier is 0 (full size) or a width in 16..7680")
        return value

    @field_validator("sim_home")
    @classmethod
    def _finite_home(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        lat, lon, _ = value
        if not all(math.isfinite(v) for v in value):
            raise ValueError("lat, lon and alt must be finite")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("lat must be within ±90 and lon within ±180")
        return value

    @property
    def simulated(self) -> bool:
        """True when the built-in simulated fleet flies (no vehicle URLs given)."""
        return not self.vehicle_urls and self.sim_vehicles > 0

    @property
    def clustered(self) -> bool:
        """True when instances share work over MQTT: vehicle links are leased, one
        instance dispatches (needs a shared database, i.e. PostgreSQL, to scale out)."""
        return self.mqtt_url is not None

    @property
    def instance(self) -> str:
        """This instance's name: ``instance_id``, else ``HOST-PORT`` (``HOST-pPID`` on port 0)."""
        if self.instance_id:
            return self.instance_id
        host = "".join(c if c.isalnum() or c in "_.-" else "-" for c in socket.gethostname())
        return f"{host[:40] or 'host'}-{self.port or f'p{os.getpid()}'}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (e.g. CLI flags) on top.

    Raises:
        pydantic.ValidationError: a value is out of range or malformed.
    """
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
