"""The metadata store tables of the server's security area (migration ``0006``).

Workspaces known to the server, users, login sessions, API tokens, login throttling,
workspace members and their roles, table grants, column masking rules, stored
(encrypted) secrets and the append-only audit log.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("root", sa.Text(), nullable=False),
    sa.Column("require_approval", sa.Boolean(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.UniqueConstraint("name", name="uq_workspaces_name"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(), nullable=False),
    sa.Column("display_name", sa.String(), nullable=True),
    sa.Column("password_hash", sa.Text(), nullable=True),
    sa.Column("is_superuser", sa.Boolean(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("password_changed_at", Timestamp, nullable=True),
    sa.Column("last_login_at", Timestamp, nullable=True),
    sa.UniqueConstraint("username", name="uq_users_username"),
)

user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(), nullable=False),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
    sa.Column("client_ip", sa.String(), nullable=True),
    sa.Column("user_agent", sa.Text(), nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),
    sa.Index("ix_user_sessions_user", "user_id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("prefix", sa.String(), nullable=False),
    sa.Column("token_hash", sa.String(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.Column("last_used_at", Timestamp, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    sa.Index("ix_api_tokens_user", "user_id", "id"),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("window_started_at", Timestamp, nullable=False),
    sa.Column("locked_until", Timestamp, nullable=True),
)

workspace_members = sa.Table(
    "workspace_members",
    metadata,
    sa.Column("workspace", sa.String(), primary_key=True),
    sa.Column(
        "user_id",
        Id,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("role", sa.String(), primary_key=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.Index("ix_workspace_members_user", "user_id"),
)

table_grants = sa.Table(
    "table_grants",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("subject", sa.String(), nullable=False),
    sa.Column("table_pattern", sa.String(), nullable=False),
    sa.Column("privilege", sa.String(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.UniqueConstraint(
        "workspace", "env", "subject", "table_pattern", "privilege", name="uq_table_grants_rule"
    ),
)

masking_rules = sa.Table(
    "masking_rules",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("table_pattern", sa.String(), nullable=False),
    sa.Column("column_pattern", sa.String(), nullable=False),
    sa.Column("method", sa.String(), nullable=False),
    sa.Column("exempt_json", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.UniqueConstraint(
        "workspace", "table_pattern", "column_pattern", name="uq_masking_rules_target"
    ),
)

stored_secrets = sa.Table(
    "stored_secrets",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("ciphertext", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("updated_by", sa.String(), nullable=False),
    sa.UniqueConstraint("workspace", "name", name="uq_stored_secrets_name"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
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
    sa.Index("ix_audit_log_workspace", "workspace", "id"),
    sa.Index("ix_audit_log_actor", "actor", "id"),
)

SECURITY_TABLES: tuple[sa.Table, ...] = (
    workspaces,
    users,
    user_sessions,
    api_tokens,
    login_failures,
    workspace_members,
    table_grants,
    masking_rules,
    stored_secrets,
    audit_log,
)
