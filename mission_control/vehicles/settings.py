"""The vehicle links' settings: one frozen, validated value built at start-up and passed in.

Every timing knob of :mod:`mission_control.vehicles` lives here (or in
:class:`~mission_control.vehicles.health.HealthThresholds`), so tests shorten a timeout by
building another value, never by patching a module constant.

MAVSDK's own base timeout (0.5 s: commands give up after 2 s, mission transfers after
2.5 s per stalled step, parameters after 3 s) is not a setting: it is only reachable
through a private C symbol, and every limit below sits above what it produces, so the
service never needs to change it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mission_control.vehicles.errors import VehicleSettingsError
from mission_control.vehicles.health import HealthThresholds

# MAVSDK 4 connection URL schemes (plain udp:// and tcp:// still work but are deprecated)
_NETWORK_SCHEMES = frozenset(("udpin", "udpout", "tcpin", "tcpout", "udp", "tcp"))
_SERIAL_SCHEMES = frozenset(("serial", "serial_flowcontrol"))


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise VehicleSettingsError("connection_urls", f"{url!r} is not a connection URL")
    parts = urlsplit(url)
    if parts.scheme in _SERIAL_SCHEMES:
        if not parts.path:
            raise VehicleSettingsError("connection_urls", f"{url!r}: expected serial:///dev/X:BAUD")
        return url
    if parts.scheme not in _NETWORK_SCHEMES:
        known = ", ".join(sorted(_NETWORK_SCHEMES | _SERIAL_SCHEMES))
        raise VehicleSettingsError(
            "connection_urls",
            f"{url!r}: scheme must be one of {known} (e.g. udpin://0.0.0.0:14540)",
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or port == 0:
        raise VehicleSettingsError("connection_urls", f"{url!r}: needs a port in 1..65535")
    return url


RATE_KINDS = frozenset(("position", "attitude", "battery", "gps", "home", "health"))
"""Telemetry whose stream rate the service can ask for (position also sets velocity and
heading: one MAVLink message carries all three)."""


def _check_rates(rates: object) -> tuple[tuple[str, float], ...]:
    if not isinstance(rates, tuple | list):
        raise VehicleSettingsError("telemetry_rates_hz", f"{rates!r}: give (kind, rate) pairs")
    out: list[tuple[str, float]] = []
    for pair in rates:
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and pair[0] in RATE_KINDS):
            raise VehicleSettingsError(
                "telemetry_rates_hz", f"{pair!r}: kind must be one of {sorted(RATE_KINDS)}"
            )
        out.append((pair[0], _positive("telemetry_rates_hz", pair[1], upper=200.0)))
    kinds = [k for k, _ in out]
    if len(set(kinds)) != len(kinds):
        raise VehicleSettingsError("telemetry_rates_hz", "a kind is listed twice")
    return tuple(out)


def _positive(name: str, value: object, *, upper: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise VehicleSettingsError(name, f"{value!r} is not a number")
    if not (math.isfinite(value) and 0 < value <= upper):
        raise VehicleSettingsError(name, f"{value!r} must be > 0 and <= {upper:g}")
    return float(value)


def _count(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise VehicleSettingsError(name, f"{value!r} must be an integer in {low}..{high}")
    return value


# MAVSDK 4.1 failed with "Could not get a MAVLink channel" above ~31 (FIELD-NOTES)
MAX_CONNECTIONS_PER_PROCESS = 30


@dataclass(frozen=True, slots=True)
class VehicleLinkSettings:
    """How the service talks to vehicles.

    Attributes:
        connection_urls: MAVSDK connection URLs the ground station listens on / dials,
            e.g. ``udpin://0.0.0.0:14540`` (PX4 SITL's API link) or ``serial:///dev/ttyUSB0:57600``.
        command_timeout_s: longest a command may take, queueing for a slot included
            (MAVSDK itself gives up on an unanswered command after 2 s).
        upload_timeout_s: longest a verified upload (every list sent, then read back) may take.
        max_concurrent_commands: MAVSDK calls in flight per vehicle; more wait for a slot,
            so a dead vehicle holds at most this many executor threads.
        executor_threads: size of the loop's default executor while the fleet runs
            (MAVSDK's asyncio API runs every blocking call there).
        telemetry_rates_hz: stream rates each vehicle is asked for when discovered
            (SET_MESSAGE_INTERVAL), as ``(kind, hz)`` pairs; kinds not listed keep the
            vehicle's defaults. PX4 sends its API link (14540) position at 50 Hz and
            attitude at 100 Hz; the defaults ask for what a command centre uses, which also
            keeps MAVSDK's per-message cost down (see ``benchmarks/bench_vehicle_links.py``).
        telemetry_batch_s: telemetry values arriving within this long are handed to the
            event loop together (one wake-up per batch; 0 wakes it per value).
        health: when a link counts as DEGRADED or LOST.
        health_period_s: how often every link's health is evaluated.
        discovery_period_s: how often the system list is re-read besides MAVSDK's
            new-system notifications (a backstop; they can precede the autopilot's
            component being known).
        status_text_history: STATUSTEXTs kept per vehicle (newest win).
        reason_window_s: a refusal carries the vehicle's STATUSTEXTs received this long
            before or after it (PX4 sends its reason just after the COMMAND_ACK).
        mode_confirm_timeout_s: how long ``arm`` waits for the heartbeat to show HOLD
            after switching a vehicle out of MISSION/RTL (see ``VehicleLink.arm``).
        identity_timeout_s: how long a new link keeps asking for the firmware version.
        drain_timeout_s: at shutdown, how long MAVSDK calls still running may take to
            finish before the MAVSDK instance is destroyed anyway.

    Raises:
        VehicleSettingsError: a value is out of range (the message names the setting).
    """

    connection_urls: tuple[str, ...] = ("udpin://0.0.0.0:14540",)
    command_timeout_s: float = 5.0
    upload_timeout_s: float = 30.0
    max_concurrent_commands: int = 4
    executor_threads: int = 64
    telemetry_rates_hz: tuple[tuple[str, float], ...] = (
        ("position", 10.0),
        ("attitude", 5.0),
        ("gps", 1.0),
    )
    telemetry_batch_s: float = 0.01
    health: HealthThresholds = field(default_factory=HealthThresholds)
    health_period_s: float = 0.25
    discovery_period_s: float = 1.0
    status_text_history: int = 32
    reason_window_s: float = 1.0
    mode_confirm_timeout_s: float = 2.0
    identity_timeout_s: float = 10.0
    drain_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        urls = self.connection_urls
        if not isinstance(urls, tuple | list) or not urls:
            raise VehicleSettingsError("connection_urls", f"{urls!r}: give at least one URL")
        object.__setattr__(self, "connection_urls", tuple(_check_url(u) for u in urls))
        if len(set(self.connection_urls)) != len(self.connection_urls):
            raise VehicleSettingsError("connection_urls", "a URL is listed twice")
        if len(self.connection_urls) > MAX_CONNECTIONS_PER_PROCESS:
            raise VehicleSettingsError(
                "connection_urls",
                f"{len(self.connection_urls)} connections: MAVSDK runs out of MAVLink channels "
                f"above ~31 per process; shard them over several service instances of at most "
                f"{MAX_CONNECTIONS_PER_PROCESS} each (one UDP port can carry many vehicles)",
            )
        for name, upper in (
            ("command_timeout_s", 600.0),
            ("upload_timeout_s", 3600.0),
            ("health_period_s", 10.0),
            ("discovery_period_s", 60.0),
            ("reason_window_s", 10.0),
            ("mode_confirm_timeout_s", 60.0),
            ("identity_timeout_s", 600.0),
            ("drain_timeout_s", 600.0),
        ):
            object.__setattr__(self, name, _positive(name, getattr(self, name), upper=upper))
        object.__setattr__(self, "telemetry_rates_hz", _check_rates(self.telemetry_rates_hz))
        batch = self.telemetry_batch_s
        if isinstance(batch, bool) or not isinstance(batch, int | float) or not 0 <= batch <= 0.1:
            raise VehicleSettingsError("telemetry_batch_s", f"{batch!r} must be in 0..0.1 s")
        object.__setattr__(self, "telemetry_batch_s", float(batch))
        _count("max_concurrent_commands", self.max_concurrent_commands, 1, 64)
        _count("executor_threads", self.executor_threads, 4, 1024)
        _count("status_text_history", self.status_text_history, 1, 10_000)
        if self.executor_threads < 2 * self.max_concurrent_commands:
            raise VehicleSettingsError(
                "executor_threads",
                f"{self.executor_threads} must be at least twice max_concurrent_commands "
                f"({self.max_concurrent_commands}), so one busy vehicle cannot fill the pool",
            )
        if not isinstance(self.health, HealthThresholds):
            raise VehicleSettingsError("health", f"{self.health!r} is not a HealthThresholds")
        if self.health_period_s >= self.health.lost_after_s:
            raise VehicleSettingsError(
                "health_period_s",
                f"{self.health_period_s:g} s must be shorter than health.lost_after_s "
                f"({self.health.lost_after_s:g} s)",
            )
