"""Alerts and baselines: rules, channels (secrets stored encrypted, never returned),
incidents, alert history with delivery attempts, baseline predictions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.alerts.loader import AlertSet, check_references, load_workspace_alerts
from lakeworks.alerts.service import AlertStore, parse_channel, parse_rule
from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Body, Services, audit_detail, guard, iso
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


@router.get("/workspaces/{workspace}/envs/{env}/alerts/rules")
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


@router.put("/workspaces/{workspace}/envs/{env}/alerts/rules/{name}")
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


@router.delete("/workspaces/{workspace}/envs/{env}/alerts/rules/{name}")
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


@router.get("/workspaces/{workspace}/alerts/channels")
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


@router.put("/workspaces/{workspace}/alerts/channels/{name}")
def put_channel(
    workspace: str,
    name: str,
    body: ChannelBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SOURCES_MANAGE),
) -> dict[str, Any]:
    """Create or replace a channel; its secret is encrypted into the secret store."""
    data = {k: v for k, v in body.channel.items() if k not in ("secret_encrypted",)}
    if body.secret is not None:
        secret_name = f"alert-channel-{name}"
        services.secrets.put(workspace, secret_name, body.secret, actor=access.username)
        data["secret_encrypted"] = reference(workspace, secret_name)
    channel = parse_channel(data)
    code = load_workspace_alerts(services.definition(workspace, "prod"))
    AlertStore(services.db).put_channel(workspace, name, channel, code)
    audit_detail(request, channel=name)
    return {"name": name, "type": channel.type, "has_secret": body.secret is not None}


@router.get("/workspaces/{workspace}/envs/{env}/alerts/incidents")
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


@router.get("/workspaces/{workspace}/envs/{env}/alerts")
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


@router.get("/workspaces/{workspace}/envs/{env}/baselines")
def list_baselines(
    workspace: str,
    env: str,
    services: Services,
    _access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """The latest prediction of each baseline period: state, predicted finish, key path."""
    found = AlertStore(services.db).baselines(workspace, env)
    return {"items": [_times(asdict(b)) for b in found]}
