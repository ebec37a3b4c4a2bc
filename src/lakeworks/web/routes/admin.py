"""Administration: members and roles, users, the caller's tokens, table grants,
masking rules, the audit log, secret-key rotation."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.pagination import decode_cursor, encode_cursor
from lakeworks.api.routes.common import guard
from lakeworks.security.audit import AuditLog
from lakeworks.security.permissions import Permission as Perm
from lakeworks.security.permissions import Role
from lakeworks.web.render import page

router = APIRouter()

AUDIT_PAGE = 50


@router.get("/w/{workspace}/admin", response_class=HTMLResponse, name="console.admin")
def admin(request: Request, workspace: str, access: Access = guard(Perm.MEMBERS_READ)) -> Response:
    """Members and roles; grants and masking for security admins; the caller's tokens;
    users for installation administrators."""
    services = services_of(request)
    may_security = access.can(Perm.SECURITY_READ)
    return page(
        request,
        "admin/index.html",
        access,
        title="Administration",
        module="admin",
        tab="members",
        members=services.members.members(workspace),
        all_roles=[r.value for r in Role],
        grants=services.grants.grants(workspace) if may_security else [],
        masking=services.grants.masking_rules(workspace) if may_security else [],
        tokens=services.tokens.list(access.user.id),
        users=services.users.list(limit=500) if access.user.is_superuser else [],
        may_security=may_security,
        key_file=str(services.secrets.key_file) if services.secrets.key_file else None,
        secret_count=services.secrets.count() if access.user.is_superuser else 0,
    )


def _since(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/w/{workspace}/admin/audit", response_class=HTMLResponse, name="console.audit")
def audit(request: Request, workspace: str, access: Access = guard(Perm.AUDIT_READ)) -> Response:
    """The workspace's audit log, filtered by actor, action, outcome and time; reading
    it is itself recorded, as through the API."""
    services = services_of(request)
    params = request.query_params
    values = {k: params.get(k, "").strip() for k in ("actor", "action", "outcome", "since")}
    errors = {}
    since = _since(values["since"])
    if values["since"] and since is None:
        errors["since"] = "a time is YYYY-MM-DD or YYYY-MM-DDTHH:MM"
    cursor = decode_cursor(params.get("cursor")) if params.get("cursor") else None
    rows = services.audit.query(
        workspace=workspace,
        actor=values["actor"] or None,
        action=values["action"] or None,
        outcome=values["outcome"] or None,
        since=since,
        before_id=cursor if isinstance(cursor, int) else None,
        limit=AUDIT_PAGE + 1,
    )
    next_cursor = encode_cursor(rows[AUDIT_PAGE - 1].id) if len(rows) > AUDIT_PAGE else None
    record_read(services.audit, request, access, workspace)
    return page(
        request,
        "admin/audit.html",
        access,
        title="Audit log",
        module="admin",
        tab="audit",
        rows=rows[:AUDIT_PAGE],
        values=values,
        errors=errors,
        next_query="&".join(f"{k}={v}" for k, v in {**values, "cursor": next_cursor}.items() if v)
        if next_cursor
        else None,
    )


def record_read(audit_log: AuditLog, request: Request, access: Access, workspace: str) -> None:
    """An audit entry for a page that shows audited data (as the API's data reads)."""
    client = request.client
    audit_log.record(
        actor=access.username,
        workspace=workspace,
        action="console.audit",
        method="GET",
        target=str(request.url.path),
        status=200,
        client_ip=client.host if client else None,
        user_agent=request.headers.get("user-agent"),
        detail=None,
    )
