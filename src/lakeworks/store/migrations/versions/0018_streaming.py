"""Stream nodes: one status row per stream node and environment — the operator's
wish (running or paused) and the live metrics the running stream reports.

The stream's source position is not here: it is committed in the target with the rows.

Revision ID: 0018
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("streaming",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "stream_status",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("desired", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("instance_id", Id, nullable=True),
        sa.Column("rows_in", sa.BigInteger(), nullable=False),
        sa.Column("rows_out", sa.BigInteger(), nullable=False),
        sa.Column("rows_dirty", sa.BigInteger(), nullable=False),
        sa.Column("rows_per_second", sa.Float(), nullable=False),
        sa.Column("lag_messages", sa.BigInteger(), nullable=True),
        sa.Column("lag_seconds", sa.Float(), nullable=True),
        sa.Column("watermark", Timestamp, nullable=True),
        sa.Column("last_flush_at", Timestamp, nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("positions", sa.Text(), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("workspace", "env", "node_key", name="pk_stream_status"),
    )


def downgrade() -> None:
    op.drop_table("stream_status")
