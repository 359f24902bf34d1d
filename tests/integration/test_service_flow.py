"""The whole flow over HTTP and websockets against the simulated fleet (real UDP MAVLink).

incident → pending → approve → upload → orbit → RTL → completed, with telemetry on
``/ws/telemetry`` and the events in order on ``/ws/events``; reject; a violating plan that
cannot be approved; a zone added after approval that blocks the upload; a restart in
mid-flight that recovers the mission.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from service_harness import (
    FAST,
    HOME,
    collect_events,
    incident_at,
    mission_state,
    own_fleet,
    pending_mission_for,
    ready_drones,
    running_service,
    square_zone,
    state_is,
    wait_for,
)
from sim_harness import free_udp_port

from flight_plans.geodesy import GeoPoint, destination

pytestmark = pytest.mark.integration


def states_of(events: list[dict[str, Any]], mission_id: str) -> list[str]:
    return [
        e["payload"]["state"]
        for e in events
        if e["kind"].startswith("mission.") and e["subject_id"] == mission_id
    ]


async def test_incident_to_completed_mission_with_telemetry_and_ordered_events(
    tmp_path: Path,
) -> None:
    """The happy path end to end: every state in order, incident covered, telemetry live."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=2, **FAST) as svc:
        await ready_drones(svc, 2)
        aside = destination(GeoPoint(HOME[0], HOME[1]), 135, 250)  # near, not on, the route
        async with svc.client("admin") as c:
            r = await c.post("/api/zones", json=square_zone(aside, 40, "NFZ-ASIDE"))
            assert r.status_code == 201, r.text
        async with await svc.ws("/ws/events", "viewer", since=0) as events_ws:
            async with svc.client("responder") as c:
                r = await c.post("/api/incidents", json=incident_at(300))
            assert r.status_code == 201, r.text
            incident = r.json()
            assert incident["status"] == "open" and incident["reported_by"] == "demo-responder"
            mission = await pending_mission_for(svc, incident["id"])
            assert mission["state"] == "pending_approval" and mission["airspace_ok"]
            async with svc.client("pilot") as c:
                detail = (await c.get(f"/api/missions/{mission['id']}")).json()
                assert detail["items"][0]["name"] == "NAV_TAKEOFF"
                assert detail["items"][-1]["name"] == "NAV_RETURN_TO_LAUNCH"
                assert detail["airspace_report"]["ok"] is True
                plan = (await c.get(f"/api/missions/{mission['id']}/plan")).json()
                assert plan["fileType"] == "Plan"
                assert len(plan["mission"]["items"]) == len(detail["items"])
                r = await c.post(
                    f"/api/missions/{mission['id']}/approve",
                    json={"reason": "shooter reported at the north entrance"},
                )
                assert r.status_code == 200, r.text
                assert r.json()["approved_by"] == "demo-pilot"
                # the pilot's comment is kept with the decision
                assert r.json()["history"][-1]["reason"].endswith(
                    "comment: shooter reported at the north entrance"
                )

            async with await svc.ws("/ws/telemetry", "viewer") as tel:
                seen: dict[str, Any] = {}
                t_end = time.monotonic() + 10
                while time.monotonic() < t_end and not {"position", "battery"} <= set(seen):
                    batch = json.loads(await tel.recv())
                    for msg in batch if isinstance(batch, list) else [batch]:
                        if msg.get("drone_id") == mission["drone_id"]:
                            seen[msg["kind"]] = msg
                assert {"position", "battery"} <= set(seen)
                assert abs(seen["position"]["ts"] - time.time()) < 5  # UNIX time of reception

            mid = mission["id"]
            events = await collect_events(
                events_ws, lambda ev: "completed" in states_of(ev, mid), timeout_s=150
            )
        states = states_of(events, mid)
        assert states[:5] == [
            "pending_approval",
            "approved",
            "uploading",
            "uploading",
            "ready",
        ] or (states[:4] == ["pending_approval", "approved", "uploading", "ready"]), states
        assert states.index("in_flight") < states.index("returning") < states.index("completed")
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        statuses = [
            e["payload"]["status"]
            for e in events
            if e["kind"].startswith("incident.") and e["subject_id"] == incident["id"]
        ]
        assert statuses[:3] == ["open", "dispatching", "covered"], statuses
        # the fence went up with the mission and the vehicle flew what was approved
        final = svc.services.sim
        assert final is not None
        vehicle = final.vehicle(mission["drone_id"]).vehicle
        assert len(vehicle.navigator.items) == mission["item_count"]
        # invariant 3: the zone the mission was checked against went on board as a fence
        async with svc.client("viewer") as c:
            flown = (await c.get(f"/api/missions/{mid}")).json()
        assert flown["fence"]["exclusion_count"] == 1
        assert vehicle.fence.has_shapes
        assert not vehicle.armed
        async with svc.client("viewer") as c:
            inc = (await c.get(f"/api/incidents/{incident['id']}")).json()
        assert inc["status"] == "covered"
        # every change is audited with who did it, and the chain verifies
        audit = await svc.services.store.audit_entries(mid)
        actions = [(a.action, a.actor) for a in audit]
        assert ("mission.approved", "demo-pilot") in actions
        assert [a for a, _ in actions].count("mission.completed") == 1
        assert {who for _, who in actions} == {"system", "demo-pilot"}
        assert (await svc.services.store.verify_audit()).ok


async def test_a_pending_mission_expires_and_the_incident_says_so(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=1, pending_ttl_s=1.0, **FAST) as svc:
        await ready_drones(svc, 1)
        async with svc.client("responder") as c:
            incident = (await c.post("/api/incidents", json=incident_at(200))).json()
        mission = await pending_mission_for(svc, incident["id"])
        await wait_for(lambda: state_is(svc, mission["id"], "expired"), 10, "expiry")
        async with svc.client("pilot") as c:
            r = await c.post(f"/api/missions/{mission['id']}/approve")
            assert r.status_code == 409 and r.json()["current_state"] == "expired"
            inc = (await c.get(f"/api/incidents/{incident['id']}")).json()
        assert inc["status"] == "unserviceable" and "not approved in time" in inc["status_reason"]
        assert svc.services.drones.assigned_to(1) is None


async def test_reject_makes_the_incident_unserviceable_and_frees_the_drone(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=1, **FAST) as svc:
        await ready_drones(svc, 1)
        async with svc.client("responder") as c:
            incident = (await c.post("/api/incidents", json=incident_at(200))).json()
        mission = await pending_mission_for(svc, incident["id"])
        async with svc.client("pilot") as c:
            r = await c.post(
                f"/api/missions/{mission['id']}/reject", json={"reason": "crowd below"}
            )
            assert r.status_code == 200 and r.json()["state"] == "rejected"
            again = await c.post(f"/api/missions/{mission['id']}/approve")
            assert again.status_code == 409
            assert again.json()["current_state"] == "rejected"
            inc = (await c.get(f"/api/incidents/{incident['id']}")).json()
        assert inc["status"] == "unserviceable" and "rejected" in inc["status_reason"]
        assert "crowd below" in inc["status_reason"]
        assert svc.services.drones.assigned_to(mission["drone_id"]) is None
        assert not svc.services.sim.vehicle(1).vehicle.armed  # type: ignore[union-attr]


async def test_a_plan_crossing_a_new_zone_cannot_be_approved(tmp_path: Path) -> None:
    """Approval re-checks against the zones in force now; the refusal carries the report."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=1, **FAST) as svc:
        await ready_drones(svc, 1)
        async with svc.client("responder") as c:
            incident = (await c.post("/api/incidents", json=incident_at(400, 90))).json()
        mission = await pending_mission_for(svc, incident["id"])
        middle = destination(GeoPoint(HOME[0], HOME[1]), 90, 200)
        async with svc.client("admin") as c:
            r = await c.post("/api/zones", json=square_zone(middle, 60, "NFZ-NEW"))
            assert r.status_code == 201, r.text
        async with svc.client("pilot") as c:
            r = await c.post(f"/api/missions/{mission['id']}/approve")
            assert r.status_code == 409, r.text
            body = r.json()
            assert body["current_state"] == "pending_approval"
            assert body["airspace_report"]["ok"] is False
            assert "NFZ-NEW" in json.dumps(body["airspace_report"]["violations"])
            stored = (await c.get(f"/api/missions/{mission['id']}")).json()
        assert stored["state"] == "pending_approval" and stored["approved_by"] is None
        assert stored["airspace_report"]["ok"] is False  # the pilot sees why
        assert svc.services.sim.vehicle(1).vehicle.navigator.items == ()  # type: ignore[union-attr]


async def test_a_zone_added_after_approval_blocks_the_upload(tmp_path: Path) -> None:
    """Invariant 1: the check at upload time uses the zones in force then; nothing flies."""
    port = free_udp_port()
    async with own_fleet(port) as fleet:
        db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
        async with running_service(
            database_url=db, vehicle_urls=(f"udpin://127.0.0.1:{port}",), **FAST
        ) as svc:
            await ready_drones(svc, 1)
            async with svc.client("responder") as c:
                incident = (await c.post("/api/incidents", json=incident_at(400, 0))).json()
            mission = await pending_mission_for(svc, incident["id"])
            # the drone loses GPS: an approved mission waits for it to be ready
            fleet.vehicle(1).vehicle.set_param("SIM_GPS_USED", 0)
            await wait_for(
                lambda: svc.services.drones.snapshot(1).gps_fix != "fix_3d", 10, "GPS lost"
            )  # type: ignore[union-attr]
            async with svc.client("pilot") as c:
                r = await c.post(f"/api/missions/{mission['id']}/approve")
                assert r.status_code == 200 and r.json()["state"] == "approved"
            middle = destination(GeoPoint(HOME[0], HOME[1]), 0, 200)
            async with svc.client("admin") as c:
                r = await c.post("/api/zones", json=square_zone(middle, 60, "NFZ-LATE"))
                assert r.status_code == 201
            fleet.vehicle(1).vehicle.set_param("SIM_GPS_USED", 10)
            await wait_for(
                lambda: _terminal(svc, mission["id"]),
                30,
                "the mission to fail",
            )
            async with svc.client("pilot") as c:
                m = (await c.get(f"/api/missions/{mission['id']}")).json()
            assert m["state"] == "failed", m
            assert "NFZ-LATE" in m["reason"]
            assert fleet.vehicle(1).vehicle.navigator.items == ()  # nothing was uploaded
            assert not fleet.vehicle(1).vehicle.armed


async def _terminal(svc: Any, mission_id: str) -> bool:
    return await mission_state(svc, mission_id) in {"failed", "completed", "aborted"}


async def test_a_restart_in_mid_flight_recovers_the_mission(tmp_path: Path) -> None:
    """Invariant 4: the new service instance re-attaches the flying mission and completes it."""
    port = free_udp_port()
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    settings = {"database_url": db, "vehicle_urls": (f"udpin://127.0.0.1:{port}",), **FAST}
    async with own_fleet(port) as fleet:
        async with running_service(**settings) as svc:
            tokens = svc.tokens
            await ready_drones(svc, 1)
            async with svc.client("responder") as c:
                incident = (await c.post("/api/incidents", json=incident_at(500, 180))).json()
            mission = await pending_mission_for(svc, incident["id"])
            async with svc.client("pilot") as c:
                assert (await c.post(f"/api/missions/{mission['id']}/approve")).status_code == 200
            await wait_for(lambda: state_is(svc, mission["id"], "in_flight"), 30, "in flight")
        # the service is gone; the drone keeps flying its mission
        assert fleet.vehicle(1).vehicle.armed
        async with running_service(**settings) as svc2:
            svc2.tokens = tokens  # same database: the demo users exist already
            assert mission["id"] in svc2.services.executor.running
            await wait_for(lambda: state_is(svc2, mission["id"], "completed"), 150, "completed")
            async with svc2.client("pilot") as c:
                m = (await c.get(f"/api/missions/{mission['id']}")).json()
                inc = (await c.get(f"/api/incidents/{incident['id']}")).json()
            assert [h["to_state"] for h in m["history"]][-2:] == ["returning", "completed"]
            assert inc["status"] == "covered"
            assert svc2.services.drones.assigned_to(1) is None
