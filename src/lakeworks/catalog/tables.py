"""The Data Map's tables in the metadata store (migration ``0005``).

- ``catalog_tables`` / ``catalog_columns`` / ``catalog_partitions``: what harvest found
  in every engine and data source, annotated from the workspace files (owner, layer,
  tags, descriptions).
- ``lineage_nodes`` / ``lineage_table_edges`` / ``lineage_column_edges`` /
  ``lineage_unresolved``: lineage parsed from node code, one set per node version.
  Column edges of kind ``filter`` have an empty ``target_column``: the source column
  decides which rows of the target table exist.
- ``lineage_dependents``: things attached to a table that impact analysis reports
  (quality rules, data APIs).
- ``run_lineage``: which instance read or wrote which table and partition, and when.
- ``catalog_search_docs``: one search document per table or node. Its full-text index
  is backend-specific and created by the migration only: an FTS5 table
  ``catalog_search_fts`` (rowid = document id) on SQLite, a generated ``tsv`` column with
  a GIN index on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

catalog_tables = sa.Table(
    "catalog_tables",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("present", sa.Boolean(), nullable=False),
    sa.Column("comment", sa.Text(), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("owner", sa.String(), nullable=True),
    sa.Column("layer", sa.String(), nullable=True),
    sa.Column("tags", sa.Text(), nullable=False),
    sa.Column("partition_columns", sa.Text(), nullable=False),
    sa.Column("row_count", sa.BigInteger(), nullable=True),
    sa.Column("size_bytes", sa.BigInteger(), nullable=True),
    sa.Column("writer_node", sa.String(), nullable=True),
    sa.Column("last_modified", Timestamp, nullable=True),
    sa.Column("harvested_at", Timestamp, nullable=True),
    sa.UniqueConstraint("workspace", "env", "source", "name", name="uq_catalog_tables_name"),
    sa.Index("ix_catalog_tables_lookup", "workspace", "env", "name"),
)

catalog_columns = sa.Table(
    "catalog_columns",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "table_id",
        Id,
        sa.ForeignKey("catalog_tables.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("type", sa.String(), nullable=True),
    sa.Column("nullable", sa.Boolean(), nullable=True),
    sa.Column("comment", sa.Text(), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("is_partition", sa.Boolean(), nullable=False),
    sa.UniqueConstraint("table_id", "name", name="uq_catalog_columns_name"),
)

catalog_partitions = sa.Table(
    "catalog_partitions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "table_id",
        Id,
        sa.ForeignKey("catalog_tables.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("spec", sa.String(), nullable=False),
    sa.Column("row_count", sa.BigInteger(), nullable=True),
    sa.Column("size_bytes", sa.BigInteger(), nullable=True),
    sa.Column("last_modified", Timestamp, nullable=True),
    sa.UniqueConstraint("table_id", "spec", name="uq_catalog_partitions_spec"),
)

lineage_nodes = sa.Table(
    "lineage_nodes",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("node_version", sa.Integer(), nullable=True),
    sa.Column("code_hash", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("owner", sa.String(), nullable=True),
    sa.Column("complete", sa.Boolean(), nullable=False),
    sa.Column("problems", sa.Text(), nullable=False),
    sa.Column("analysed_at", Timestamp, nullable=False),
    sa.UniqueConstraint("workspace", "env", "node_key", name="uq_lineage_nodes_node"),
)

lineage_table_edges = sa.Table(
    "lineage_table_edges",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("source_table", sa.String(), nullable=False),
    sa.Column("target_table", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("node_version", sa.Integer(), nullable=True),
    sa.Index("ix_lineage_table_edges_source", "workspace", "env", "source_table"),
    sa.Index("ix_lineage_table_edges_target", "workspace", "env", "target_table"),
    sa.Index("ix_lineage_table_edges_node", "workspace", "env", "node_key"),
)

lineage_column_edges = sa.Table(
    "lineage_column_edges",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("source_table", sa.String(), nullable=False),
    sa.Column("source_column", sa.String(), nullable=False),
    sa.Column("target_table", sa.String(), nullable=False),
    sa.Column("target_column", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("node_version", sa.Integer(), nullable=True),
    sa.Index("ix_lineage_column_edges_source", "workspace", "env", "source_table", "source_column"),
    sa.Index("ix_lineage_column_edges_target", "workspace", "env", "target_table", "target_column"),
    sa.Index("ix_lineage_column_edges_node", "workspace", "env", "node_key"),
)

lineage_unresolved = sa.Table(
    "lineage_unresolved",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("target_table", sa.String(), nullable=False),
    sa.Column("target_column", sa.String(), nullable=False),
    sa.Index("ix_lineage_unresolved_node", "workspace", "env", "node_key"),
)

lineage_dependents = sa.Table(
    "lineage_dependents",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("table_name", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("owner", sa.String(), nullable=True),
    sa.Column("columns", sa.Text(), nullable=False),
    sa.Index("ix_lineage_dependents_table", "workspace", "env", "table_name"),
)

run_lineage = sa.Table(
    "run_lineage",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("table_name", sa.String(), nullable=False),
    sa.Column("partition", sa.String(), nullable=False),
    sa.Column("direction", sa.String(), nullable=False),
    sa.Column("rows", sa.BigInteger(), nullable=True),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.Index("ix_run_lineage_table", "workspace", "env", "table_name", "recorded_at"),
    sa.Index("ix_run_lineage_instance", "instance_id"),
)

catalog_search_docs = sa.Table(
    "catalog_search_docs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("ref", sa.String(), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("columns", sa.Text(), nullable=False),
    sa.Column("docs", sa.Text(), nullable=False),
    sa.Column("tags", sa.Text(), nullable=False),
    sa.Column("code", sa.Text(), nullable=False),
    sa.UniqueConstraint("workspace", "env", "kind", "ref", name="uq_catalog_search_docs_ref"),
)

CATALOG_TABLES: tuple[sa.Table, ...] = (
    catalog_tables,
    catalog_columns,
    catalog_partitions,
    lineage_nodes,
    lineage_table_edges,
    lineage_column_edges,
    lineage_unresolved,
    lineage_dependents,
    run_lineage,
    catalog_search_docs,
)
"""The tables migration ``0005`` creates (plus the backend's full-text index)."""

SEARCH_WEIGHTS = {"name": 10.0, "columns": 4.0, "tags": 3.0, "docs": 2.0, "code": 1.0}
"""Relative weight of a match in each field of a search document."""

PG_SEARCH_VECTOR = (
    "setweight(to_tsvector('simple', name), 'A') || "
    "setweight(to_tsvector('simple', columns), 'B') || "
    "setweight(to_tsvector('simple', tags || ' ' || docs), 'C') || "
    "setweight(to_tsvector('simple', code), 'D')"
)
"""The PostgreSQL ``tsv`` column's expression (weights A > B > C > D)."""
