"""The metadata store's tables, on one shared ``metadata`` other areas extend.

Conventions every table follows (and every migration repeats by hand):

- ids are ``BIGINT`` on PostgreSQL and ``INTEGER`` (the rowid) on SQLite (``Id``);
- text columns are unbounded (``String()``/``Text``) so both backends accept the same
  values; enumerations are stored as their string value and checked in Python;
- datetimes are UTC-naive (``DateTime(timezone=False)``), see ``store.clock``;
- constraints and indexes are named explicitly (short enough for PostgreSQL's 63
  characters); anything left unnamed gets a name from ``NAMING_CONVENTION``.
"""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""The type of every surrogate key and of every column referring to one."""

Timestamp = sa.DateTime(timezone=False)
"""A UTC-naive datetime."""

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
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
    sa.UniqueConstraint("run_key", name="uq_runs_run_key"),
    sa.Index("ix_runs_workspace_env_id", "workspace", "env", "id"),
)

node_versions = sa.Table(
    "node_versions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("code_hash", sa.String(), nullable=False),
    sa.Column("code", sa.Text(), nullable=False),
    sa.Column("header_json", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint(
        "workspace", "env", "node_key", "version", name="uq_node_versions_node_version"
    ),
)

_QUEUED_ONLY = sa.text("state = 'waiting_resources'")
"""The work queue: instances waiting for a slot (``InstanceState.WAITING_RESOURCES``)."""

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
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
    sa.Column("run_id", Id, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    sa.UniqueConstraint(
        "workspace",
        "env",
        "run_type",
        "run_key",
        "node_key",
        "cycle_time",
        name="uq_instances_cycle",
    ),
    sa.Index("ix_instances_listing", "workspace", "env", "state", "id"),
    sa.Index("ix_instances_bizdate", "bizdate"),
    sa.Index("ix_instances_node_cycle", "node_key", "cycle_time"),
    sa.Index("ix_instances_runnable", "state", "priority", "cycle_time"),
    sa.Index("ix_instances_run_id", "run_id"),
    sa.Index("ix_instances_node_listing", "workspace", "env", "node_key", "id"),
    # created by migration 0002 (scheduler): Operations Center filters, newest first
    sa.Index("ix_instances_owner_listing", "workspace", "env", "owner", "id"),
    sa.Index("ix_instances_workflow_listing", "workspace", "env", "workflow", "id"),
    # created by migration 0026: the work queue in claim order (queued instances only,
    # on both stores). Only SQLite's condition is repeated here: naming PostgreSQL's
    # would load SQLAlchemy's PostgreSQL dialect (20 ms) in every process on SQLite,
    # and a PostgreSQL store's schema comes from the migrations alone.
    sa.Index(
        "ix_instances_queue",
        "resource_group",
        "workspace",
        "env",
        "priority",
        "cycle_time",
        "id",
        sqlite_where=_QUEUED_ONLY,
    ),
)

instance_dependencies = sa.Table(
    "instance_dependencies",
    metadata,
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "upstream_instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Index("ix_instance_dependencies_upstream", "upstream_instance_id"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("worker", sa.String(), nullable=True),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.UniqueConstraint("instance_id", "number", name="uq_attempts_instance_number"),
)

instance_logs = sa.Table(
    "instance_logs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Index("ix_instance_logs_instance", "instance_id", "id"),
)

instance_events = sa.Table(
    "instance_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(), nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("from_state", sa.String(), nullable=True),
    sa.Column("to_state", sa.String(), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Index("ix_instance_events_instance", "instance_id", "id"),
)

FOUNDATION_TABLES: tuple[sa.Table, ...] = (
    runs,
    node_versions,
    instances,
    instance_dependencies,
    attempts,
    instance_logs,
    instance_events,
)
"""The tables migration ``0001`` creates."""
