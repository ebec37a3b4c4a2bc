"""Alerts and baselines: signal outbox, rules, channels, incidents, deliveries, baselines.

Revision ID: 0015
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("alerts",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "alert_signals",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_signals"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "env", "name", name="pk_alert_rules"),
    )
    op.create_table(
        "alert_channels",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("workspace", "name", name="pk_alert_channels"),
    )
    op.create_table(
        "alert_incidents",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("instance_id", Id, nullable=True),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_at", Timestamp, nullable=False),
        sa.Column("closed_at", Timestamp, nullable=True),
        sa.Column("alerts_sent", sa.Integer(), nullable=False),
        sa.Column("last_alert_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_incidents"),
        sa.UniqueConstraint(
            "workspace", "env", "rule", "subject", name="uq_alert_incidents_subject"
        ),
    )
    op.create_index(
        "ix_alert_incidents_state", "alert_incidents", ["workspace", "env", "state", "id"]
    )
    op.create_index("ix_alert_incidents_instance", "alert_incidents", ["instance_id"])
    op.create_table(
        "alert_messages",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_messages"),
    )
    op.create_index("ix_alert_messages_incident", "alert_messages", ["incident_id", "id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("message_id", Id, nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("claimed_until", Timestamp, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
        sa.UniqueConstraint("idempotency_key", name="uq_alert_deliveries_key"),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_alert_deliveries_message", "alert_deliveries", ["message_id"])
    op.create_table(
        "alert_delivery_attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("delivery_id", Id, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_delivery_attempts"),
    )
    op.create_index(
        "ix_alert_delivery_attempts_delivery", "alert_delivery_attempts", ["delivery_id", "id"]
    )
    op.create_table(
        "baseline_status",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("baseline", sa.String(), nullable=False),
        sa.Column("period", Timestamp, nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("committed_at", Timestamp, nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("predicted_finish", Timestamp, nullable=False),
        sa.Column("key_path_json", sa.Text(), nullable=False),
        sa.Column("events_json", sa.Text(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace", "env", "baseline", "period", name="pk_baseline_status"
        ),
    )


def downgrade() -> None:
    op.drop_table("baseline_status")
    op.drop_index("ix_alert_delivery_attempts_delivery", table_name="alert_delivery_attempts")
    op.drop_table("alert_delivery_attempts")
    op.drop_index("ix_alert_deliveries_message", table_name="alert_deliveries")
    op.drop_index("ix_alert_deliveries_due", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_messages_incident", table_name="alert_messages")
    op.drop_table("alert_messages")
    op.drop_index("ix_alert_incidents_instance", table_name="alert_incidents")
    op.drop_index("ix_alert_incidents_state", table_name="alert_incidents")
    op.drop_table("alert_incidents")
    op.drop_table("alert_channels")
    op.drop_table("alert_rules")
    op.drop_table("alert_signals")
