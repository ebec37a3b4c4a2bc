"""Sync cursors of an environment: read one, or reset it (the next run reads all)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Services, audit_detail, guard, iso
from lakeworks.errors import NotFound
from lakeworks.integration.state import SyncState, dump_cursor
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.spec.models import NodeKind

router = APIRouter(tags=["data integration"])


def _sync_node(services: Services, workspace: str, env: str, node_key: str) -> str:
    found = services.definition(workspace, env).find_node(node_key)
    if found is None or found.kind is not NodeKind.SYNC:
        raise NotFound(f"no sync node '{node_key}' in {workspace} ({env})")
    return found.key


@router.get("/workspaces/{workspace}/envs/{env}/sync/cursors/{node_key}")
def get_cursor(
    workspace: str,
    env: str,
    node_key: str,
    services: Services,
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """The committed cursor of a sync node (null: the next run reads everything)."""
    key = _sync_node(services, workspace, env, node_key)
    record = SyncState(services.db, workspace, env).cursor_record(key)
    return {
        "node": key,
        "cursor": None if record is None else dump_cursor(record.value),
        "sync_run_id": None if record is None else record.sync_run_id,
        "updated_at": None if record is None else iso(record.updated_at),
    }


@router.post("/workspaces/{workspace}/envs/{env}/sync/cursors/{node_key}/reset")
def reset_cursor(
    workspace: str,
    env: str,
    node_key: str,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Forget a sync node's cursor: its next run reads every row again."""
    key = _sync_node(services, workspace, env, node_key)
    state = SyncState(services.db, workspace, env)
    record = state.cursor_record(key)
    before = None if record is None else dump_cursor(record.value)
    reset = state.reset_cursor(key)
    audit_detail(request, node=key, before=before, reset=reset)
    return {"node": key, "reset": reset, "before": before}
