"""Data quality: one row per rule evaluation (value, thresholds, verdict, bad-row sample).

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("quality",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "quality_results",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("template", sa.String(), nullable=False),
        sa.Column("strength", sa.String(), nullable=False),
        sa.Column("table_name", sa.String(), nullable=False),
        sa.Column("partition_spec", sa.Text(), nullable=False),
        sa.Column("partition_filter", sa.Text(), nullable=True),
        sa.Column("metric_key", sa.String(), nullable=False),
        sa.Column("cycle_time", Timestamp, nullable=True),
        sa.Column("bizdate", sa.String(), nullable=True),
        sa.Column("instance_id", Id, nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("warn_min", sa.Float(), nullable=True),
        sa.Column("warn_max", sa.Float(), nullable=True),
        sa.Column("fail_min", sa.Float(), nullable=True),
        sa.Column("fail_max", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sample_json", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quality_results"),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name="fk_quality_results_instance_id_instances",
            ondelete="SET NULL",
        ),
    )
    op.create_index(
        "ix_quality_results_series",
        "quality_results",
        ["workspace", "env", "table_name", "metric_key", "cycle_time"],
    )
    op.create_index(
        "ix_quality_results_table", "quality_results", ["workspace", "env", "table_name", "id"]
    )
    op.create_index("ix_quality_results_instance", "quality_results", ["instance_id"])


def downgrade() -> None:
    op.drop_table("quality_results")
