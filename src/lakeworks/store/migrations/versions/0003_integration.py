"""Data integration: sync runs with totals, committed cursors, quarantined dirty rows.

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("integration",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("instance_id", Id, nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("bizdate", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("rows_dirty", sa.BigInteger(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("cursor_before", sa.Text(), nullable=True),
        sa.Column("cursor_after", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
    )
    op.create_index("ix_sync_runs_node", "sync_runs", ["workspace", "env", "node_key", "id"])
    op.create_table(
        "sync_cursors",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("sync_run_id", Id, nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("workspace", "env", "node_key", name="pk_sync_cursors"),
    )
    op.create_table(
        "sync_dirty_rows",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("sync_run_id", Id, nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("row_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_dirty_rows"),
    )
    op.create_index("ix_sync_dirty_rows_run", "sync_dirty_rows", ["sync_run_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_dirty_rows_run", table_name="sync_dirty_rows")
    op.drop_table("sync_dirty_rows")
    op.drop_table("sync_cursors")
    op.drop_index("ix_sync_runs_node", table_name="sync_runs")
    op.drop_table("sync_runs")
