"""Typed access to the services the lifespan built (no globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from mission_control.app import Services

__all__ = ["services_of"]


def services_of(conn: HTTPConnection) -> Services:
    """The running service's parts, for a request or websocket."""
    services: Services = conn.app.state.services
    return services
