"""Stream nodes of an environment: status with live metrics, start, stop, pause,
resume, and reset of the stored position (refused while the stream runs)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Services, audit_detail, guard
from lakeworks.errors import UserError
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.streaming import service
from lakeworks.streaming.status import PAUSED, RUNNING

router = APIRouter(tags=["real-time sync"])
BASE = "/workspaces/{workspace}/envs/{env}/streams"


class StreamAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["start", "stop", "pause", "resume"]


class StreamOut(BaseModel):
    """A stream node's status row: what the operator wants and the last metrics."""

    model_config = ConfigDict(extra="forbid")
    workspace: str
    env: str
    node_key: str
    desired: str
    state: str
    instance_id: int | None
    rows_in: int
    rows_out: int
    rows_dirty: int
    rows_per_second: float
    lag_messages: int | None
    lag_seconds: float | None
    lag_bytes: int | None
    watermark: str | None
    last_flush_at: str | None
    restarts: int
    last_error: str | None
    positions: str | None
    updated_at: str


class StreamList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[StreamOut]


class StreamActionOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str
    action: str
    instance_id: int | None = None


class StreamResetOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str
    forgotten: dict[str, int]
    """Positions forgotten, by source partition."""
    dropped_slot: str | None = None
    """PostgreSQL CDC: the replication slot dropped (the next start takes a snapshot)."""


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str
    """The node key again, to confirm that the position is to be forgotten."""


@router.get(BASE)
def list_streams(
    workspace: str, env: str, services: Services, access: Access = guard(Perm.INSTANCES_READ)
) -> StreamList:
    """Every stream node that ran in this environment, with its state and metrics."""
    ws = services.definition(workspace, env)
    items = [StreamOut(**s.as_dict()) for s in service.statuses(services.db, ws, env)]
    return StreamList(items=items)


@router.get(BASE + "/{node_key}")
def get_stream(
    workspace: str,
    env: str,
    node_key: str,
    services: Services,
    access: Access = guard(Perm.INSTANCES_READ),
) -> StreamOut:
    """A stream node's state and live metrics (rows in/out, rows/s, lag, last flush)."""
    ws = services.definition(workspace, env)
    return StreamOut(**service.status(services.db, ws, env, node_key).as_dict())


@router.post(BASE + "/{node_key}/actions")
def act(
    workspace: str,
    env: str,
    node_key: str,
    body: StreamAction,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> StreamActionOut:
    """Start (queue for a worker), stop, pause or resume a stream node."""
    ws = services.definition(workspace, env)
    out: dict[str, Any] = {"node": node_key, "action": body.action}
    if body.action == "start":
        out["instance_id"] = service.start(services.db, access.username, ws, env, node_key).id
    elif body.action == "stop":
        out["instance_id"] = service.stop(services.db, access.username, ws, env, node_key)
    else:
        desired = PAUSED if body.action == "pause" else RUNNING
        service.set_desired(services.db, access.username, ws, env, node_key, desired)
    audit_detail(request, **out)
    return StreamActionOut(**out)


@router.post(BASE + "/{node_key}/reset")
def reset(
    workspace: str,
    env: str,
    node_key: str,
    body: ResetRequest,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> StreamResetOut:
    """Forget the stored position (``confirm`` must repeat the node key)."""
    ws = services.definition(workspace, env)
    node = service.check_resettable(services.db, ws, env, node_key)
    if body.confirm != node.key:
        raise UserError(
            f"confirm must be '{node.key}' to reset its position",
            hint='send {"confirm": "' + node.key + '"}',
        )
    done = service.reset(services.engine(workspace, env), ws, env, node)
    audit_detail(request, node=node.key, forgotten=done.forgotten, dropped_slot=done.dropped_slot)
    return StreamResetOut(node=node.key, forgotten=done.forgotten, dropped_slot=done.dropped_slot)
