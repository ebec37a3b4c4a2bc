"""Backfills (data complement) in prod: preview the instances, start, follow, stop.

The scheduler and workers of prod carry a backfill out; dev has no scheduler, so a
backfill there is refused (run nodes in dev with a dev run instead).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.inputs import Id
from lakeworks.api.routes.common import Body, Out, Services, audit_detail, guard, iso
from lakeworks.api.routes.operations import ActionOut, result_json
from lakeworks.api.routes.runs import RunOut, run_json
from lakeworks.errors import NotFound, UserError
from lakeworks.runtime import backfill_service
from lakeworks.schedule.backfill import BackfillOrder, BackfillPlan, BackfillRequest, BackfillScope
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["backfills"])

PREVIEW_ITEMS = 1000


class BackfillBody(Body):
    node: str = Field(default="", description="The start node (workflow.node or its name).")
    nodes: list[str] = Field(default_factory=list, description="More nodes to start from.")
    workflows: list[str] = Field(
        default_factory=list, description="Workflows whose every node is a start node."
    )
    dates: list[tuple[date, date]] = Field(
        min_length=1, description="Inclusive ranges of business dates."
    )
    scope: BackfillScope = BackfillScope.NODE
    depth: int | None = Field(
        default=None, ge=0, description="Levels up- or downstream (scope upstream/downstream)."
    )
    wait_outside: bool = Field(
        default=False,
        description="Also wait for the scheduled instances outside the backfill it depends on.",
    )
    end_node: str | None = None
    order: BackfillOrder = BackfillOrder.ASCENDING
    parallel: int = Field(default=1, ge=1, le=64)
    parameters: dict[str, str] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list)

    def request(self) -> BackfillRequest:
        for start, end in self.dates:
            if end < start:
                raise UserError(f"date range {start}..{end} ends before it starts")
        return BackfillRequest(
            node=self.node,
            nodes=tuple(self.nodes),
            workflows=tuple(self.workflows),
            depth=self.depth,
            wait_outside=self.wait_outside,
            date_ranges=tuple(self.dates),
            scope=self.scope,
            end_node=self.end_node,
            order=self.order,
            parallel=self.parallel,
            parameters=dict(self.parameters),
            exclude=frozenset(self.exclude),
        )


class PlannedInstance(Out):
    node: str
    bizdate: str
    cycle_time: str
    run_mode: str
    lane: int
    step: int


class OutsideOut(Out):
    node: str
    cycle_time: str
    kind: str
    state: str | None


class PlanOut(Out):
    nodes: list[str]
    dates: list[str]
    instance_count: int
    instances: list[PlannedInstance]
    outside: list[OutsideOut]
    """Scheduled instances outside the backfill that it depends on."""
    warnings: list[str]


class BackfillStarted(Out):
    run: RunOut
    plan: PlanOut


class BackfillList(Out):
    items: list[RunOut]


class BackfillProgress(Out):
    run: RunOut
    counts: dict[str, int]
    total: int
    done: int
    failed: int
    running: int
    percent: float
    finished: bool
    summary: str
    finished_at: str | None


def plan_json(
    plan: BackfillPlan, outside: list[backfill_service.OutsideDependency] | None = None
) -> dict[str, Any]:
    return {
        "outside": [
            {
                "node": o.ref.node_key,
                "cycle_time": o.ref.cycle_time.isoformat(),
                "kind": o.ref.kind.value,
                "state": o.state,
            }
            for o in (outside or [])[:PREVIEW_ITEMS]
        ],
        "nodes": list(plan.nodes),
        "dates": [d.isoformat() for d in plan.dates],
        "instance_count": len(plan.instances),
        "instances": [
            {
                "node": i.node_key,
                "bizdate": i.bizdate.isoformat(),
                "cycle_time": i.cycle_time.isoformat(),
                "run_mode": i.run_mode.value,
                "lane": i.lane,
                "step": i.step,
            }
            for i in plan.instances[:PREVIEW_ITEMS]
        ],
        "warnings": [*plan.warnings, *backfill_service.outside_warnings(outside or [])],
    }


def _prod_only(env: str) -> None:
    if env == "dev":
        raise UserError(
            "backfills run in prod, where the scheduler runs",
            hint="in dev, start a dev run for each business date",
        )


@router.post("/workspaces/{workspace}/envs/{env}/backfills/preview", response_model=PlanOut)
def preview_backfill(
    workspace: str,
    env: str,
    body: BackfillBody,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """The instances a backfill would create, in the order they run (nothing is written)."""
    _prod_only(env)
    definition = services.definition(workspace, env)
    plan = backfill_service.preview(definition, body.request())
    return plan_json(
        plan, backfill_service.outside_dependencies(services.db, definition.name, env, plan)
    )


@router.post(
    "/workspaces/{workspace}/envs/{env}/backfills",
    status_code=201,
    response_model=BackfillStarted,
)
def start_backfill(
    workspace: str,
    env: str,
    body: BackfillBody,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Create the backfill's run and instances; the scheduler carries it out."""
    _prod_only(env)
    run, plan, created = backfill_service.start_backfill(
        services.db, access.username, services.definition(workspace, env), env, body.request()
    )
    audit_detail(request, run=run.id, instances=len(created), node=body.node)
    outside = backfill_service.outside_dependencies(services.db, workspace, env, plan)
    return {"run": run_json(run), "plan": plan_json(plan, outside)}


@router.get("/workspaces/{workspace}/envs/{env}/backfills", response_model=BackfillList)
def list_backfills(
    workspace: str,
    env: str,
    services: Services,
    limit: int = Query(20, ge=1, le=200),
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    runs = backfill_service.list_backfills(services.db, workspace=workspace, env=env, limit=limit)
    return {"items": [run_json(r) for r in runs]}


def _progress(services: Services, workspace: str, env: str, run_id: int) -> dict[str, Any]:
    progress = backfill_service.progress(services.db, run_id)
    if progress.run.workspace != workspace or progress.run.env != env:
        raise NotFound(f"backfill {run_id} does not exist in {workspace} ({env})")
    return {
        "run": run_json(progress.run),
        "counts": {state.value: count for state, count in progress.counts.items()},
        "total": progress.total,
        "done": progress.done,
        "failed": progress.failed,
        "running": progress.running,
        "percent": round(progress.percent, 1),
        "finished": progress.finished,
        "summary": progress.summary(),
        "finished_at": iso(progress.run.finished_at),
    }


@router.get(
    "/workspaces/{workspace}/envs/{env}/backfills/{run_id}", response_model=BackfillProgress
)
def backfill_progress(
    workspace: str,
    env: str,
    run_id: Id,
    services: Services,
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """Where a backfill is: instances per state."""
    return _progress(services, workspace, env, run_id)


@router.post("/workspaces/{workspace}/envs/{env}/backfills/{run_id}/stop", response_model=ActionOut)
def stop_backfill(
    workspace: str,
    env: str,
    run_id: Id,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE),
) -> dict[str, Any]:
    """Stop every unfinished instance of the backfill."""
    _progress(services, workspace, env, run_id)
    result = backfill_service.stop_backfill(services.db, access.username, run_id)
    audit_detail(request, run=run_id, stopped=len(result.changed))
    return result_json(result)
