"""Server: workspaces, users, sessions, API tokens, members, grants, masking, secrets,
the append-only audit log, deployments and releases.

Revision ID: 0006
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("server",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)

APPEND_ONLY_MESSAGE = "audit_log is append-only"


def _fk(
    table: str, column: str, referred: str, *, ondelete: str | None = "CASCADE"
) -> sa.Constraint:
    target = "hash" if referred == "deploy_blobs" else "id"
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.{target}"],
        name=f"fk_{table}_{column}_{referred}",
        ondelete=ondelete,
    )


def _security_tables() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
        sa.UniqueConstraint("name", name="uq_workspaces_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("password_changed_at", Timestamp, nullable=True),
        sa.Column("last_login_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("last_seen_at", Timestamp, nullable=False),
        sa.Column("client_ip", sa.String(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),
        _fk("user_sessions", "user_id", "users"),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=True),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        _fk("api_tokens", "user_id", "users"),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id", "id"])
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", Timestamp, nullable=False),
        sa.Column("locked_until", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_login_failures"),
    )
    op.create_table(
        "workspace_members",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "user_id", "role", name="pk_workspace_members"),
        _fk("workspace_members", "user_id", "users"),
    )
    op.create_index("ix_workspace_members_user", "workspace_members", ["user_id"])
    op.create_table(
        "table_grants",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("table_pattern", sa.String(), nullable=False),
        sa.Column("privilege", sa.String(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_table_grants"),
        sa.UniqueConstraint(
            "workspace",
            "env",
            "subject",
            "table_pattern",
            "privilege",
            name="uq_table_grants_rule",
        ),
    )
    op.create_table(
        "masking_rules",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("table_pattern", sa.String(), nullable=False),
        sa.Column("column_pattern", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("exempt_json", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_masking_rules"),
        sa.UniqueConstraint(
            "workspace", "table_pattern", "column_pattern", name="uq_masking_rules_target"
        ),
    )
    op.create_table(
        "stored_secrets",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stored_secrets"),
        sa.UniqueConstraint("workspace", "name", name="uq_stored_secrets_name"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("client_ip", sa.String(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_workspace", "audit_log", ["workspace", "id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "id"])


def _append_only_audit_log() -> None:
    """Triggers that refuse UPDATE and DELETE on the audit log, in the database itself."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION lakeworks_audit_log_append_only() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
            " FOR EACH ROW EXECUTE FUNCTION lakeworks_audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
            " FOR EACH STATEMENT EXECUTE FUNCTION lakeworks_audit_log_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log"
            f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
        )


def _deploy_tables() -> None:
    op.create_table(
        "deploy_blobs",
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_deploy_blobs"),
    )
    op.create_table(
        "deployments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
    )
    op.create_index("ix_deployments_workspace", "deployments", ["workspace", "env", "id"])
    op.create_table(
        "deployment_files",
        sa.Column("deployment_id", Id, nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("blob_hash", sa.String(), nullable=False),
        sa.Column("change", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=True),
        sa.Column("node_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("deployment_id", "path", name="pk_deployment_files"),
        _fk("deployment_files", "deployment_id", "deployments"),
        _fk("deployment_files", "blob_hash", "deploy_blobs", ondelete=None),
    )
    op.create_table(
        "releases",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("deployment_id", Id, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
        sa.UniqueConstraint("workspace", "env", "number", name="uq_releases_number"),
        _fk("releases", "deployment_id", "deployments", ondelete=None),
    )
    op.create_table(
        "release_files",
        sa.Column("release_id", Id, nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("blob_hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("release_id", "path", name="pk_release_files"),
        _fk("release_files", "release_id", "releases"),
        _fk("release_files", "blob_hash", "deploy_blobs", ondelete=None),
    )
    op.create_table(
        "release_nodes",
        sa.Column("release_id", Id, nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("node_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("release_id", "node_key", name="pk_release_nodes"),
        _fk("release_nodes", "release_id", "releases"),
    )


def upgrade() -> None:
    _security_tables()
    _append_only_audit_log()
    _deploy_tables()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS lakeworks_audit_log_append_only()")
    for table in (
        "release_nodes",
        "release_files",
        "releases",
        "deployment_files",
        "deployments",
        "deploy_blobs",
        "audit_log",
        "stored_secrets",
        "masking_rules",
        "table_grants",
        "workspace_members",
        "login_failures",
        "api_tokens",
        "user_sessions",
        "users",
        "workspaces",
    ):
        op.drop_table(table)
