"""DataService Studio: API versions, published APIs, applications, grants, rate
counters, request nonces and the call log.

Revision ID: 0013
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("dataservice",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "ds_versions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("definition_json", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ds_versions"),
        sa.UniqueConstraint("workspace", "api", "version", name="uq_ds_versions_api_version"),
    )
    op.create_table(
        "ds_published",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", Timestamp, nullable=False),
        sa.Column("published_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "api", name="pk_ds_published"),
        sa.UniqueConstraint("route", name="uq_ds_published_route"),
    )
    op.create_table(
        "ds_apps",
        sa.Column("id", Id, autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_ds_apps"),
        sa.UniqueConstraint("app_key", name="uq_ds_apps_app_key"),
        sa.UniqueConstraint("workspace", "name", name="uq_ds_apps_workspace_name"),
    )
    op.create_table(
        "ds_grants",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("app_id", Id, nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("granted_at", Timestamp, nullable=False),
        sa.Column("granted_by", sa.String(), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ds_grants"),
        sa.UniqueConstraint("app_id", "api", name="uq_ds_grants_app_api"),
        sa.ForeignKeyConstraint(
            ["app_id"], ["ds_apps.id"], name="fk_ds_grants_app_id_ds_apps", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "ds_counters",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_ds_counters"),
    )
    op.create_index("ix_ds_counters_expires_at", "ds_counters", ["expires_at"])
    op.create_table(
        "ds_nonces",
        sa.Column("app_key", sa.String(), nullable=False),
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("app_key", "nonce", name="pk_ds_nonces"),
    )
    op.create_index("ix_ds_nonces_expires_at", "ds_nonces", ["expires_at"])
    op.create_table(
        "ds_calls",
        sa.Column("id", Id, autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_ds_calls"),
    )
    op.create_index("ix_ds_calls_api_called_at", "ds_calls", ["workspace", "api", "called_at"])
    op.create_index("ix_ds_calls_called_at", "ds_calls", ["called_at"])


def downgrade() -> None:
    for table in (
        "ds_calls",
        "ds_nonces",
        "ds_counters",
        "ds_grants",
        "ds_apps",
        "ds_published",
        "ds_versions",
    ):
        op.drop_table(table)
