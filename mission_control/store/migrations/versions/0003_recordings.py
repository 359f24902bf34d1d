"""Evidence recordings of mission video and their segment files.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01

Written by hand and frozen: it must not import ``models.py`` or the domain.

A recording is one mission's video (at most one per mission: ``uq_recordings_mission_id``),
written as MPEG-TS segment files under the recordings directory (``dir`` is relative to
it). Each closed segment is a ``recording_segments`` row carrying the file's SHA-256, so an
export can prove the files are the ones written. ``retain_until`` is NULL while recording;
a purge deletes the files of recordings past it and marks them ``purged`` (the rows stay).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "mission_id",
            sa.String(64),
            sa.ForeignKey("missions.id", name="fk_recordings_mission_id"),
            nullable=False,
        ),
        sa.Column("drone_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("stopped_at", TZ, nullable=True),
        sa.Column("retain_until", TZ, nullable=True),
        sa.Column("dir", sa.Text, nullable=False),
        sa.Column("frames", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("dropped_frames", sa.BigInteger, nullable=False),
        sa.Column("stop_reason", sa.Text, nullable=False),
    )
    op.create_index("uq_recordings_mission_id", "recordings", ["mission_id"], unique=True)
    for column in ("drone_id", "state", "started_at", "retain_until"):
        op.create_index(f"ix_recordings_{column}", "recordings", [column])

    op.create_table(
        "recording_segments",
        sa.Column(
            "recording_id",
            sa.String(64),
            sa.ForeignKey("recordings.id", name="fk_recording_segments_recording_id"),
            primary_key=True,
        ),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("file", sa.String(64), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width_px", sa.Integer, nullable=False),
        sa.Column("height_px", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recording_segments")
    op.drop_table("recordings")
