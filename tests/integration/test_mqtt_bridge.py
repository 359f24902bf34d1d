"""The MQTT bridge of one service against a real Mosquitto: incidents in, fleet and events
out, rejections, and nothing lost while the service or the broker restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import pytest
from mqtt_broker import Broker
from service_harness import (
    FAST,
    ServiceHandle,
    incident_at,
    ready_drones,
    running_service,
    wait_for,
)

import mission_control.bus

pytestmark = pytest.mark.integration

SITE = "t1"
SCHEMAS = Path(mission_control.bus.__file__).parent / "schemas"


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def valid(doc: dict[str, Any], name: str) -> dict[str, Any]:
    jsonschema.validate(doc, schema(name))
    return doc


class Watcher:
    """A plain MQTT client recording everything under ``mc/{SITE}/``."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.got: list[tuple[str, dict[str, Any], bool]] = []

    def on(self, suffix: str) -> list[dict[str, Any]]:
        topic = f"mc/{SITE}/{suffix}"
        return [doc for t, doc, _ in self.got if aiomqtt.Topic(t).matches(topic)]

    async def publish(self, suffix: str, payload: Any, qos: int = 1) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self.client.publish(f"mc/{SITE}/{suffix}", body, qos=qos)


@contextlib.asynccontextmanager
async def watching(broker: Broker) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="test-watcher") as client:
        watcher = Watcher(client)
        await client.subscribe(f"mc/{SITE}/#", qos=1)

        async def record() -> None:
            async for m in client.messages:
                try:
                    doc = json.loads(bytes(m.payload)) if m.payload else {}
                except ValueError:
                    doc = {"raw": bytes(m.payload)}
                watcher.got.append((str(m.topic), doc, bool(m.retain)))

        task = asyncio.create_task(record())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def report(external_id: str, distance_m: float = 300.0, **extra: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "source": "shotspotter",
        "external_id": external_id,
        **incident_at(distance_m),
        **extra,
    }


def bridge_settings(broker: Broker, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        **FAST,
        "sim_vehicles": 1,
        "mqtt_url": broker.url,
        "site": SITE,
        "instance_id": "solo",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}",
        **extra,
    }


async def incidents_from(svc: ServiceHandle, source: str) -> list[Any]:
    found = await svc.services.store.list_incidents(limit=1000)
    return [i for i in found if i.source == source]


async def test_incident_over_mqtt_is_dispatched_and_everything_is_published(
    broker: Broker, tmp_path: Path
) -> None:
    async with watching(broker) as w, running_service(**bridge_settings(broker, tmp_path)) as svc:
        await ready_drones(svc, 1)
        await w.publish("incidents/new", report("CAD-1", description="shots heard"))
        await w.publish("incidents/new", report("CAD-1"))  # a repeat: the same incident

        async def pending() -> Any:
            missions = await svc.services.store.list_missions(limit=10)
            return missions[0] if missions else None

        mission = await wait_for(pending, 20, "a pending mission")
        [incident] = await incidents_from(svc, "shotspotter")
        assert incident.external_id == "CAD-1"
        assert incident.description == "shots heard"
        assert mission.incident_id == incident.id

        await wait_for(lambda: w.on(f"missions/{mission.id}/events"), 10, "mission events")
        await wait_for(lambda: w.on("fleet/1/telemetry"), 10, "telemetry")
        created = [valid(e, "event") for e in w.on(f"incidents/{incident.id}/events")]
        assert created[0]["kind"] == "incident.created" and created[0]["instance"] == "solo"
        assert created[0]["payload"]["external_id"] == "CAD-1"
        [mission_event, *_] = [valid(e, "event") for e in w.on(f"missions/{mission.id}/events")]
        assert mission_event["kind"] == "mission.created"
        assert mission_event["payload"]["drone_id"] == 1

        states = [valid(s, "drone-state") for s in w.on("fleet/1/state")]
        assert states[-1]["drone_id"] == 1 and states[-1]["instance"] == "solo"
        assert states[-1]["link"] == "connected"
        await wait_for(lambda: w.on("fleet/1/state")[-1].get("mission_id"), 10, "state's mission")

        batches = [valid(b, "telemetry") for b in w.on("fleet/1/telemetry")]
        kinds = {s["kind"] for b in batches for s in b["samples"]}
        assert {"position", "battery", "modes"} <= kinds
        status = w.on("instances/solo/status")
        assert valid(status[-1], "instance-status")["online"] is True

        # rate limit: at most mqtt_telemetry_hz batches per drone per second
        before = len(w.on("fleet/1/telemetry"))
        await asyncio.sleep(2.0)
        assert len(w.on("fleet/1/telemetry")) - before <= 2 * 10 + 2
    # a clean stop says offline (the will is only for a crash)
    assert w.on("instances/solo/status")[-1]["online"] is False


BAD = [
    (b"not json", None, "JSON"),
    (b'{"v": 1, "source": "s", "external_id": "e", "lat_deg": NaN}', None, "NaN"),
    (json.dumps({**report("B-2"), "v": 2}).encode(), None, "version"),
    (json.dumps(report("B-3", lat_deg=91.0)).encode(), "lat_deg", ""),
    (
        json.dumps({k: v for k, v in report("B-4").items() if k != "external_id"}).encode(),
        "external_id",
        "",
    ),
    (json.dumps([1, 2]).encode(), None, "object"),
    (json.dumps({**report("B-6"), "colour": "red"}).encode(), "colour", ""),
    (b"\xff\xfe", None, "UTF-8"),
    (json.dumps({**report("B-8"), "description": "x" * 70_000}).encode(), None, "limit"),
]


async def test_bad_messages_are_rejected_with_reasons_and_the_bridge_lives_on(
    broker: Broker, tmp_path: Path
) -> None:
    async with watching(broker) as w, running_service(**bridge_settings(broker, tmp_path)) as svc:
        for payload, _, _ in BAD:
            await w.publish("incidents/new", payload)
        await wait_for(lambda: len(w.on("incidents/rejected")) >= len(BAD), 20, "rejections")
        rejected = [valid(r, "incident-rejected") for r in w.on("incidents/rejected")]
        for (_, field, words), r in zip(BAD, rejected, strict=True):
            if field is not None:
                assert field in {e["field"] for e in r["errors"]}, r
            assert (
                words.lower() in r["reason"].lower()
                or words.lower() in json.dumps(r["errors"]).lower()
            ), r
        assert rejected[3]["external_id"] == "B-3"  # correlatable by the sender
        assert await incidents_from(svc, "shotspotter") == []
        # and a good one still goes through
        await w.publish("incidents/new", report("GOOD"))
        await wait_for(lambda: incidents_from(svc, "shotspotter"), 10, "the good incident")


async def test_incidents_sent_while_the_service_is_down_are_processed_when_it_returns(
    broker: Broker, tmp_path: Path
) -> None:
    settings = bridge_settings(broker, tmp_path, sim_vehicles=0)
    async with running_service(**settings) as svc:
        await svc.services.bridge.client.wait_connected(10)
    # the service is gone; its persistent session keeps what arrives for it
    async with watching(broker) as w:
        for n in range(5):
            await w.publish("incidents/new", report(f"WHILE-DOWN-{n}"))
    async with running_service(**settings) as svc:
        got = await wait_for(
            lambda: _count(incidents_from(svc, "shotspotter"), 5), 20, "the 5 queued incidents"
        )
        assert sorted(i.external_id for i in got) == [f"WHILE-DOWN-{n}" for n in range(5)]


async def test_a_broker_restart_is_survived_and_nothing_sent_meanwhile_is_lost(
    broker: Broker, tmp_path: Path
) -> None:
    settings = bridge_settings(broker, tmp_path, sim_vehicles=0)
    async with running_service(**settings) as svc:
        client = svc.services.bridge.client
        await client.wait_connected(10)
        await asyncio.to_thread(broker.wait_saved)  # sessions survive a SIGKILL once saved
        broker.restart(kill=True)  # SIGKILL: sessions survive only through persistence
        # published the moment the broker is back, before the service has reconnected
        async with watching(broker) as w:
            for n in range(3):
                await w.publish("incidents/new", report(f"AFTER-RESTART-{n}"))
        await client.wait_connected(30)
        got = await wait_for(
            lambda: _count(incidents_from(svc, "shotspotter"), 3), 20, "incidents after restart"
        )
        assert len(got) == 3
        async with svc.client("viewer") as viewer:
            health = (await viewer.get("/api/health")).json()
        assert health["mqtt"] == "connected"


async def _count(found: Any, n: int) -> Any:
    items = await found
    return items if len(items) >= n else None
