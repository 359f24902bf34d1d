"""Bearer-token authentication and the role matrix.

Roles: ``responder`` (reports incidents, sees its own), ``pilot`` (approves, rejects and
commands missions), ``viewer`` (read-only screens), ``admin`` (users and zones). Every
route names the roles it admits with :func:`require`; no token or an unknown one is 401, a
known token of another role is 403. Websockets pass the token as ``?token=``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, WebSocket, status

from mission_control.store import Actor, Role

__all__ = ["READERS", "Role", "authenticate_token", "require"]


READERS = frozenset({Role.PILOT, Role.VIEWER, Role.ADMIN})
"""Roles that see every incident, mission, drone and zone."""


async def authenticate_token(request: Request | WebSocket, token: str | None) -> Actor | None:
    """The user a token belongs to, ``None`` for a missing or unknown token."""
    if not token:
        return None
    services = request.app.state.services
    user = await services.store.user_for_token(token)
    if user is None:
        return None
    return Actor(user.name, user.role)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require(*roles: Role) -> Callable[[Request], Awaitable[Actor]]:
    """A FastAPI dependency admitting the given roles; it returns the caller as an Actor."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Actor:
        actor = await authenticate_token(request, _bearer(request))
        if actor is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required (Authorization: Bearer TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if actor.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {actor.role!r} may not do this (allowed: {names})",
            )
        return actor

    return dependency
