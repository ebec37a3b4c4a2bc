"""The metadata store tables of the lakehouse (migration ``0016``).

- ``lakehouse_tables``: one row per table of a warehouse: Arrow schema, partition
  columns, the current version (the last commit) and, after a vacuum (``0025``), the
  oldest version still readable.
- ``lakehouse_commits``: one row per version: operation, partitions touched, rows.
- ``lakehouse_files``: the Parquet files; a file is part of version ``v`` when
  ``added_version <= v`` and (``removed_version`` is null or ``> v``).
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

lakehouse_tables = sa.Table(
    "lakehouse_tables",
    metadata,
    sa.Column("warehouse", sa.String(), primary_key=True),
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("schema_json", sa.Text(), nullable=False),
    sa.Column("partition_by", sa.Text(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("vacuumed_version", sa.Integer(), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

lakehouse_commits = sa.Table(
    "lakehouse_commits",
    metadata,
    sa.Column("warehouse", sa.String(), primary_key=True),
    sa.Column("table_name", sa.String(), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("operation", sa.String(), nullable=False),
    sa.Column("partitions_json", sa.Text(), nullable=True),
    sa.Column("rows_added", sa.BigInteger(), nullable=False),
    sa.Column("rows_total", sa.BigInteger(), nullable=False),
    sa.Column("committed_at", Timestamp, nullable=False),
)

lakehouse_files = sa.Table(
    "lakehouse_files",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("warehouse", sa.String(), nullable=False),
    sa.Column("table_name", sa.String(), nullable=False),
    sa.Column("path", sa.String(), nullable=False),
    sa.Column("partition_key", sa.String(), nullable=False),
    sa.Column("rows", sa.BigInteger(), nullable=False),
    sa.Column("bytes", sa.BigInteger(), nullable=False),
    sa.Column("added_version", sa.Integer(), nullable=False),
    sa.Column("removed_version", sa.Integer(), nullable=True),
    sa.Index("ix_lakehouse_files_table", "warehouse", "table_name", "removed_version"),
)
