"""Alerts and baselines: rules, channels (secrets stored encrypted, never returned),
incidents, alert history with delivery attempts, baseline predictions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.alerts.loader import AlertSet, check_references, load_workspace_alerts
from lakeworks.alerts.models import RuleConfig
from lakeworks.alerts.service import AlertStore, parse_channel, parse_rule
from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Body, Out, Services, audit_detail, guard, iso
from lakeworks.errors import ValidationFailed
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.security.secrets import reference

router = APIRouter(tags=["alerts"])


class ChannelBody(Body):
    channel: dict[str, Any]
    """The channel's settings (``type``, ``url`` or SMTP settings), no secret."""
    secret: str | None = Field(default=None, min_length=1)
    """Signing secret or SMTP password: stored encrypted, never returned."""


class RuleOut(RuleConfig):
    source: Literal["code", "api"]
    """``code``: from ``alerts/*.yml``; ``api``: added through the API."""


class RuleList(Out):
    items: list[RuleOut]


class RuleDeleted(Out):
    deleted: str


class ChannelOut(Out):
    name: str
    type: str
    has_secret: bool


class ChannelList(Out):
    items: list[ChannelOut]


class IncidentOut(Out):
    id: int
    rule: str
    subject: str
    trigger: str
    state: str
    summary: str
    opened_at: str
    closed_at: str | None
    alerts_sent: int


class IncidentList(Out):
    items: list[IncidentOut]


class AttemptOut(Out):
    number: int
    at: str
    ok: bool
    detail: str | None


class DeliveryOut(Out):
    id: int
    channel: str
    idempotency_key: str
    state: str
    attempts: list[AttemptOut]


class AlertOut(Out):
    id: int
    incident_id: int
    kind: str
    title: str
    body: str
    created_at: str
    deliveries: list[DeliveryOut]


class AlertList(Out):
    items: list[AlertOut]


class BaselineOut(Out):
    baseline: str
    period: str
    state: str
    priority: int
    committed_at: str
    predicted_finish: str
    key_path: list[str]
    events: list[dict[str, str]]
    updated_at: str


class BaselineList(Out):
    items: list[BaselineOut]


def _times(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            out[key] = iso(value)
        elif isinstance(value, list):
            out[key] = [_times(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def _code(services: Services, workspace: str, env: str) -> AlertSet:
    return load_workspace_alerts(services.definition(workspace, env))


@router.get("/workspaces/{workspace}/envs/{env}/alerts/rules", response_model=RuleList)
def list_rules(
    workspace: str,
    env: str,
    services: Services,
    _access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """Rules of ``alerts/*.yml`` (``source: code``) and those added through the API."""
    code = _code(services, workspace, env)
    stored = AlertStore(services.db).rules(workspace, env)
    items = [{**r.model_dump(mode="json"), "source": "code"} for r in code.rules.values()]
    items += [{**r.model_dump(mode="json"), "source": "api"} for r in stored.values()]
    return {"items": items}


@router.put("/workspaces/{workspace}/envs/{env}/alerts/rules/{name}", response_model=RuleConfig)
def put_rule(
    workspace: str,
    env: str,
    name: str,
    body: dict[str, Any],
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Create or replace a rule kept in the store (a name of ``alerts/*.yml`` conflicts)."""
    rule = parse_rule({**body, "name": name})
    ws = services.definition(workspace, env)
    code = load_workspace_alerts(ws)
    known = AlertSet(
        channels={**AlertStore(services.db).channels(workspace), **code.channels},
        groups=code.groups,
        baselines=code.baselines,
    )
    problems = check_references(
        known,
        (n.key for n in ws.nodes()),
        ws.workflows,
        ws.config.resource_groups,
        {rule.name: rule},
    )
    if problems:
        raise ValidationFailed(problems)
    AlertStore(services.db).put_rule(workspace, env, rule, code, actor=access.username)
    audit_detail(request, rule=name)
    return rule.model_dump(mode="json")


@router.delete("/workspaces/{workspace}/envs/{env}/alerts/rules/{name}", response_model=RuleDeleted)
def delete_rule(
    workspace: str,
    env: str,
    name: str,
    request: Request,
    services: Services,
    _access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    AlertStore(services.db).delete_rule(workspace, env, name)
    audit_detail(request, rule=name)
    return {"deleted": name}


@router.get("/workspaces/{workspace}/alerts/channels", response_model=ChannelList)
def list_channels(
    workspace: str,
    services: Services,
    _access: Access = guard(Perm.SOURCES_READ),
) -> dict[str, Any]:
    """Channels added through the API: type and target host, never a secret."""
    stored = AlertStore(services.db).channels(workspace)
    return {
        "items": [
            {
                "name": name,
                "type": c.type,
                "has_secret": bool(c.secret_env or c.secret_encrypted),
            }
            for name, c in stored.items()
        ]
    }


@router.put("/workspaces/{workspace}/alerts/channels/{name}", response_model=ChannelOut)
def put_channel(
    workspace: str,
    name: str,
    body: ChannelBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SOURCES_MANAGE),
) -> dict[str, Any]:
    """Create or replace a channel; its secret is encrypted into the secret store. When
    changing a channel, an omitted ``secret`` (and an omitted webhook ``url``) keeps the
    stored one."""
    data = {k: v for k, v in body.channel.items() if k not in ("secret_encrypted",)}
    secret_name = f"alert-channel-{name}"
    previous = AlertStore(services.db).channels(workspace).get(name)
    kept_url = getattr(previous, "url", None)
    if (
        "url" not in data
        and kept_url
        and previous is not None
        and previous.type == data.get("type")
    ):
        data["url"] = kept_url  # a webhook URL may hold a token: the console never shows it
    if body.secret is not None:
        data["secret_encrypted"] = reference(workspace, secret_name)
    elif previous is not None and previous.secret_encrypted == reference(workspace, secret_name):
        data["secret_encrypted"] = previous.secret_encrypted  # kept: secrets are write-only
    channel = parse_channel(data)
    if body.secret is not None:
        services.secrets.put(workspace, secret_name, body.secret, actor=access.username)
    code = load_workspace_alerts(services.definition(workspace, "prod"))
    AlertStore(services.db).put_channel(workspace, name, channel, code)
    audit_detail(request, channel=name)
    return {
        "name": name,
        "type": channel.type,
        "has_secret": bool(channel.secret_env or channel.secret_encrypted),
    }


class ChannelDeleted(Out):
    deleted: str


@router.delete("/workspaces/{workspace}/alerts/channels/{name}", response_model=ChannelDeleted)
def delete_channel(
    workspace: str,
    name: str,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SOURCES_MANAGE),
) -> dict[str, Any]:
    """Remove a channel added through the API (refused while a rule uses it) and its
    stored secret."""
    code = load_workspace_alerts(services.definition(workspace, "prod"))
    AlertStore(services.db).delete_channel(workspace, name, code)
    services.secrets.delete(workspace, f"alert-channel-{name}")
    audit_detail(request, channel=name)
    return {"deleted": name}


@router.get("/workspaces/{workspace}/envs/{env}/alerts/incidents", response_model=IncidentList)
def list_incidents(
    workspace: str,
    env: str,
    services: Services,
    state: str | None = Query(None, pattern="^(open|closed)$"),
    limit: int = Query(100, ge=1, le=1000),
    _access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    found = AlertStore(services.db).incidents(workspace, env, state=state, limit=limit)
    return {"items": [_times(asdict(i)) for i in found]}


@router.get("/workspaces/{workspace}/envs/{env}/alerts", response_model=AlertList)
def list_alerts(
    workspace: str,
    env: str,
    services: Services,
    incident: int | None = None,
    limit: int = Query(100, ge=1, le=1000),
    _access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """Alerts newest first, with each delivery and each attempt's result."""
    found = AlertStore(services.db).alerts(workspace, env, incident=incident, limit=limit)
    items = []
    for a in found:
        data = _times(asdict(a))
        data["deliveries"] = [
            {**_times(d), "attempts": [_times(t) for t in d["attempts"]]}
            for d in data["deliveries"]
        ]
        items.append(data)
    return {"items": items}


@router.get("/workspaces/{workspace}/envs/{env}/baselines", response_model=BaselineList)
def list_baselines(
    workspace: str,
    env: str,
    services: Services,
    _access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """The latest prediction of each baseline period: state, predicted finish, key path."""
    found = AlertStore(services.db).baselines(workspace, env)
    return {"items": [_times(asdict(b)) for b in found]}
