"""The metadata store tables of DataService Studio (migration ``0013``)."""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

ds_versions = sa.Table(
    "ds_versions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("api", sa.String(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("route", sa.String(), nullable=False),
    sa.Column("definition_json", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.UniqueConstraint("workspace", "api", "version", name="uq_ds_versions_api_version"),
)

ds_published = sa.Table(
    "ds_published",
    metadata,
    sa.Column("workspace", sa.String(), primary_key=True),
    sa.Column("api", sa.String(), primary_key=True),
    sa.Column("route", sa.String(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("published_at", Timestamp, nullable=False),
    sa.Column("published_by", sa.String(), nullable=False),
    sa.UniqueConstraint("route", name="uq_ds_published_route"),
)

ds_apps = sa.Table(
    "ds_apps",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("app_key", sa.String(), nullable=False),
    sa.Column("secret_ref", sa.Text(), nullable=False),
    sa.Column("secret_hash", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("per_second", sa.Integer(), nullable=True),
    sa.Column("per_day", sa.Integer(), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.UniqueConstraint("app_key", name="uq_ds_apps_app_key"),
    sa.UniqueConstraint("workspace", "name", name="uq_ds_apps_workspace_name"),
)

ds_grants = sa.Table(
    "ds_grants",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("app_id", Id, sa.ForeignKey("ds_apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("api", sa.String(), nullable=False),
    sa.Column("granted_at", Timestamp, nullable=False),
    sa.Column("granted_by", sa.String(), nullable=False),
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.UniqueConstraint("app_id", "api", name="uq_ds_grants_app_api"),
)

ds_counters = sa.Table(
    "ds_counters",
    metadata,
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index("ix_ds_counters_expires_at", "expires_at"),
)

ds_nonces = sa.Table(
    "ds_nonces",
    metadata,
    sa.Column("app_key", sa.String(), primary_key=True),
    sa.Column("nonce", sa.String(), primary_key=True),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index("ix_ds_nonces_expires_at", "expires_at"),
)

ds_calls = sa.Table(
    "ds_calls",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=True),
    sa.Column("api", sa.String(), nullable=True),
    sa.Column("route", sa.String(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=True),
    sa.Column("app_key", sa.String(), nullable=True),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("duration_ms", sa.Float(), nullable=False),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("bytes", sa.Integer(), nullable=False),
    sa.Column("client", sa.String(), nullable=True),
    sa.Column("cached", sa.Boolean(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("called_at", Timestamp, nullable=False),
    sa.Index("ix_ds_calls_api_called_at", "workspace", "api", "called_at"),
    sa.Index("ix_ds_calls_called_at", "called_at"),
)
