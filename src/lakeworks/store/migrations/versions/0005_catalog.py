"""Data Map: catalog, lineage, run lineage, search documents and their full-text index.

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("catalog",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)

PG_SEARCH_VECTOR = (
    "setweight(to_tsvector('simple', name), 'A') || "
    "setweight(to_tsvector('simple', columns), 'B') || "
    "setweight(to_tsvector('simple', tags || ' ' || docs), 'C') || "
    "setweight(to_tsvector('simple', code), 'D')"
)


def _ws_env() -> list[sa.Column[str]]:
    return [
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "catalog_tables",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_ws_env(),
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
        sa.PrimaryKeyConstraint("id", name="pk_catalog_tables"),
        sa.UniqueConstraint("workspace", "env", "source", "name", name="uq_catalog_tables_name"),
    )
    op.create_index("ix_catalog_tables_lookup", "catalog_tables", ["workspace", "env", "name"])

    op.create_table(
        "catalog_columns",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("table_id", Id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=True),
        sa.Column("nullable", sa.Boolean(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_partition", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_columns"),
        sa.ForeignKeyConstraint(
            ["table_id"],
            ["catalog_tables.id"],
            name="fk_catalog_columns_table_id_catalog_tables",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("table_id", "name", name="uq_catalog_columns_name"),
    )

    op.create_table(
        "catalog_partitions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("table_id", Id, nullable=False),
        sa.Column("spec", sa.String(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("last_modified", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_partitions"),
        sa.ForeignKeyConstraint(
            ["table_id"],
            ["catalog_tables.id"],
            name="fk_catalog_partitions_table_id_catalog_tables",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("table_id", "spec", name="uq_catalog_partitions_spec"),
    )

    op.create_table(
        "lineage_nodes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_ws_env(),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("node_version", sa.Integer(), nullable=True),
        sa.Column("code_hash", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("analysed_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_nodes"),
        sa.UniqueConstraint("workspace", "env", "node_key", name="uq_lineage_nodes_node"),
    )

    op.create_table(
        "lineage_table_edges",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_ws_env(),
        sa.Column("source_table", sa.String(), nullable=False),
        sa.Column("target_table", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("node_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_table_edges"),
    )
    op.create_index(
        "ix_lineage_table_edges_source",
        "lineage_table_edges",
        ["workspace", "env", "source_table"],
    )
    op.create_index(
        "ix_lineage_table_edges_target",
        "lineage_table_edges",
        ["workspace", "env", "target_table"],
    )
    op.create_index(
        "ix_lineage_table_edges_node", "lineage_table_edges", ["workspace", "env", "node_key"]
    )

    op.create_table(
        "lineage_column_edges",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_ws_env(),
        sa.Column("source_table", sa.String(), nullable=False),
        sa.Column("source_column", sa.String(), nullable=False),
        sa.Column("target_table", sa.String(), nullable=False),
        sa.Column("target_column", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("node_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_column_edges"),
    )
    op.create_index(
        "ix_lineage_column_edges_source",
        "lineage_column_edges",
        ["workspace", "env", "source_table", "source_column"],
    )
    op.create_index(
        "ix_lineage_column_edges_target",
        "lineage_column_edges",
        ["workspace", "env", "target_table", "target_column"],
    )
    op.create_index(
        "ix_lineage_column_edges_node", "lineage_column_edges", ["workspace", "env", "node_key"]
    )

    op.create_table(
        "lineage_unresolved",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_ws_env(),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("target_table", sa.String(), nullable=False),
        sa.Column("target_column", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_unresolved"),
    )
    op.create_index(
        "ix_lineage_unresolved_node", "lineage_unresolved", ["workspace", "env", "node_key"]
    )

    op.create_table(
        "lineage_dependents",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_ws_env(),
        sa.Column("table_name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_dependents"),
    )
    op.create_index(
        "ix_lineage_dependents_table", "lineage_dependents", ["workspace", "env", "table_name"]
    )

    op.create_table(
        "run_lineage",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", Id, nullable=False),
        *_ws_env(),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("table_name", sa.String(), nullable=False),
        sa.Column("partition", sa.String(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_lineage"),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name="fk_run_lineage_instance_id_instances",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_run_lineage_table", "run_lineage", ["workspace", "env", "table_name", "recorded_at"]
    )
    op.create_index("ix_run_lineage_instance", "run_lineage", ["instance_id"])

    op.create_table(
        "catalog_search_docs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_ws_env(),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("docs", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_search_docs"),
        sa.UniqueConstraint("workspace", "env", "kind", "ref", name="uq_catalog_search_docs_ref"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE catalog_search_docs ADD COLUMN tsv tsvector "
            f"GENERATED ALWAYS AS ({PG_SEARCH_VECTOR}) STORED"
        )
        op.execute("CREATE INDEX ix_catalog_search_docs_tsv ON catalog_search_docs USING gin (tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE catalog_search_fts USING fts5("
            "name, columns, docs, tags, code, tokenize='unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS catalog_search_fts")
    for table in (
        "catalog_search_docs",
        "run_lineage",
        "lineage_dependents",
        "lineage_unresolved",
        "lineage_column_edges",
        "lineage_table_edges",
        "lineage_nodes",
        "catalog_partitions",
        "catalog_columns",
        "catalog_tables",
    ):
        op.drop_table(table)
