"""The audit log: an append-only record of every change and every data access.

Who (actor), when, what (action, method, target), from where (client address, user
agent) and the result (status, outcome, detail). Rows are only ever inserted: there
is no update or delete in code, no API for either, and database triggers (migration
``0006``) refuse both.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.security.models import AuditEntry
from lakeworks.security.tables import audit_log
from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database

Redactor = Callable[[str], str]


def _entry(row: sa.Row[Any]) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        id=m["id"],
        created_at=m["created_at"],
        actor=m["actor"],
        workspace=m["workspace"],
        action=m["action"],
        method=m["method"],
        target=m["target"],
        status=m["status"],
        outcome=m["outcome"],
        client_ip=m["client_ip"],
        user_agent=m["user_agent"],
        detail=m["detail"],
    )


def outcome_of(status: int) -> str:
    """``ok``, ``denied`` (401/403/429) or ``failed`` for an HTTP status."""
    if status < 400:
        return "ok"
    if status in (401, 403, 429):
        return "denied"
    return "failed"


class AuditLog:
    """Append to and query the audit log."""

    def __init__(self, db: Database, redact: Redactor | None = None) -> None:
        self._db = db
        self._redact = redact

    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        status: int = 200,
        workspace: str | None = None,
        method: str = "CLI",
        client_ip: str | None = None,
        user_agent: str | None = None,
        detail: Mapping[str, Any] | str | None = None,
        outcome: str | None = None,
    ) -> AuditEntry:
        """Append one entry; ``detail`` is stored as JSON with secrets redacted."""
        text: str | None
        if detail is None:
            text = None
        elif isinstance(detail, str):
            text = detail
        else:
            text = json.dumps(detail, default=str, sort_keys=True)
        if text is not None and self._redact is not None:
            text = self._redact(text)
        values = {
            "created_at": utcnow(),
            "actor": actor,
            "workspace": workspace,
            "action": action,
            "method": method,
            "target": target[:2000],
            "status": status,
            "outcome": outcome or outcome_of(status),
            "client_ip": client_ip,
            "user_agent": (user_agent or "")[:500] or None,
            "detail": text,
        }
        with self._db.write() as conn:
            row = conn.execute(sa.insert(audit_log).values(values).returning(*audit_log.c)).one()
        return _entry(row)

    def query(
        self,
        *,
        workspace: str | None = None,
        any_workspace: bool = False,
        actor: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        """Entries newest first. ``workspace`` None with ``any_workspace`` False means
        installation-level entries only; ``before_id`` continues a previous page."""
        c = audit_log.c
        query = sa.select(audit_log).order_by(c.id.desc()).limit(limit)
        if workspace is not None:
            query = query.where(c.workspace == workspace)
        elif not any_workspace:
            query = query.where(c.workspace.is_(None))
        if actor is not None:
            query = query.where(c.actor == actor)
        if action is not None:
            query = query.where(c.action == action)
        if outcome is not None:
            query = query.where(c.outcome == outcome)
        if since is not None:
            query = query.where(c.created_at >= to_utc_naive(since))
        if until is not None:
            query = query.where(c.created_at < to_utc_naive(until))
        if before_id is not None:
            query = query.where(c.id < before_id)
        with self._db.read() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())
