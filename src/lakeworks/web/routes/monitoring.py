"""Monitoring: alert rules, channels (their secrets are write-only), incidents and the
alert history with each delivery attempt, and SLA baselines with their state, predicted
finish, committed time and key path. Reads ``alerts.service.AlertStore``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.alerts.loader import load_workspace_alerts
from lakeworks.alerts.models import ChannelConfig, EmailChannel
from lakeworks.alerts.service import AlertStore
from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.errors import LakeworksError
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
    if access.can(Perm.SOURCES_READ):
        channels = [_channel_row(n, c) for n, c in sorted(store.channels(workspace).items())]
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
    )


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
