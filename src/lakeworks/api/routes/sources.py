"""Data sources of a workspace: stored in ``lakeworks.yml``, their secrets encrypted in
the store. Secrets are write-only: responses say whether one is set, never its value."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import yaml
from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, Field

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Body, Ok, Out, Services, audit_detail, guard
from lakeworks.deploy.editing import WorkspaceEditor
from lakeworks.deploy.yaml_edit import set_entry
from lakeworks.errors import NotFound, UserError
from lakeworks.security.permissions import Permission as Perm
from lakeworks.security.secrets import REFERENCE_PREFIX, reference
from lakeworks.spec.loader import is_valid_name

router = APIRouter(tags=["data sources"])

SECRET_FIELDS = {"password": "password_encrypted", "secret_key": "secret_key_encrypted"}
"""Write-only request fields and the config key that names their stored secret."""


class SourceBody(Body):
    """A data source config (``type`` plus the connector's keys). ``password`` and
    ``secret_key`` are stored encrypted and never returned."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1)


class SourceOut(Out):
    name: str
    config: dict[str, Any]
    secrets_set: dict[str, bool]
    """Secret keys and whether each has a value (values are never returned)."""


class SourceList(Out):
    items: list[SourceOut]


class ConnectionTestOut(Out):
    """The outcome of a connection test; a failed connection is a result, not an error."""

    name: str
    type: str
    ok: bool
    seconds: float
    server: str | None
    """The server's product and version when it answered."""
    detail: str | None
    """What the test listed (tables, topics, files)."""
    error: str | None
    hint: str | None
    message: str
    """The whole outcome as one readable text."""


def source_json(name: str, config: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    secrets: dict[str, bool] = {}
    for key, value in config.items():
        plain = next((f for f, enc in SECRET_FIELDS.items() if enc == key), None)
        if plain is not None:
            secrets[plain] = bool(value)
            continue
        if any(
            word in key.lower() for word in ("password", "secret", "token")
        ) and not key.endswith("_env"):
            secrets[key] = bool(value)
            continue
        shown[key] = value
    return {"name": name, "config": shown, "secrets_set": secrets}


@router.get("/workspaces/{workspace}/data-sources", response_model=SourceList)
def list_sources(
    workspace: str, services: Services, access: Access = guard(Perm.SOURCES_READ)
) -> dict[str, Any]:
    """The data sources of the dev folder (secrets shown only as set or not)."""
    ws = services.definition(workspace, "dev")
    return {"items": [source_json(n, dict(c)) for n, c in sorted(ws.config.data_sources.items())]}


@router.get("/workspaces/{workspace}/data-sources/{name}", response_model=SourceOut)
def get_source(
    workspace: str, name: str, services: Services, access: Access = guard(Perm.SOURCES_READ)
) -> dict[str, Any]:
    ws = services.definition(workspace, "dev")
    config = ws.config.data_sources.get(name)
    if config is None:
        raise NotFound(f"data source '{name}' does not exist")
    return source_json(name, dict(config))


@router.put("/workspaces/{workspace}/data-sources/{name}", response_model=SourceOut)
def put_source(
    workspace: str,
    name: str,
    body: SourceBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SOURCES_MANAGE),
) -> dict[str, Any]:
    """Create or replace a data source. A given ``password``/``secret_key`` is stored
    encrypted; when omitted, the stored one is kept."""

    from lakeworks.connectors.registry import parse_config

    if not is_valid_name(name):
        raise UserError(f"invalid data source name '{name}'", hint="letters, digits, '_', '-'")
    raw = body.model_dump(exclude_unset=False)
    for encrypted in SECRET_FIELDS.values():
        if encrypted in raw:
            raise UserError(
                f"'{encrypted}' is managed by the server",
                hint=f"send '{next(k for k, v in SECRET_FIELDS.items() if v == encrypted)}'",
            )
    ws = services.definition(workspace, "dev")
    previous = dict(ws.config.data_sources.get(name) or {})
    secrets = {field: raw.pop(field) for field in list(raw) if field in SECRET_FIELDS}
    config: dict[str, Any] = {k: v for k, v in raw.items() if v is not None}
    for field, encrypted in SECRET_FIELDS.items():
        secret_name = f"{name}.{field}"
        value = secrets.get(field)
        if value:
            config[encrypted] = reference(workspace, secret_name)
        elif str(previous.get(encrypted, "")).startswith(REFERENCE_PREFIX) and field not in secrets:
            config[encrypted] = previous[encrypted]
    parse_config(name, dict(config))
    for field, value in secrets.items():
        if value:
            services.secrets.put(workspace, f"{name}.{field}", str(value), actor=access.username)
    editor = WorkspaceEditor(services.source(workspace).home)
    text, digest = editor.read("lakeworks.yml")
    updated = set_entry(text, "data_sources", name, config)
    editor.change({"lakeworks.yml": updated}, expected={"lakeworks.yml": digest})
    audit_detail(
        request,
        source=name,
        type=body.type,
        secrets_changed=sorted(f for f, v in secrets.items() if v),
    )
    return source_json(name, config)


@router.delete("/workspaces/{workspace}/data-sources/{name}", response_model=Ok)
def delete_source(
    workspace: str,
    name: str,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SOURCES_MANAGE),
) -> dict[str, Any]:
    """Remove a data source (refused while a node uses it) and its stored secrets."""
    ws = services.definition(workspace, "dev")
    if name not in ws.config.data_sources:
        raise NotFound(f"data source '{name}' does not exist")
    editor = WorkspaceEditor(services.source(workspace).home)
    text, digest = editor.read("lakeworks.yml")
    updated = set_entry(text, "data_sources", name, None)
    if name in (yaml.safe_load(updated) or {}).get("data_sources", {}):
        raise UserError(f"could not remove data source '{name}' from lakeworks.yml")
    editor.change({"lakeworks.yml": updated}, expected={"lakeworks.yml": digest})
    for field in SECRET_FIELDS:
        services.secrets.delete(workspace, f"{name}.{field}")
    audit_detail(request, source=name)
    return {"ok": True}


@router.post("/workspaces/{workspace}/data-sources/{name}/test", response_model=ConnectionTestOut)
def test_source(
    workspace: str,
    name: str,
    request: Request,
    services: Services,
    timeout: float = Query(default=10.0, ge=0.5, le=60),
    access: Access = guard(Perm.SOURCES_MANAGE),
) -> dict[str, Any]:
    """Connect to the data source, sign in and list one thing within ``timeout``
    seconds: latency and server version, or what failed and a hint."""
    from lakeworks.integration.connection_test import check_connection

    ws = services.definition(workspace, "dev")
    result = check_connection(ws, name, timeout=timeout)
    audit_detail(request, source=name, ok=result.ok)
    return {**asdict(result), "message": result.render()}
