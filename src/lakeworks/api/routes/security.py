"""Table grants, column masking rules and the audit log (security admins).

The audit log is read-only through the API: there is no route to change or remove an
entry, and the database refuses it too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.inputs import Id
from lakeworks.api.pagination import CursorParam, LimitParam, int_cursor, page
from lakeworks.api.routes.common import Body, Ok, Out, Services, audit_detail, guard, iso
from lakeworks.security.models import AuditEntry, MaskingRule, TableGrant
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["security"])


class GrantBody(Body):
    subject: str = Field(description="user:<name> or role:<role>")
    table: str = Field(description="A table name or glob (ods_*, *).")
    privilege: str = Field(default="read", description="read or write")
    env: str = Field(default="*", description="dev, prod or * (both)")


class MaskingBody(Body):
    table: str
    column: str
    method: str = Field(description="full, null, hash, phone, email, id_number or last4")
    exempt: list[str] = Field(
        default_factory=list,
        description="Who sees real values: user:<name>, role:<role> or app:<application>.",
    )


class GrantOut(Out):
    id: int
    env: str
    subject: str
    table: str
    privilege: str
    created_at: str | None
    created_by: str | None


class GrantList(Out):
    items: list[GrantOut]


class RuleOut(Out):
    id: int
    table: str
    column: str
    method: str
    exempt: list[str]
    created_at: str | None
    created_by: str | None


class RuleList(Out):
    items: list[RuleOut]


class AuditOut(Out):
    id: int
    at: str | None
    actor: str
    workspace: str | None
    action: str
    method: str
    target: str
    status: int
    outcome: str
    client_ip: str | None
    user_agent: str | None
    detail: Any


class AuditPage(Out):
    items: list[AuditOut]
    next_cursor: str | None


def grant_json(g: TableGrant) -> dict[str, Any]:
    return {
        "id": g.id,
        "env": g.env,
        "subject": g.subject,
        "table": g.table_pattern,
        "privilege": g.privilege,
        "created_at": iso(g.created_at),
        "created_by": g.created_by,
    }


def rule_json(r: MaskingRule) -> dict[str, Any]:
    return {
        "id": r.id,
        "table": r.table_pattern,
        "column": r.column_pattern,
        "method": r.method,
        "exempt": list(r.exempt),
        "created_at": iso(r.created_at),
        "created_by": r.created_by,
    }


def audit_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": iso(e.created_at),
        "actor": e.actor,
        "workspace": e.workspace,
        "action": e.action,
        "method": e.method,
        "target": e.target,
        "status": e.status,
        "outcome": e.outcome,
        "client_ip": e.client_ip,
        "user_agent": e.user_agent,
        "detail": e.detail,
    }


@router.get("/workspaces/{workspace}/grants", response_model=GrantList)
def list_grants(
    workspace: str, services: Services, access: Access = guard(Perm.SECURITY_READ)
) -> dict[str, Any]:
    return {"items": [grant_json(g) for g in services.grants.grants(workspace)]}


@router.post("/workspaces/{workspace}/grants", status_code=201, response_model=GrantOut)
def add_grant(
    workspace: str,
    body: GrantBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SECURITY_MANAGE),
) -> dict[str, Any]:
    services.record(workspace)
    grant = services.grants.add_grant(
        workspace,
        env=body.env,
        subject=body.subject,
        table_pattern=body.table,
        privilege=body.privilege,
        actor=access.username,
    )
    audit_detail(request, grant=grant_json(grant))
    return grant_json(grant)


@router.delete("/workspaces/{workspace}/grants/{grant_id}", response_model=Ok)
def remove_grant(
    workspace: str,
    grant_id: Id,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SECURITY_MANAGE),
) -> dict[str, Any]:
    services.grants.remove_grant(workspace, grant_id)
    audit_detail(request, grant=grant_id)
    return {"ok": True}


@router.get("/workspaces/{workspace}/masking-rules", response_model=RuleList)
def list_masking_rules(
    workspace: str, services: Services, access: Access = guard(Perm.SECURITY_READ)
) -> dict[str, Any]:
    return {"items": [rule_json(r) for r in services.grants.masking_rules(workspace)]}


@router.post("/workspaces/{workspace}/masking-rules", status_code=201, response_model=RuleOut)
def add_masking_rule(
    workspace: str,
    body: MaskingBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SECURITY_MANAGE),
) -> dict[str, Any]:
    services.record(workspace)
    rule = services.grants.add_masking_rule(
        workspace,
        table_pattern=body.table,
        column_pattern=body.column,
        method=body.method,
        exempt=body.exempt,
        actor=access.username,
    )
    audit_detail(request, rule=rule_json(rule))
    return rule_json(rule)


@router.delete("/workspaces/{workspace}/masking-rules/{rule_id}", response_model=Ok)
def remove_masking_rule(
    workspace: str,
    rule_id: Id,
    request: Request,
    services: Services,
    access: Access = guard(Perm.SECURITY_MANAGE),
) -> dict[str, Any]:
    services.grants.remove_masking_rule(workspace, rule_id)
    audit_detail(request, rule=rule_id)
    return {"ok": True}


def _audit_page(
    services: Services,
    *,
    workspace: str | None,
    any_workspace: bool,
    actor: str | None,
    action: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    rows = services.audit.query(
        workspace=workspace,
        any_workspace=any_workspace,
        actor=actor,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        before_id=int_cursor(cursor),
        limit=limit + 1,
    )
    items, next_cursor = page(rows, limit, lambda e: e.id)
    return {"items": [audit_json(e) for e in items], "next_cursor": next_cursor}


@router.get("/workspaces/{workspace}/audit", response_model=AuditPage)
def workspace_audit(
    workspace: str,
    services: Services,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: LimitParam = 100,
    cursor: CursorParam = None,
    access: Access = guard(Perm.AUDIT_READ, data_access=True),
) -> dict[str, Any]:
    """The workspace's audit log, newest first (security admins and owners)."""
    return _audit_page(
        services,
        workspace=workspace,
        any_workspace=False,
        actor=actor,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


@router.get("/audit", response_model=AuditPage)
def installation_audit(
    services: Services,
    workspace: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: LimitParam = 100,
    cursor: CursorParam = None,
    access: Access = guard(Perm.INSTALLATION_ADMIN, data_access=True),
) -> dict[str, Any]:
    """The whole audit log (sign-ins, users, every workspace), for installation
    administrators; ``workspace`` narrows it to one."""
    return _audit_page(
        services,
        workspace=workspace,
        any_workspace=workspace is None,
        actor=actor,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


class RotateKeyBody(Body):
    keep_old: bool = False
    """Keep the old key for decrypting too (e.g. for a backup made before)."""


class RotateKeyOut(Out):
    reencrypted: int
    """How many stored secrets were re-encrypted with the new key."""
    key_file: str
    """The key file that now holds the new key (the key itself is never returned)."""


@router.post("/secrets/rotate-key", response_model=RotateKeyOut)
def rotate_secret_key(
    body: RotateKeyBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.INSTALLATION_ADMIN),
) -> dict[str, Any]:
    """Make a new secret key, re-encrypt every stored secret with it in one transaction
    and use it at once (installation administrators; the key must come from the key
    file, not from ``LAKEWORKS_SECRET_KEY``)."""
    rotation = services.secrets.rotate_key(keep_old=body.keep_old)
    audit_detail(request, reencrypted=rotation.reencrypted, keep_old=body.keep_old)
    return {"reencrypted": rotation.reencrypted, "key_file": str(rotation.key_file)}
