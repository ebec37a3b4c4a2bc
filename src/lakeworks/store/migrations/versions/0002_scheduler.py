"""Scheduler: planning state, process heartbeats, node controls, pending upstream, actions.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("scheduler",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "scheduler_state",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("history_start", Timestamp, nullable=False),
        sa.Column("planned_until", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("workspace", "env", name="pk_scheduler_state"),
    )
    op.create_table(
        "lakeworks_processes",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("groups", sa.String(), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("heartbeat_at", Timestamp, nullable=False),
        sa.Column("stopped_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_lakeworks_processes"),
    )
    op.create_table(
        "schedule_nodes",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("workflow", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("rerun_policy", sa.String(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("frozen_by", sa.String(), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("workspace", "env", "node_key", name="pk_schedule_nodes"),
    )
    op.create_table(
        "instance_pending_upstream",
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("cycle_time", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name="fk_instance_pending_upstream_instance_id_instances",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "instance_id", "node_key", "cycle_time", name="pk_instance_pending_upstream"
        ),
    )
    op.create_table(
        "ops_actions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=True),
        sa.Column("env", sa.String(), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ops_actions"),
    )
    op.create_index("ix_ops_actions_workspace", "ops_actions", ["workspace", "env", "id"])
    # Operations Center listings by owner or workflow stay fast with millions of rows
    op.create_index("ix_instances_owner_listing", "instances", ["workspace", "env", "owner", "id"])
    op.create_index(
        "ix_instances_workflow_listing", "instances", ["workspace", "env", "workflow", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_instances_workflow_listing", table_name="instances")
    op.drop_index("ix_instances_owner_listing", table_name="instances")
    op.drop_index("ix_ops_actions_workspace", table_name="ops_actions")
    op.drop_table("ops_actions")
    op.drop_table("instance_pending_upstream")
    op.drop_table("schedule_nodes")
    op.drop_table("lakeworks_processes")
    op.drop_table("scheduler_state")
