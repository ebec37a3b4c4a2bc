"""Metadata store tables of data integration (migration ``0003``).

- ``sync_runs``: one row per sync attempt with its totals (rows, bytes, dirty rows,
  seconds), outcome and the cursor before and after.
- ``sync_cursors``: the committed high-water mark of each incremental sync node.
- ``sync_dirty_rows``: the quarantine — rows that could not be converted or written,
  with their source position, the reason and the row as JSON.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
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
    sa.Index("ix_sync_runs_node", "workspace", "env", "node_key", "id"),
)

sync_cursors = sa.Table(
    "sync_cursors",
    metadata,
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("value_json", sa.Text(), nullable=False),
    sa.Column("sync_run_id", Id, nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("workspace", "env", "node_key", name="pk_sync_cursors"),
)

sync_dirty_rows = sa.Table(
    "sync_dirty_rows",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("sync_run_id", Id, nullable=False),
    sa.Column("position", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("row_json", sa.Text(), nullable=False),
    sa.Index("ix_sync_dirty_rows_run", "sync_run_id"),
)
