"""A vehicle's recent STATUSTEXTs, and the reason it gave for refusing something.

Autopilots explain a refusal in a STATUSTEXT, not in the COMMAND_ACK or MISSION_ACK: PX4
sends "Arming denied: ..." right after its DENIED ack, ArduPilot sends "PreArm: ..." before
it. :meth:`StatusTextLog.reason_around` therefore looks at the texts received within a
window either side of the refusal, waiting out the part of the window still to come only
until a text arrives. Memory is bounded (newest texts win).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from mission_control.vehicles.convert import REFUSAL_SEVERITIES
from mission_control.vehicles.types import StatusText


class StatusTextLog:
    """The last ``maxlen`` STATUSTEXTs of one vehicle.

    Args:
        maxlen: texts kept.
        clock: monotonic seconds (the same clock the texts' ``received_s`` use).
    """

    def __init__(self, maxlen: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._texts: deque[StatusText] = deque(maxlen=maxlen)
        self._clock = clock
        self._arrived = asyncio.Event()

    def add(self, text: StatusText) -> None:
        """Keep ``text`` (dropping the oldest when full) and wake reason lookups."""
        self._texts.append(text)
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    @property
    def texts(self) -> tuple[StatusText, ...]:
        """The texts kept, oldest first."""
        return tuple(self._texts)

    def _reasons(self, since_s: float, until_s: float) -> list[str]:
        found = [
            t.text
            for t in self._texts
            if since_s <= t.received_s <= until_s and t.severity in REFUSAL_SEVERITIES
        ]
        return list(dict.fromkeys(found))  # each distinct text once, in order

    async def reason_around(self, refused_s: float, window_s: float) -> str:
        """The warnings-or-worse received within ``window_s`` of ``refused_s``, joined by "; ".

        Returns at once if there are some; otherwise waits until one arrives or the window
        after the refusal has passed. Returns "" if the vehicle said nothing.
        """
        since_s, until_s = refused_s - window_s, refused_s + window_s
        while True:
            reasons = self._reasons(since_s, until_s)
            if reasons:
                return "; ".join(reasons)
            remaining = until_s - self._clock()
            if remaining <= 0:
                return ""
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                return ""
