"""Telemetry stream rates: PX4's defaults per link mode, changed by SET_MESSAGE_INTERVAL.

Rates are PX4 v1.16's ``configure_streams_to_default`` figures for the messages the
simulator emits. ``normal`` is what PX4 sends a ground station (its 14550 link); ``onboard``
is its API link (14540), with position at 50 Hz and attitude at 100 Hz. Rates are in wall
time: a speed-up factor makes the flight faster, not the telemetry denser.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Literal

from sim._mav import mavlink
from sim.errors import SimConfigError

RateProfile = Literal["normal", "onboard"]

_M = mavlink
PROFILES: Mapping[str, Mapping[int, float]] = {
    "normal": {
        _M.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
        _M.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
        _M.MAVLINK_MSG_ID_BATTERY_STATUS: 0.5,
        _M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 5.0,
        _M.MAVLINK_MSG_ID_ATTITUDE: 15.0,
        _M.MAVLINK_MSG_ID_GPS_RAW_INT: 5.0,
        _M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
        _M.MAVLINK_MSG_ID_VFR_HUD: 4.0,
        _M.MAVLINK_MSG_ID_HOME_POSITION: 0.5,
        _M.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
        _M.MAVLINK_MSG_ID_FENCE_STATUS: 1.0,
    },
    "onboard": {
        _M.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
        _M.MAVLINK_MSG_ID_SYS_STATUS: 5.0,
        _M.MAVLINK_MSG_ID_BATTERY_STATUS: 0.5,
        _M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 50.0,
        _M.MAVLINK_MSG_ID_ATTITUDE: 100.0,
        _M.MAVLINK_MSG_ID_GPS_RAW_INT: 5.0,
        _M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 5.0,
        _M.MAVLINK_MSG_ID_VFR_HUD: 10.0,
        _M.MAVLINK_MSG_ID_HOME_POSITION: 0.5,
        _M.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
        _M.MAVLINK_MSG_ID_FENCE_STATUS: 1.0,
    },
}
# messages that exist only on request (REQUEST_MESSAGE) unless an interval is set
ON_REQUEST = frozenset((_M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,))
MAX_RATE_HZ = 200.0


class StreamSchedule:
    """Which message is due when. Intervals in seconds; ``tick`` yields due message ids.

    A stream faster than the tick rate is sent once per tick (never in bursts).
    """

    def __init__(self, profile: RateProfile = "normal", *, phase_s: float = 0.0) -> None:
        if profile not in PROFILES:
            raise SimConfigError("rates", profile, f"must be one of {sorted(PROFILES)}")
        self.profile = profile
        self._default = PROFILES[profile]
        self._interval: dict[int, float] = {m: 1.0 / hz for m, hz in self._default.items()}
        # spread vehicles' streams so 50 heartbeats do not leave in the same millisecond
        self._next: dict[int, float] = dict.fromkeys(self._interval, phase_s)

    @property
    def streamable(self) -> frozenset[int]:
        return frozenset(self._default) | ON_REQUEST

    def rate_hz(self, msg_id: int) -> float:
        iv = self._interval.get(msg_id)
        return 0.0 if iv is None else 1.0 / iv

    def set_interval(self, msg_id: int, interval_us: float, now_s: float) -> bool:
        """SET_MESSAGE_INTERVAL: -1 stops, 0 restores the default, > 0 sets it.

        Returns False for a message this vehicle cannot stream (the face answers UNSUPPORTED).
        """
        if msg_id not in self.streamable or not math.isfinite(interval_us):
            return False
        if interval_us < 0:
            self._interval.pop(msg_id, None)
            self._next.pop(msg_id, None)
            return True
        if interval_us == 0:
            hz = self._default.get(msg_id)
            if hz is None:
                self._interval.pop(msg_id, None)
                self._next.pop(msg_id, None)
                return True
            interval_s = 1.0 / hz
        else:
            interval_s = max(interval_us / 1e6, 1.0 / MAX_RATE_HZ)
        self._interval[msg_id] = interval_s
        self._next[msg_id] = now_s
        return True

    def due(self, now_s: float) -> Iterator[int]:
        """Message ids due at ``now_s`` (each at most once); schedules their next send."""
        for msg_id, t in list(self._next.items()):
            if t <= now_s:
                iv = self._interval[msg_id]
                nxt = t + iv
                # fell behind (a slow tick or a fast stream): resume from now, no burst
                self._next[msg_id] = nxt if nxt > now_s else now_s + iv
                yield msg_id
