"""The web UI in a real browser (Debian's chromium) against the running service and its
simulated fleet: a responder's request flies to completion through the pilot's approval
while the command center watches; a wrong token and an illegal command are refused in
words; no page logs a console error. Screenshots of every screen go to
``test-output/e2e/<test name>/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_harness import LAPTOP, WALL, ConsoleWatch, Screenshots, Ui, choose, confirm_if_asked
from playwright.async_api import Browser, Page, expect
from service_harness import (
    FAST,
    HOME,
    ServiceHandle,
    incident_at,
    mission_state,
    pending_mission_for,
    ready_drones,
    running_service,
    square_zone,
    wait_for,
)

from flight_plans.geodesy import GeoPoint, destination

pytestmark = [pytest.mark.e2e]

ANY_TEXT = re.compile(r"\S")


def _db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'mc.db'}"


async def _logged_in(ui: Ui, svc: ServiceHandle, role: str, **open_args: Any) -> Page:
    page = await ui.open(role, **open_args)
    await ui.login(page, svc.tokens[role])
    await expect(page.get_by_test_id("whoami")).to_contain_text(f"demo-{role}")
    return page


async def _marker_box(page: Page, drone_id: int) -> tuple[float, float] | None:
    marker = page.locator(f'.drone-marker[data-drone-id="{drone_id}"]').first
    box = await marker.bounding_box()
    return None if box is None else (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


async def _frames(page: Page, drone_id: int) -> int:
    value = await page.get_by_test_id(f"video-tile-{drone_id}").get_attribute("data-frames")
    return int(value or 0)


async def test_a_request_flies_from_the_responder_through_the_pilot_to_the_command_center(
    browser: Browser, console: ConsoleWatch, screenshots: Screenshots, tmp_path: Path
) -> None:
    """Responder submits on the map → pilot approves → the command center sees the drone
    move and its video → the mission completes; every screen is photographed."""
    async with running_service(database_url=_db(tmp_path), sim_vehicles=2, **FAST) as svc:
        await ready_drones(svc, 2)
        west = destination(GeoPoint(HOME[0], HOME[1]), 270.0, 700.0)
        async with svc.client("admin") as c:
            zone = square_zone(west, 100.0, "E2E-NFZ")
            r = await c.post("/api/zones", content=json.dumps(zone))
            assert r.status_code == 201, r.text
        async with Ui(browser, svc.base_url, console) as ui:
            # -- the responder: login, click the map, then type the exact point ---------------
            responder = await ui.open("responder")
            await expect(responder.get_by_test_id("login-token")).to_be_visible()
            await screenshots.take(responder, "login")
            await ui.login(responder, svc.tokens["responder"])
            await expect(responder.get_by_test_id("whoami")).to_contain_text("demo-responder")
            area = responder.get_by_test_id("responder-map")
            await expect(area).to_be_visible()
            box = await area.bounding_box()
            assert box is not None
            await area.click(position={"x": box["width"] / 2 + 40, "y": box["height"] / 2 - 30})
            lat_field, lon_field = (
                responder.get_by_test_id(f"incident-{f}") for f in ("lat", "lon")
            )
            await expect(lat_field).to_have_value(re.compile(r"^-?\d+\.\d+"))
            clicked = float(await lat_field.input_value()), float(await lon_field.input_value())
            assert abs(clicked[0] - HOME[0]) < 0.05 and abs(clicked[1] - HOME[1]) < 0.05, clicked
            target = incident_at(300, 45)
            await lat_field.fill(f"{target['lat_deg']:.6f}")
            await lon_field.fill(f"{target['lon_deg']:.6f}")
            await choose(responder, "incident-kind", "traffic_collision")
            await choose(responder, "incident-priority", "2")
            await choose(responder, "incident-pattern", "orbit")
            await responder.get_by_test_id("incident-notes").fill("e2e: two cars, one on its roof")
            await screenshots.take(responder, "responder")
            await responder.get_by_test_id("incident-submit").click()
            request = responder.get_by_test_id("requests").locator('[data-testid^="request-"]')
            await expect(request).to_have_count(1)
            incident_id = (await request.get_attribute("data-testid") or "").removeprefix(
                "request-"
            )
            async with svc.client("responder") as c:
                incident = (await c.get(f"/api/incidents/{incident_id}")).json()
            assert incident["lat_deg"] == pytest.approx(target["lat_deg"], abs=1e-5), incident
            assert incident["lon_deg"] == pytest.approx(target["lon_deg"], abs=1e-5), incident
            assert incident["kind"] == "traffic_collision" and incident["priority"] == 2, incident
            mission = await pending_mission_for(svc, incident_id)
            mission_id, drone_id = mission["id"], mission["drone_id"]

            # -- the pilot: the queue, approve with a comment --------------------------------
            pilot = await _logged_in(ui, svc, "pilot")
            await pilot.get_by_test_id("nav-pilot").click()
            pending = pilot.get_by_test_id(f"pending-{mission_id}")
            await expect(pending).to_be_visible()
            await screenshots.take(pilot, "pilot-queue")
            await pilot.get_by_test_id(f"comment-{mission_id}").fill(
                "clear to fly, watch the crane"
            )
            await pilot.get_by_test_id(f"approve-{mission_id}").click()
            await confirm_if_asked(pilot)
            await expect(pilot.get_by_test_id("action-result")).to_have_text(ANY_TEXT)
            async with svc.client("pilot") as c:
                approved = (await c.get(f"/api/missions/{mission_id}")).json()
            steps = {h["to_state"]: h for h in approved["history"]}
            assert steps["approved"]["by"] == "demo-pilot", approved["history"]

            # -- the command center (a viewer on a wall screen): the drone moves, video plays --
            wall = await _logged_in(ui, svc, "viewer", viewport=WALL)
            await expect(wall.get_by_test_id("map")).to_be_visible()
            await expect(wall.get_by_test_id(f"drone-{drone_id}")).to_be_visible()
            marker = wall.locator(f'.drone-marker[data-drone-id="{drone_id}"]').first
            await expect(marker).to_be_attached()
            flying = {"in_flight", "returning"}
            await wait_for(lambda: _state_in(svc, mission_id, flying), 60, "the mission to fly")
            seen: list[tuple[float, float]] = []

            async def moved() -> bool:
                at = await _marker_box(wall, drone_id)
                if at is not None and (not seen or at != seen[-1]):
                    seen.append(at)
                return len(seen) >= 4

            await wait_for(moved, 30, f"drone {drone_id}'s marker to move", period_s=0.3)
            spread = max(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a in seen for b in seen)
            assert spread > 3, f"the marker barely moved: {seen}"
            tile = wall.get_by_test_id(f"video-tile-{drone_id}")
            await expect(tile).to_be_visible()
            first = await _frames(wall, drone_id)

            async def more_frames() -> bool:
                return await _frames(wall, drone_id) >= first + 5

            await wait_for(more_frames, 20, f"video tile {drone_id} to receive frames")
            await expect(
                wall.get_by_test_id("event-feed").locator("[data-seq]").first
            ).to_be_attached()
            await screenshots.take(wall, "command-center")
            await screenshots.take(pilot, "pilot-active")
            # the responder follows its request: the drone assigned and its live video
            followed = responder.get_by_test_id(f"request-{incident_id}")
            await expect(followed).to_contain_text(re.compile(rf"drone\s*{drone_id}\b", re.I))
            own_video = responder.get_by_test_id("responder-video").locator("[data-frames]")
            await expect(own_video).to_have_count(1)
            seen_frames = int(await own_video.get_attribute("data-frames") or 0)

            async def responder_frames() -> bool:
                return int(await own_video.get_attribute("data-frames") or 0) > seen_frames + 3

            await wait_for(responder_frames, 20, "the responder's video to receive frames")
            await screenshots.take(responder, "responder-following")

            # -- the mission completes and the screens say so --------------------------------
            await wait_for(
                lambda: _state_in(svc, mission_id, {"completed"}), 120, "the mission to complete"
            )
            active = pilot.get_by_test_id(f"active-{mission_id}")

            async def pilot_shows_completion() -> bool:
                if await active.count() == 0:
                    return True  # finished missions leave the active list
                return "completed" in (await active.inner_text()).lower()

            await wait_for(pilot_shows_completion, 15, "the pilot screen to show the completion")
            feed = wall.get_by_test_id("event-feed")
            await expect(feed).to_contain_text(re.compile(r"completed", re.I))
            await screenshots.take(wall, "command-center-completed")
            await screenshots.take(responder, "responder-after")

            # -- the admin's zones -----------------------------------------------------------
            admin = await _logged_in(ui, svc, "admin")
            await admin.get_by_test_id("nav-zones").click()
            await expect(admin.get_by_test_id("zones-table")).to_be_visible()
            await expect(admin.get_by_test_id("zone-E2E-NFZ")).to_be_visible()
            # the zone is drawn on the zones map, which is fitted to it
            zones_map = admin.get_by_test_id("zones-map")
            await expect(zones_map.locator("path.leaflet-interactive").first).to_be_visible()
            await screenshots.take(admin, "zones")
    console.check()


async def _state_in(svc: ServiceHandle, mission_id: str, states: set[str]) -> bool:
    return await mission_state(svc, mission_id) in states


async def test_a_wrong_token_is_refused_on_the_login_screen(
    browser: Browser, console: ConsoleWatch, screenshots: Screenshots, tmp_path: Path
) -> None:
    async with (
        running_service(database_url=_db(tmp_path), sim_vehicles=0) as svc,
        Ui(browser, svc.base_url, console) as ui,
    ):
        console.allow_refusal(401, "/api/me")
        page = await ui.open("stranger")
        await ui.login(page, "not-a-token-" + "x" * 30)
        error = page.get_by_test_id("login-error")
        await expect(error).to_be_visible()
        await expect(error).to_have_text(ANY_TEXT)
        await expect(page.get_by_test_id("whoami")).to_have_count(0)
        assert await page.evaluate("localStorage.getItem('mc.token')") in (None, "")
        await screenshots.take(page, "login-refused")
        # and the right token still works from the same screen
        await ui.login(page, svc.tokens["viewer"])
        await expect(page.get_by_test_id("whoami")).to_contain_text("demo-viewer (viewer)")
    console.check()


async def test_an_illegal_command_shows_the_servers_reason(
    browser: Browser, console: ConsoleWatch, screenshots: Screenshots, tmp_path: Path
) -> None:
    """A pilot approves a mission a colleague rejected a moment before (this screen had
    not heard yet): the 409's reason is shown in ``action-result``, nothing flies."""
    async with running_service(database_url=_db(tmp_path), sim_vehicles=1, **FAST) as svc:
        await ready_drones(svc, 1)
        async with svc.client("responder") as c:
            incident = (await c.post("/api/incidents", json=incident_at(300))).json()
        mission_id = (await pending_mission_for(svc, incident["id"]))["id"]
        async with Ui(browser, svc.base_url, console) as ui:
            page = await ui.open("pilot", viewport=LAPTOP)
            # hold this screen's event stream: it keeps showing the mission as pending
            await page.route_web_socket(re.compile(r"/ws/events"), lambda ws: None)
            await ui.login(page, svc.tokens["pilot"])
            await expect(page.get_by_test_id("whoami")).to_contain_text("demo-pilot")
            await page.get_by_test_id("nav-pilot").click()
            await expect(page.get_by_test_id(f"pending-{mission_id}")).to_be_visible()
            async with svc.client("pilot") as c:
                r = await c.post(f"/api/missions/{mission_id}/reject", json={"reason": "colleague"})
                assert r.status_code == 200, r.text
                console.allow_refusal(409, f"/api/missions/{mission_id}/approve")
                await page.get_by_test_id(f"approve-{mission_id}").click()
                await confirm_if_asked(page)
                again = await c.post(f"/api/missions/{mission_id}/approve")
            assert again.status_code == 409, again.text
            reason = again.json()["detail"]  # what the server says (the same refusal)
            await expect(page.get_by_test_id("action-result")).to_contain_text(reason)
            await screenshots.take(page, "pilot-refused")
            assert await mission_state(svc, mission_id) == "rejected"
    console.check()
