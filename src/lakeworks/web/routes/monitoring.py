"""Monitoring: alert rules, channels (their secrets are write-only), incidents and the
alert history with each delivery attempt, and SLA baselines with their state, predicted
finish, committed time and key path. Reads ``alerts.service.AlertStore``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.alerts.loader import load_workspace_alerts
from lakeworks.alerts.models import ChannelConfig, EmailChannel, TriggerType
from lakeworks.alerts.service import AlertStore
from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.errors import LakeworksError
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.web.render import page

router = APIRouter()


@router.get(
    "/w/{workspace}/envs/{env}/monitoring", response_class=HTMLResponse, name="console.monitoring"
)
def monitoring(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.INSTANCES_READ)
) -> Response:
    """Baselines, open and recent incidents, alerts with deliveries, rules and channels."""
    services = services_of(request)
    store = AlertStore(services.db)
    problem = None
    rules: list[tuple[str, Any]] = []
    try:
        code = load_workspace_alerts(services.definition(workspace, env))
        rules = [("code", r) for r in code.rules.values()]
    except LakeworksError as exc:
        problem = exc.render()
    rules += [("api", r) for r in store.rules(workspace, env).values()]
    incident = request.query_params.get("incident", "").strip()
    chosen = int(incident) if incident.isdigit() else None
    channels = None
    stored_channels = store.channels(workspace)
    if access.can(Perm.SOURCES_READ):
        channels = [_channel_row(n, c) for n, c in sorted(stored_channels.items())]
    node_keys: list[str] = []
    code_channels: list[str] = []
    try:
        ws = services.definition(workspace, env)
        node_keys = sorted(n.key for n in ws.nodes())
        code_channels = sorted(load_workspace_alerts(ws).channels)
    except LakeworksError:
        pass
    return page(
        request,
        "monitoring/monitoring.html",
        access,
        title="Monitoring",
        module="monitoring",
        baselines=store.baselines(workspace, env),
        incidents=store.incidents(workspace, env, limit=100),
        alerts=store.alerts(workspace, env, incident=chosen, limit=50),
        incident=chosen,
        rules=rules,
        channels=channels,
        problem=problem,
        may_edit_rules=access.can(RUN_OR_OPERATE.for_env(env)),
        api_rules={r.name: r.model_dump(mode="json") for source, r in rules if source == "api"},
        trigger_types=[t.value for t in TriggerType],
        channel_names=sorted({*code_channels, *stored_channels}),
        node_keys=node_keys,
        channel_settings=(
            {n: _channel_form(c) for n, c in stored_channels.items()}
            if access.can(Perm.SOURCES_MANAGE)
            else {}
        ),
    )


def _channel_form(channel: ChannelConfig) -> dict[str, Any]:
    """A channel's settings to fill the edit form: never its secret, nor a webhook's URL
    (its path or query may hold a token; left empty, the stored one is kept)."""
    hidden = {"secret_env", "secret_encrypted", "url"}
    return {k: v for k, v in channel.model_dump(mode="json").items() if k not in hidden}


def _channel_row(name: str, channel: ChannelConfig) -> dict[str, Any]:
    """A channel as shown: type and target host only (a webhook's path or query may hold
    a token), and whether a secret is set (never the secret)."""
    if isinstance(channel, EmailChannel):
        target = f"{channel.host}:{channel.port}"
    else:
        target = urlsplit(channel.url).hostname or ""
    return {
        "name": name,
        "type": channel.type,
        "target": target,
        "has_secret": bool(channel.secret_env or channel.secret_encrypted),
    }
