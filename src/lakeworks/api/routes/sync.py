"""Data integration: sync runs with their totals and cursors, and quarantined rows."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request

from lakeworks.api.auth import Access
from lakeworks.api.inputs import Id
from lakeworks.api.routes.common import Out, Services, audit_detail, guard, iso
from lakeworks.errors import NotFound
from lakeworks.integration.state import SyncRun, SyncState
from lakeworks.integration.tables import sync_runs as sync_runs_table
from lakeworks.security.permissions import Permission as Perm
from lakeworks.security.secrets import redact

router = APIRouter(tags=["data integration"])


class SyncRunOut(Out):
    id: int
    workspace: str
    env: str
    node_key: str
    instance_id: int | None
    attempt: int
    bizdate: str | None
    state: str
    started_at: str | None
    finished_at: str | None
    rows_read: int
    rows_written: int
    rows_dirty: int
    bytes_read: int
    seconds: float | None
    cursor_before: str | None
    cursor_after: str | None
    error: str | None


class SyncRunList(Out):
    items: list[SyncRunOut]


class DirtyRowOut(Out):
    position: str
    reason: str
    row: str
    """The row as JSON text."""


class DirtyRowList(Out):
    items: list[DirtyRowOut]


def sync_run_json(run: SyncRun) -> dict[str, Any]:
    data = asdict(run)
    data["started_at"] = iso(run.started_at)
    data["finished_at"] = iso(run.finished_at)
    data["error"] = None if run.error is None else redact(run.error)
    return data


@router.get("/workspaces/{workspace}/envs/{env}/sync/runs", response_model=SyncRunList)
def sync_runs(
    workspace: str,
    env: str,
    services: Services,
    node: str | None = Query(None, description="One sync node (workflow.node)."),
    limit: int = Query(50, ge=1, le=500),
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """Sync runs newest first: rows read, written and quarantined, bytes, cursor moves."""
    runs = SyncState(services.db, workspace, env).runs(node, limit=limit)
    return {"items": [sync_run_json(r) for r in runs]}


@router.get(
    "/workspaces/{workspace}/envs/{env}/sync/runs/{run_id}/dirty", response_model=DirtyRowList
)
def dirty_rows(
    workspace: str,
    env: str,
    run_id: Id,
    request: Request,
    services: Services,
    access: Access = guard(Perm.LOGS_READ, data_access=True),
) -> dict[str, Any]:
    """The rows a sync run quarantined, with the reason each could not be written."""
    runs = sync_runs_table.c
    with services.db.read() as conn:
        owner = conn.execute(
            sa.select(runs.workspace, runs.env).where(runs.id == run_id)
        ).one_or_none()
    if owner is None or tuple(owner) != (workspace, env):
        raise NotFound(f"sync run {run_id} does not exist in {workspace} ({env})")
    state = SyncState(services.db, workspace, env)
    audit_detail(request, sync_run=run_id)
    return {
        "items": [
            {"position": d.position, "reason": redact(d.reason), "row": d.row_json}
            for d in state.dirty_rows(run_id)
        ]
    }
