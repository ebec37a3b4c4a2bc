"""The metadata store tables of alerting and baselines (migration ``0015``).

- ``alert_signals``: the outbox. A row per instance state change that may alert,
  written in the transaction of the change itself (``store.observers``); the
  evaluator turns signals into incidents and alerts and deletes them, in one
  transaction.
- ``alert_rules`` / ``alert_channels``: rules and channels created through the API or
  CLI (rules and channels of ``alerts/*.yml`` come with the workspace definition).
- ``alert_incidents``: one per (rule, subject); ``alert_messages``: each alert or
  "recovered" message of an incident; ``alert_deliveries``: one per message and
  channel recipient, with its idempotency key; ``alert_delivery_attempts``: history.
- ``baseline_status``: the latest prediction of each baseline period.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.schema import Id, Timestamp, metadata

alert_signals = sa.Table(
    "alert_signals",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("instance_id", Id, nullable=False),
    sa.Column("from_state", sa.String(), nullable=True),
    sa.Column("to_state", sa.String(), nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("spec_json", sa.Text(), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("updated_by", sa.String(), nullable=False),
    sa.PrimaryKeyConstraint("workspace", "env", "name", name="pk_alert_rules"),
)

alert_channels = sa.Table(
    "alert_channels",
    metadata,
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("spec_json", sa.Text(), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("workspace", "name", name="pk_alert_channels"),
)

alert_incidents = sa.Table(
    "alert_incidents",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
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
    sa.UniqueConstraint("workspace", "env", "rule", "subject", name="uq_alert_incidents_subject"),
    sa.Index("ix_alert_incidents_state", "workspace", "env", "state", "id"),
    sa.Index("ix_alert_incidents_instance", "instance_id"),
)

alert_messages = sa.Table(
    "alert_messages",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("incident_id", Id, nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_alert_messages_incident", "incident_id", "id"),
)

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
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
    sa.UniqueConstraint("idempotency_key", name="uq_alert_deliveries_key"),
    sa.Index("ix_alert_deliveries_due", "state", "next_attempt_at"),
    sa.Index("ix_alert_deliveries_message", "message_id"),
)

alert_delivery_attempts = sa.Table(
    "alert_delivery_attempts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", Id, nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("ok", sa.Boolean(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Index("ix_alert_delivery_attempts_delivery", "delivery_id", "id"),
)

baseline_status = sa.Table(
    "baseline_status",
    metadata,
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
    sa.PrimaryKeyConstraint("workspace", "env", "baseline", "period", name="pk_baseline_status"),
)

ALERT_TABLES: tuple[sa.Table, ...] = (
    alert_signals,
    alert_rules,
    alert_channels,
    alert_incidents,
    alert_messages,
    alert_deliveries,
    alert_delivery_attempts,
    baseline_status,
)
"""The tables migration ``0015`` creates."""
