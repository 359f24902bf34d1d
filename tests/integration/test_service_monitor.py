"""The in-flight monitor and the pilot's commands, against a simulated drone over real UDP.

Pause holds the drone and resume flies on; RTL returns and completes; abort ends the
mission while the drone returns and lands; commands in the wrong state are refused with
409 and the current state; every command is in the history with the pilot's name. The
monitor returns the drone on low battery, follows a lost and restored link, and holds the
drone short of a no-fly zone that an admin draws across its path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from service_harness import (
    HOME,
    SPEED,
    ServiceHandle,
    mission_state,
    pending_mission_for,
    ready_drones,
    running_service,
    square_zone,
    state_is,
    wait_for,
)
from shapely.geometry import Point, Polygon
from sim_harness import free_udp_port

from flight_plans.geodesy import GeoPoint, LocalFrame, destination, distance_m
from sim._mav import mavlink
from sim.fleet import Fleet, FleetConfig
from sim.mavlink import Address, Outgoing, VehicleLink
from sim.modes import FlightMode
from sim.vehicle import Vehicle

pytestmark = pytest.mark.integration

PILOT = "demo-pilot"


# -- the rig -------------------------------------------------------------------------------


class Radio:
    """The simulated vehicle's radio, which a test can switch off and on again.

    While off, nothing the vehicle receives is handled and nothing it would send
    (heartbeats, telemetry, replies) goes out; its flight model keeps running.
    """

    def __init__(self, link: VehicleLink) -> None:
        self._datagram, self._tick = link.datagram, link.tick
        self.on = True
        link.datagram = self._on_datagram  # type: ignore[method-assign]
        link.tick = self._on_tick  # type: ignore[method-assign]

    def _on_datagram(self, data: bytes, addr: Address, now_s: float) -> Outgoing:
        return self._datagram(data, addr, now_s) if self.on else []

    def _on_tick(self, now_s: float) -> Outgoing:
        out = self._tick(now_s)  # the streams' schedule keeps running, unheard
        return out if self.on else []


class AckLoss:
    """Loses the vehicle's next ``count`` acknowledgements of a mode change on the radio.

    The vehicle carries the command out; the ground station re-sends it until an ACK gets
    through, so the new mode shows in a heartbeat before the command call returns.
    """

    _MODE_COMMANDS = frozenset({mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH})

    def __init__(self, link: VehicleLink) -> None:
        self._parser = mavlink.MAVLink(None)
        self._parser.robust_parsing = True
        self._datagram = link.datagram
        self.count = 0
        self.lost = 0
        link.datagram = self._on_datagram  # type: ignore[method-assign]

    def _on_datagram(self, data: bytes, addr: Address, now_s: float) -> Outgoing:
        out = self._datagram(data, addr, now_s)
        kept = []
        for datagram in out:
            msgs = self._parser.parse_buffer(datagram[0]) or []
            if self.count > 0 and any(
                m.get_msgId() == mavlink.MAVLINK_MSG_ID_COMMAND_ACK
                and m.command in self._MODE_COMMANDS
                for m in msgs
            ):
                self.count -= 1
                self.lost += 1
                continue
            kept.append(datagram)
        return kept


class Events:
    """An ``/ws/events`` socket (replayed from the start) and everything it delivered."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self.seen: list[dict[str, Any]] = []

    async def wait(
        self, found: Callable[[dict[str, Any]], bool], timeout_s: float, what: str
    ) -> dict[str, Any]:
        """The first event (already seen or arriving within ``timeout_s``) that matches."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        i = 0
        while True:
            while i < len(self.seen):
                if found(self.seen[i]):
                    return self.seen[i]
                i += 1
            left = deadline - loop.time()
            if left <= 0:
                kinds = [f"{e['kind']}:{e['payload'].get('state', '')}" for e in self.seen]
                raise AssertionError(f"timed out waiting for {what}; events: {kinds}")
            with contextlib.suppress(TimeoutError):
                self.seen.append(json.loads(await asyncio.wait_for(self._ws.recv(), left)))

    async def alert(self, severity: str, mission_id: str, timeout_s: float = 30) -> dict[str, Any]:
        """The payload of the first ``severity`` alert about ``mission_id``."""
        event = await self.wait(
            lambda e: (
                e["kind"] == "alert"
                and e["payload"]["severity"] == severity
                and e["payload"]["mission_id"] == mission_id
            ),
            timeout_s,
            f"a {severity} alert for {mission_id}",
        )
        payload: dict[str, Any] = event["payload"]
        return payload

    async def reached(self, mission_id: str, state: str, timeout_s: float) -> None:
        """Wait for the event of ``mission_id`` entering ``state``."""
        await self.wait(
            lambda e: (
                e["kind"].startswith("mission.")
                and e["subject_id"] == mission_id
                and e["payload"].get("state") == state
            ),
            timeout_s,
            f"{mission_id} {state}",
        )

    def states(self, mission_id: str) -> list[str]:
        return [
            e["payload"]["state"]
            for e in self.seen
            if e["kind"].startswith("mission.") and e["subject_id"] == mission_id
        ]


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path, *, battery_soc: float = 1.0
) -> AsyncIterator[tuple[ServiceHandle, Fleet, Events]]:
    """The service, one simulated drone the test owns, and the event stream."""
    port = free_udp_port()
    config = FleetConfig(
        vehicles=1,
        gcs_port=port,
        home_lat_deg=HOME[0],
        home_lon_deg=HOME[1],
        home_alt_amsl_m=HOME[2],
        speed=SPEED,
        battery_soc=battery_soc,
        params=(("COM_DISARM_PRFLT", 20.0),),
    )
    async with (
        Fleet(config) as fleet,
        running_service(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}",
            vehicle_urls=(f"udpin://127.0.0.1:{port}",),
            sim_speed=SPEED,
            sim_home=HOME,
            time_on_station_s=60.0,  # 3 s of wall time
        ) as svc,
    ):
        await ready_drones(svc, 1)
        async with await svc.ws("/ws/events", "viewer", since=0) as ws:
            yield svc, fleet, Events(ws)


def here(v: Vehicle) -> GeoPoint:
    return v.position(noisy=False)


def ground_speed_m_s(v: Vehicle) -> float:
    return math.hypot(v.body.vx_m_s, v.body.vy_m_s)


async def launch(
    svc: ServiceHandle, v: Vehicle, distance_m: float, bearing_deg: float = 0.0
) -> dict[str, Any]:
    """Report an incident, approve its mission and wait until the drone cruises out."""
    p = destination(GeoPoint(HOME[0], HOME[1]), bearing_deg, distance_m)
    incident = {
        "lat_deg": p.lat_deg,
        "lon_deg": p.lon_deg,
        "kind": "traffic_collision",
        "priority": 2,
    }
    async with svc.client("responder") as c:
        r = await c.post("/api/incidents", json=incident)
        assert r.status_code == 201, r.text
    mission: dict[str, Any] = await pending_mission_for(svc, r.json()["id"])
    async with svc.client("pilot") as c:
        r = await c.post(f"/api/missions/{mission['id']}/approve")
        assert r.status_code == 200, r.text

    async def cruising() -> bool:
        return (
            await mission_state(svc, mission["id"]) == "in_flight"
            and v.mode is FlightMode.MISSION
            and v.alt_rel_m > 10.0
            and ground_speed_m_s(v) > 2.0
        )

    await wait_for(cruising, 60, "the drone cruising out")
    return mission


async def command(
    svc: ServiceHandle, mission_id: str, action: str, expect: int = 200
) -> dict[str, Any]:
    async with svc.client("pilot") as c:
        r = await c.post(f"/api/missions/{mission_id}/{action}")
    assert r.status_code == expect, f"{action}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


async def mission_of(svc: ServiceHandle, mission_id: str) -> dict[str, Any]:
    async with svc.client("pilot") as c:
        r = await c.get(f"/api/missions/{mission_id}")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body


async def drone_mode(svc: ServiceHandle) -> str | None:
    async with svc.client("viewer") as c:
        r = await c.get("/api/drones/1")
        r.raise_for_status()
        mode: str | None = r.json()["flight_mode"]
        return mode


async def settled(v: Vehicle) -> GeoPoint:
    """Where the vehicle stands once it has braked to a hover."""
    await wait_for(lambda: ground_speed_m_s(v) < 0.2, 20, "the drone to stop")
    return here(v)


# -- pilot commands ----------------------------------------------------------------------------


async def test_pause_holds_resume_flies_on_and_rtl_returns_and_completes(tmp_path: Path) -> None:
    async with rig(tmp_path) as (svc, fleet, events):
        v = fleet.vehicle(1).vehicle
        mission = await launch(svc, v, 1200)
        mid = mission["id"]
        refused = await command(svc, mid, "resume", expect=409)
        assert refused["current_state"] == "in_flight"

        assert (await command(svc, mid, "pause"))["state"] == "paused"
        assert v.mode is FlightMode.LOITER  # the vehicle accepted before the state changed
        await wait_for(lambda: _mode_is(svc, "hold"), 10, "the drone reported in hold")
        held = await settled(v)
        await asyncio.sleep(1.0)  # 20 simulated seconds
        assert distance_m(held, here(v)) < 1.0
        assert v.mode is FlightMode.LOITER and v.in_air
        assert await mission_state(svc, mid) == "paused"
        refused = await command(svc, mid, "pause", expect=409)
        assert refused["current_state"] == "paused"

        assert (await command(svc, mid, "resume"))["state"] == "in_flight"
        assert v.mode is FlightMode.MISSION
        await wait_for(lambda: distance_m(held, here(v)) > 30.0, 20, "the drone flying on")
        assert await mission_state(svc, mid) == "in_flight"

        assert (await command(svc, mid, "rtl"))["state"] == "returning"
        assert v.mode is FlightMode.RTL
        await wait_for(lambda: state_is(svc, mid, "completed"), 90, "completed")
        assert not v.armed and not v.in_air
        home = GeoPoint(HOME[0], HOME[1])
        assert distance_m(home, here(v)) < 5.0  # it came back rather than landing on the spot
        refused = await command(svc, mid, "rtl", expect=409)
        assert refused["current_state"] == "completed"

        m = await mission_of(svc, mid)
        by_pilot = [(h["to_state"], h["by"]) for h in m["history"] if h["by"] == PILOT]
        assert by_pilot == [
            ("approved", PILOT),
            ("paused", PILOT),
            ("in_flight", PILOT),
            ("returning", PILOT),
        ]
        assert [h["to_state"] for h in m["history"]][-1] == "completed"
        warning = await events.alert("warning", mid)
        assert PILOT in warning["text"] and "rtl" in warning["text"]
        assert svc.services.drones.assigned_to(1) is None


async def test_a_pilots_rtl_is_recorded_as_theirs_when_its_ack_is_late(tmp_path: Path) -> None:
    """The vehicle's RTL mode shows before the ACK: still the pilot's RTL, not a 409."""
    async with rig(tmp_path) as (svc, fleet, events):
        v = fleet.vehicle(1).vehicle
        loss = AckLoss(fleet.vehicle(1).link)
        mission = await launch(svc, v, 1200)
        mid = mission["id"]
        loss.count = 2
        assert (await command(svc, mid, "rtl"))["state"] == "returning"
        assert loss.lost == 2 and v.mode is FlightMode.RTL
        m = await mission_of(svc, mid)
        last = m["history"][-1]
        assert (last["from_state"], last["to_state"], last["by"]) == (
            "in_flight",
            "returning",
            PILOT,
        ), m["history"]
        assert [h["to_state"] for h in m["history"]].count("returning") == 1
        alert = await events.alert("warning", mid)
        assert PILOT in alert["text"]


async def _mode_is(svc: ServiceHandle, mode: str) -> bool:
    return await drone_mode(svc) == mode


async def test_abort_in_flight_is_terminal_and_the_drone_returns_and_lands(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as (svc, fleet, events):
        v = fleet.vehicle(1).vehicle
        mission = await launch(svc, v, 1200)
        mid = mission["id"]
        out = await command(svc, mid, "abort")
        assert out["state"] == "aborted"
        assert v.mode is FlightMode.RTL and v.armed
        for action in ("resume", "pause", "rtl", "abort"):
            refused = await command(svc, mid, action, expect=409)
            assert refused["current_state"] == "aborted", action
        await wait_for(lambda: not v.armed, 90, "the drone to land and disarm")
        assert not v.in_air
        assert distance_m(GeoPoint(HOME[0], HOME[1]), here(v)) < 5.0
        m = await mission_of(svc, mid)
        assert m["state"] == "aborted"  # landing does not turn it into "completed"
        last = m["history"][-1]
        assert (last["from_state"], last["to_state"], last["by"]) == ("in_flight", "aborted", PILOT)
        assert "aborted" in last["reason"]
        alert = await events.alert("warning", mid)
        assert PILOT in alert["text"] and "abort" in alert["text"]
        assert "completed" not in events.states(mid)
        async with svc.client("viewer") as c:
            incident = (await c.get(f"/api/incidents/{mission['incident_id']}")).json()
        assert incident["status"] == "unserviceable" and "aborted" in incident["status_reason"]


# -- the monitor ---------------------------------------------------------------------------------


async def test_a_battery_below_the_threshold_returns_the_drone_with_a_critical_alert(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, battery_soc=0.6) as (svc, fleet, events):
        v = fleet.vehicle(1).vehicle
        mission = await launch(svc, v, 1200)
        mid = mission["id"]
        assert v.battery.soc > 0.4
        # drain to 20 % (under the service's 25 %, above the vehicle's own 15 % warning);
        # a full pack in 200 s: 100 A, inside what SYS_STATUS can carry (327 A)
        v.set_param("SIM_BAT_MIN_PCT", 20.0)
        v.set_param("SIM_BAT_DRAIN", 200.0)
        alert = await events.alert("critical", mid)
        assert "battery" in alert["text"] and alert["drone_id"] == 1
        await wait_for(lambda: state_is(svc, mid, "returning"), 20, "returning")
        assert v.mode is FlightMode.RTL
        m = await mission_of(svc, mid)
        last = m["history"][-1]
        assert (last["to_state"], last["by"]) == ("returning", "system")
        assert "battery" in last["reason"]
        await wait_for(lambda: state_is(svc, mid, "completed"), 90, "completed")
        assert not v.armed


async def test_a_lost_link_is_flagged_and_its_return_restores_the_vehicles_state(
    tmp_path: Path,
) -> None:
    """Twice: the drone flies on through a short outage (→ in_flight again); in a longer
    one its own data-link failsafe returns it (→ returning, from its mode), then it lands."""
    async with rig(tmp_path) as (svc, fleet, events):
        v = fleet.vehicle(1).vehicle
        radio = Radio(fleet.vehicle(1).link)
        mission = await launch(svc, v, 1500)
        mid = mission["id"]

        radio.on = False
        await wait_for(lambda: state_is(svc, mid, "link_lost"), 20, "link_lost")
        alert = await events.alert("critical", mid)
        assert "lost the link" in alert["text"] and alert["drone_id"] == 1
        assert v.mode is FlightMode.MISSION and not v.link_lost  # NAV_DLL_ACT 0: flies on
        radio.on = True
        restored_s = v.link_time_s
        info = await events.alert("info", mid)
        assert "restored" in info["text"]
        await wait_for(lambda: state_is(svc, mid, "in_flight"), 20, "in_flight again")

        # the vehicle hears the ground station again before its loss timeout gets shorter
        await wait_for(lambda: (v.last_gcs_s or 0.0) > restored_s, 10, "a GCS heartbeat")
        v.set_param("COM_DL_LOSS_T", 5.0)  # wall-clock seconds, like the ground station's
        v.set_param("NAV_DLL_ACT", 2)  # return on data-link loss
        radio.on = False
        await wait_for(lambda: v.mode is FlightMode.RTL, 30, "the drone's link failsafe")
        await wait_for(lambda: state_is(svc, mid, "link_lost"), 20, "link_lost again")
        radio.on = True
        await wait_for(lambda: state_is(svc, mid, "returning"), 20, "returning")
        await events.reached(mid, "completed", 120)
        assert not v.armed and not v.in_air

        m = await mission_of(svc, mid)
        states = [h["to_state"] for h in m["history"]]
        assert states[states.index("in_flight") :] == [
            "in_flight",
            "link_lost",
            "in_flight",
            "link_lost",
            "returning",
            "completed",
        ], states
        back = [h for h in m["history"] if h["from_state"] == "link_lost"]
        assert "vehicle mission" in back[0]["reason"], back[0]
        assert "return_to_launch" in back[1]["reason"], back[1]
        alerts = [(e["payload"]["severity"], e["payload"]["text"]) for e in _alerts(events, mid)]
        assert [sev for sev, _ in alerts] == ["critical", "info", "critical", "info"], alerts


async def test_a_zone_drawn_across_the_path_holds_the_drone_short_of_it(tmp_path: Path) -> None:
    async with rig(tmp_path) as (svc, fleet, events):
        v = fleet.vehicle(1).vehicle
        mission = await launch(svc, v, 1500)
        mid = mission["id"]
        ahead = destination(here(v), 0.0, 400.0)
        zone = square_zone(ahead, 100.0, "NFZ-AHEAD")
        async with svc.client("admin") as c:
            r = await c.post("/api/zones", json=zone)
            assert r.status_code == 201, r.text
        warning = await events.alert("warning", mid)
        assert "NFZ-AHEAD" in warning["text"] and "holding" in warning["text"]
        await wait_for(lambda: state_is(svc, mid, "paused"), 20, "paused")
        assert v.mode is FlightMode.LOITER
        held = await settled(v)
        frame = LocalFrame.at(ahead.lat_deg, ahead.lon_deg)  # planar checks in metres
        ring = [frame.to_local(GeoPoint(lat, lon)) for lon, lat in zone_ring(zone)]
        assert not Polygon(ring).contains(Point(frame.to_local(held)))
        assert distance_m(held, ahead) > 100.0  # short of its southern edge
        m = await mission_of(svc, mid)
        last = m["history"][-1]
        assert (last["to_state"], last["by"]) == ("paused", "system")
        assert "NFZ-AHEAD" in last["reason"]

        assert (await command(svc, mid, "rtl"))["state"] == "returning"
        await wait_for(lambda: state_is(svc, mid, "completed"), 90, "completed")
        assert not v.armed
        assert not any(e["payload"]["severity"] == "critical" for e in _alerts(events, mid))


def zone_ring(zone: dict[str, Any]) -> list[tuple[float, float]]:
    return [(lon, lat) for lon, lat in zone["geometry"]["coordinates"][0]]


def _alerts(events: Events, mission_id: str) -> list[dict[str, Any]]:
    return [
        e for e in events.seen if e["kind"] == "alert" and e["payload"]["mission_id"] == mission_id
    ]
