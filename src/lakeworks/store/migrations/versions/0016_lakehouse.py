"""Lakehouse tables: table definitions, their commits (versions) and data files.

Revision ID: 0016
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("lakehouse",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "lakehouse_tables",
        sa.Column("warehouse", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("schema_json", sa.Text(), nullable=False),
        sa.Column("partition_by", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("warehouse", "name", name="pk_lakehouse_tables"),
    )
    op.create_table(
        "lakehouse_commits",
        sa.Column("warehouse", sa.String(), nullable=False),
        sa.Column("table_name", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("partitions_json", sa.Text(), nullable=True),
        sa.Column("rows_added", sa.BigInteger(), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=False),
        sa.Column("committed_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("warehouse", "table_name", "version", name="pk_lakehouse_commits"),
    )
    op.create_table(
        "lakehouse_files",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("warehouse", sa.String(), nullable=False),
        sa.Column("table_name", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("partition_key", sa.String(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("added_version", sa.Integer(), nullable=False),
        sa.Column("removed_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lakehouse_files"),
    )
    op.create_index(
        "ix_lakehouse_files_table",
        "lakehouse_files",
        ["warehouse", "table_name", "removed_version"],
    )


def downgrade() -> None:
    op.drop_index("ix_lakehouse_files_table", table_name="lakehouse_files")
    op.drop_table("lakehouse_files")
    op.drop_table("lakehouse_commits")
    op.drop_table("lakehouse_tables")
