"""Foundation: runs, node versions, instances and their dependencies, attempts, logs, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def _instance_fk(column: str, table: str, *, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["instances.id"], name=f"fk_{table}_{column}_instances", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("run_type", sa.String(), nullable=False),
        sa.Column("run_key", sa.String(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("run_key", name="uq_runs_run_key"),
    )
    op.create_index("ix_runs_workspace_env_id", "runs", ["workspace", "env", "id"])

    op.create_table(
        "node_versions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("header_json", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_node_versions"),
        sa.UniqueConstraint(
            "workspace", "env", "node_key", "version", name="uq_node_versions_node_version"
        ),
    )

    op.create_table(
        "instances",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("workflow", sa.String(), nullable=False),
        sa.Column("run_type", sa.String(), nullable=False),
        sa.Column("run_key", sa.String(), nullable=False),
        sa.Column("cycle_time", Timestamp, nullable=False),
        sa.Column("bizdate", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("resource_group", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("node_version", sa.Integer(), nullable=True),
        sa.Column("rendered_code", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=True),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("next_attempt_at", Timestamp, nullable=True),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("lease_expires_at", Timestamp, nullable=True),
        sa.Column("run_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_instances"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_instances_run_id_runs", ondelete="SET NULL"
        ),
        sa.UniqueConstraint(
            "workspace",
            "env",
            "run_type",
            "run_key",
            "node_key",
            "cycle_time",
            name="uq_instances_cycle",
        ),
    )
    op.create_index("ix_instances_listing", "instances", ["workspace", "env", "state", "id"])
    op.create_index("ix_instances_bizdate", "instances", ["bizdate"])
    op.create_index("ix_instances_node_cycle", "instances", ["node_key", "cycle_time"])
    op.create_index("ix_instances_runnable", "instances", ["state", "priority", "cycle_time"])
    op.create_index("ix_instances_run_id", "instances", ["run_id"])

    op.create_table(
        "instance_dependencies",
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("upstream_instance_id", Id, nullable=False),
        sa.PrimaryKeyConstraint(
            "instance_id", "upstream_instance_id", name="pk_instance_dependencies"
        ),
        _instance_fk("instance_id", "instance_dependencies"),
        _instance_fk("upstream_instance_id", "instance_dependencies"),
    )
    op.create_index(
        "ix_instance_dependencies_upstream", "instance_dependencies", ["upstream_instance_id"]
    )

    op.create_table(
        "attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        _instance_fk("instance_id", "attempts"),
        sa.UniqueConstraint("instance_id", "number", name="uq_attempts_instance_number"),
    )

    op.create_table(
        "instance_logs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instance_logs"),
        _instance_fk("instance_id", "instance_logs"),
    )
    op.create_index("ix_instance_logs_instance", "instance_logs", ["instance_id", "id"])

    op.create_table(
        "instance_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_instance_events"),
        _instance_fk("instance_id", "instance_events"),
    )
    op.create_index("ix_instance_events_instance", "instance_events", ["instance_id", "id"])


def downgrade() -> None:
    for table in (
        "instance_events",
        "instance_logs",
        "attempts",
        "instance_dependencies",
        "instances",
        "node_versions",
        "runs",
    ):
        op.drop_table(table)
