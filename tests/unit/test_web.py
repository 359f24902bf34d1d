"""The web UI's serving side without a running service: the map settings are validated,
the content security policy names the tile host, static files stay inside their folders
and are served with types ES modules accept."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from mission_control.app import create_app
from mission_control.config import Settings
from mission_control.web import content_security_policy


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://tiles.example/{z}/{x}/{y}.png", "http:// or https://"),
        ("tiles.example/{z}/{x}/{y}.png", "http:// or https://"),
        ("https:///{z}/{x}/{y}.png", "http:// or https://"),
        ("https://tiles.example/{z}/{x}.png", "lacks {y}"),
        ("https://tiles.example/tile.png", "lacks {z}, {x}, {y}"),
        ("https://t.example/{z}/{x}/{y}.png; script-src *", "no spaces"),
        ("https://t.example/{z}/{x}/{y}.png'", "quotes"),
    ],
)
def test_a_bad_tile_template_is_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ValidationError, match="map_tiles_url") as info:
        Settings(sim_vehicles=0, map_tiles_url=url)
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("url", "source"),
    [
        (None, None),
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
        ("http://tiles-{s}.example.org/{z}/{x}/{y}.png", "http:"),
        ("http://127.0.0.1:8080/osm/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
    ],
)
def test_the_policy_admits_images_from_the_tile_host_only(url: str | None, source: str) -> None:
    policy = content_security_policy(Settings(sim_vehicles=0, map_tiles_url=url), "h:8000")
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self' ws://h:8000 wss://h:8000"
    images = directives["img-src"].split()
    assert images[:3] == ["'self'", "data:", "blob:"]
    assert images[3:] == ([] if source is None else [source])


def test_map_settings_have_defaults_and_limits() -> None:
    s = Settings(sim_vehicles=0)
    assert (s.map_tiles_url, s.map_attribution, s.map_max_zoom) == (None, "", 19)
    assert Settings(sim_vehicles=0, map_tiles_url="  ").map_tiles_url is None
    for zoom in (0, 23):
        with pytest.raises(ValidationError, match="map_max_zoom"):
            Settings(sim_vehicles=0, map_max_zoom=zoom)


async def test_static_files_stay_in_their_folders_and_say_their_type() -> None:
    app = create_app(Settings(sim_vehicles=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ui.test") as c:
        js = await c.get("/vendor/leaflet/leaflet.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert js.headers["cache-control"] == "no-cache"
        css = await c.get("/vendor/leaflet/leaflet.css")
        assert css.headers["content-type"].startswith("text/css")
        assert (await c.get("/vendor/leaflet/images/marker-icon.png")).status_code == 200
        icon = await c.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        for escape in (
            "/static/%2e%2e/__init__.py",
            "/static/..%2f__init__.py",
            "/static/..%2F..%2Fconfig.py",
            "/vendor/leaflet/%2e%2e/__init__.py",
        ):
            r = await c.get(escape)
            assert r.status_code == 404, (escape, r.status_code)
        # the UI never shadows the API or its docs
        assert (await c.get("/openapi.json")).json()["info"]["title"] == "Mission Control"
        assert (await c.get("/docs")).status_code == 200
