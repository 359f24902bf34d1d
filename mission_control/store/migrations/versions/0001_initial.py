"""Initial schema: incidents, missions, events, the audit chain, users, zones.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: it must not import ``models.py`` (which moves on with later
revisions). Times are ``TIMESTAMP WITH TIME ZONE`` (SQLite: UTC text); JSON documents are
canonical JSON text. The audit log is append-only: triggers refuse UPDATE, DELETE (and on
PostgreSQL TRUNCATE), so even the service cannot rewrite it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
TZ = sa.DateTime(timezone=True)

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


def upgrade() -> None:
    state = op.create_table(
        "store_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("audit_last_id", sa.BigInteger, nullable=False),
        sa.Column("audit_last_hash", sa.String(64), nullable=False),
        sa.Column("zones_version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        state, [{"id": 1, "audit_last_id": 0, "audit_last_hash": GENESIS_HASH, "zones_version": 0}]
    )

    op.create_table(
        "incidents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("lat_deg", sa.Double, nullable=False),
        sa.Column("lon_deg", sa.Double, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reported_by", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("pattern", sa.String(32), nullable=True),
        sa.Column("radius_m", sa.Double, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.UniqueConstraint("source", "external_id", name="uq_incidents_source_external_id"),
    )
    for column in ("reported_by", "status", "created_at"):
        op.create_index(f"ix_incidents_{column}", "incidents", [column])

    op.create_table(
        "idempotency_keys",
        sa.Column("actor", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column(
            "incident_id",
            sa.String(64),
            sa.ForeignKey("incidents.id", name="fk_idempotency_keys_incident_id"),
            nullable=False,
        ),
        sa.Column("created_at", TZ, nullable=False),
    )

    op.create_table(
        "missions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "incident_id",
            sa.String(64),
            sa.ForeignKey("incidents.id", name="fk_missions_incident_id"),
            nullable=False,
        ),
        sa.Column("drone_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("pattern", sa.String(32), nullable=False),
        sa.Column("plan_qgc", sa.Text, nullable=False),
        sa.Column("airspace_report", sa.Text, nullable=False),
        sa.Column("eta_s", sa.Double, nullable=False),
        sa.Column("station_item", sa.Integer, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("authorisations", sa.Text, nullable=False),
        sa.Column("approved_by", sa.String(128), nullable=True),
        sa.Column("approved_at", TZ, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("history", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
    )
    for column in ("incident_id", "drone_id", "state", "created_at"):
        op.create_index(f"ix_missions_{column}", "missions", [column])

    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_subject_id", "events", ["subject_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_object_id", "audit_log", ["object_id"])
    triggers = SQLITE_TRIGGERS if op.get_context().dialect.name == "sqlite" else POSTGRES_TRIGGERS
    for ddl in triggers:
        op.execute(ddl)

    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("token_sha256", name="uq_users_token_sha256"),
    )

    op.create_table(
        "zones",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("feature", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    for table in ("zones", "users", "audit_log", "events", "missions", "idempotency_keys"):
        op.drop_table(table)
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("incidents")
    op.drop_table("store_state")
