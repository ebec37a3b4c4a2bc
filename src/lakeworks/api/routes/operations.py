"""Operations Center actions on instances and nodes: run now, rerun (with downstream),
set success, stop, suspend / resume, freeze / unfreeze — developers in dev, operators in
prod. Every action calls ``runtime.ops`` (the same code as ``lakeworks ops``)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import (
    Body,
    InstanceOut,
    Out,
    Services,
    audit_detail,
    guard,
    instance_json,
    iso,
)
from lakeworks.errors import NotFound
from lakeworks.runtime import ops
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.store.database import Database
from lakeworks.store.repositories import InstanceRepository

router = APIRouter(tags=["operations"])


class Action(StrEnum):
    RUN_NOW = "run_now"
    RERUN = "rerun"
    RERUN_DOWNSTREAM = "rerun_downstream"
    SET_SUCCESS = "set_success"
    STOP = "stop"
    SUSPEND = "suspend"
    RESUME = "resume"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"


ACTIONS: dict[Action, Callable[[Database, str, list[int]], ops.ActionResult]] = {
    Action.RUN_NOW: ops.run_now,
    Action.RERUN: lambda db, actor, ids: ops.rerun(db, actor, ids),
    Action.RERUN_DOWNSTREAM: lambda db, actor, ids: ops.rerun(db, actor, ids, downstream=True),
    Action.SET_SUCCESS: ops.set_success,
    Action.STOP: ops.stop,
    Action.SUSPEND: ops.suspend,
    Action.RESUME: ops.resume,
    Action.FREEZE: ops.freeze,
    Action.UNFREEZE: ops.unfreeze,
}


class ActionBody(Body):
    ids: list[int] = Field(min_length=1, max_length=10000, description="Instance ids.")


class RefusedOut(Out):
    id: int
    reason: str


class ActionOut(Out):
    action: str
    changed: list[InstanceOut]
    refused: list[RefusedOut]


class RecentAction(Out):
    id: int
    at: str | None
    actor: str
    action: str
    target: str
    detail: Any


class RecentActions(Out):
    items: list[RecentAction]


def result_json(result: ops.ActionResult) -> dict[str, Any]:
    return {
        "action": result.action,
        "changed": [instance_json(i) for i in result.changed],
        "refused": [{"id": i, "reason": why} for i, why in result.refused],
    }


def _check_scope(services: Services, workspace: str, env: str, ids: list[int]) -> None:
    found = InstanceRepository(services.db).get_many(ids)
    outside = sorted(set(ids) - {i.id for i in found if i.workspace == workspace and i.env == env})
    if outside:
        shown = ", ".join(str(i) for i in outside[:10])
        raise NotFound(f"instances {shown} do not exist in {workspace} ({env})")


@router.post(
    "/workspaces/{workspace}/envs/{env}/instances/actions/{action}", response_model=ActionOut
)
def act(
    workspace: str,
    env: str,
    action: Action,
    body: ActionBody,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Apply an action to instances; each one it does not apply to is listed with why."""
    _check_scope(services, workspace, env, body.ids)
    result = ACTIONS[action](services.db, access.username, body.ids)
    audit_detail(
        request,
        action=action.value,
        changed=[i.id for i in result.changed],
        refused=[i for i, _ in result.refused],
    )
    return result_json(result)


@router.post("/workspaces/{workspace}/envs/{env}/nodes/{node_key}/freeze", response_model=ActionOut)
def freeze_node(
    workspace: str,
    env: str,
    node_key: str,
    request: Request,
    services: Services,
    frozen: bool = Query(True, description="false unfreezes the node."),
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Freeze (or unfreeze) a node: its waiting scheduled instances and future ones."""
    definition = services.definition(workspace, env)
    if definition.find_node(node_key) is None:
        raise NotFound(f"node {node_key} does not run in {env}")
    result = ops.freeze_node(services.db, access.username, workspace, env, node_key, frozen=frozen)
    audit_detail(request, node=node_key, frozen=frozen, changed=len(result.changed))
    return result_json(result)


@router.post(
    "/workspaces/{workspace}/envs/{env}/instances/{instance_id}/trigger", response_model=InstanceOut
)
def trigger_instance(
    workspace: str,
    env: str,
    instance_id: int,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Release the instance of a trigger node (once); it runs when its upstream is done."""
    from lakeworks.controlflow.trigger import trigger_instance as release

    _check_scope(services, workspace, env, [instance_id])
    instance = release(
        services.db, services.definition(workspace, env), instance_id, access.username
    )
    audit_detail(request, instance=instance_id)
    return instance_json(instance)


@router.post(
    "/workspaces/{workspace}/envs/{env}/nodes/{node_key}/trigger", response_model=InstanceOut
)
def trigger_node(
    workspace: str,
    env: str,
    node_key: str,
    request: Request,
    services: Services,
    bizdate: str = Query(..., description="Business date YYYYMMDD."),
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Release the instance of a trigger node for a business date (once)."""
    from lakeworks.controlflow.trigger import find_instance
    from lakeworks.controlflow.trigger import trigger_instance as release
    from lakeworks.schedule.bizdates import parse_bizdate

    definition = services.definition(workspace, env)
    found = find_instance(services.db, definition, env, node_key, parse_bizdate(bizdate))
    instance = release(services.db, definition, found.id, access.username)
    audit_detail(request, instance=found.id, node=node_key, bizdate=bizdate)
    return instance_json(instance)


@router.get("/workspaces/{workspace}/envs/{env}/actions", response_model=RecentActions)
def recent_actions(
    workspace: str,
    env: str,
    services: Services,
    limit: int = Query(50, ge=1, le=500),
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """The operator action log of the environment, newest first."""
    actions = ops.recent_actions(services.db, workspace=workspace, env=env, limit=limit)
    return {
        "items": [
            {
                "id": a.id,
                "at": iso(a.created_at),
                "actor": a.actor,
                "action": a.action,
                "target": a.target,
                "detail": a.detail,
            }
            for a in actions
        ]
    }
