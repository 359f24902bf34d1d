"""What the service knows about a vehicle, in our own types (never MAVSDK's).

Frozen value objects with unit-suffixed fields; altitudes say their datum. Every sample
carries the monotonic time it was received (``received_s``), so staleness can be judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LinkState(StrEnum):
    CONNECTED = "connected"
    DEGRADED = "degraded"
    LOST = "lost"


class FlightMode(StrEnum):
    UNKNOWN = "unknown"
    READY = "ready"
    TAKEOFF = "takeoff"
    HOLD = "hold"
    MISSION = "mission"
    RETURN_TO_LAUNCH = "return_to_launch"
    LAND = "land"
    OFFBOARD = "offboard"
    FOLLOW_ME = "follow_me"
    MANUAL = "manual"
    ALTCTL = "altctl"
    POSCTL = "posctl"
    ACRO = "acro"
    STABILIZED = "stabilized"


class LandedState(StrEnum):
    UNKNOWN = "unknown"
    ON_GROUND = "on_ground"
    IN_AIR = "in_air"
    TAKING_OFF = "taking_off"
    LANDING = "landing"


@dataclass(frozen=True, slots=True)
class VehicleIdentity:
    """Who the vehicle is: system id, autopilot ("px4", "ardupilot"...), type, firmware."""

    system_id: int
    autopilot: str
    vehicle_type: str
    firmware_version: str | None = None


@dataclass(frozen=True, slots=True)
class Position:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_home_m: float
    received_s: float


@dataclass(frozen=True, slots=True)
class VelocityNed:
    north_m_s: float
    east_m_s: float
    down_m_s: float
    received_s: float


@dataclass(frozen=True, slots=True)
class Attitude:
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    received_s: float


@dataclass(frozen=True, slots=True)
class Heading:
    heading_deg: float
    received_s: float


@dataclass(frozen=True, slots=True)
class Battery:
    remaining_pct: float
    voltage_v: float
    received_s: float


@dataclass(frozen=True, slots=True)
class Gps:
    fix_type: str  # "no_gps", "no_fix", "fix_2d", "fix_3d", "fix_dgps", "rtk_float", "rtk_fixed"
    satellites: int
    received_s: float


@dataclass(frozen=True, slots=True)
class Home:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    received_s: float


@dataclass(frozen=True, slots=True)
class MissionProgress:
    current: int
    total: int
    received_s: float


@dataclass(frozen=True, slots=True)
class FenceStatus:
    breached: bool
    breach_count: int
    breach_type: str  # "none", "min_alt", "max_alt", "boundary"
    received_s: float


@dataclass(frozen=True, slots=True)
class Health:
    gyro_ok: bool
    accel_ok: bool
    mag_ok: bool
    local_position_ok: bool
    global_position_ok: bool
    home_position_ok: bool
    armable: bool
    received_s: float


@dataclass(frozen=True, slots=True)
class Modes:
    """Flight mode, armed and landed state together (they arrive with the heartbeat)."""

    flight_mode: FlightMode
    armed: bool
    landed_state: LandedState
    received_s: float


@dataclass(frozen=True, slots=True)
class StatusText:
    severity: str  # "emergency" .. "debug"
    text: str
    received_s: float


Sample = (
    Position
    | VelocityNed
    | Attitude
    | Heading
    | Battery
    | Gps
    | Home
    | MissionProgress
    | FenceStatus
    | Health
    | Modes
    | StatusText
)


@dataclass(frozen=True, slots=True)
class TelemetryEvent:
    """A new sample of one vehicle, as published on the event bus."""

    system_id: int
    sample: Sample


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A vehicle's link changed state (``DISCOVERED`` vehicles start CONNECTED)."""

    system_id: int
    state: LinkState
    previous: LinkState | None
    heartbeat_age_s: float
    at_s: float


@dataclass(frozen=True, slots=True)
class VideoStreamInfo:
    """A camera stream the vehicle announced (MAVLink VIDEO_STREAM_INFORMATION).

    Attributes:
        stream_id: the stream's id on its camera (1-based).
        uri: where to get it (``rtsp://...``, ``udp://host:port`` or a bare port).
        stream_type: ``MAV_VIDEO_STREAM_TYPE`` (0 RTSP, 1 RTP/UDP, 2 TCP MPEG, 3 MPEG-TS).
        encoding: ``VIDEO_STREAM_ENCODING`` (1 H.264, 2 H.265; 0 unknown).
        width_px, height_px, fps: the announced resolution and frame rate (0: unknown).
        hfov_deg: horizontal field of view (0: unknown).
        name: the stream's name.
        received_s: monotonic time of reception.
    """

    stream_id: int
    uri: str
    stream_type: int
    encoding: int
    width_px: int
    height_px: int
    fps: float
    hfov_deg: float
    name: str
    received_s: float
