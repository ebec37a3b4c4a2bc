"""The metadata store tables of deployments and releases (migration ``0006``).

A *deployment* is a versioned change package: a snapshot of the workspace files, each
marked added / modified / removed / unchanged against the environment's current
release. Applying one creates a *release* (numbered 1, 2, 3… per workspace and
environment) that lists its files and the node version of every node. File contents
are stored once, by hash, in ``deploy_blobs``.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

deploy_blobs = sa.Table(
    "deploy_blobs",
    metadata,
    sa.Column("hash", sa.String(), primary_key=True),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("base_release", sa.Integer(), nullable=True),
    sa.Column("rollback_to", sa.Integer(), nullable=True),
    sa.Column("requires_approval", sa.Boolean(), nullable=False),
    sa.Column("summary_json", sa.Text(), nullable=False),
    sa.Column("problems_json", sa.Text(), nullable=False),
    sa.Column("warnings_json", sa.Text(), nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("decided_by", sa.String(), nullable=True),
    sa.Column("decided_at", Timestamp, nullable=True),
    sa.Column("decision_note", sa.Text(), nullable=True),
    sa.Column("applied_by", sa.String(), nullable=True),
    sa.Column("applied_at", Timestamp, nullable=True),
    sa.Column("release", sa.Integer(), nullable=True),
    sa.Index("ix_deployments_workspace", "workspace", "env", "id"),
)

deployment_files = sa.Table(
    "deployment_files",
    metadata,
    sa.Column(
        "deployment_id",
        Id,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("path", sa.String(), primary_key=True),
    sa.Column("blob_hash", sa.String(), sa.ForeignKey("deploy_blobs.hash"), nullable=False),
    sa.Column("change", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=True),
    sa.Column("node_version", sa.Integer(), nullable=True),
)

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("deployment_id", Id, sa.ForeignKey("deployments.id"), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.UniqueConstraint("workspace", "env", "number", name="uq_releases_number"),
)

release_files = sa.Table(
    "release_files",
    metadata,
    sa.Column(
        "release_id",
        Id,
        sa.ForeignKey("releases.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("path", sa.String(), primary_key=True),
    sa.Column("blob_hash", sa.String(), sa.ForeignKey("deploy_blobs.hash"), nullable=False),
)

release_nodes = sa.Table(
    "release_nodes",
    metadata,
    sa.Column(
        "release_id",
        Id,
        sa.ForeignKey("releases.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("node_key", sa.String(), primary_key=True),
    sa.Column("node_version", sa.Integer(), nullable=False),
)

DEPLOY_TABLES: tuple[sa.Table, ...] = (
    deploy_blobs,
    deployments,
    deployment_files,
    releases,
    release_files,
    release_nodes,
)
