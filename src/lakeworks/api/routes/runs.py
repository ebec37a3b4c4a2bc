"""Runs: start a run of nodes in dev (the Data Studio "run"), list and read runs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.inputs import Id
from lakeworks.api.pagination import CursorParam, LimitParam, int_cursor, page
from lakeworks.api.routes.common import Body, Out, Services, audit_detail, guard, iso
from lakeworks.errors import NotFound
from lakeworks.security.permissions import Permission as Perm
from lakeworks.store.models import Run, RunType
from lakeworks.store.repositories import RunRepository

router = APIRouter(tags=["runs"])


class DevRunBody(Body):
    bizdate: str = Field(pattern=r"^\d{4}-?\d{2}-?\d{2}$", description="Business date.")
    targets: list[str] = Field(
        default_factory=list, description="Workflows or nodes; empty = every node."
    )
    parameters: dict[str, str] = Field(default_factory=dict, description="Overrides.")


class RunOut(Out):
    id: int
    env: str
    run_type: str
    state: str
    description: str
    created_by: str
    created_at: str | None
    finished_at: str | None
    params: dict[str, Any]


class RunPage(Out):
    items: list[RunOut]
    next_cursor: str | None


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "env": run.env,
        "run_type": run.run_type.value,
        "state": run.state.value,
        "description": run.description,
        "created_by": run.created_by,
        "created_at": iso(run.created_at),
        "finished_at": iso(run.finished_at),
        "params": json.loads(run.params_json or "{}"),
    }


@router.post("/workspaces/{workspace}/dev-runs", status_code=202, response_model=RunOut)
def start_dev_run(
    workspace: str,
    body: DevRunBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DEV_RUN),
) -> dict[str, Any]:
    """Run nodes of the dev folder for a business date against the dev warehouse, in
    dependency order. Answers at once with the run; follow its instances."""
    from lakeworks.api.dev_runs import start_dev_run as start
    from lakeworks.schedule.bizdates import parse_bizdate

    run = start(
        services.background,
        services.definition(workspace, "dev"),
        services.db,
        services.engine(workspace, "dev"),
        parse_bizdate(body.bizdate),
        body.targets,
        actor=access.username,
        overrides=body.parameters,
    )
    audit_detail(request, run=run.id, targets=body.targets, bizdate=body.bizdate)
    return run_json(run)


@router.get("/workspaces/{workspace}/envs/{env}/runs", response_model=RunPage)
def list_runs(
    workspace: str,
    env: str,
    services: Services,
    run_type: RunType | None = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """Runs (manual, backfill) newest first."""
    rows = RunRepository(services.db).list(
        workspace=workspace,
        env=env,
        run_type=run_type,
        after_id=int_cursor(cursor),
        limit=limit + 1,
    )
    items, next_cursor = page(rows, limit, lambda r: r.id)
    return {"items": [run_json(r) for r in items], "next_cursor": next_cursor}


@router.get("/workspaces/{workspace}/envs/{env}/runs/{run_id}", response_model=RunOut)
def get_run(
    workspace: str,
    env: str,
    run_id: Id,
    services: Services,
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    run = RunRepository(services.db).get(run_id)
    if run.workspace != workspace or run.env != env:
        raise NotFound(f"run {run_id} does not exist in {workspace} ({env})")
    return run_json(run)
