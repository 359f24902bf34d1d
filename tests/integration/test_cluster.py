"""Two real service processes, one Mosquitto, one PostgreSQL, one simulated fleet.

Cross-instance events and telemetry, exactly-once dispatch of 100 incidents published at
once over MQTT, commands forwarded to the instance that holds the drone's link, and the
take-over of a killed instance's vehicle links while its drone is in the air.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import websockets
from cluster_harness import Instance, fresh_postgres, listening_fleet, make_users
from mqtt_broker import Broker
from service_harness import incident_at, wait_for

from mission_control.domain.events import EventKind
from mission_control.store import Store

pytestmark = pytest.mark.integration

SITE = "c1"
VEHICLES = 3
TTL_S = 4.0


def free_udp_block(n: int) -> int:
    """A first port P with P .. P+n-1 free for UDP on 127.0.0.1."""
    for _ in range(200):
        first = random.randint(20_000, 40_000)
        socks = []
        try:
            for k in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", first + k))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port block")


@dataclass
class Cluster:
    a: Instance
    b: Instance
    tokens: dict[str, str]
    db_url: str
    broker: Broker

    @property
    def instances(self) -> tuple[Instance, Instance]:
        return self.a, self.b

    async def health(self, inst: Instance) -> dict[str, Any]:
        async with inst.client(self.tokens["viewer"]) as c:
            return dict((await c.get("/api/health")).json())

    async def drones(self, inst: Instance) -> list[dict[str, Any]]:
        async with inst.client(self.tokens["viewer"]) as c:
            return list((await c.get("/api/drones")).json())


@pytest.fixture
async def cluster(broker: Broker, tmp_path: Path) -> AsyncIterator[Cluster]:
    first_port = free_udp_block(VEHICLES)
    urls = [f"udpout://127.0.0.1:{first_port + k}" for k in range(VEHICLES)]
    async with fresh_postgres() as db_url, listening_fleet(first_port, VEHICLES):
        tokens = await make_users(db_url)
        env = {
            "MC_DATABASE_URL": db_url,
            "MC_MQTT_URL": broker.url,
            "MC_SITE": SITE,
            "MC_VEHICLE_URLS": json.dumps(urls),
            "MC_LEASE_TTL_S": str(TTL_S),
            "MC_TIME_ON_STATION_S": "600",
            "MC_PENDING_TTL_S": "300",
        }
        a = Instance("alpha", env, tmp_path)
        b = Instance("bravo", env, tmp_path)
        try:
            await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
            c = Cluster(a, b, tokens, db_url, broker)

            async def every_drone_everywhere() -> bool:
                for inst in c.instances:
                    ready = [
                        d["drone_id"]
                        for d in await c.drones(inst)
                        if d["link"] == "connected" and d["battery_pct"] is not None and d["home"]
                    ]
                    if sorted(ready) != [1, 2, 3]:
                        return False
                return True

            await wait_for(every_drone_everywhere, 40, "all drones ready, seen by both")
            yield c
        finally:
            for inst in (a, b):
                inst.stop()
            for inst in (a, b):
                if inst.proc is not None and inst.proc.returncode not in (0, -9, None):
                    print(f"--- {inst.name} log ---\n{inst.log_tail()}")


async def test_links_are_split_and_events_and_telemetry_cross_instances(cluster: Cluster) -> None:
    ha, hb = await cluster.health(cluster.a), await cluster.health(cluster.b)
    assert sorted(ha["links_held"] + hb["links_held"]) == [1, 2, 3]  # each held once
    assert ha["links_held"] and hb["links_held"]  # started together: shared
    assert ha["dispatching"] != hb["dispatching"]  # one leader
    # each instance shows the other's drones, with who holds them
    for inst, held in ((cluster.a, ha["links_held"]), (cluster.b, hb["links_held"])):
        for d in await cluster.drones(inst):
            assert d["instance"] == (
                inst.name if d["drone_id"] in held else _other(cluster, inst).name
            )

    # a screen on bravo sees an incident reported on alpha, and the mission planned for it
    ws_url = cluster.b.base_url.replace("http", "ws")
    token = cluster.tokens["viewer"]
    async with websockets.connect(f"{ws_url}/ws/events?token={token}") as ws:
        async with cluster.a.client(cluster.tokens["responder"]) as c:
            r = await c.post("/api/incidents", json=incident_at(400))
            assert r.status_code == 201, r.text
            incident_id = r.json()["id"]
        kinds: list[str] = []
        try:
            async with asyncio.timeout(20):
                while "mission.created" not in kinds:
                    doc = json.loads(await ws.recv())
                    if doc["kind"].startswith("incident") and doc["subject_id"] != incident_id:
                        continue
                    kinds.append(doc["kind"])
        except TimeoutError:
            async with cluster.b.client(cluster.tokens["viewer"]) as c:
                found = (await c.get(f"/api/incidents/{incident_id}")).json()
            raise AssertionError(f"events seen on bravo: {kinds}; incident: {found}") from None
        assert kinds[0] == "incident.created"

    # telemetry of a drone linked to alpha reaches a websocket on bravo
    alpha_drone = ha["links_held"][0]
    url = f"{ws_url}/ws/telemetry?token={token}&drones={alpha_drone}"
    async with websockets.connect(url) as ws, asyncio.timeout(10):
        while True:
            batch = json.loads(await ws.recv())
            if any(o["kind"] == "position" and o["drone_id"] == alpha_drone for o in batch):
                break


def _other(cluster: Cluster, inst: Instance) -> Instance:
    return cluster.b if inst is cluster.a else cluster.a


async def test_100_incidents_published_at_once_are_each_stored_and_dispatched_once(
    cluster: Cluster,
) -> None:
    async with aiomqtt.Client("127.0.0.1", cluster.broker.port, identifier="cad-bridge") as cad:
        sends = []
        for n in range(100):
            body = {
                "v": 1,
                "source": "cad",
                "external_id": f"E-{n}",
                **incident_at(300 + 5 * n, bearing_deg=n * 3.6),
            }
            sends.append(cad.publish(f"mc/{SITE}/incidents/new", json.dumps(body).encode(), qos=1))
        for n in range(0, 100, 10):  # and ten repeats
            body = {"v": 1, "source": "cad", "external_id": f"E-{n}", **incident_at(300)}
            sends.append(cad.publish(f"mc/{SITE}/incidents/new", json.dumps(body).encode(), qos=1))
        await asyncio.gather(*sends)

    async with Store.open(cluster.db_url, migrate=False) as store:

        async def all_decided() -> list[Any] | None:
            found = [i for i in await store.list_incidents(limit=1000) if i.source == "cad"]
            decided = [i for i in found if i.status.value != "open"]
            return found if len(decided) == 100 else None

        incidents = await wait_for(all_decided, 60, "a dispatch decision for all 100 incidents")
        assert len(incidents) == 100
        assert sorted(int(i.external_id[2:]) for i in incidents) == list(range(100))
        ids = {i.id for i in incidents}
        decisions: Counter[str] = Counter()
        seq = 0
        while page := await store.events_since(seq, limit=1000):
            for e in page:
                seq = e.seq
                decided = e.payload.get("status") in ("dispatching", "unserviceable")
                if e.kind is EventKind.INCIDENT_UPDATED and e.subject_id in ids and decided:
                    decisions[e.subject_id] += 1
        assert set(decisions) == ids
        assert set(decisions.values()) == {1}, [k for k, v in decisions.items() if v > 1]
        missions = [m for m in await store.list_missions(limit=1000) if m.incident_id in ids]
        assert len({m.incident_id for m in missions}) == len(missions)  # one per incident
        busy = [m.drone_id for m in missions if not m.terminal]
        assert len(busy) == len(set(busy)) <= VEHICLES  # no drone given twice


async def _fly_one(cluster: Cluster) -> tuple[str, int]:
    """A mission approved on bravo and on station; (mission id, drone id)."""
    pilot = cluster.tokens["pilot"]
    async with cluster.b.client(cluster.tokens["responder"]) as c:
        r = await c.post("/api/incidents", json=incident_at(250))
        assert r.status_code == 201, r.text
        incident_id = r.json()["id"]
    async with cluster.b.client(pilot) as c:

        async def pending() -> dict[str, Any] | None:
            found = (await c.get("/api/missions", params={"incident_id": incident_id})).json()
            return next((m for m in found if m["incident_id"] == incident_id), None)

        mission = await wait_for(pending, 20, "the pending mission")
        r = await c.post(f"/api/missions/{mission['id']}/approve")
        assert r.status_code == 200, r.text

        async def on_station() -> bool:
            m = (await c.get(f"/api/missions/{mission['id']}")).json()
            assert m["state"] not in ("failed", "aborted"), m
            covered = (await c.get(f"/api/incidents/{incident_id}")).json()["status"] == "covered"
            return bool(m["state"] == "in_flight" and covered)

        await wait_for(on_station, 60, "on station")
        return mission["id"], int(mission["drone_id"])


async def test_a_command_goes_to_the_holder_and_a_killed_holder_is_taken_over(
    cluster: Cluster,
) -> None:
    mission_id, drone_id = await _fly_one(cluster)
    ha = await cluster.health(cluster.a)
    holder, other = (
        (cluster.a, cluster.b) if drone_id in ha["links_held"] else (cluster.b, cluster.a)
    )

    # the pilot is on the instance that does not hold the link: the command is carried over
    async with other.client(cluster.tokens["pilot"]) as c:
        r = await c.post(f"/api/missions/{mission_id}/pause")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "paused"
        r = await c.post(f"/api/missions/{mission_id}/pause")
        assert r.status_code == 409, r.text  # the holder's refusal comes back as is
        assert r.json()["current_state"] == "paused"
        r = await c.post(f"/api/missions/{mission_id}/resume")
        assert r.status_code == 200, r.text

    loop = asyncio.get_running_loop()
    holder.kill()
    killed_at = loop.time()

    async def taken_over() -> bool:
        return drone_id in (await cluster.health(other))["links_held"]

    await wait_for(taken_over, TTL_S + 8, "the take-over of the drone's link")
    took_s = loop.time() - killed_at
    assert took_s >= TTL_S * 0.9  # not before the lease ran out
    drone = next(d for d in await cluster.drones(other) if d["drone_id"] == drone_id)
    assert drone["instance"] == other.name
    await wait_for(lambda: _link_connected(cluster, other, drone_id), 10, "the new link connected")
    # the survivor follows the mission and flies the pilot's commands
    async with other.client(cluster.tokens["pilot"]) as c:
        r = await c.post(f"/api/missions/{mission_id}/rtl")
        assert r.status_code == 200, r.text

        async def completed() -> bool:
            return (await c.get(f"/api/missions/{mission_id}")).json()["state"] == "completed"

        await wait_for(completed, 60, "the mission completed under the survivor")


async def _link_connected(cluster: Cluster, inst: Instance, drone_id: int) -> bool:
    return any(
        d["drone_id"] == drone_id and d["link"] == "connected" for d in await cluster.drones(inst)
    )
