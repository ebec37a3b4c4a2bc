"""Operations Center: instances (filtered, keyset pages), one instance, the DAG and
Gantt chart of a day, the backfill dialog, a node's run-time trend."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.pagination import decode_cursor, encode_cursor
from lakeworks.api.routes.common import guard
from lakeworks.errors import LakeworksError, NotFound
from lakeworks.runtime.ops import control_view
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.spec.models import Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.models import Instance, InstanceState, RunType
from lakeworks.store.operations import OperationsStore
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import AttemptRepository, InstanceRepository
from lakeworks.web.charts import gantt, trend
from lakeworks.web.graphs import instance_graph
from lakeworks.web.render import page

router = APIRouter()

PAGE_SIZE = 50
DAY_LIMIT = 2000
DOWNSTREAM_SHOWN = 200
ACTIONS = [
    ("run_now", "Run now"),
    ("rerun", "Rerun"),
    ("rerun_downstream", "Rerun with downstream"),
    ("set_success", "Set success"),
    ("stop", "Stop"),
    ("suspend", "Suspend"),
    ("resume", "Resume"),
    ("freeze", "Freeze"),
    ("unfreeze", "Unfreeze"),
]
_BIZDATE = re.compile(r"^\d{8}$")


@dataclass
class Filters:
    """The instance filters as typed, and what is wrong with them (per field)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.values.get(name, "").strip()
        return value or None


def read_filters(request: Request) -> Filters:
    names = ("bizdate", "workflow", "node", "owner", "state", "run_type", "run")
    filters = Filters({n: request.query_params.get(n, "") for n in names})
    day = filters.get("bizdate")
    if day is not None:
        day = day.replace("-", "")
        if _BIZDATE.match(day):
            filters.values["bizdate"] = day
        else:
            filters.errors["bizdate"] = "a business date is YYYYMMDD or YYYY-MM-DD"
    state = filters.get("state")
    if state is not None and state not in {s.value for s in InstanceState}:
        filters.errors["state"] = "unknown state"
    run_type = filters.get("run_type")
    if run_type is not None and run_type not in {r.value for r in RunType}:
        filters.errors["run_type"] = "unknown run type"
    run = filters.get("run")
    if run is not None and not run.isdigit():
        filters.errors["run"] = "a run is its number"
    return filters


def _instance(request: Request, workspace: str, env: str, instance_id: int) -> Instance:
    instance = InstanceRepository(services_of(request).db).get(instance_id)
    if instance.workspace != workspace or instance.env != env:
        raise NotFound(f"instance {instance_id} does not exist in {workspace} ({env})")
    return instance


def _definition(request: Request, workspace: str, env: str) -> Workspace | None:
    """The workspace's definition in ``env`` (None when it cannot be read)."""
    try:
        return services_of(request).definition(workspace, env)
    except LakeworksError:
        return None


def _node_keys(request: Request, workspace: str, env: str) -> list[str]:
    try:
        return sorted(n.key for n in services_of(request).definition(workspace, env).nodes())
    except LakeworksError:
        return []


@router.get("/w/{workspace}/envs/{env}/ops", response_class=HTMLResponse, name="console.instances")
def instances(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.INSTANCES_READ)
) -> Response:
    """Instances newest first, filtered; ``cursor`` pages by id (as the API does)."""
    filters = read_filters(request)
    rows: list[Instance] = []
    next_cursor = None
    cursor = request.query_params.get("cursor")
    if not filters.errors:
        after = decode_cursor(cursor) if cursor else None
        state = filters.get("state")
        node = filters.get("node")
        rows = InstanceRepository(services_of(request).db).list(
            workspace=workspace,
            env=env,
            states=[state] if state else None,
            node_keys=[node] if node else None,
            workflow=filters.get("workflow"),
            owner=filters.get("owner"),
            bizdate=filters.get("bizdate"),
            run_type=filters.get("run_type"),
            run_id=int(run) if (run := filters.get("run")) else None,
            after_id=after if isinstance(after, int) else None,
            limit=PAGE_SIZE + 1,
            order="desc",
        )
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            next_cursor = encode_cursor(rows[-1].id)
    query = {k: v for k, v in filters.values.items() if v}
    return page(
        request,
        "ops/instances.html",
        access,
        title="Instances",
        module="ops",
        tab="instances",
        filters=filters,
        rows=rows,
        next_query="&".join(f"{k}={v}" for k, v in {**query, "cursor": next_cursor}.items())
        if next_cursor
        else None,
        first_page=bool(cursor),
        states=[s.value for s in InstanceState],
        run_types=[r.value for r in RunType],
        actions=ACTIONS,
        may_operate=access.can(RUN_OR_OPERATE.for_env(env)),
    )


def _downstream(repo: InstanceRepository, start: int) -> list[Instance]:
    """Instances downstream of ``start`` (breadth first, at most DOWNSTREAM_SHOWN)."""
    seen: set[int] = set()
    frontier = [start]
    while frontier and len(seen) < DOWNSTREAM_SHOWN:
        following: list[int] = []
        for instance_id in frontier:
            for child in repo.downstream_ids(instance_id):
                if child not in seen:
                    seen.add(child)
                    following.append(child)
        frontier = following
    return repo.get_many(sorted(seen)[:DOWNSTREAM_SHOWN])


@router.get(
    "/w/{workspace}/envs/{env}/ops/instances/{instance_id}",
    response_class=HTMLResponse,
    name="console.instance",
)
def instance_page(
    request: Request,
    workspace: str,
    env: str,
    instance_id: int,
    access: Access = guard(Perm.INSTANCES_READ),
) -> Response:
    """One instance: state and why, attempts, timings, code, live log, neighbours."""
    instance = _instance(request, workspace, env, instance_id)
    db = services_of(request).db
    repo = InstanceRepository(db)
    upstream = repo.get_many(repo.upstream_ids(instance_id))
    direct = repo.get_many(repo.downstream_ids(instance_id))
    outputs = OutputRepository(db)
    control = control_view(
        _definition(request, workspace, env),
        instance,
        outputs.get(instance_id),
        outputs.iterations(instance_id),
    )
    return page(
        request,
        "ops/instance.html",
        access,
        title=f"Instance {instance_id}",
        module="ops",
        tab="instances",
        i=instance,
        attempts=AttemptRepository(services_of(request).db).for_instance(instance_id),
        events=repo.events(instance_id)[-30:],
        upstream=upstream,
        downstream=direct,
        all_downstream=_downstream(repo, instance_id),
        actions=ACTIONS,
        may_operate=access.can(RUN_OR_OPERATE.for_env(env)),
        may_read_logs=access.can(Perm.LOGS_READ),
        running=instance.state is InstanceState.RUNNING,
        control=control,
    )


def _latest_day(repo: InstanceRepository, workspace: str, env: str) -> str | None:
    latest = repo.list(
        workspace=workspace,
        env=env,
        run_type=RunType.SCHEDULED,
        cycle_to=utcnow(),
        limit=1,
        order="desc",
    )
    return latest[0].bizdate if latest else None


@router.get("/w/{workspace}/envs/{env}/ops/day", response_class=HTMLResponse, name="console.day")
def day_page(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.INSTANCES_READ)
) -> Response:
    """The scheduled instances of one business date: DAG coloured by state, Gantt chart."""
    filters = read_filters(request)
    repo = InstanceRepository(services_of(request).db)
    day = filters.get("bizdate") if "bizdate" not in filters.errors else None
    if day is None and "bizdate" not in filters.errors:
        day = _latest_day(repo, workspace, env)
    rows: list[Instance] = []
    if day is not None:
        rows = repo.list(
            workspace=workspace,
            env=env,
            bizdate=day,
            run_type=RunType.SCHEDULED,
            limit=DAY_LIMIT,
        )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state.value] = counts.get(row.state.value, 0) + 1
    return page(
        request,
        "ops/day.html",
        access,
        title=f"Day {day or ''}",
        module="ops",
        tab="day",
        filters=filters,
        day=day,
        counts=sorted(counts.items()),
        graph=instance_graph(services_of(request).db, workspace, env, rows),
        chart=gantt(rows, f"/w/{workspace}/envs/{env}/ops/instances/"),
        truncated=len(rows) >= DAY_LIMIT,
    )


@router.get(
    "/w/{workspace}/envs/{env}/ops/backfill", response_class=HTMLResponse, name="console.backfill"
)
def backfill_page(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.INSTANCES_READ)
) -> Response:
    """The backfill dialog (preview first, then start) and the recent backfills."""
    from lakeworks.runtime import backfill_service

    runs = backfill_service.list_backfills(
        services_of(request).db, workspace=workspace, env=env, limit=20
    )
    return page(
        request,
        "ops/backfill.html",
        access,
        title="Backfill",
        module="ops",
        tab="backfill",
        node_keys=_node_keys(request, workspace, env),
        runs=runs,
        start_node=request.query_params.get("node", ""),
        may_operate=access.can(RUN_OR_OPERATE.for_env(env)),
    )


@router.get(
    "/w/{workspace}/envs/{env}/ops/trend", response_class=HTMLResponse, name="console.trend"
)
def trend_page(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.INSTANCES_READ)
) -> Response:
    """How long a node's instances took, run after run; freezing the whole node."""
    node = request.query_params.get("node", "").strip()
    rows: list[Instance] = []
    if node:
        rows = InstanceRepository(services_of(request).db).list(
            workspace=workspace,
            env=env,
            node_keys=[node],
            states=[InstanceState.SUCCESS, InstanceState.FAILED],
            limit=60,
            order="desc",
        )
    rows = list(reversed(rows))
    control = None
    if node:
        db = services_of(request).db
        control = OperationsStore(db).node_controls(workspace, env, [node]).get(node)
    return page(
        request,
        "ops/trend.html",
        access,
        title=f"Trend {node}",
        module="ops",
        tab="trend",
        node=node,
        control=control,
        may_operate=access.can(RUN_OR_OPERATE.for_env(env)),
        node_keys=_node_keys(request, workspace, env),
        rows=rows,
        chart=trend(
            [
                (f"{r.bizdate}", r.duration_seconds, r.state.value)
                for r in rows
                if r.duration_seconds is not None
            ],
            unit="s",
        ),
    )
