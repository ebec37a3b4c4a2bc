"""Metadata store table of stream nodes (migrations ``0018``, ``0023``): see the migration."""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

stream_status = sa.Table(
    "stream_status",
    metadata,
    sa.Column("workspace", sa.String(), primary_key=True),
    sa.Column("env", sa.String(), primary_key=True),
    sa.Column("node_key", sa.String(), primary_key=True),
    sa.Column("desired", sa.String(), nullable=False),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("instance_id", Id, nullable=True),
    sa.Column("rows_in", sa.BigInteger(), nullable=False),
    sa.Column("rows_out", sa.BigInteger(), nullable=False),
    sa.Column("rows_dirty", sa.BigInteger(), nullable=False),
    sa.Column("rows_per_second", sa.Float(), nullable=False),
    sa.Column("lag_messages", sa.BigInteger(), nullable=True),
    sa.Column("lag_seconds", sa.Float(), nullable=True),
    sa.Column("lag_bytes", sa.BigInteger(), nullable=True),
    sa.Column("watermark", Timestamp, nullable=True),
    sa.Column("last_flush_at", Timestamp, nullable=True),
    sa.Column("restarts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("positions", sa.Text(), nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
)
