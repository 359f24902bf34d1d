"""Link health of one vehicle: a pure state machine fed with arrival times.

The link adapter tells a :class:`LinkHealth` when a HEARTBEAT arrived (:meth:`heartbeat`)
and when any telemetry message arrived (:meth:`message`), and asks it on a timer
(:meth:`evaluate`) whether the link changed state. Nothing here reads a clock, sleeps or
touches a socket: every call takes ``now_s``, a ``time.monotonic()`` reading in seconds, so
tests drive it with plain numbers.

States (:class:`~mission_control.vehicles.types.LinkState`), judged at each evaluation:

- LOST when the last heartbeat is older than ``lost_after_s``;
- DEGRADED when it is older than ``degraded_after_s``, or when the telemetry message rate
  over the last ``rate_window_s`` is below ``min_rate_hz``;
- CONNECTED otherwise.

A vehicle starts CONNECTED (it was discovered by a heartbeat). From LOST, a new heartbeat
brings it back (the service calls this "restored"; the event's ``previous`` is LOST). The
rate is judged only once a full window has passed since the link started or was restored,
so a fresh link is not DEGRADED merely because its window is still filling.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from mission_control.errors import MissionControlError
from mission_control.vehicles.types import LinkEvent, LinkState

MAX_RATE_SAMPLES = 4096
"""Arrival times kept for the rate; rates above ``MAX_RATE_SAMPLES / rate_window_s``
(2048 Hz with the default window) are reported as that ceiling."""


class LinkHealthError(MissionControlError, ValueError):
    """A link-health threshold or timestamp is invalid.

    Attributes:
        field: what was wrong (e.g. ``"lost_after_s"``, ``"now_s"``).
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _check_number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LinkHealthError(field, f"{value!r} is not a number")
    if not math.isfinite(value):
        raise LinkHealthError(field, f"{value!r} is not finite")
    return float(value)


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """When a link counts as DEGRADED or LOST.

    The defaults declare a silent vehicle LOST within 3.5 s (the service promises under 5 s)
    and DEGRADED after 1.5 s, i.e. after missing one heartbeat at PX4's 1 Hz.

    Attributes:
        degraded_after_s: heartbeat age (s) beyond which the link is DEGRADED.
        lost_after_s: heartbeat age (s) beyond which the link is LOST.
        min_rate_hz: telemetry messages per second below which the link is DEGRADED
            (0 disables the rate check).
        rate_window_s: the trailing window (s) the rate is measured over.

    Raises:
        LinkHealthError: a value is not a finite number, or not
            ``0 < degraded_after_s < lost_after_s``, ``min_rate_hz >= 0``,
            ``rate_window_s > 0``.
    """

    degraded_after_s: float = 1.5
    lost_after_s: float = 3.5
    min_rate_hz: float = 2.0
    rate_window_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("degraded_after_s", "lost_after_s", "min_rate_hz", "rate_window_s"):
            object.__setattr__(self, name, _check_number(name, getattr(self, name)))
        if self.degraded_after_s <= 0:
            raise LinkHealthError("degraded_after_s", f"{self.degraded_after_s:g} must be > 0")
        if self.lost_after_s <= self.degraded_after_s:
            raise LinkHealthError(
                "lost_after_s",
                f"{self.lost_after_s:g} must be greater than "
                f"degraded_after_s={self.degraded_after_s:g}",
            )
        if self.min_rate_hz < 0:
            raise LinkHealthError("min_rate_hz", f"{self.min_rate_hz:g} must be >= 0")
        if self.rate_window_s <= 0:
            raise LinkHealthError("rate_window_s", f"{self.rate_window_s:g} must be > 0")


class LinkHealth:
    """The link-health state machine of one vehicle.

    Times are monotonic seconds. The object's clock only moves forward: a ``now_s`` earlier
    than one already seen counts as that latest time (an adapter may read the clock before
    an ``await`` and report after another call did), so ages are never negative.

    Memory is bounded: at most :data:`MAX_RATE_SAMPLES` arrival times, pruned to the window.

    Args:
        system_id: the vehicle's MAVLink system id (copied into every event).
        thresholds: when the link counts as DEGRADED or LOST.
        now_s: when the vehicle was discovered (its first heartbeat); it starts CONNECTED.

    Raises:
        LinkHealthError: ``now_s`` is not a finite number.
    """

    __slots__ = (
        "_arrivals",
        "_clock_s",
        "_last_heartbeat_s",
        "_rate_since_s",
        "_state",
        "_system_id",
        "_thresholds",
    )

    def __init__(self, system_id: int, thresholds: HealthThresholds, now_s: float) -> None:
        start_s = _check_number("now_s", now_s)
        self._system_id = system_id
        self._thresholds = thresholds
        self._state = LinkState.CONNECTED
        self._clock_s = start_s
        self._last_heartbeat_s = start_s
        # The rate is judged once a whole window has passed since this time.
        self._rate_since_s = start_s
        self._arrivals: deque[float] = deque(maxlen=MAX_RATE_SAMPLES)

    @property
    def system_id(self) -> int:
        return self._system_id

    @property
    def thresholds(self) -> HealthThresholds:
        return self._thresholds

    @property
    def state(self) -> LinkState:
        """The state found by the last :meth:`evaluate` (CONNECTED before the first)."""
        return self._state

    def heartbeat(self, now_s: float) -> None:
        """Record that a HEARTBEAT arrived at ``now_s``.

        A heartbeat does not count towards the message rate; report it with
        :meth:`message` too if it should.

        Raises:
            LinkHealthError: ``now_s`` is not finite.
        """
        self._last_heartbeat_s = self._advance(now_s)

    def message(self, now_s: float) -> None:
        """Record that a telemetry message arrived at ``now_s`` (counts towards the rate).

        Raises:
            LinkHealthError: ``now_s`` is not finite.
        """
        now = self._advance(now_s)
        self._arrivals.append(now)
        self._prune(now)

    def heartbeat_age_s(self, now_s: float) -> float:
        """Seconds since the last heartbeat (the discovery counts as one), never negative.

        Raises:
            LinkHealthError: ``now_s`` is not finite.
        """
        return self._advance(now_s) - self._last_heartbeat_s

    def rate_hz(self, now_s: float) -> float:
        """Telemetry messages per second over the trailing ``rate_window_s``.

        Counts arrivals in ``(now_s - rate_window_s, now_s]``; while the first window is
        still filling this under-reads (the state machine does not judge it then).

        Raises:
            LinkHealthError: ``now_s`` is not finite.
        """
        now = self._advance(now_s)
        self._prune(now)
        return len(self._arrivals) / self._thresholds.rate_window_s

    def evaluate(self, now_s: float) -> LinkEvent | None:
        """Judge the link at ``now_s``; return a :class:`LinkEvent` only if its state changed.

        Raises:
            LinkHealthError: ``now_s`` is not finite.
        """
        now = self._advance(now_s)
        t = self._thresholds
        age_s = now - self._last_heartbeat_s
        if age_s > t.lost_after_s:
            new = LinkState.LOST
        else:
            if self._state is LinkState.LOST:
                # Restored by a heartbeat: the rate window starts again from it, since the
                # messages missed while lost say nothing about the link now.
                self._rate_since_s = self._last_heartbeat_s
            if age_s > t.degraded_after_s or self._rate_too_low(now):
                new = LinkState.DEGRADED
            else:
                new = LinkState.CONNECTED
        if new is self._state:
            return None
        previous, self._state = self._state, new
        return LinkEvent(
            system_id=self._system_id,
            state=new,
            previous=previous,
            heartbeat_age_s=age_s,
            at_s=now,
        )

    def _rate_too_low(self, now: float) -> bool:
        t = self._thresholds
        if t.min_rate_hz == 0 or now - self._rate_since_s < t.rate_window_s:
            return False
        self._prune(now)
        return len(self._arrivals) / t.rate_window_s < t.min_rate_hz

    def _advance(self, now_s: float) -> float:
        now = _check_number("now_s", now_s)
        if now > self._clock_s:
            self._clock_s = now
        return self._clock_s

    def _prune(self, now: float) -> None:
        horizon = now - self._thresholds.rate_window_s
        arrivals = self._arrivals
        while arrivals and arrivals[0] <= horizon:
            arrivals.popleft()

    def __repr__(self) -> str:
        return f"LinkHealth(system_id={self._system_id}, state={self._state.value})"
