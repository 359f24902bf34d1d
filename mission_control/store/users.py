"""Users and their API tokens.

A token is ``secrets.token_urlsafe(32)`` (256 random bits), shown once when the user is
created; the database keeps only its SHA-256, so a leaked database leaks no usable token.
Looking a token up by its hash needs no constant-time comparison (the hash reveals nothing
about which bytes matched). Tokens never appear in errors, logs or the audit log.

The functions run on a connection inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mission_control.store import audit
from mission_control.store.actors import Actor, Role, parse_role
from mission_control.store.errors import DuplicateError, InvalidValue
from mission_control.store.models import users

__all__ = [
    "MAX_TOKEN_LEN",
    "User",
    "add_user",
    "check_user_name",
    "count_users",
    "delete_user",
    "list_users",
    "new_token",
    "token_sha256",
    "user_for_token",
]

MAX_TOKEN_LEN = 256
"""Longer presented tokens are not looked up (they cannot be ours)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


@dataclass(frozen=True, slots=True)
class User:
    """A user of the service.

    Attributes:
        name: unique login name.
        role: what they may do.
        created_at: aware UTC time of creation.
    """

    name: str
    role: Role
    created_at: datetime

    def actor(self) -> Actor:
        """This user as the :class:`Actor` of a change."""
        return Actor(self.name, self.role.value)


def check_user_name(name: object) -> str:
    """``name`` if it is 1 to 64 characters of letters, digits, ``_ . @ -`` (not first).

    Raises:
        InvalidValue: naming ``name``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidValue(
            "name", "must be 1 to 64 letters, digits or _ . @ - and start with a letter or digit"
        )
    return name


def new_token() -> str:
    """A new random API token (URL-safe text, 256 bits)."""
    return secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    """Hex SHA-256 of ``token``: what the database stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(row: Any) -> User:
    return User(name=row.name, role=Role(row.role), created_at=row.created_at)


async def add_user(
    conn: AsyncConnection, name: str, role: Role | str, *, actor: Actor, at: datetime
) -> str:
    """Create a user and return their token (the only time it is available).

    Raises:
        InvalidValue: a bad name or an unknown role.
        DuplicateError: ``name`` is taken (field ``name``).
    """
    check_user_name(name)
    valid_role = parse_role(role)
    taken = await conn.scalar(sa.select(sa.func.count()).where(users.c.name == name))
    if taken:
        raise DuplicateError("name", name)
    token = new_token()
    await conn.execute(
        sa.insert(users).values(
            name=name, role=valid_role.value, token_sha256=token_sha256(token), created_at=at
        )
    )
    await audit.append(
        conn,
        at=at,
        actor=actor,
        action="user.add",
        object_type="user",
        object_id=name,
        before=None,
        after={"name": name, "role": valid_role.value},
    )
    return token


async def user_for_token(conn: AsyncConnection, token: str) -> User | None:
    """The user holding ``token``, or ``None`` (unknown, empty or over-long token)."""
    if not token or len(token) > MAX_TOKEN_LEN:
        return None
    row = (
        await conn.execute(sa.select(users).where(users.c.token_sha256 == token_sha256(token)))
    ).first()
    return None if row is None else _user(row)


async def list_users(conn: AsyncConnection) -> list[User]:
    """Every user, by name."""
    rows = await conn.execute(sa.select(users).order_by(users.c.name))
    return [_user(r) for r in rows]


async def count_users(conn: AsyncConnection) -> int:
    """How many users exist."""
    return int(await conn.scalar(sa.select(sa.func.count()).select_from(users)) or 0)


async def delete_user(conn: AsyncConnection, name: str, *, actor: Actor, at: datetime) -> bool:
    """Delete a user (their token stops working). False if there was no such user."""
    row = (await conn.execute(sa.select(users).where(users.c.name == name))).first()
    if row is None:
        return False
    await conn.execute(sa.delete(users).where(users.c.name == name))
    await audit.append(
        conn,
        at=at,
        actor=actor,
        action="user.delete",
        object_type="user",
        object_id=name,
        before={"name": name, "role": row.role},
        after=None,
    )
    return True
