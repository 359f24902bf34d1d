"""A vehicle's three on-board lists (mission, fence, rally): verified upload and clear.

An upload is not trusted until read back: each list goes up with MAVSDK's MissionRaw
plugin, comes back down, and is compared field by field
(:func:`~mission_control.vehicles.convert.first_difference`: NaN-aware, at float32 precision,
``current`` ignored). Any difference raises :class:`UploadMismatch` naming the list and the
first differing item, so a vehicle that stored something other than what was checked
against the airspace never flies it unnoticed.

MAVSDK 4.1 clears the mission (MissionRaw) and the fence (Geofence) but has no call for the
rally list; that one is cleared with MISSION_CLEAR_ALL through the ``mavlink_direct``
plugin, resent like MAVSDK's own mission protocol until the vehicle's MISSION_ACK arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol, TypeVar

from mavsdk.asyncio.plugins.geofence import GeofenceAsync
from mavsdk.asyncio.plugins.mavlink_direct import MavlinkMessage

from flight_plans.mission import Mission, MissionItemInt, MissionType
from flight_plans.plan import Fence, RallyPoint
from mission_control.vehicles import convert
from mission_control.vehicles.errors import CommandRejected, CommandTimeout, UploadMismatch
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.status_texts import StatusTextLog

T = TypeVar("T")
ListName = Literal["mission", "fence", "rally"]

_CLEAR_SENDS = 5  # as MAVSDK's mission protocol: 5 sends, 0.5 s apart
_CLEAR_RESEND_S = 0.5


class RunCommand(Protocol):
    """The link's command path: fail-fast, slot-limited, errors translated."""

    async def __call__(
        self, action: str, fn: Callable[[], Awaitable[T]], *, timeout_s: float | None = None
    ) -> T: ...


class OnboardLists:
    """Upload, verify and clear one vehicle's mission, fence and rally lists.

    Args:
        system_id: the vehicle.
        system: its ``mavsdk.asyncio.System`` (the Geofence plugin is made on first clear).
        mission_raw: its ``MissionRawAsync``.
        direct: its ``MavlinkDirectAsync``.
        command: runs one MAVSDK call on the link's command path.
        texts: the vehicle's STATUSTEXTs (the reason for a refused clear).
        settings: timeouts.
    """

    def __init__(
        self,
        system_id: int,
        *,
        system: Any,
        mission_raw: Any,
        direct: Any,
        command: RunCommand,
        texts: StatusTextLog,
        settings: VehicleLinkSettings,
    ) -> None:
        self.system_id = system_id
        self._system = system
        self._mission = mission_raw
        self._direct = direct
        self._command = command
        self._texts = texts
        self._settings = settings
        self.geofence: Any = None
        self._mission_count_known = False

    async def upload(
        self,
        *,
        mission: Mission | None = None,
        fence: Fence | None = None,
        rally: Sequence[RallyPoint] | None = None,
    ) -> None:
        """Upload and verify: fence first, then rally points, then the mission.

        ``None`` leaves a list as it is on board; an empty one clears it. Everything within
        ``settings.upload_timeout_s``.

        Raises:
            UploadMismatch: a list read back differs (names the list and the first item).
            LinkLost, CommandRejected, CommandTimeout.
        """
        lists: list[tuple[ListName, list[MissionItemInt]]] = []
        if fence is not None:
            lists.append(("fence", fence.to_mavlink()))
        if rally is not None:
            lists.append(("rally", [rp.to_item().to_mavlink(i) for i, rp in enumerate(rally)]))
        if mission is not None:
            lists.append(("mission", mission.to_mavlink()))
        deadline = time.monotonic() + self._settings.upload_timeout_s
        for name, items in lists:
            await self._upload_list(name, items, deadline)

    async def upload_items(self, name: ListName, items: Sequence[MissionItemInt]) -> None:
        """Upload raw ``MISSION_ITEM_INT`` fields to one list and verify them (renumbered
        0..n-1; the first item flagged ``current``, else item 0, is the current one)."""
        await self._upload_list(name, items, time.monotonic() + self._settings.upload_timeout_s)

    async def ensure_mission_count_known(self) -> None:
        """MAVSDK checks a set-current index against the last list *it* transferred."""
        if not self._mission_count_known:
            await self._command("read mission", self._mission.download_mission)
            self._mission_count_known = True

    async def _upload_list(
        self, name: ListName, items: Sequence[MissionItemInt], deadline: float
    ) -> None:
        if not items:
            await self._clear_list(name, self._remaining(deadline, f"clear {name}"))
            return
        current = next((i for i, it in enumerate(items) if it.current), 0)
        sent = [replace(it, seq=i, current=int(i == current)) for i, it in enumerate(items)]
        raw = [convert.to_mavsdk_item(it, seq=it.seq, current=bool(it.current)) for it in sent]
        m = self._mission
        upload, download = {
            "mission": (m.upload_mission, m.download_mission),
            "fence": (m.upload_geofence, m.download_geofence),
            "rally": (m.upload_rally_points, m.download_rallypoints),
        }[name]
        action = f"upload {name}"
        await self._command(
            action, lambda: upload(raw), timeout_s=self._remaining(deadline, action)
        )
        action = f"verify {name}"
        back = await self._command(action, download, timeout_s=self._remaining(deadline, action))
        if name == "mission":
            self._mission_count_known = True
        difference = convert.first_difference(sent, [convert.from_mavsdk_item(r) for r in back])
        if difference is not None:
            raise UploadMismatch(self.system_id, name, difference.index, difference.detail)

    def _remaining(self, deadline: float, action: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CommandTimeout(self.system_id, action, self._settings.upload_timeout_s)
        return left

    async def clear(self, *, mission: bool = True, fence: bool = True, rally: bool = True) -> None:
        """Empty the chosen lists (all three by default), one after the other."""
        chosen: tuple[tuple[ListName, bool], ...] = (
            ("mission", mission),
            ("fence", fence),
            ("rally", rally),
        )
        for name, wanted in chosen:
            if wanted:
                await self._clear_list(name, self._settings.command_timeout_s)

    async def _clear_list(self, name: ListName, timeout_s: float) -> None:
        action = f"clear {name}"
        if name == "mission":
            await self._command(action, self._mission.clear_mission, timeout_s=timeout_s)
            return
        if name == "fence":
            if self.geofence is None:
                self.geofence = GeofenceAsync(self._system)
            await self._command(action, self.geofence.clear_geofence, timeout_s=timeout_s)
            return
        result = await self._command(action, self._clear_rally, timeout_s=timeout_s)
        if result != 0:  # MAV_MISSION_ACCEPTED
            reason = await self._texts.reason_around(
                time.monotonic(), self._settings.reason_window_s
            )
            raise CommandRejected(
                self.system_id, action, convert.mission_result_name(result), reason
            )

    async def _clear_rally(self) -> int:
        """MISSION_CLEAR_ALL(rally) until a MISSION_ACK for the rally list comes back;
        returns the ACK's ``MAV_MISSION_RESULT``."""
        rally = int(MissionType.RALLY)
        acks = self._direct.subscribe_message("MISSION_ACK")

        async def first_rally_ack() -> int:
            async for msg in acks:
                fields = json.loads(msg.fields_json)
                if msg.system_id == self.system_id and fields.get("mission_type") == rally:
                    return int(fields.get("type", -1))
            return -1

        waiter = asyncio.create_task(
            first_rally_ack(), name=f"vehicle {self.system_id}: rally clear ack"
        )
        fields = {"target_system": self.system_id, "target_component": 1, "mission_type": rally}
        request = MavlinkMessage("MISSION_CLEAR_ALL", 0, 0, self.system_id, 1, json.dumps(fields))
        try:
            await asyncio.sleep(0)  # lets the waiter subscribe before the request goes out
            for _ in range(_CLEAR_SENDS):
                await self._direct.send_message(request)
                done, _pending = await asyncio.wait({waiter}, timeout=_CLEAR_RESEND_S)
                if done:
                    return waiter.result()
            raise CommandTimeout(self.system_id, "clear rally", _CLEAR_SENDS * _CLEAR_RESEND_S)
        finally:
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
            await acks.aclose()
