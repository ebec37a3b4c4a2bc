"""The metadata store table of quality results (migration ``0004``)."""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

quality_results = sa.Table(
    "quality_results",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
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
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="SET NULL"),
        nullable=True,
    ),
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
    sa.Index(
        "ix_quality_results_series",
        "workspace",
        "env",
        "table_name",
        "metric_key",
        "cycle_time",
    ),
    sa.Index("ix_quality_results_table", "workspace", "env", "table_name", "id"),
    sa.Index("ix_quality_results_instance", "instance_id"),
)

QUALITY_TABLES: tuple[sa.Table, ...] = (quality_results,)
"""The tables migration ``0004`` creates."""
