"""A responder follows its own requests — and nothing else: its incidents' events, their
missions, and the live video of the drone serving one of them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from service_harness import (
    FAST,
    incident_at,
    pending_mission_for,
    ready_drones,
    running_service,
    wait_for,
)
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.integration


async def _events(ws: Any, quiet_s: float = 1.5) -> list[dict[str, Any]]:
    """Everything the socket sends until it is quiet for ``quiet_s``."""
    got: list[dict[str, Any]] = []
    while True:
        try:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), quiet_s)))
        except TimeoutError:
            return got


def _client(base_url: str, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)


async def _ws_status(url: str) -> int:
    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_a_responder_follows_its_own_request_and_sees_no_other(tmp_path: Path) -> None:
    """Two responders each request overwatch. Each one's ``/ws/events`` (replayed from 0)
    carries its own incident and the mission created for it, never the other's; each
    reads its own mission (200) and not the other's (404, not 403: the id is not
    confirmed); each may watch the drone assigned to its own request and not the other's
    (403 naming the reason); once the mission is over, the drone is not its to watch."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=2, **FAST) as svc:
        await ready_drones(svc, 2)
        other_token = await svc.services.store.add_user("responder-2", "responder")
        tokens = {"a": svc.tokens["responder"], "b": other_token}
        incidents, missions = {}, {}
        for who, bearing in (("a", 45.0), ("b", 200.0)):
            async with _client(svc.base_url, tokens[who]) as c:
                r = await c.post("/api/incidents", json=incident_at(300, bearing))
                assert r.status_code == 201, r.text
                incidents[who] = r.json()
            missions[who] = await pending_mission_for(svc, incidents[who]["id"])
        assert missions["a"]["drone_id"] != missions["b"]["drone_id"]

        for who, other in (("a", "b"), ("b", "a")):
            url = f"{svc.ws_url}/ws/events?since=0&token={tokens[who]}"
            async with websockets.connect(url) as ws:
                seen = await _events(ws)
            subjects = {e["subject_id"] for e in seen}
            assert {incidents[who]["id"], missions[who]["id"]} <= subjects
            assert not subjects & {incidents[other]["id"], missions[other]["id"]}
            assert {e["kind"] for e in seen} <= {
                "incident.created",
                "incident.updated",
                "mission.created",
                "mission.updated",
                "alert",
            }
            async with _client(svc.base_url, tokens[who]) as c:
                own = await c.get(f"/api/missions/{missions[who]['id']}")
                assert own.status_code == 200 and own.json()["eta_s"] > 0
                listed = await c.get("/api/missions", params={"incident_id": incidents[who]["id"]})
                assert [m["id"] for m in listed.json()] == [missions[who]["id"]]
                assert (await c.get(f"/api/missions/{missions[other]['id']}")).status_code == 404
                theirs = await c.get(
                    "/api/missions", params={"incident_id": incidents[other]["id"]}
                )
                assert theirs.status_code == 200 and theirs.json() == []
                assert (await c.get("/api/missions")).json() == []
                snap = await c.get(f"/api/drones/{missions[other]['drone_id']}/snapshot.jpg")
                assert snap.status_code == 403 and "responder" in snap.json()["detail"]
            own_video = f"{svc.ws_url}/ws/video/{missions[who]['drone_id']}?token={tokens[who]}"
            their_video = f"{svc.ws_url}/ws/video/{missions[other]['drone_id']}?token={tokens[who]}"
            assert await _ws_status(own_video) == 101
            assert await _ws_status(their_video) == 403

        # a's mission ends (rejected): drone a is no longer a's to watch, a live event says so
        url = f"{svc.ws_url}/ws/events?token={tokens['a']}"
        async with websockets.connect(url) as ws:
            async with svc.client("pilot") as c:
                r = await c.post(f"/api/missions/{missions['a']['id']}/reject")
                assert r.status_code == 200, r.text
            live = await _events(ws)
        states = [e["payload"].get("state") for e in live if e["subject_id"] == missions["a"]["id"]]
        assert "rejected" in states

        async def refused() -> bool:
            drone = missions["a"]["drone_id"]
            return await _ws_status(f"{svc.ws_url}/ws/video/{drone}?token={tokens['a']}") == 403

        await wait_for(refused, 10, "drone a's video closed to responder a")

        # a new screen (no since) is first shown the latest events, then live ones
        last = await svc.services.store.last_event_seq()
        url = f"{svc.ws_url}/ws/events?recent=3&token={svc.tokens['viewer']}"
        async with websockets.connect(url) as ws:
            first = [e["seq"] for e in await _events(ws, quiet_s=1.0)]
        assert len(first) >= 3 and first[0] >= last - 2
        assert first == list(range(first[0], first[0] + len(first)))
        for bad in ("5000", "-1", "many"):
            url = f"{svc.ws_url}/ws/events?recent={bad}&token={svc.tokens['viewer']}"
            assert await _ws_status(url) == 422
