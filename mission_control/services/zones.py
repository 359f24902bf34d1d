"""The zones in force: kept in the store, indexed in memory, changed under one lock.

Every airspace decision (dispatch, approval, the check before upload, the fence, the
in-flight monitor) reads :meth:`ZoneRegistry.index`. Changes go to the store first, then the
in-memory index is rebuilt; :attr:`ZoneRegistry.lock` serialises zone changes with the
check-then-upload step so a mission is never uploaded against zones that changed between
its check and its upload (invariant 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.loaders import loads_zones
from mission_control.airspace.serialize import feature_to_zone, zone_summary, zone_to_feature
from mission_control.airspace.zones import Zone
from mission_control.errors import MissionControlError
from mission_control.services.errors import NotFoundError, ZoneImportError
from mission_control.store import Actor, Store

__all__ = ["ZoneRegistry", "zone_key"]


def zone_key(zone: Zone) -> str:
    """The id a zone is stored under: its identifier, plus ``#part`` for later parts."""
    return zone.identifier if zone.part == 0 else f"{zone.identifier}#{zone.part}"


def _number_parts(zones: Sequence[Zone]) -> list[Zone]:
    """Zones whose identifier repeats in one document become parts 0, 1, 2 … of it.

    Real files do this (the ED-269 sample has two "Gantrisch Nature Park" features with
    different restrictions); each stays a zone of its own, stored as ``id``, ``id#1`` ….
    """
    seen: dict[str, int] = {}
    out = []
    for z in zones:
        part = seen.get(z.identifier, 0)
        seen[z.identifier] = part + 1
        out.append(z if z.part == part else replace(z, part=part))
    return out


class ZoneRegistry:
    """The zones in force, backed by the store.

    Args:
        store: where zones are kept.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._zones: tuple[Zone, ...] = ()
        self._index = ZoneIndex(())
        self.version = 0
        self.lock = asyncio.Lock()

    async def load(self) -> None:
        """(Re)read every zone from the store and rebuild the index."""
        records = await self._store.list_zones()
        zones = tuple(feature_to_zone(r.feature) for r in records)
        self._zones = zones
        self._index = await asyncio.to_thread(ZoneIndex, zones)
        self.version = await self._store.zones_version()

    @property
    def zones(self) -> tuple[Zone, ...]:
        """Every zone known (in force or not: schedules are evaluated per check)."""
        return self._zones

    def index(self) -> ZoneIndex:
        """The spatial index of :attr:`zones` (shared; read-only)."""
        return self._index

    def summaries(self) -> list[dict[str, Any]]:
        """The zones as ``GET /api/zones`` lists them."""
        return [{"id": zone_key(z), **zone_summary(z)} for z in self._zones]

    def parse(self, text: str, *, source: str, format: str = "auto") -> list[Zone]:
        """Zones from the text of a GeoJSON / ED-269 / ED-318 / ``.plan`` document.

        Raises:
            ZoneImportError: the document is malformed (the message names the feature).
        """
        try:
            result = loads_zones(text, source=source, format=format)
        except (AirspaceError, MissionControlError, ValueError) as exc:
            raise ZoneImportError("document", str(exc)) from None
        if not result.zones:
            raise ZoneImportError("document", "it holds no zones")
        return _number_parts(result.zones)

    async def add(self, zones: Sequence[Zone], actor: Actor, *, source: str) -> list[str]:
        """Store ``zones`` (all or none) and put them in force; returns their ids.

        Raises:
            ZoneImportError: an id is already used, or twice in ``zones``.
        """
        keys = [zone_key(z) for z in zones]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ZoneImportError("id", f"zone id {dupes[0]!r} appears twice in the document")
        known = {zone_key(z) for z in self._zones}
        taken = [k for k in keys if k in known]
        if taken:
            raise ZoneImportError(
                "id", f"zone id {taken[0]!r} already exists (delete it first to replace it)"
            )
        docs = [(zone_key(z), z.name or z.identifier, zone_to_feature(z)) for z in zones]
        async with self.lock:
            await self._store.add_zones(docs, actor, source=source)
            await self.load()
        return keys

    async def delete(self, zone_id: str, actor: Actor) -> list[str]:
        """Delete a zone (every part when ``zone_id`` is a bare identifier).

        Raises:
            NotFoundError: no such zone.
        """
        keys = [
            zone_key(z)
            for z in self._zones
            if zone_key(z) == zone_id or (z.identifier == zone_id and "#" not in zone_id)
        ]
        if not keys:
            raise NotFoundError("zone", zone_id)
        async with self.lock:
            for key in keys:
                await self._store.delete_zone(key, actor)
            await self.load()
        return keys

    async def import_files(self, paths: Sequence[str], actor: Actor) -> int:
        """Put the zones of ``paths`` in force, skipping zones whose id is already stored.

        Returns the number of zones added. Used by ``serve --zones FILE`` so a restart does
        not duplicate them.

        Raises:
            ZoneImportError: a file cannot be read or parsed.
        """
        added = 0
        for path in paths:
            try:
                text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8-sig")
            except OSError as exc:
                raise ZoneImportError(path, f"cannot read the file: {exc.strerror}") from None
            zones = self.parse(text, source=path)
            known = {zone_key(z) for z in self._zones}
            new = [z for z in zones if zone_key(z) not in known]
            if new:
                added += len(await self.add(new, actor, source=path))
        return added
