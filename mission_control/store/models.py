"""The database tables, as SQLAlchemy Core tables (the store maps rows to domain values).

The schema itself is created and changed only by the Alembic migrations in
``mission_control/store/migrations``; these definitions must match them (a test compares
the migrated database with this metadata on SQLite and PostgreSQL).

JSON documents are stored as canonical JSON *text* (see :mod:`mission_control.store.codec`)
rather than a JSON column type, so both databases hold exactly the bytes the audit hashes
and the optimistic-concurrency checks were computed over.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from mission_control.domain.mission import TERMINAL_STATES

__all__ = [
    "ACTIVE_MISSION_SQL",
    "STATE_ROW_ID",
    "UTCDateTime",
    "audit_log",
    "events",
    "idempotency_keys",
    "incidents",
    "instances",
    "leases",
    "metadata",
    "missions",
    "recording_segments",
    "recordings",
    "store_state",
    "users",
    "zones",
]

STATE_ROW_ID = 1
"""The id of the single :data:`store_state` row."""

ACTIVE_MISSION_SQL = "state NOT IN ({})".format(
    ", ".join(f"'{state.value}'" for state in sorted(TERMINAL_STATES))
)
"""The condition of a non-terminal mission row (the partial index on ``missions``)."""


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite keeps no zone: UTC is implied)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give an aware UTC time")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _big_id() -> sa.types.TypeEngine[int]:
    # SQLite only auto-assigns an INTEGER PRIMARY KEY (a 64-bit rowid anyway)
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


metadata = sa.MetaData()

store_state = sa.Table(
    "store_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("audit_last_id", sa.BigInteger, nullable=False),
    sa.Column("audit_last_hash", sa.String(64), nullable=False),
    sa.Column("zones_version", sa.BigInteger, nullable=False),
)
"""One row: the audit chain's head and the zones version. Every writing transaction locks
it first, which serialises writers (one hash chain, events committed in ``seq`` order)."""

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(200), nullable=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("lat_deg", sa.Double, nullable=False),
    sa.Column("lon_deg", sa.Double, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("reported_by", sa.String(128), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("status_reason", sa.Text, nullable=True),
    sa.Column("pattern", sa.String(32), nullable=True),
    sa.Column("radius_m", sa.Double, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.UniqueConstraint("source", "external_id", name="uq_incidents_source_external_id"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("actor", sa.String(128), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column(
        "incident_id",
        sa.String(64),
        sa.ForeignKey("incidents.id", name="fk_idempotency_keys_incident_id"),
        nullable=False,
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

missions = sa.Table(
    "missions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "incident_id",
        sa.String(64),
        sa.ForeignKey("incidents.id", name="fk_missions_incident_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("drone_id", sa.Integer, nullable=False, index=True),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("pattern", sa.String(32), nullable=False),
    sa.Column("plan_qgc", sa.Text, nullable=False),
    sa.Column("airspace_report", sa.Text, nullable=False),
    sa.Column("eta_s", sa.Double, nullable=False),
    sa.Column("station_item", sa.Integer, nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("authorisations", sa.Text, nullable=False),
    sa.Column("approved_by", sa.String(128), nullable=True),
    sa.Column("approved_at", UTCDateTime, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("history", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Index(
        "uq_missions_drone_id_active",
        "drone_id",
        unique=True,
        sqlite_where=sa.text(ACTIVE_MISSION_SQL),
        postgresql_where=sa.text(ACTIVE_MISSION_SQL),
    ),
)
"""At most one non-terminal mission per drone (``uq_missions_drone_id_active``)."""

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", _big_id(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sqlite_autoincrement=True,  # never reuse a seq, even after the last row is deleted
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(32), nullable=False),
    sa.Column("object_id", sa.String(128), nullable=False, index=True),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
"""Append-only (database triggers refuse UPDATE and DELETE); ids are 1, 2, 3 ... assigned
by the store under the :data:`store_state` lock."""

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("token_sha256", name="uq_users_token_sha256"),
)

zones = sa.Table(
    "zones",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("feature", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=True),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("drone_id", sa.Integer, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
"""Named leases (``link:<url>``, ``dispatcher``): ``holder`` is the owning instance's id
(``NULL``: free); ``token`` grows with every change (acquire, renew, take-over, release), so
``(holder, token)`` never repeats and a take-over is a compare-and-set on it. ``updated_at``
is informational: expiry is judged by watching ``token`` (see
:mod:`mission_control.store.leases`), never by comparing clocks of different machines."""

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
"""Presence of service instances: ``token`` is a heartbeat counter; times are
informational."""

recordings = sa.Table(
    "recordings",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "mission_id",
        sa.String(64),
        sa.ForeignKey("missions.id", name="fk_recordings_mission_id"),
        nullable=False,
    ),
    sa.Column("drone_id", sa.Integer, nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("started_at", UTCDateTime, nullable=False, index=True),
    sa.Column("stopped_at", UTCDateTime, nullable=True),
    sa.Column("retain_until", UTCDateTime, nullable=True, index=True),
    sa.Column("dir", sa.Text, nullable=False),
    sa.Column("frames", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("dropped_frames", sa.BigInteger, nullable=False),
    sa.Column("stop_reason", sa.Text, nullable=False),
    sa.Index("uq_recordings_mission_id", "mission_id", unique=True),
)
"""Evidence recordings (at most one per mission); see :mod:`mission_control.store.recordings`."""

recording_segments = sa.Table(
    "recording_segments",
    metadata,
    sa.Column(
        "recording_id",
        sa.String(64),
        sa.ForeignKey("recordings.id", name="fk_recording_segments_recording_id"),
        primary_key=True,
    ),
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("file", sa.String(64), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=False),
    sa.Column("frames", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("width_px", sa.Integer, nullable=False),
    sa.Column("height_px", sa.Integer, nullable=False),
)
"""The closed segment files of a recording, numbered 1, 2, 3 ... with their SHA-256."""
