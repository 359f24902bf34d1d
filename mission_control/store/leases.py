"""Lease and presence queries: who owns each vehicle link (and each singleton job).

A lease row is ``(name, holder, token, drone_id, updated_at)``. ``holder`` is an instance id
or ``NULL`` (free). ``token`` grows by one with *every* change of the row's ownership
(acquire, renew, take-over, release), so a ``(holder, token)`` pair is never seen twice:
other instances watch it, and a lease whose pair has not changed for a TTL of their own
monotonic clock is expired. A take-over is then a compare-and-set on exactly the pair that
was watched, so at most one instance wins and a holder that renewed in the meantime keeps
its lease. No decision compares timestamps written by different machines: ``updated_at``
is informational.

Every change is one ``UPDATE ... WHERE`` (or an ``INSERT`` for a lease or instance not yet
stored) whose row count says whether it happened: atomic on SQLite (one writer at a time)
and on PostgreSQL (a concurrent ``UPDATE`` of the same row waits for the first to commit and
re-checks its ``WHERE`` against the new row). Plain SQL only, no dialect-specific upserts.

These functions run on a connection inside the caller's (short, lease-only) transaction;
the store translates database errors. They never touch the ``store_state`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mission_control.store.models import instances, leases

__all__ = [
    "InstanceRow",
    "LeaseRow",
    "acquire",
    "forget_instance",
    "heartbeat",
    "list_instances",
    "list_leases",
    "release",
    "renew",
    "set_drone",
    "take_over",
]


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A stored lease.

    Attributes:
        name: ``link:<url>``, ``dispatcher`` ...
        holder: the holding instance's id; ``None`` when free.
        token: the change counter (see the module docstring).
        drone_id: the MAVLink system id last seen on the link, if any.
        updated_at: when the row last changed, by its writer's clock (informational).
    """

    name: str
    holder: str | None
    token: int
    drone_id: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """A service instance's presence row (``token``: its heartbeat counter)."""

    id: str
    token: int
    started_at: datetime
    updated_at: datetime


def _holder_is(holder: str | None) -> sa.ColumnElement[bool]:
    return leases.c.holder.is_(None) if holder is None else leases.c.holder == holder


async def acquire(conn: AsyncConnection, name: str, holder: str, *, at: datetime) -> int | None:
    """Take the lease ``name`` if it is free (``holder`` NULL) or not stored yet.

    ``UPDATE leases SET holder, token + 1 WHERE name AND holder IS NULL``; if no row
    matched and none exists, ``INSERT (name, holder, token 1)`` (in a savepoint: a
    concurrent creator makes it fail with a key violation, which means "not acquired").

    Returns:
        the lease's new token if ``holder`` now holds it, else ``None``.
    """
    result = await conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, leases.c.holder.is_(None))
        .values(holder=holder, token=leases.c.token + 1, updated_at=at)
    )
    token = await conn.scalar(sa.select(leases.c.token).where(leases.c.name == name))
    if token is not None:
        return int(token) if result.rowcount == 1 else None
    try:
        async with conn.begin_nested():
            await conn.execute(
                sa.insert(leases).values(
                    name=name, holder=holder, token=1, drone_id=None, updated_at=at
                )
            )
    except IntegrityError:
        return None  # created by another instance since the SELECT
    return 1


async def renew(conn: AsyncConnection, name: str, holder: str, *, at: datetime) -> bool:
    """Prove ``holder`` is alive: ``UPDATE ... SET token + 1 WHERE name AND holder``.

    False (nothing written) if the lease is not held by ``holder`` any more.
    """
    result = await conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, leases.c.holder == holder)
        .values(token=leases.c.token + 1, updated_at=at)
    )
    return result.rowcount == 1


async def take_over(
    conn: AsyncConnection,
    name: str,
    holder: str,
    *,
    seen_holder: str | None,
    seen_token: int,
    at: datetime,
) -> bool:
    """Compare-and-set: ``UPDATE ... SET holder, token + 1 WHERE name AND holder =
    seen_holder AND token = seen_token``.

    True if the row still had exactly the observed pair (then ``holder`` holds it); False
    if anything changed since (the old holder renewed, or another instance won).
    """
    result = await conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, _holder_is(seen_holder), leases.c.token == seen_token)
        .values(holder=holder, token=leases.c.token + 1, updated_at=at)
    )
    return result.rowcount == 1


async def release(conn: AsyncConnection, name: str, holder: str, *, at: datetime) -> bool:
    """Free the lease at once: ``UPDATE ... SET holder NULL, token + 1 WHERE name AND
    holder``. False if ``holder`` did not hold it."""
    result = await conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, leases.c.holder == holder)
        .values(holder=None, token=leases.c.token + 1, updated_at=at)
    )
    return result.rowcount == 1


async def set_drone(
    conn: AsyncConnection, name: str, holder: str, drone_id: int | None, *, at: datetime
) -> bool:
    """Record the MAVLink system id seen on the link: ``UPDATE ... SET drone_id WHERE name
    AND holder`` (the token is left alone: ownership did not change). False if ``holder``
    does not hold the lease."""
    result = await conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, leases.c.holder == holder)
        .values(drone_id=drone_id, updated_at=at)
    )
    return result.rowcount == 1


async def list_leases(conn: AsyncConnection) -> list[LeaseRow]:
    """Every stored lease, by name."""
    rows = await conn.execute(sa.select(leases).order_by(leases.c.name))
    return [
        LeaseRow(
            name=r.name,
            holder=r.holder,
            token=int(r.token),
            drone_id=None if r.drone_id is None else int(r.drone_id),
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def heartbeat(conn: AsyncConnection, instance_id: str, *, at: datetime) -> None:
    """Announce ``instance_id`` is alive: ``UPDATE instances SET token + 1 WHERE id``, or
    ``INSERT (id, token 1)`` the first time (in a savepoint; if another connection
    inserted it meanwhile, the ``UPDATE`` is repeated)."""
    bump = (
        sa.update(instances)
        .where(instances.c.id == instance_id)
        .values(token=instances.c.token + 1, updated_at=at)
    )
    if (await conn.execute(bump)).rowcount == 1:
        return
    try:
        async with conn.begin_nested():
            await conn.execute(
                sa.insert(instances).values(id=instance_id, token=1, started_at=at, updated_at=at)
            )
    except IntegrityError:
        await conn.execute(bump)


async def forget_instance(
    conn: AsyncConnection, instance_id: str, *, token: int | None = None
) -> bool:
    """Delete a presence row (on a graceful stop; or a long-dead instance's row, then only
    if its ``token`` is still the one observed). True if a row was deleted."""
    query = sa.delete(instances).where(instances.c.id == instance_id)
    if token is not None:
        query = query.where(instances.c.token == token)
    return (await conn.execute(query)).rowcount == 1


async def list_instances(conn: AsyncConnection) -> list[InstanceRow]:
    """Every presence row, by id."""
    rows = await conn.execute(sa.select(instances).order_by(instances.c.id))
    return [
        InstanceRow(id=r.id, token=int(r.token), started_at=r.started_at, updated_at=r.updated_at)
        for r in rows
    ]
