"""One ``/ws/telemetry`` client's side of the hub: its latest-wins buffer, sender and lag rules.

A :class:`TelemetryClient` is made by :class:`~mission_control.api.telemetry_hub.TelemetryHub`
(which offers it every new :class:`Entry`) and driven by :meth:`TelemetryClient.run` with any
``send(text)`` coroutine function, so tests drive it without sockets. The wire format and
the lag rules are described in :mod:`mission_control.api.telemetry_hub`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from mission_control.api.lag import BehindWindow
from mission_control.api.telemetry_json import TelemetryStreamError, encode_json

Key = tuple[int, str]
"""(drone id, kind)."""
Send = Callable[[str], Awaitable[None]]
"""Sends one text message to the client."""


class HubSettingsError(TelemetryStreamError, ValueError):
    """A setting or a client filter is invalid.

    Attributes:
        field: its name (``"lag_threshold_s"``, ``"kinds"``...).
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class HubClosed(TelemetryStreamError):
    """The hub is not running (not started yet, or stopped)."""


class ClientLagging(TelemetryStreamError):
    """A client was behind for too long.

    Attributes:
        client_id: the client.
        behind_s: how long (s) what it was last sent had waited for it.
        for_s: how long (s) in all it was behind within the last ``window_s``.
        window_s: the window (twice ``disconnect_after_s``).
    """

    def __init__(self, client_id: int, behind_s: float, for_s: float, window_s: float) -> None:
        self.client_id = client_id
        self.behind_s = behind_s
        self.for_s = for_s
        self.window_s = window_s
        super().__init__(
            f"client {client_id}: behind {for_s:.1f} s of the last {window_s:g} s"
            f" (now {behind_s:.1f} s)"
        )


class SendTimeout(TelemetryStreamError):
    """One send to a client blocked for longer than the timeout (s)."""

    def __init__(self, client_id: int, timeout_s: float) -> None:
        self.client_id = client_id
        self.timeout_s = timeout_s
        super().__init__(f"client {client_id}: a send blocked longer than {timeout_s:g} s")


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HubSettingsError(name, f"{value!r} is not a number")
    if not (math.isfinite(value) and value > 0):
        raise HubSettingsError(name, f"{value!r} must be finite and > 0")


@dataclass(frozen=True, slots=True)
class TelemetryHubSettings:
    """Timing knobs of the hub (all seconds).

    Attributes:
        lag_threshold_s: a client is behind when what it was just sent had waited longer
            than this for it (in its pending dict, then in the send).
        disconnect_after_s: a client behind for longer than this in all, within the last
            twice this long, is closed (1013).
        send_timeout_s: a client whose single send blocks longer than this is closed (1013).
        blocked_send_s: a send that takes longer than this was held up by a full socket
            buffer (an unhindered one returns at once); a run of such sends counts as
            being behind, though the data may look fresh when it leaves (see the module
            docstring of :mod:`~mission_control.api.telemetry_hub`).
        close_timeout_s: the longest closing a socket may take (a blocked socket cannot
            take the close frame; the connection is then dropped without one).
        bus_maxsize: topics pending in the hub's own bus subscription (latest per topic).

    Raises:
        HubSettingsError: a value is not a positive finite number.
    """

    lag_threshold_s: float = 1.0
    disconnect_after_s: float = 10.0
    send_timeout_s: float = 5.0
    close_timeout_s: float = 1.0
    blocked_send_s: float = 0.02
    bus_maxsize: int = 65_536

    def __post_init__(self) -> None:
        for name in (
            "lag_threshold_s",
            "disconnect_after_s",
            "send_timeout_s",
            "close_timeout_s",
            "blocked_send_s",
        ):
            _positive(name, getattr(self, name))
        if isinstance(self.bus_maxsize, bool) or not isinstance(self.bus_maxsize, int):
            raise HubSettingsError("bus_maxsize", f"{self.bus_maxsize!r} is not an integer")
        if self.bus_maxsize < 1:
            raise HubSettingsError("bus_maxsize", f"{self.bus_maxsize!r} must be >= 1")


@dataclass(frozen=True, slots=True)
class Entry:
    """One vehicle object, encoded once and shared by every client.

    Attributes:
        key: (drone id, kind).
        text: its JSON text.
        arrived_s: ``time.monotonic()`` when the hub got it.
    """

    key: Key
    text: str
    arrived_s: float


def encode_batch(entries: Iterable[Entry]) -> str:
    """The JSON array message of some entries."""
    return "[" + ",".join([e.text for e in entries]) + "]"


class TelemetryClient:
    """One connected screen: its pending dict, wake-up event, filters and lag bookkeeping.

    Made by :meth:`TelemetryHub.connect`; driven by :meth:`run` from one task.
    """

    __slots__ = (
        "_batch_since_s",
        "_behind",
        "_closed",
        "_drones",
        "_floor_s",
        "_interval_s",
        "_kinds",
        "_noticed",
        "_pending",
        "_settings",
        "_waiting_since_s",
        "_wake",
        "id",
        "lag_notices",
        "sent_entries",
        "sent_messages",
        "superseded",
    )

    def __init__(
        self,
        client_id: int,
        settings: TelemetryHubSettings,
        *,
        drones: frozenset[int] | None,
        kinds: frozenset[str] | None,
        max_hz: float | None,
        snapshot: Iterable[Entry],
    ) -> None:
        self.id = client_id
        self._settings = settings
        self._drones = drones
        self._kinds = kinds
        self._interval_s = 0.0 if max_hz is None else 1.0 / max_hz
        self._pending: dict[Key, Entry] = {e.key: e for e in snapshot if self.wants(e.key)}
        self._wake = asyncio.Event()
        if self._pending:
            self._wake.set()
        self._closed = False
        now_s = time.monotonic()
        self._floor_s = now_s  # nothing counts as waiting for this client before this
        self._waiting_since_s = now_s  # when the pending dict last became non-empty
        self._batch_since_s = now_s  # ... as of the batch being sent
        self._behind = BehindWindow(2.0 * settings.disconnect_after_s, now_s)
        self._noticed = 0
        self.sent_messages = 0
        self.sent_entries = 0
        self.superseded = 0  # objects replaced by newer ones before they were sent
        self.lag_notices = 0  # skips: sends found more than lag_threshold_s behind

    @property
    def pending(self) -> int:
        """Objects waiting to be sent (at most one per drone and kind)."""
        return len(self._pending)

    @property
    def closed(self) -> bool:
        return self._closed

    def wants(self, key: Key) -> bool:
        """Whether the client's filters let an object of this (drone, kind) through."""
        return (self._drones is None or key[0] in self._drones) and (
            self._kinds is None or key[1] in self._kinds
        )

    def offer(self, entry: Entry) -> None:
        """Keep ``entry`` as the newest of its (drone, kind) and wake the sender (hub use)."""
        key = entry.key
        if (self._drones is not None and key[0] not in self._drones) or (
            self._kinds is not None and key[1] not in self._kinds
        ):
            return
        pending = self._pending
        if key in pending:
            self.superseded += 1
        elif not pending:
            self._waiting_since_s = entry.arrived_s
        pending[key] = entry
        self._wake.set()

    def close(self) -> None:
        """Drop what is pending and end :meth:`next_batch` / :meth:`run` (idempotent)."""
        self._closed = True
        self._pending.clear()
        self._wake.set()

    async def next_batch(self) -> list[Entry]:
        """Wait for something to send; take everything pending, in arrival order.

        Raises:
            HubClosed: the client was closed or the hub stopped.
        """
        while not self._pending:
            if self._closed:
                raise HubClosed(f"client {self.id} closed")
            self._wake.clear()
            await self._wake.wait()
        if self._closed:
            raise HubClosed(f"client {self.id} closed")
        batch = list(self._pending.values())
        self._pending.clear()
        self._batch_since_s = max(self._waiting_since_s, self._floor_s)
        return batch

    def _judge(self, now_s: float, send_s: float) -> str | None:
        """After a batch was sent, at ``now_s`` (monotonic), the send having taken ``send_s``:
        the lag notice to send, if any.

        Raises:
            ClientLagging: behind for more than ``disconnect_after_s`` within the window.
        """
        s = self._settings
        behind_s = now_s - self._batch_since_s
        late = behind_s > s.lag_threshold_s
        if not late and send_s <= s.blocked_send_s:
            return None
        # late, or held up by a full socket buffer (fresh data queued behind stale bytes)
        behind_in_window_s = self._behind.add(self._batch_since_s, now_s)
        if behind_in_window_s > s.disconnect_after_s:
            window_s = 2.0 * s.disconnect_after_s
            raise ClientLagging(self.id, behind_s, behind_in_window_s, window_s)
        if not late:
            return None
        self.lag_notices += 1
        skipped, self._noticed = self.superseded - self._noticed, self.superseded
        notice = {"kind": "lag", "skipped": skipped, "behind_s": round(behind_s, 3)}
        return "[" + encode_json(notice) + "]"

    async def run(self, send: Send) -> None:
        """Send batches (and lag notices) with ``send`` until something ends it.

        Raises:
            HubClosed: the client was closed or the hub stopped.
            ClientLagging: behind for more than ``disconnect_after_s`` within twice that.
            SendTimeout: one send blocked longer than ``send_timeout_s``.
            Exception: whatever ``send`` raises (e.g. the socket went away).
        """
        monotonic = time.monotonic
        while True:
            batch = await self.next_batch()
            started_s = monotonic()
            await self._send(send, encode_batch(batch))
            self.sent_entries += len(batch)
            now_s = monotonic()
            notice = self._judge(now_s, now_s - started_s)
            if notice is not None:
                await self._send(send, notice)
            if self._interval_s:
                pause_s = started_s + self._interval_s - monotonic()
                if pause_s > 0:
                    await asyncio.sleep(pause_s)
                    self._floor_s = monotonic()

    async def _send(self, send: Send, text: str) -> None:
        timeout_s = self._settings.send_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await send(text)
        except TimeoutError:
            raise SendTimeout(self.id, timeout_s) from None
        self.sent_messages += 1
