"""The command-center web UI: one page and its static files, served by the service itself.

:func:`install_web` adds three things to the application, none of which overlaps ``/api``,
``/ws``, ``/docs`` or ``/openapi.json``:

- ``/`` — ``static/index.html`` (the screens route by URL hash: ``#/command`` …), with a
  content security policy: scripts, styles and fonts from this origin only, websockets to
  this host, images from here (plus ``blob:``/``data:`` for video frames and Leaflet) and
  from the configured tile host;
- ``/static/…`` — ``mission_control/web/static`` (ES modules, CSS);
- ``/vendor/leaflet/…`` — Leaflet from the ``XStatic-Leaflet`` package (no third-party code
  in this repository);
- ``/favicon.ico`` — a small SVG icon (browsers fetch it unasked; a 404 would put an error
  in the console).

Starlette's ``StaticFiles`` refuses paths that leave its directory (``..``, symlinks out).
Every response says ``Cache-Control: no-cache``: a browser revalidates (a cheap 304 by
ETag) so an upgraded service never runs with yesterday's modules.
"""

from __future__ import annotations

import os
from pathlib import Path

import xstatic.pkg.leaflet
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from mission_control.config import Settings

__all__ = ["LEAFLET_DIR", "STATIC_DIR", "content_security_policy", "install_web"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The UI's own files (shipped as package data)."""
LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
"""``leaflet.js``, ``leaflet.css`` and ``images/`` from XStatic-Leaflet."""

_NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
"""Set explicitly: ES modules fail to load when a host's MIME table says text/plain."""

_FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    b'<rect width="32" height="32" rx="6" fill="#12263a"/>'
    b'<path d="M16 5 L25 26 L16 21 L7 26 Z" fill="#f5b700"/></svg>'
)
"""An arrow like the map's drone markers (SVG; browsers take it at ``/favicon.ico``)."""


class _UiFiles(StaticFiles):
    """StaticFiles that asks browsers to revalidate and names JS/CSS types explicitly."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_NO_CACHE)
        media_type = _TYPES.get(Path(full_path).suffix)
        if media_type is not None and isinstance(response, FileResponse):
            response.headers["content-type"] = media_type
        return response


def _tile_source(tiles_url: str | None) -> str:
    """The CSP source of the tile host (``https://*.tile.example.org`` for ``{s}.tile…``)."""
    if not tiles_url:
        return ""
    scheme, _, rest = tiles_url.partition("://")
    labels = rest.split("/", 1)[0].split(".")
    if any("{" in label for label in labels[1:]) or ("{" in labels[0] and labels[0] != "{s}"):
        return f"{scheme}:"  # a placeholder CSP cannot express as a leftmost wildcard
    if labels[0] == "{s}":
        labels[0] = "*"
    return f"{scheme}://{'.'.join(labels)}"


def content_security_policy(settings: Settings, host: str) -> str:
    """The page's policy; ``host`` is the ``Host`` the browser used (for websockets)."""
    tiles = _tile_source(settings.map_tiles_url)
    sockets = f"ws://{host} wss://{host}" if host else "ws: wss:"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Leaflet positions tiles and markers with style attributes
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob: {tiles}".rstrip(),
            f"connect-src 'self' {sockets}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install_web(app: FastAPI, settings: Settings) -> None:
    """Serve the UI at ``/``, its files at ``/static`` and Leaflet at ``/vendor/leaflet``."""
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def index_page(request: Request) -> Response:
        if not index.is_file():
            return PlainTextResponse(
                "the web UI is not installed (mission_control/web/static/index.html missing);"
                " the API is at /docs",
                status_code=503,
            )
        host = request.headers.get("host", "")
        if any(c.isspace() or c in "\"';," for c in host):
            host = ""
        headers = {**_NO_CACHE, "Content-Security-Policy": content_security_policy(settings, host)}
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=headers)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:  # browsers ask for it; a 404 would be a console error
        return Response(_FAVICON, media_type="image/svg+xml", headers=_NO_CACHE)

    app.mount("/static", _UiFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.mount("/vendor/leaflet", _UiFiles(directory=LEAFLET_DIR), name="leaflet")
