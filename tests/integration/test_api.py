"""The REST and websocket API of the running service, over real HTTP, as a client sees it.

Who may call what (every route × every role, checked against the app's own route list);
bad input refused with the field and the reason and nothing written; retried reports not
duplicated; zone files round-tripped through the API; the audit chain checked by the CLI
after the service stopped; OpenAPI documenting every request field with its unit; and a
vehicle that goes silent in the middle of an upload failing its mission on the ground.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import shapely
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from service_harness import (
    FAST,
    HOME,
    ROLES,
    ServiceHandle,
    incident_at,
    mission_state,
    pending_mission_for,
    ready_drones,
    running_service,
    square_zone,
    wait_for,
)
from sim_harness import free_udp_port
from starlette.routing import Mount

from flight_plans.geodesy import GeoPoint, destination
from mission_control.app import create_app
from mission_control.config import Settings
from sim._mav import mavlink
from sim.fleet import Fleet, FleetConfig
from sim.mavlink import Address, Outgoing, VehicleLink

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DATA = Path(__file__).resolve().parents[1] / "data"
ED269 = DATA / "airspace" / "uas_standards-test_eurocae_ed269.json"
ED318 = DATA / "airspace" / "ED-318-Example_Collection.json"
QGC_FENCE = DATA / "qgc" / "ce_geofence_home_base.plan"

MAX_BODY = 64_000
"""``max_body_bytes`` of the shared service (the ED-269 fixture, 11 kB, fits)."""

READERS = frozenset({"pilot", "viewer", "admin"})
EVERYONE = frozenset(ROLES)
CALLERS: tuple[str | None, ...] = (None, "bogus", "responder", "viewer", "pilot", "admin")
"""Who calls each route: no token, an unknown token, then the demo user of each role."""


# -- helpers -------------------------------------------------------------------------------


def zone_north(distance_m: float, ident: str, *, kind: str = "exclusion") -> dict[str, Any]:
    """A GeoJSON Feature: a 100 m square ``distance_m`` north of home."""
    center = destination(GeoPoint(HOME[0], HOME[1]), 0.0, distance_m)
    return square_zone(center, 50.0, ident, kind=kind)


def strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: ``NaN`` and ``Infinity`` are not JSON."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"the response is not valid JSON: it contains {token}")

    return json.loads(text, parse_constant=refuse)


def token_client(svc: ServiceHandle, token: str) -> httpx.AsyncClient:
    """An HTTP client sending ``token`` (a user made by the test, or a bogus one)."""
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=svc.base_url, headers=headers, timeout=30)


@dataclass(frozen=True)
class DbState:
    """What a refused request must leave as it was."""

    incidents: int
    missions: int
    last_event_seq: int
    audit_entries: int
    zones: tuple[str, ...]


async def db_state(svc: ServiceHandle) -> DbState:
    store = svc.services.store
    audit = await store.verify_audit()
    assert audit.ok, audit.reason
    return DbState(
        incidents=len(await store.list_incidents(limit=10_000)),
        missions=len(await store.list_missions(limit=10_000)),
        last_event_seq=await store.last_event_seq(),
        audit_entries=audit.entries,
        zones=tuple(sorted(r.zone_id for r in await store.list_zones())),
    )


async def settled(svc: ServiceHandle) -> None:
    """Wait until the dispatcher has handled everything queued before this call.

    The dispatcher is one FIFO worker: a probe incident reported now is dispatched after
    every earlier one, so once it leaves ``open`` the earlier ones have been handled.
    """
    async with svc.client("admin") as c:
        r = await c.post("/api/incidents", json=incident_at(900, 270, kind="probe"))
        assert r.status_code == 201, r.text
        probe = r.json()["id"]

        async def handled() -> bool:
            got = await c.get(f"/api/incidents/{probe}")
            return bool(got.json()["status"] != "open")

        await wait_for(handled, 20, "the dispatcher to reach the probe incident")


# -- the shared service: read-mostly tests -------------------------------------------------


@dataclass(frozen=True)
class Shared:
    """The shared service and the ids its fixture made (zone ``DUP-1`` exists too)."""

    svc: ServiceHandle
    incident_id: str
    pending_id: str
    rejected_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shared]:
    """One service (2 drones) with a pending mission, a rejected one and a zone."""
    db = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('shared') / 'mc.db'}"
    async with running_service(
        database_url=db, sim_vehicles=2, max_body_bytes=MAX_BODY, **FAST
    ) as svc:
        await ready_drones(svc, 2)
        async with svc.client("responder") as c:
            first = (await c.post("/api/incidents", json=incident_at(300))).json()
            pending = await pending_mission_for(svc, first["id"])
            second = (await c.post("/api/incidents", json=incident_at(300, 200))).json()
            rejected = await pending_mission_for(svc, second["id"])
        async with svc.client("pilot") as c:
            r = await c.post(f"/api/missions/{rejected['id']}/reject", json={"reason": "test"})
            assert r.status_code == 200, r.text
        async with svc.client("admin") as c:
            r = await c.post("/api/zones", content=json.dumps(zone_north(20_000, "DUP-1")))
            assert r.status_code == 201, r.text
        yield Shared(svc, first["id"], pending["id"], rejected["id"])


# -- 1. the role matrix ----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One call of the matrix.

    ``route`` is the path template as the app declares it; ``url`` the concrete path (with
    ``{names}`` filled from the ids the test made); ``allowed`` None for a public route;
    ``expect`` the statuses an allowed caller may get (never 401 or 403).
    """

    method: str
    route: str
    allowed: frozenset[str] | None
    expect: frozenset[int] = frozenset({200})
    url: str | None = None
    json: Any = None
    content: str | None = None


def matrix() -> list[Row]:
    public, p_a = None, frozenset({"pilot", "admin"})
    pilot, admin = frozenset({"pilot"}), frozenset({"admin"})
    reporters = frozenset({"responder", "pilot", "admin"})
    command = "/api/missions/{mission_id}/{action}"
    ok, created = frozenset({200}), frozenset({201})
    return [
        Row("GET", "/api/health", public),
        Row("GET", "/openapi.json", public),
        Row("GET", "/docs", public),
        Row("GET", "/docs/oauth2-redirect", public),
        Row("GET", "/redoc", public),
        Row("POST", "/api/incidents", reporters, created, json=incident_at(300, 90)),
        Row("GET", "/api/incidents", EVERYONE),
        Row("GET", "/api/incidents/{incident_id}", EVERYONE),
        # the responder's incident is dispatching (its mission is pending): a conflict
        Row("POST", "/api/incidents/{incident_id}/dispatch", p_a, frozenset({409})),
        Row(
            "POST", "/api/incidents/{incident_id}/close", p_a, url="/api/incidents/{closable}/close"
        ),
        # a responder follows the missions of its own incidents (the matrix's mission is one)
        Row("GET", "/api/missions", EVERYONE),
        Row("GET", "/api/missions/{mission_id}", EVERYONE),
        Row("GET", "/api/missions/{mission_id}/plan", READERS),
        # nothing may fly: approve and abort an unknown mission (404 proves the role
        # passed), reject the real one, then the in-flight commands are conflicts
        Row("POST", command, pilot, frozenset({404}), url="/api/missions/m-unknown/approve"),
        Row("POST", command, pilot, ok, url="/api/missions/{mission_id}/reject"),
        Row("POST", command, pilot, frozenset({409}), url="/api/missions/{mission_id}/pause"),
        Row("POST", command, pilot, frozenset({409}), url="/api/missions/{mission_id}/resume"),
        Row("POST", command, pilot, frozenset({409}), url="/api/missions/{mission_id}/rtl"),
        Row("POST", command, pilot, frozenset({404}), url="/api/missions/m-unknown/abort"),
        Row("GET", "/api/drones", READERS),
        Row("GET", "/api/drones/{drone_id}", READERS),
        Row("GET", "/api/zones", READERS),
        Row("POST", "/api/zones", admin, created, content=json.dumps(zone_north(9000, "M-1"))),
        Row(
            "POST",
            "/api/zones/import",
            admin,
            created,
            content=json.dumps(
                {"type": "FeatureCollection", "features": [zone_north(9500, "M-2")]}
            ),
        ),
        Row("DELETE", "/api/zones/{zone_id}", admin),
        Row("POST", "/api/plans/preview", p_a, json=incident_at(250, 10, drone_id=1)),
        Row("GET", "/api/video", READERS),
        # the responder's mission was rejected above: drone 1 is not its to watch any more
        # (test_responder_follow.py covers the drone serving its incident)
        Row("GET", "/api/drones/{drone_id}/snapshot.jpg", READERS),
        # a live MJPEG response never ends: an unknown drone's 404 proves the role passed
        Row(
            "GET",
            "/api/drones/{drone_id}/video.mjpeg",
            READERS,
            frozenset({404}),
            url="/api/drones/99/video.mjpeg",
        ),
        Row("GET", "/api/recordings", READERS),
        Row("GET", "/api/recordings/{recording_id}", READERS, frozenset({404}), url=_REC),
        Row("GET", "/api/recordings/{recording_id}/export", p_a, frozenset({404}), url=_EXPORT),
        Row(
            "POST",
            "/api/recordings/{recording_id}/retain",
            admin,
            frozenset({404}),
            url=f"{_REC}/retain",
            json={"retain_until": "2030-01-01T00:00:00Z"},
        ),
        # the web UI: its page, files and Leaflet load before login; it then asks who it is
        Row("GET", "/", public),
        Row("GET", "/favicon.ico", public),
        Row("GET", "/static/{path}", public, url="/static/index.html"),
        Row("GET", "/vendor/leaflet/{path}", public, url="/vendor/leaflet/leaflet.js"),
        Row("GET", "/api/ui-config", public),
        Row("GET", "/api/me", EVERYONE),
    ]


_REC = "/api/recordings/rec-unknown"
_EXPORT = f"{_REC}/export"


WEBSOCKETS = {
    "/ws/telemetry": READERS,
    "/ws/events": EVERYONE,  # a responder gets its own incidents' events only
    "/ws/video/{drone_id}": READERS,  # a responder only while drone 1 serves its incident
}


def declared_routes() -> set[tuple[str, str]]:
    """``(method, path)`` of every route the app serves (``WS`` for websockets)."""
    app = create_app(Settings(sim_vehicles=0))
    out: set[tuple[str, str]] = set()
    for rc in iter_route_contexts(app.routes):
        route, path = rc.original_route, rc.path
        assert isinstance(path, str), rc
        if isinstance(route, Mount):  # static files (the web UI): any path below it
            out.add(("GET", f"{path}/{{path}}"))
        elif isinstance(route, APIWebSocketRoute):
            out.add(("WS", path))
        else:
            methods = rc.methods or set()
            assert methods, f"route {path} has no methods"
            out |= {(m, path) for m in methods if m != "HEAD"}
            if not isinstance(route, APIRoute):  # only FastAPI's own docs pages
                assert path in {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    return out


async def test_the_matrix_covers_every_route_of_the_app() -> None:
    """A route added without a row here (or a row for a route that is gone) fails."""
    table = {(r.method, r.route) for r in matrix()} | {("WS", p) for p in WEBSOCKETS}
    app = declared_routes()
    assert not app - table, f"routes missing from the role matrix: {sorted(app - table)}"
    assert not table - app, f"matrix rows for routes the app lacks: {sorted(table - app)}"


async def _ws_status(url: str) -> int:
    """101 when the socket opens (after one message arrives), else the HTTP refusal."""
    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            return 101
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code


async def test_every_route_admits_exactly_its_roles(tmp_path: Path) -> None:
    """401 without or with an unknown token, 403 for another role, served for the allowed."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=1, **FAST) as svc:
        await ready_drones(svc, 1)
        clients = {role: svc.client(role) for role in ROLES}
        anonymous = {None: svc.client(None), "bogus": token_client(svc, "x")}
        all_clients: dict[str | None, httpx.AsyncClient] = {**anonymous, **clients}
        try:
            r = await clients["responder"].post("/api/incidents", json=incident_at(300))
            incident = r.json()
            mission = await pending_mission_for(svc, incident["id"])
            r = await clients["admin"].post("/api/incidents", json=incident_at(400, 180))
            closable = r.json()["id"]
            r = await clients["admin"].post(
                "/api/zones", content=json.dumps(zone_north(8000, "M-0"))
            )
            assert r.status_code == 201, r.text
            await settled(svc)  # the second incident found no drone free: unserviceable
            ids = {
                "incident_id": incident["id"],
                "closable": closable,
                "mission_id": mission["id"],
                "drone_id": "1",
                "zone_id": "M-0",
            }
            problems: list[str] = []
            for row in matrix():
                url = (row.url or row.route).format(**ids)
                for caller in CALLERS:
                    got = await all_clients[caller].request(
                        row.method, url, json=row.json, content=row.content
                    )
                    problem = _judge(row, caller, got)
                    if problem:
                        problems.append(f"{row.method} {url} as {caller}: {problem}")
        finally:
            for c in all_clients.values():
                await c.aclose()

        tokens: dict[str | None, str | None] = {None: None, "bogus": "x", **svc.tokens}
        for path, allowed in WEBSOCKETS.items():
            for caller in CALLERS:
                token = tokens[caller]
                where = path.format(**ids)
                url = f"{svc.ws_url}{where}?since=0" + ("" if token is None else f"&token={token}")
                status = await _ws_status(url)
                want = 401 if caller in (None, "bogus") else 101 if caller in allowed else 403
                if status != want:
                    problems.append(f"WS {path} as {caller}: {status}, expected {want}")
        assert not problems, "\n".join(problems)

        # a responder sees only the incidents it reported
        other = await svc.services.store.add_user("responder-2", "responder")
        async with token_client(svc, other) as c2:
            r = await c2.post("/api/incidents", json=incident_at(350, 300))
            assert r.status_code == 201, r.text
            own = r.json()["id"]
            listed = (await c2.get("/api/incidents")).json()
            assert [i["id"] for i in listed] == [own]
            r = await c2.get(f"/api/incidents/{incident['id']}")
            assert r.status_code == 404, r.text  # not 403: the id is not even confirmed
        async with svc.client("responder") as c:
            listed = (await c.get("/api/incidents")).json()
            assert incident["id"] in {i["id"] for i in listed}
            assert {i["reported_by"] for i in listed} == {"demo-responder"}
            assert (await c.get(f"/api/incidents/{own}")).status_code == 404
            assert (await c.get(f"/api/incidents/{closable}")).status_code == 404
        async with svc.client("viewer") as c:
            everyone = {i["id"] for i in (await c.get("/api/incidents")).json()}
        assert {incident["id"], own, closable} <= everyone


def _judge(row: Row, caller: str | None, got: httpx.Response) -> str:
    """What is wrong with ``got`` for ``caller`` ("" when nothing)."""
    status = got.status_code
    if row.allowed is None:
        return "" if status in row.expect else f"{status} {got.text[:200]}"
    if caller in (None, "bogus"):
        if status != 401:
            return f"{status}, expected 401"
        if got.headers.get("www-authenticate") != "Bearer":
            return "401 without WWW-Authenticate: Bearer"
        return ""
    if caller not in row.allowed:
        if status != 403:
            return f"{status}, expected 403 ({got.text[:200]})"
        return "" if caller in got.json()["detail"] else "403 not naming the role"
    if status not in row.expect:
        return f"{status}, expected {sorted(row.expect)} ({got.text[:300]})"
    return ""


# -- 2. bad input --------------------------------------------------------------------------


def incident_text(**raw: str | None) -> str:
    """An incident as JSON *text*; values are raw JSON tokens (``NaN`` too); None drops."""
    fields: dict[str, str | None] = {
        "lat_deg": "47.3985",
        "lon_deg": "8.5465",
        "kind": '"fire"',
        "priority": "2",
    }
    fields.update(raw)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items() if v is not None) + "}"


def ed269_with(change: str) -> str:
    doc = json.loads(ED269.read_text())
    volume = doc["features"][2]["geometry"][0]  # Lausanne Airport, first volume
    if change == "upside_down":
        volume["lowerLimit"], volume["upperLimit"] = 120, 0
    elif change == "unit":
        volume["uomDimensions"] = "cubits"
    return json.dumps(doc)


@dataclass(frozen=True)
class Bad:
    """A bad request: who sends what, and the answer that says what was wrong."""

    role: str
    method: str
    url: str
    content: str | None
    status: int
    loc: str | None  # the last element of the error's ``loc`` (422 only)
    says: str  # text the error must contain (the reason, or the id, or the state)
    query: dict[str, str] = field(default_factory=dict)


def report(loc: str | None, says: str, **raw: str | None) -> Bad:
    """A responder's incident report with ``raw`` JSON values, refused with 422."""
    return Bad("responder", "POST", "/api/incidents", incident_text(**raw), 422, loc, says)


def nan_zone() -> str:
    """A zone whose second vertex has a NaN latitude (``NaN`` in the JSON text)."""
    zone = zone_north(30_000, "NAN-1")
    zone["geometry"]["coordinates"][0][1][1] = float("nan")
    return json.dumps(zone)


# fmt: off
BAD: dict[str, Bad] = {
    "lat NaN": report("lat_deg", "finite", lat_deg="NaN"),
    "lat Infinity": report("lat_deg", "finite", lat_deg="Infinity"),
    "lon -Infinity": report("lon_deg", "finite", lon_deg="-Infinity"),
    "radius NaN": report("radius_m", "finite", radius_m="NaN"),
    "lat 91": report("lat_deg", "less than or equal to 90", lat_deg="91"),
    "lon -181": report("lon_deg", "greater than or equal to -180", lon_deg="-181"),
    "priority 0": report("priority", "greater than or equal to 1", priority="0"),
    "priority 6": report("priority", "less than or equal to 5", priority="6"),
    "priority high": report("priority", "valid integer", priority='"high"'),
    "no kind": report("kind", "required", kind=None),
    "blank kind": report("kind", "at least 1 character", kind='"   "'),
    "extra field": report("wingspan_m", "not permitted", wingspan_m="3"),
    "pattern zigzag": report("pattern", "orbit", pattern='"zigzag"'),
    "radius 5 m": report("radius_m", "greater than or equal to 10", radius_m="5"),
    "malformed JSON": Bad("responder", "POST", "/api/incidents", '{"lat_deg": 47.39, "lon_deg":', 422, None, "JSON decode error"),
    "not an object": Bad("responder", "POST", "/api/incidents", "[1, 2]", 422, None, "valid dictionary"),
    "preview NaN": Bad("pilot", "POST", "/api/plans/preview", incident_text(lon_deg="NaN"), 422, "lon_deg", "finite"),
    "preview unknown drone": Bad("pilot", "POST", "/api/plans/preview", incident_text(drone_id="99"), 404, None, "99"),
    "unknown incident": Bad("viewer", "GET", "/api/incidents/inc-nope", None, 404, None, "inc-nope"),
    "close unknown incident": Bad("pilot", "POST", "/api/incidents/inc-nope/close", None, 404, None, "inc-nope"),
    "unknown mission": Bad("viewer", "GET", "/api/missions/m-nope", None, 404, None, "m-nope"),
    "plan of unknown mission": Bad("viewer", "GET", "/api/missions/m-nope/plan", None, 404, None, "m-nope"),
    "approve unknown mission": Bad("pilot", "POST", "/api/missions/m-nope/approve", None, 404, None, "m-nope"),
    "unknown action": Bad("pilot", "POST", "/api/missions/{pending}/launch", None, 422, "action", "approve"),
    "missions of an unknown state": Bad("viewer", "GET", "/api/missions", None, 422, "state", "unknown ['flying']", {"state": "in_flight,flying"}),
    "unknown drone": Bad("viewer", "GET", "/api/drones/99", None, 404, None, "99"),
    "unknown zone": Bad("admin", "DELETE", "/api/zones/NOPE", None, 404, None, "NOPE"),
    "snapshot of a drone without video": Bad("viewer", "GET", "/api/drones/99/snapshot.jpg", None, 404, None, "drone 99 has no video source"),
    "snapshot width 0": Bad("viewer", "GET", "/api/drones/1/snapshot.jpg", None, 422, "width", "greater than or equal to 1", {"width": "0"}),
    "snapshot width text": Bad("viewer", "GET", "/api/drones/1/snapshot.jpg", None, 422, "width", "valid integer", {"width": "wide"}),
    "mjpeg width huge": Bad("viewer", "GET", "/api/drones/1/video.mjpeg", None, 422, "width", "less than or equal to 16384", {"width": "99999"}),
    "unknown recording": Bad("viewer", "GET", "/api/recordings/rec-nope", None, 404, None, "rec-nope"),
    "retain not a date": Bad("admin", "POST", "/api/recordings/rec-nope/retain", '{"retain_until": "soon"}', 422, "retain_until", "datetime"),
    "pause pending": Bad("pilot", "POST", "/api/missions/{pending}/pause", None, 409, None, "pending_approval"),
    "resume pending": Bad("pilot", "POST", "/api/missions/{pending}/resume", None, 409, None, "pending_approval"),
    "approve rejected": Bad("pilot", "POST", "/api/missions/{rejected}/approve", None, 409, None, "rejected"),
    "reject rejected": Bad("pilot", "POST", "/api/missions/{rejected}/reject", None, 409, None, "rejected"),
    "redispatch dispatching": Bad("pilot", "POST", "/api/incidents/{incident}/dispatch", None, 409, None, "dispatching"),
    "zone not JSON": Bad("admin", "POST", "/api/zones", "no-fly over the stadium", 422, "body", "not JSON"),
    "zone empty": Bad("admin", "POST", "/api/zones", "  ", 422, "body", "empty"),
    "zone NaN coordinate": Bad("admin", "POST", "/api/zones", nan_zone(), 422, "document", "NaN"),
    "zone unknown kind": Bad("admin", "POST", "/api/zones", json.dumps(zone_north(30_000, "K-1", kind="keep_out")), 422, "document", "keep_out"),
    "zone not GeoJSON": Bad("admin", "POST", "/api/zones", '{"zones": []}', 422, "document", ""),
    "zone id taken": Bad("admin", "POST", "/api/zones", json.dumps(zone_north(30_000, "DUP-1")), 422, "id", "'DUP-1' already exists"),
    "one bad feature of two": Bad("admin", "POST", "/api/zones/import", json.dumps({"type": "FeatureCollection", "features": [zone_north(30_000, "GOOD-1"), zone_north(31_000, "BAD-1", kind="keep_out")]}), 422, "document", "BAD-1"),
    "ED-269 upside-down volume": Bad("admin", "POST", "/api/zones/import", ed269_with("upside_down"), 422, "document", "Lausanne Airport"),
    "ED-269 unknown unit": Bad("admin", "POST", "/api/zones/import", ed269_with("unit"), 422, "document", "cubits"),
    "plan file as GeoJSON": Bad("admin", "POST", "/api/zones/import", QGC_FENCE.read_text(), 422, "document", "", {"format": "geojson"}),
    "unknown format": Bad("admin", "POST", "/api/zones/import", QGC_FENCE.read_text(), 422, "format", "qgc", {"format": "kml"}),
}
# fmt: on


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
async def test_bad_input_is_refused_with_the_reason_and_nothing_written(
    shared: Shared, case: str
) -> None:
    bad = BAD[case]
    svc = shared.svc
    url = bad.url.format(
        pending=shared.pending_id, rejected=shared.rejected_id, incident=shared.incident_id
    )
    before = await db_state(svc)
    headers = {"content-type": "application/json"}
    async with svc.client(bad.role) as c:
        r = await c.request(bad.method, url, content=bad.content, headers=headers, params=bad.query)
    assert r.status_code == bad.status, r.text
    body = strict_json(r.text)
    if bad.status == 422 and bad.loc is not None:
        errors = [e for e in body["detail"] if e["loc"][-1] == bad.loc]
        assert errors, f"no error names {bad.loc!r}: {body}"
        assert any(bad.says in e["msg"] for e in errors), body
    else:
        assert bad.says in json.dumps(body), body
    if bad.status == 409:
        assert body["current_state"] == bad.says
    assert await db_state(svc) == before


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize(
    ("path", "chunked"),
    [("/api/incidents", False), ("/api/incidents", True), ("/api/zones/import", True)],
)
async def test_an_oversized_body_is_refused_with_413(
    shared: Shared, path: str, chunked: bool
) -> None:
    """Declared (Content-Length) or streamed (chunked), the limit holds: 413, not 400/500."""
    svc = shared.svc
    before = await db_state(svc)
    role = "admin"
    total = MAX_BODY + 1
    content: Any = _chunks(total) if chunked else b" " * total
    async with svc.client(role) as c:
        r = await c.post(path, content=content, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert f"larger than {MAX_BODY} bytes" in r.json()["detail"]
    if chunked:
        assert r.request.headers.get("transfer-encoding") == "chunked"
    assert await db_state(svc) == before
    async with svc.client(role) as c:  # the service still answers normally
        assert (await c.get("/api/health")).status_code == 200


# -- 3. idempotency --------------------------------------------------------------------------


async def test_a_retried_report_is_not_duplicated(tmp_path: Path) -> None:
    """Same Idempotency-Key or same external_id: one incident, one mission, nothing written."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    async with running_service(database_url=db, sim_vehicles=1, **FAST) as svc:
        await ready_drones(svc, 1)
        store = svc.services.store
        async with svc.client("responder") as c:
            key = {"Idempotency-Key": "cad-retry-1"}
            first = await c.post("/api/incidents", json=incident_at(300), headers=key)
            assert first.status_code == 201, first.text
            mission = await pending_mission_for(svc, first.json()["id"])
            seq = await store.last_event_seq()
            # a retry returns the first result, even when the retried body differs
            again = await c.post("/api/incidents", json=incident_at(300, priority=5), headers=key)
            assert again.status_code == 200, again.text
            assert again.json()["id"] == first.json()["id"]
            assert again.json()["priority"] == 2
            assert await store.last_event_seq() == seq  # nothing written, nothing announced

            cad = incident_at(500, 90, external_id="CAD-2041")
            one = await c.post("/api/incidents", json=cad)
            two = await c.post("/api/incidents", json=cad)
            other = await c.post("/api/incidents", json=cad | {"external_id": "CAD-2042"})
        assert (one.status_code, two.status_code, other.status_code) == (201, 200, 201)
        assert one.json()["id"] == two.json()["id"] != other.json()["id"]

        async def post(c: httpx.AsyncClient) -> httpx.Response:
            headers = {"Idempotency-Key": "cad-burst-7"}
            return await c.post("/api/incidents", json=incident_at(700, 0), headers=headers)

        before = len(await store.list_incidents(limit=10_000))
        clients = [svc.client("responder") for _ in range(5)]
        try:
            burst = await asyncio.gather(*(post(c) for c in clients))
        finally:
            for c in clients:
                await c.aclose()
        assert sorted(r.status_code for r in burst) == [200, 200, 200, 200, 201]
        assert len({r.json()["id"] for r in burst}) == 1
        await settled(svc)
        incidents = await store.list_incidents(limit=10_000)
        assert len(incidents) == before + 2  # the burst's one, and the probe of settled()
        missions = await store.list_missions(incident_id=first.json()["id"])
        assert [m.id for m in missions] == [mission["id"]]
        by_cad = [i for i in incidents if i.external_id == "CAD-2041"]
        assert len(by_cad) == 1


# -- 4. zones round trip -------------------------------------------------------------------

LAUSANNE_HOME = (46.545, 6.64, 400.0)
"""1.2 km east of Lausanne Airport's no-fly polygons (ED-269 fixture, permanent)."""
IN_LAUSANNE_AIRPORT = (46.545, 6.622)
"""Inside its first volume (surface to 120 m AGL, lon 6.6098..6.6248, lat 46.5329..46.5586)."""


def ed269_without_duplicate_ids() -> str:
    """The ED-269 fixture minus the second 'Gantrisch Nature Park' (same identifier)."""
    doc = json.loads(ED269.read_text())
    seen: set[str] = set()
    kept = []
    for f in doc["features"]:
        if f["identifier"] not in seen:
            kept.append(f)
        seen.add(f["identifier"])
    doc["features"] = kept
    return json.dumps(doc)


async def test_the_unmodified_ed269_fixture_imports(shared: Shared) -> None:
    """Its two "Gantrisch Nature Park" features become parts 0 and 1 of one identifier."""
    async with shared.svc.client("admin") as c:
        r = await c.post("/api/zones/import", content=ED269.read_bytes())
        assert r.status_code == 201, r.text
        ids = [z["id"] for z in r.json()]
        assert "Gantrisch Nature Park" in ids and "Gantrisch Nature Park#1" in ids
        deleted = await c.delete("/api/zones/Gantrisch Nature Park")
        assert sorted(deleted.json()["deleted"]) == [
            "Gantrisch Nature Park",
            "Gantrisch Nature Park#1",
        ]


async def test_zone_files_round_trip_through_the_api(tmp_path: Path) -> None:
    """Import ED-318, a QGC geofence and ED-269; list with units; plan around; delete."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
    settings = {**FAST, "sim_home": LAUSANNE_HOME}
    async with running_service(database_url=db, sim_vehicles=1, **settings) as svc:
        await ready_drones(svc, 1)
        async with svc.client("admin") as c:
            imported: dict[str, list[dict[str, Any]]] = {}
            for name, text in (
                ("ed318", ED318.read_text()),
                ("qgc", QGC_FENCE.read_text()),
                ("ed269", ed269_without_duplicate_ids()),
            ):
                r = await c.post("/api/zones/import", content=text, params={"source": name})
                assert r.status_code == 201, r.text
                imported[name] = r.json()
            listed = {z["id"]: z for z in (await c.get("/api/zones")).json()}

        # every imported zone is listed as the import answered, and stored
        assert listed == {z["id"]: z for zs in imported.values() for z in zs}
        stored = {r.zone_id for r in await svc.services.store.list_zones()}
        assert stored == set(listed)
        assert {z["id"] for z in imported["ed318"]} == {"ABC1234", "NFZ6547", "NFZ6547#1"}
        assert sorted(z["kind"] for z in imported["qgc"]) == ["exclusion", "inclusion"]
        assert {"Lausanne Airport", "Lausanne Airport#1", "Lausanne Airport#2"} <= set(listed)
        # units: metres and feet with their datum; circle radii in metres
        circle = listed["ABC1234"]
        assert circle["radius_m"] == 3500.0 and circle["restriction"] == "prohibited"
        assert circle["floor"] == {
            "value_m": 50.0,
            "value_ft": 164.0,
            "datum": "AGL",
            "text": "50 m AGL",
        }
        assert circle["ceiling"]["value_m"] == 150.0 and circle["ceiling"]["datum"] == "AGL"
        gantrisch = listed["Gantrisch Nature Park"]  # 250 ft in the file
        assert gantrisch["ceiling"]["value_m"] == pytest.approx(76.2)
        assert gantrisch["ceiling"]["value_ft"] == pytest.approx(250.0)
        assert listed["Lausanne Airport#1"]["floor"]["text"] == "30 m AGL"

        async with svc.client("admin") as c:
            # the QGC inclusion fence (Virginia) would make Lausanne outside the operating
            # area; deleting by bare identifier removes every part
            for z in imported["qgc"]:
                assert (await c.delete(f"/api/zones/{z['id']}")).status_code == 200
            r = await c.delete("/api/zones/NFZ6547")
            assert r.json() == {"deleted": ["NFZ6547", "NFZ6547#1"]}

            lat, lon = IN_LAUSANNE_AIRPORT
            incident = {"lat_deg": lat, "lon_deg": lon, "kind": "fire", "priority": 1}
            r = await c.post("/api/plans/preview", json=incident)
            assert r.status_code == 200, r.text
            plan = r.json()
            assert plan["airspace_report"]["ok"] is True, plan["airspace_report"]
            assert any("Lausanne Airport" in n for n in plan["notes"]), plan["notes"]
            zone = shapely.geometry.shape(listed["Lausanne Airport"]["geometry"])
            flown = [
                shapely.Point(i["lon_deg"], i["lat_deg"])
                for i in plan["items"]
                if i["name"] == "NAV_WAYPOINT"
            ]
            assert flown and not any(zone.covers(p) for p in flown)  # stand-off, outside
            r = await c.delete("/api/zones/Lausanne Airport")
            assert sorted(r.json()["deleted"]) == [
                "Lausanne Airport",
                "Lausanne Airport#1",
                "Lausanne Airport#2",
            ]
            left = {z["identifier"] for z in (await c.get("/api/zones")).json()}
            assert "Lausanne Airport" not in left and "NFZ6547" not in left
            r = await c.post("/api/plans/preview", json=incident)
            assert r.status_code == 200, r.text
            assert not any("Lausanne Airport" in n for n in r.json()["notes"])
            left_ids = {z["id"] for z in (await c.get("/api/zones")).json()}
        assert {r.zone_id for r in await svc.services.store.list_zones()} == left_ids
        assert left_ids == set(listed) - {
            *(z["id"] for z in imported["qgc"]),
            "NFZ6547",
            "NFZ6547#1",
            "Lausanne Airport",
            "Lausanne Airport#1",
            "Lausanne Airport#2",
        }
        assert not await svc.services.store.list_incidents()  # previews store nothing
        assert not await svc.services.store.list_missions()


# -- 5. the audit chain and users via the CLI ---------------------------------------------


async def cli(*args: str) -> tuple[int, str]:
    """Run ``mission-control ARGS``; its exit status and its output (stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mission_control.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return await proc.wait(), out.decode()


async def test_the_cli_verifies_the_audit_chain_and_adds_users(tmp_path: Path) -> None:
    db_file = tmp_path / "mc.db"
    db = f"sqlite+aiosqlite:///{db_file}"
    async with running_service(database_url=db, sim_vehicles=1, **FAST) as svc:
        await ready_drones(svc, 1)
        async with svc.client("responder") as c:
            incident = (await c.post("/api/incidents", json=incident_at(300))).json()
        mission = await pending_mission_for(svc, incident["id"])
        async with svc.client("pilot") as c:
            r = await c.post(f"/api/missions/{mission['id']}/reject", json={"reason": "crowd"})
            assert r.status_code == 200
        async with svc.client("admin") as c:
            assert (
                await c.post("/api/zones", content=json.dumps(zone_north(900, "A-1")))
            ).status_code == 201
            assert (await c.delete("/api/zones/A-1")).status_code == 200
        entries = (await svc.services.store.verify_audit()).entries
    assert entries >= 8

    status, out = await cli("audit", "verify", "--db", db)
    assert status == 0, out
    assert "intact" in out and f"{entries} entries" in out

    status, out = await cli("users", "add", "dispatcher-7", "--role", "pilot", "--db", db)
    assert status == 0, out
    token = out.strip().splitlines()[-1]
    assert len(token) >= 32 and " " not in token
    status, out = await cli("users", "add", "eve", "--role", "bogus", "--db", db)
    assert status == 2, out
    assert "bogus" in out
    async with running_service(database_url=db, sim_vehicles=1, **FAST) as svc:
        assert svc.tokens == {}  # users exist: no demo users this time
        async with token_client(svc, token) as c:
            r = await c.get("/api/missions")
            assert r.status_code == 200, r.text
            assert [m["id"] for m in r.json()] == [mission["id"]]
            assert (await c.get("/api/zones")).status_code == 200
            r = await c.post(f"/api/missions/{mission['id']}/approve")
            assert r.status_code == 409  # the pilot role passed; the mission is rejected
        async with token_client(svc, token[:-1] + "x") as c:
            assert (await c.get("/api/missions")).status_code == 401

    status, out = await cli("audit", "verify", "--db", db)
    assert status == 0, out  # adding a user is audited and keeps the chain intact

    with sqlite3.connect(db_file) as conn:
        target = conn.execute(
            "SELECT id FROM audit_log WHERE action = 'incident.create' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = ?", (target,))
        conn.execute("DROP TRIGGER audit_log_no_update")  # an attacker with the file
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = ?", (target,))
        assert conn.total_changes == 1
    conn.close()
    status, out = await cli("audit", "verify", "--db", db)
    assert status == 1, out
    assert f"entry {target}" in out and "TAMPERED" in out


# -- 6. OpenAPI ----------------------------------------------------------------------------

UNITS = {
    "_deg": ("degree",),
    "_m": ("metre",),
    "_s": ("second",),
    "_pct": ("percent",),
    "_m_s": ("m/s", "metres per second"),
    "_wh": ("Wh", "watt-hour"),
}
"""Field-name suffixes and the words their descriptions must use for the unit."""


def _unit(name: str) -> tuple[str, ...]:
    suffix = max((s for s in UNITS if name.endswith(s)), key=len, default=None)
    return () if suffix is None else UNITS[suffix]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"].rsplit("/", 1)[-1]
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


async def test_openapi_documents_every_request_field_with_its_unit(shared: Shared) -> None:
    async with shared.svc.client(None) as c:
        doc = (await c.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    missing: list[str] = []
    request_schemas: set[str] = set()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            for p in op.get("parameters", []):
                if p["in"] != "path" and not p.get("description"):
                    missing.append(f"{where}: {p['in']} parameter {p['name']}")
            body = op.get("requestBody")
            takes_body = method in {"post", "put", "patch"}
            if takes_body and body is None and not path.endswith(("/dispatch", "/close")):
                missing.append(f"{where}: no request body documented")
            if body is not None:
                request_schemas |= set(_refs(body))
                if "$ref" not in json.dumps(body) and not body.get("description"):
                    missing.append(f"{where}: the request body has no description")
    assert {"IncidentIn", "PreviewIn", "CommandIn"} <= request_schemas
    for name in sorted(request_schemas):
        for prop, spec in schemas[name]["properties"].items():
            if not spec.get("description"):
                missing.append(f"{name}.{prop}: no description")
    for name, schema in sorted(schemas.items()):
        for prop, spec in schema.get("properties", {}).items():
            words = _unit(prop)
            if words and not any(w in (spec.get("description") or "") for w in words):
                missing.append(f"{name}.{prop}: the description does not say {words[0]}")
    assert not missing, "\n".join(missing)
    incident = schemas["IncidentIn"]["properties"]
    assert "degrees" in incident["lat_deg"]["description"]
    assert "metres" in incident["radius_m"]["description"]
    assert "seconds" in schemas["MissionSummaryOut"]["properties"]["eta_s"]["description"]


# -- 7. a vehicle lost during the upload -----------------------------------------------------


class Blackout:
    """Makes one simulated vehicle fall silent the moment a ground station starts uploading.

    It wraps the vehicle's MAVLink endpoint: from the first ``MISSION_COUNT`` it receives
    (the first message of an upload), nothing it receives is handled and nothing it would
    send (replies, heartbeats, telemetry) goes out, as if its radio died right then. Tying
    the blackout to that message makes the loss land inside the upload every time.
    """

    def __init__(self, link: VehicleLink) -> None:
        self._parser = mavlink.MAVLink(None)
        self._parser.robust_parsing = True
        self._datagram, self._tick = link.datagram, link.tick
        self.silent_since: Any = None
        link.datagram = self._on_datagram  # type: ignore[method-assign]
        link.tick = self._on_tick  # type: ignore[method-assign]

    def _on_datagram(self, data: bytes, addr: Address, now_s: float) -> Outgoing:
        if self.silent_since is None:
            for msg in self._parser.parse_buffer(data) or []:
                if msg.get_msgId() == mavlink.MAVLINK_MSG_ID_MISSION_COUNT:
                    self.silent_since = msg
        return [] if self.silent_since is not None else self._datagram(data, addr, now_s)

    def _on_tick(self, now_s: float) -> Outgoing:
        out = self._tick(now_s)  # the streams' schedule keeps running, unheard
        return [] if self.silent_since is not None else out


async def test_a_vehicle_lost_during_the_upload_fails_the_mission_on_the_ground(
    tmp_path: Path,
) -> None:
    port = free_udp_port()
    config = FleetConfig(
        vehicles=1,
        gcs_port=port,
        home_lat_deg=HOME[0],
        home_lon_deg=HOME[1],
        home_alt_amsl_m=HOME[2],
        speed=20.0,
        params=(("COM_DISARM_PRFLT", 20.0),),
    )
    async with Fleet(config) as fleet:
        db = f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"
        urls = (f"udpin://127.0.0.1:{port}",)
        async with running_service(database_url=db, vehicle_urls=urls, **FAST) as svc:
            await ready_drones(svc, 1)
            blackout = Blackout(fleet.vehicle(1).link)
            async with svc.client("responder") as c:
                incident = (await c.post("/api/incidents", json=incident_at(400, 0))).json()
            mission = await pending_mission_for(svc, incident["id"])
            async with svc.client("pilot") as c:
                r = await c.post(f"/api/missions/{mission['id']}/approve")
                assert r.status_code == 200 and r.json()["state"] == "approved", r.text

            async def ended() -> bool:
                state = await mission_state(svc, mission["id"])
                return state in {"failed", "completed", "aborted", "ready", "in_flight"}

            await wait_for(ended, 40, "the mission to end")
            async with svc.client("pilot") as c:
                m = (await c.get(f"/api/missions/{mission['id']}")).json()
            assert blackout.silent_since is not None, "the upload never started"
            assert m["state"] == "failed", m
            assert "upload" in m["reason"], m["reason"]
            assert any(w in m["reason"] for w in ("no answer", "link lost")), m["reason"]
            assert [h["to_state"] for h in m["history"]] == [
                "pending_approval",
                "approved",
                "uploading",
                "failed",
            ]
            vehicle = fleet.vehicle(1).vehicle
            assert not vehicle.armed and vehicle.navigator.items == ()  # nothing flies
            assert svc.services.drones.assigned_to(1) is None  # the drone is free again
