"""Leases (vehicle links and singletons owned by one instance), instance presence, and one
active mission per drone.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Written by hand and frozen: it must not import ``models.py`` or the domain (the set of
terminal mission states is spelt out here as it was when this revision was written).

``leases.token`` and ``instances.token`` are counters bumped by every change; instances
judge expiry by watching them change, never by comparing ``updated_at`` (written by another
machine's clock, informational only).

The partial unique index refuses a second non-terminal mission for a drone. On a database
that already holds two such missions for one drone the index cannot be built: the
migration fails (nothing is applied) and the service refuses to start until one of them is
finished.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)

ACTIVE_MISSION = "state NOT IN ('aborted', 'completed', 'expired', 'failed', 'rejected')"
"""Non-terminal missions (the terminal states of ``MissionState`` at this revision)."""


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("drone_id", sa.Integer, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index(
        "uq_missions_drone_id_active",
        "missions",
        ["drone_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_MISSION),
        postgresql_where=sa.text(ACTIVE_MISSION),
    )


def downgrade() -> None:
    op.drop_index("uq_missions_drone_id_active", table_name="missions")
    op.drop_table("instances")
    op.drop_table("leases")
