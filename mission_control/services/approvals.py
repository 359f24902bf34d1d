"""Pilot decisions on pending missions, and the expiry of those nobody decided on.

Approving re-runs the airspace check against the zones in force at that moment: a plan
that no longer passes cannot be approved (the new report is stored so the pilot sees why).
An approved mission goes straight to the executor, which checks once more before upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from mission_control.airspace.check import Rules, check
from mission_control.domain.errors import IllegalTransition
from mission_control.domain.mission import Mission, MissionState
from mission_control.services.errors import AirspaceRefused
from mission_control.services.executor import Executor, summarise_report
from mission_control.services.missions import SYSTEM, MissionBook
from mission_control.services.zones import ZoneRegistry
from mission_control.store import Actor

__all__ = ["Approvals"]

log = logging.getLogger(__name__)

S = MissionState


class Approvals:
    """Approve, reject and expire pending missions.

    Args:
        book: persisted changes.
        zones: the zones in force.
        executor: runs approved missions.
        rules: airspace rules of the re-check.
        expiry_period_s: how often pending missions are checked for expiry.
    """

    def __init__(
        self,
        book: MissionBook,
        zones: ZoneRegistry,
        executor: Executor,
        *,
        rules: Rules | None = None,
        expiry_period_s: float = 1.0,
    ) -> None:
        self._book = book
        self._zones = zones
        self._executor = executor
        self._rules = rules
        self._period_s = expiry_period_s
        self._task: asyncio.Task[None] | None = None
        self.leading: Callable[[], bool] = lambda: True
        """Clustered: only the instance holding the dispatcher lease expires missions."""

    async def __aenter__(self) -> Approvals:
        self._task = asyncio.create_task(self._expire_loop(), name="approvals-expiry")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def approve(self, mission_id: str, actor: Actor, comment: str = "") -> Mission:
        """Record the pilot's approval after a fresh airspace check, then fly. ``comment``
        (the pilot's words) is kept in the transition's reason, history and audit entry.

        Raises:
            NotFoundError; IllegalTransition (not pending, or expired now);
            AirspaceRefused (the check fails against today's zones; nothing approved).
        """
        mission = await self._book.mission(mission_id)
        if mission.state is not S.PENDING_APPROVAL:
            raise IllegalTransition("mission", mission.id, mission.state.value, S.APPROVED.value)
        now = self._book.clock()
        if mission.expires_at <= now:
            expired = await self._expire(mission)
            raise IllegalTransition("mission", mission.id, expired.state.value, S.APPROVED.value)
        report = await asyncio.to_thread(
            check,
            mission.plan.mission,
            self._zones.index(),
            at=now,
            rules=self._rules,
            authorisations=mission.authorisations,
        )
        doc = report.to_json()
        if not report.ok:
            await self._book.update(
                mission.id,
                lambda m: m.with_airspace_report(doc, at=now),
                actor,
                "mission.approve_refused",
            )
            raise AirspaceRefused(mission.id, doc, summarise_report(doc))
        approved = await self._book.transition(
            mission.id,
            S.APPROVED,
            actor,
            reason=f"approved by {actor.name}; airspace re-checked against "
            f"{report.zones_total} zones" + (f"; comment: {comment}" if comment else ""),
            change=lambda m: m.with_airspace_report(doc, at=now),
        )
        self._executor.start(approved)
        return approved

    async def reject(self, mission_id: str, actor: Actor, reason: str = "") -> Mission:
        """Record the pilot's rejection.

        Raises:
            NotFoundError, IllegalTransition.
        """
        return await self._book.transition(
            mission_id, S.REJECTED, actor, reason=reason or f"rejected by {actor.name}"
        )

    async def expire_due(self) -> list[Mission]:
        """Expire every pending mission past its deadline; returns those expired."""
        now = self._book.clock()
        pending = await self._book.store.list_missions(state={S.PENDING_APPROVAL}, limit=10_000)
        out = []
        for m in pending:
            if m.expires_at <= now:
                out.append(await self._expire(m))
        return out

    async def _expire(self, mission: Mission) -> Mission:
        return await self._book.transition(
            mission.id,
            S.EXPIRED,
            SYSTEM,
            reason="no pilot decision before " + mission.expires_at.isoformat(timespec="seconds"),
            expect=lambda m: m.state is S.PENDING_APPROVAL,
        )

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self._period_s)
            if not self.leading():
                continue
            try:
                await self.expire_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("expiring pending missions failed")
