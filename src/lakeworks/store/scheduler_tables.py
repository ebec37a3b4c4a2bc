"""Metadata store tables of the scheduler, workers and Operations Center (migration ``0002``).

- ``scheduler_state``: per workspace and environment, the first planned instant
  (``history_start``) and the end of the planned window (``planned_until``), so that a
  restarted scheduler catches up from where planning stopped, not from "now".
- ``lakeworks_processes``: every scheduler and worker process with its heartbeat.
- ``schedule_nodes``: the scheduling settings of each node as last seen by a scheduler
  (owner, rerun policy, attempts) and the operator's freeze flag, so that operations
  can be checked without loading the workspace.
- ``instance_pending_upstream``: upstream instances an instance waits for that did not
  exist when it was created, by key; linked once they are created.
- ``ops_actions``: every operator action (who, when, what, on which instances).
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

scheduler_state = sa.Table(
    "scheduler_state",
    metadata,
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("history_start", Timestamp, nullable=False),
    sa.Column("planned_until", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("workspace", "env", name="pk_scheduler_state"),
)

lakeworks_processes = sa.Table(
    "lakeworks_processes",
    metadata,
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

schedule_nodes = sa.Table(
    "schedule_nodes",
    metadata,
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

instance_pending_upstream = sa.Table(
    "instance_pending_upstream",
    metadata,
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("cycle_time", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint(
        "instance_id", "node_key", "cycle_time", name="pk_instance_pending_upstream"
    ),
)

ops_actions = sa.Table(
    "ops_actions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(), nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("workspace", sa.String(), nullable=True),
    sa.Column("env", sa.String(), nullable=True),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Index("ix_ops_actions_workspace", "workspace", "env", "id"),
)

SCHEDULER_TABLES: tuple[sa.Table, ...] = (
    scheduler_state,
    lakeworks_processes,
    schedule_nodes,
    instance_pending_upstream,
    ops_actions,
)
"""The tables migration ``0002`` creates."""
