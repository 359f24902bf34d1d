"""Run the real service (uvicorn on a free port) against a simulated fleet, for tests.

``running_service(...)`` starts ``create_app(settings)`` under uvicorn in this event loop
and yields a :class:`ServiceHandle` with its base URL, a token per role and the running
services (for assertions on the database). The simulated fleet is either the service's
built-in one (``sim_vehicles=N``) or a :class:`sim.fleet.Fleet` the test owns and passes
as ``vehicle_port`` (so it can outlive a service restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import websockets

from flight_plans.geodesy import GeoPoint, destination
from mission_control.app import Services, create_app
from mission_control.config import Settings
from sim.fleet import Fleet, FleetConfig

ROLES = ("responder", "pilot", "viewer", "admin")
HOME = (47.397743, 8.545594, 488.0)
"""Launch point of simulated drone 1 (PX4 SITL's Zurich home): lat_deg, lon_deg, alt_amsl_m."""
SPEED = 20.0
"""Simulated seconds per wall second in the service tests."""
FAST = {"sim_speed": SPEED, "sim_home": HOME, "time_on_station_s": 60.0}
"""Service settings that make a mission take seconds (60 s on station = 3 s of wall time)."""


def incident_at(distance_m: float, bearing_deg: float = 45.0, **extra: Any) -> dict[str, Any]:
    """A ``POST /api/incidents`` body ``distance_m`` from :data:`HOME` on ``bearing_deg``."""
    p = destination(GeoPoint(HOME[0], HOME[1]), bearing_deg, distance_m)
    return {
        "lat_deg": p.lat_deg,
        "lon_deg": p.lon_deg,
        "kind": "traffic_collision",
        "priority": 2,
        **extra,
    }


def square_zone(
    center: GeoPoint, half_m: float, ident: str, *, kind: str = "exclusion"
) -> dict[str, Any]:
    """A GeoJSON Feature: a square of side ``2 * half_m`` metres around ``center``."""
    corners = [destination(center, b, half_m * 2**0.5) for b in (45, 135, 225, 315)]
    ring = [[c.lon_deg, c.lat_deg] for c in (*corners, corners[0])]
    return {
        "type": "Feature",
        "properties": {"identifier": ident, "name": f"zone {ident}", "kind": kind},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def own_fleet(port: int, **config: Any) -> Fleet:
    """One simulated drone at :data:`HOME` owned by the test, sending to ``port``."""
    return Fleet(
        FleetConfig(
            vehicles=config.pop("vehicles", 1),
            gcs_port=port,
            home_lat_deg=HOME[0],
            home_lon_deg=HOME[1],
            home_alt_amsl_m=HOME[2],
            speed=SPEED,
            params=(("COM_DISARM_PRFLT", 20.0),),
            **config,
        )
    )


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class ServiceHandle:
    """A running service."""

    base_url: str
    services: Services
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")

    def client(self, role: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client authenticated as the demo user of ``role`` (None: no token)."""
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30, **kwargs)

    async def ws(self, path: str, role: str = "viewer", **params: Any) -> Any:
        """A connected websocket (``async with``) authenticated as ``role``."""
        query = "&".join([f"token={self.tokens[role]}", *(f"{k}={v}" for k, v in params.items())])
        return websockets.connect(f"{self.ws_url}{path}?{query}", max_size=None)


@contextlib.asynccontextmanager
async def running_service(**overrides: Any) -> AsyncIterator[ServiceHandle]:
    """Start the service with ``Settings(**overrides)`` and stop it on exit."""
    overrides.setdefault("port", free_tcp_port())
    overrides.setdefault("pending_ttl_s", 300.0)
    # evidence recording costs a core's tenth per flying drone: only the video tests record;
    # recordings go to a fresh directory, never the working directory
    overrides.setdefault("video_record", False)
    with tempfile.TemporaryDirectory(prefix="mc-test-recordings-") as recordings:
        overrides.setdefault("video_dir", recordings)
        async with _serving(Settings(**overrides)) as handle:
            yield handle


@contextlib.asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[ServiceHandle]:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        ws_per_message_deflate=False,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="test-uvicorn")
    try:
        for _ in range(600):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        if task.done():
            task.result()  # raises the start-up error
            raise RuntimeError("the service stopped during start-up")
        if not server.started:
            raise TimeoutError("the service did not start within 30 s")
        services: Services = app.state.services
        yield ServiceHandle(
            f"http://127.0.0.1:{settings.port}", services, dict(services.demo_tokens)
        )
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


async def wait_for(
    probe: Callable[[], Any], timeout_s: float, what: str, period_s: float = 0.1
) -> Any:
    """Await ``probe()`` (sync or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Any = None
    while loop.time() < deadline:
        last = probe()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(period_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


async def ready_drones(handle: ServiceHandle, count: int, timeout_s: float = 30) -> None:
    """Wait until ``count`` drones report position, battery and a 3-D GPS fix."""

    def ready() -> bool:
        snaps = handle.services.drones.snapshots()
        return (
            sum(
                1
                for s in snaps
                if s.has_position and s.battery_fraction is not None and s.gps_fix == "fix_3d"
            )
            >= count
        )

    await wait_for(ready, timeout_s, f"{count} ready drones")


async def mission_state(handle: ServiceHandle, mission_id: str) -> str:
    async with handle.client("pilot") as c:
        r = await c.get(f"/api/missions/{mission_id}")
        r.raise_for_status()
        state: str = r.json()["state"]
        return state


async def state_is(handle: ServiceHandle, mission_id: str, state: str) -> bool:
    return await mission_state(handle, mission_id) == state


async def pending_mission_for(
    handle: ServiceHandle, incident_id: str, timeout_s: float = 20
) -> Any:
    """The mission dispatch created for ``incident_id`` (waits for it)."""

    async def probe() -> Any:
        async with handle.client("pilot") as c:
            r = await c.get("/api/missions", params={"incident_id": incident_id})
            found = r.json()
            return found[0] if found else None

    return await wait_for(probe, timeout_s, f"a mission for {incident_id}")


async def collect_events(
    ws: Any, until: Callable[[list[dict[str, Any]]], bool], timeout_s: float
) -> list[dict[str, Any]]:
    """Events from an ``/ws/events`` socket until ``until(events)`` or the timeout."""
    events: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not until(events):
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(
                "timed out; events so far: "
                + ", ".join(
                    f"{e['seq']}:{e['kind']}:{e['payload'].get('state') or e['payload'].get('status')}"
                    for e in events
                )
            )
        try:
            events.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            continue
    return events
