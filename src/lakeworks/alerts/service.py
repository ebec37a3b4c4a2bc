"""Alerting for the CLI and the API: rules and channels, baselines, incidents, alerts.

Rules and channels come from two places: ``alerts/*.yml`` of the workspace (deployed
like nodes) and the store (created through the API or CLI). A name may be used once
across both. A channel secret given through the API is stored encrypted
(``security.secrets``) and referenced as ``secret_encrypted``; it is never returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from lakeworks.alerts.loader import AlertSet
from lakeworks.alerts.models import ChannelConfig, RuleConfig
from lakeworks.alerts.sender import Channel
from lakeworks.alerts.tables import (
    alert_channels,
    alert_deliveries,
    alert_delivery_attempts,
    alert_incidents,
    alert_messages,
    alert_rules,
    baseline_status,
)
from lakeworks.connectors.credentials import remember, resolve_password
from lakeworks.errors import Conflict, Location, NotFound, UserError, ValidationFailed
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

CHANNEL = TypeAdapter(ChannelConfig)


@dataclass(frozen=True)
class BaselineView:
    baseline: str
    period: datetime
    state: str
    priority: int
    committed_at: datetime
    predicted_finish: datetime
    key_path: list[str]
    events: list[dict[str, str]]
    updated_at: datetime


@dataclass(frozen=True)
class IncidentView:
    id: int
    rule: str
    subject: str
    trigger: str
    state: str
    summary: str
    opened_at: datetime
    closed_at: datetime | None
    alerts_sent: int


@dataclass(frozen=True)
class AttemptView:
    number: int
    at: datetime
    ok: bool
    detail: str | None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    channel: str
    idempotency_key: str
    state: str
    attempts: list[AttemptView]


@dataclass(frozen=True)
class AlertView:
    id: int
    incident_id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    deliveries: list[DeliveryView]


_CHANNEL_TAGS = {"webhook", "slack", "dingtalk", "feishu", "wecom", "email"}


def _problems(what: str, exc: ValidationError, hint: str, skip: set[str]) -> UserError:
    """Every problem of a rule or channel, each at its key (``trigger.minutes``), so
    that a form shows it beside the field; one problem as a plain ``UserError``."""
    from lakeworks.spec.yaml_source import describe_error

    problems: list[UserError] = []
    for error in exc.errors():
        parts = [str(p) for p in error.get("loc", ()) if str(p) not in skip]
        key = ".".join(parts) or None
        message, better_hint = describe_error(dict(error))
        if error.get("type") == "string_pattern_mismatch" and parts and parts[-1] == "url":
            message = f"'url' must start with http:// or https:// (got {error.get('input')!r})"
        problems.append(
            UserError(
                f"invalid {what}: {message}",
                location=Location(key=key),
                hint=better_hint,
            )
        )
    if len(problems) == 1:
        only = problems[0]
        general = hint if only.location.key in (None, "type") else None
        return UserError(only.message, location=only.location, hint=only.hint or general)
    return ValidationFailed(problems)


def parse_rule(data: Any) -> RuleConfig:
    """A rule from API/CLI input; every problem at its key (``trigger.minutes``)."""
    try:
        return RuleConfig.model_validate(data)
    except ValidationError as exc:
        raise _problems(
            "alert rule", exc, "see docs/alerts.md for the rule fields", set()
        ) from None


def parse_channel(data: Any) -> ChannelConfig:
    """A channel from API/CLI input; every problem at its key (``url``)."""
    try:
        return CHANNEL.validate_python(data)
    except ValidationError as exc:
        raise _problems(
            "alert channel",
            exc,
            "type is one of webhook, slack, dingtalk, feishu, wecom, email",
            _CHANNEL_TAGS,
        ) from None


def resolve_channel(name: str, config: ChannelConfig) -> Channel:
    """The config with its secret (from the environment or decrypted); URLs are redacted."""
    secret = resolve_password(f"alert channel {name}", config.secret_env, config.secret_encrypted)
    url = getattr(config, "url", None)
    if isinstance(url, str):
        remember(url)
    return config, None if secret is None else secret.get_secret_value()


class AlertStore:
    """Reads and writes of alerting data for one store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- rules and channels --------------------------------------------------------------

    def rules(self, workspace: str, env: str) -> dict[str, RuleConfig]:
        r = alert_rules.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(r.name, r.spec_json).where(r.workspace == workspace, r.env == env)
            ).all()
        return {name: RuleConfig.model_validate_json(spec) for name, spec in rows}

    def put_rule(
        self, workspace: str, env: str, rule: RuleConfig, code: AlertSet, *, actor: str
    ) -> None:
        if rule.name in code.rules:
            raise Conflict(
                f"rule '{rule.name}' is defined in {code.where[f'rule:{rule.name}']}",
                hint="change it there, or give this rule another name",
            )
        for channel in rule.channels:
            if channel not in code.channels and channel not in self.channels(workspace):
                raise UserError(f"unknown channel '{channel}'", hint="create the channel first")
        r = alert_rules.c
        values = {"spec_json": rule.model_dump_json(), "updated_at": utcnow(), "updated_by": actor}
        key = (r.workspace == workspace, r.env == env, r.name == rule.name)
        with self.db.write() as conn:
            if conn.execute(sa.update(alert_rules).where(*key).values(values)).rowcount == 0:
                conn.execute(
                    sa.insert(alert_rules).values(
                        workspace=workspace, env=env, name=rule.name, **values
                    )
                )

    def delete_rule(self, workspace: str, env: str, name: str) -> None:
        r = alert_rules.c
        with self.db.write() as conn:
            gone = conn.execute(
                sa.delete(alert_rules).where(r.workspace == workspace, r.env == env, r.name == name)
            ).rowcount
        if not gone:
            raise NotFound(f"no alert rule '{name}' was created through the API or CLI")

    def channels(self, workspace: str) -> dict[str, ChannelConfig]:
        c = alert_channels.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(c.name, c.spec_json).where(c.workspace == workspace)
            ).all()
        return {name: CHANNEL.validate_json(spec) for name, spec in rows}

    def put_channel(
        self, workspace: str, name: str, channel: ChannelConfig, code: AlertSet
    ) -> None:
        if name in code.channels:
            raise Conflict(f"channel '{name}' is defined in {code.where[f'channel:{name}']}")
        c = alert_channels.c
        spec = CHANNEL.dump_json(channel).decode()
        key = (c.workspace == workspace, c.name == name)
        with self.db.write() as conn:
            values = {"spec_json": spec, "updated_at": utcnow()}
            if conn.execute(sa.update(alert_channels).where(*key).values(values)).rowcount == 0:
                conn.execute(
                    sa.insert(alert_channels).values(workspace=workspace, name=name, **values)
                )

    def delete_channel(self, workspace: str, name: str, code: AlertSet) -> None:
        """Remove a channel added through the API or CLI (refused while a rule uses it)."""
        if name in code.channels:
            raise Conflict(
                f"channel '{name}' is defined in {code.where[f'channel:{name}']}",
                hint="remove it there",
            )
        users = sorted(
            rule.name
            for rules in (code.rules, *self._rules_of_every_env(workspace))
            for rule in rules.values()
            if name in rule.channels
        )
        if users:
            raise Conflict(
                f"channel '{name}' is used by the rule(s) {', '.join(users)}",
                hint="change or delete those rules first",
            )
        c = alert_channels.c
        with self.db.write() as conn:
            gone = conn.execute(
                sa.delete(alert_channels).where(c.workspace == workspace, c.name == name)
            ).rowcount
        if not gone:
            raise NotFound(f"no alert channel '{name}' was created through the API or CLI")

    def _rules_of_every_env(self, workspace: str) -> list[dict[str, RuleConfig]]:
        return [self.rules(workspace, env) for env in ("dev", "prod")]

    # -- views -----------------------------------------------------------------------------

    def baselines(self, workspace: str, env: str, limit: int = 100) -> list[BaselineView]:
        b = baseline_status.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(baseline_status)
                .where(b.workspace == workspace, b.env == env)
                .order_by(b.period.desc(), b.priority.desc(), b.baseline)
                .limit(limit)
            ).all()
        return [
            BaselineView(
                baseline=r.baseline,
                period=r.period,
                state=r.state,
                priority=r.priority,
                committed_at=r.committed_at,
                predicted_finish=r.predicted_finish,
                key_path=json.loads(r.key_path_json),
                events=json.loads(r.events_json),
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    def incidents(
        self, workspace: str, env: str, *, state: str | None = None, limit: int = 100
    ) -> list[IncidentView]:
        i = alert_incidents.c
        query = sa.select(alert_incidents).where(i.workspace == workspace, i.env == env)
        if state is not None:
            query = query.where(i.state == state)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(i.id.desc()).limit(limit)).all()
        return [
            IncidentView(
                id=r.id,
                rule=r.rule,
                subject=r.subject,
                trigger=r.trigger,
                state=r.state,
                summary=r.summary,
                opened_at=r.opened_at,
                closed_at=r.closed_at,
                alerts_sent=r.alerts_sent,
            )
            for r in rows
        ]

    def alerts(
        self, workspace: str, env: str, *, incident: int | None = None, limit: int = 100
    ) -> list[AlertView]:
        """Alert messages, newest first, each with its deliveries and their attempts."""
        m, i, d, a = (
            alert_messages.c,
            alert_incidents.c,
            alert_deliveries.c,
            alert_delivery_attempts.c,
        )
        query = (
            sa.select(alert_messages)
            .join(alert_incidents, i.id == m.incident_id)
            .where(i.workspace == workspace, i.env == env)
        )
        if incident is not None:
            query = query.where(m.incident_id == incident)
        with self.db.read() as conn:
            messages = conn.execute(query.order_by(m.id.desc()).limit(limit)).all()
            ids = [r.id for r in messages]
            deliveries = conn.execute(
                sa.select(alert_deliveries).where(d.message_id.in_(ids)).order_by(d.id)
            ).all()
            attempts = conn.execute(
                sa.select(alert_delivery_attempts)
                .where(a.delivery_id.in_([x.id for x in deliveries]))
                .order_by(a.id)
            ).all()
        by_delivery: dict[int, list[AttemptView]] = {}
        for x in attempts:
            by_delivery.setdefault(x.delivery_id, []).append(
                AttemptView(x.number, x.at, x.ok, x.detail)
            )
        by_message: dict[int, list[DeliveryView]] = {}
        for x in deliveries:
            by_message.setdefault(x.message_id, []).append(
                DeliveryView(x.id, x.channel, x.idempotency_key, x.state, by_delivery.get(x.id, []))
            )
        return [
            AlertView(
                r.id, r.incident_id, r.kind, r.title, r.body, r.created_at, by_message.get(r.id, [])
            )
            for r in messages
        ]
