"""One vehicle's blocking MAVSDK calls: a bounded number in flight, each under a deadline.

MAVSDK's asyncio API runs every call in a thread of the loop's default executor, and a
call cannot be stopped once it runs: cancelling the awaiting task leaves the thread inside
MAVSDK until MAVSDK's own timeout (2 s for a command, 2.5 s per stalled mission-transfer
step). So :class:`CallRunner`

- lets at most ``max_concurrent`` calls of one vehicle run at once (the rest queue for a
  slot, inside the caller's deadline), so a dead vehicle ties up at most that many threads
  and never delays another vehicle's commands;
- gives the caller its answer, or :class:`~mission_control.vehicles.errors.CommandTimeout`
  at the deadline — but the call itself runs on in a task this object owns, and keeps its
  slot until MAVSDK returns;
- waits for those tasks in :meth:`drain`, which the fleet calls before it destroys the
  MAVSDK instance (destroying it under a running call strands that thread for good).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mission_control.vehicles.errors import CommandTimeout, VehicleError

T = TypeVar("T")

_log = logging.getLogger(__name__)


class CallRunner:
    """Slot-limited, deadline-bounded calls of one vehicle.

    Args:
        system_id: the vehicle (named in errors and task names).
        max_concurrent: calls in flight at once.
    """

    def __init__(self, system_id: int, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.system_id = system_id
        self._slots = asyncio.Semaphore(max_concurrent)
        self._calls: set[asyncio.Task[object]] = set()
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Calls started and not yet returned (including those whose caller gave up)."""
        return len(self._calls)

    async def run(
        self,
        action: str,
        fn: Callable[[], Awaitable[T]],
        *,
        timeout_s: float,
        check: Callable[[str], None] | None = None,
    ) -> T:
        """Run ``fn()`` in a slot and return its result, within ``timeout_s`` overall.

        Args:
            action: what is done, for errors and task names ("arm", "upload mission").
            fn: makes the awaitable (e.g. ``action_plugin.arm``); called once, in a slot.
            timeout_s: the deadline, queueing for a slot included.
            check: called with ``action`` before queueing and again once a slot is free;
                raises to refuse the call (e.g. LinkLost when the vehicle went silent).

        Raises:
            CommandTimeout: no slot, or no result, within ``timeout_s``.
            VehicleError: the runner is closed (the fleet is shutting down).
            Exception: whatever ``fn``'s awaitable or ``check`` raised.
        """
        if self._closed:
            raise VehicleError(self.system_id, f"{action}: the vehicle link is closed")
        if check is not None:
            check(action)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise CommandTimeout(self.system_id, action, timeout_s) from None
        try:
            if self._closed:
                raise VehicleError(self.system_id, f"{action}: the vehicle link is closed")
            if check is not None:
                check(action)
            call = loop.create_task(self._call(fn), name=f"vehicle {self.system_id}: {action}")
        except BaseException:
            self._slots.release()
            raise
        self._calls.add(call)
        call.add_done_callback(self._forget)
        try:
            async with asyncio.timeout_at(deadline):
                # shielded: a caller that times out or is cancelled leaves the call running
                # (its thread cannot be stopped); it keeps its slot until MAVSDK returns
                result: T = await asyncio.shield(call)
        except TimeoutError:
            raise CommandTimeout(self.system_id, action, timeout_s) from None
        return result

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        finally:
            self._slots.release()

    def _forget(self, call: asyncio.Task[object]) -> None:
        self._calls.discard(call)
        if not call.cancelled() and call.exception() is not None:
            # The caller may have stopped waiting; the outcome was theirs, seen or not.
            _log.debug(
                "vehicle %d: %s ended with %r", self.system_id, call.get_name(), call.exception()
            )

    async def drain(self, timeout_s: float) -> int:
        """Refuse new calls; wait up to ``timeout_s`` for running ones; return how many remain.

        Calls still running after that are cancelled (their threads stay inside MAVSDK).
        """
        self._closed = True
        calls = list(self._calls)
        if calls:
            await asyncio.wait(calls, timeout=timeout_s)
        left = [c for c in calls if not c.done()]
        for call in left:
            call.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
        return len(left)
