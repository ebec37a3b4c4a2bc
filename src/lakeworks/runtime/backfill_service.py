"""Backfills (data complement): preview, create, follow and stop.

``preview`` is the pure plan (``schedule.backfill``); ``start_backfill`` records it as
a run of type ``backfill`` whose instances (a distinct run type and run key, so the
regular schedule is never disturbed) the scheduler and workers carry out like any
other, honouring the plan's ordering edges (dependencies within a date, dates one
after the other in each lane). Parameter overrides are kept with the run and applied
by the workers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from lakeworks.errors import NotFound, UserError
from lakeworks.runtime import ops
from lakeworks.schedule.backfill import (
    BackfillPlan,
    BackfillRequest,
    describe_selection,
    plan_backfill,
)
from lakeworks.schedule.dependencies import UpstreamInstance
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.planning import node_run_settings
from lakeworks.spec.models import RunMode, Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState, NewInstance, Run, RunState, RunType
from lakeworks.store.operations import OperationsStore
from lakeworks.store.repositories import InstanceRepository, NodeVersionRepository, RunRepository
from lakeworks.store.scheduling import SchedulingStore

S = InstanceState


@dataclass(frozen=True)
class BackfillProgress:
    """Where a backfill is: instances per state."""

    run: Run
    counts: Mapping[InstanceState, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, *states: InstanceState) -> int:
        return sum(self.counts.get(s, 0) for s in states)

    @property
    def done(self) -> int:
        """Succeeded or skipped (dry runs)."""
        return self.count(S.SUCCESS, S.SKIPPED)

    @property
    def failed(self) -> int:
        return self.count(S.FAILED, S.STOPPED, S.BLOCKED)

    @property
    def running(self) -> int:
        return self.count(S.RUNNING)

    @property
    def finished(self) -> bool:
        return self.run.state is not RunState.RUNNING

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    def summary(self) -> str:
        """``12/40 done, 1 failed, 2 running, 25 waiting (30%)``."""
        waiting = self.total - self.done - self.failed - self.running
        return (
            f"{self.done}/{self.total} done, {self.failed} failed, {self.running} running,"
            f" {waiting} waiting ({self.percent:.0f}%)"
        )


def preview(workspace: Workspace, request: BackfillRequest) -> BackfillPlan:
    """The instances a backfill would create, in order (nothing is written)."""
    return plan_backfill(workspace, build_graph(workspace), request)


@dataclass(frozen=True)
class OutsideDependency:
    """An instance outside a backfill that some of its instances depend on."""

    ref: UpstreamInstance
    instance: Instance | None
    """The scheduled instance, when it exists."""

    @property
    def state(self) -> str:
        return self.instance.state.value if self.instance is not None else "not created yet"

    @property
    def produced(self) -> bool:
        return self.instance is not None and self.instance.state is S.SUCCESS


def outside_dependencies(
    db: Database, workspace: str, env: str, plan: BackfillPlan
) -> list[OutsideDependency]:
    """The plan's dependencies outside it, with the scheduled instance of each."""
    keys = [(u.node_key, u.cycle_time.replace(tzinfo=None)) for u in plan.outside]
    ids = SchedulingStore(db).scheduled_ids(workspace, env, keys) if keys else {}
    found = {i.id: i for i in InstanceRepository(db).get_many(ids.values())}
    return [
        OutsideDependency(u, found.get(ids.get(key, -1)))
        for u, key in zip(plan.outside, keys, strict=True)
    ]


def outside_warnings(outside: list[OutsideDependency]) -> list[str]:
    """One warning per upstream node whose output (partitions) the backfill reads but
    neither produces nor finds produced by a successful instance."""
    missing: dict[str, list[str]] = {}
    for dep in outside:
        if not dep.produced:
            missing.setdefault(dep.ref.node_key, []).append(f"{dep.ref.local:%Y-%m-%d}")
    return [
        f"reads partitions of {node} that this backfill does not produce and that do not"
        f" exist yet (cycles {', '.join(days)})"
        for node, days in sorted(missing.items())
    ]


def _request_json(request: BackfillRequest) -> dict[str, object]:
    return {
        "node": request.node,
        "nodes": list(request.nodes),
        "workflows": list(request.workflows),
        "depth": request.depth,
        "scope": request.scope.value,
        "end_node": request.end_node,
        "dates": [[f"{a:%Y%m%d}", f"{b:%Y%m%d}"] for a, b in request.date_ranges],
        "order": request.order.value,
        "parallel": request.parallel,
        "exclude": sorted(request.exclude),
    }


def start_backfill(
    db: Database,
    actor: str,
    workspace: Workspace,
    env: str,
    request: BackfillRequest,
) -> tuple[Run, BackfillPlan, list[Instance]]:
    """Create the backfill's run and instances; the scheduler takes it from there."""
    plan = preview(workspace, request)
    if not plan.instances:
        raise UserError(
            "the backfill creates no instances",
            hint="; ".join(plan.warnings) or "check the nodes and dates",
        )
    runs = RunRepository(db)
    first, last = min(plan.dates), max(plan.dates)
    run = runs.create(
        workspace.name,
        env,
        RunType.BACKFILL,
        actor,
        description=(
            f"backfill {describe_selection(request)}, {len(plan.dates)} dates"
            f" {first:%Y%m%d}..{last:%Y%m%d}"
        ),
        params={"request": _request_json(request), "overrides": dict(request.parameters)},
    )
    versions = NodeVersionRepository(db)
    settings = {}
    version = {}
    for key in plan.nodes:
        node = workspace.find_node(key)
        assert node is not None  # the plan only holds nodes of this workspace
        settings[key] = node_run_settings(workspace, node)
        version[key] = versions.record(
            workspace.name, env, key, node.code, node.header.model_dump_json()
        ).version
    items = []
    for item in plan.instances:
        node_settings = settings[item.node_key]
        frozen = node_settings.frozen
        items.append(
            NewInstance(
                workspace=workspace.name,
                env=env,
                node_key=item.node_key,
                workflow=node_settings.workflow,
                cycle_time=item.cycle_time.replace(tzinfo=None),
                bizdate=f"{item.bizdate:%Y%m%d}",
                run_type=RunType.BACKFILL,
                run_key=run.run_key,
                run_id=run.id,
                state=S.FROZEN if frozen else S.NOT_RUN,
                reason="frozen (run mode of the node)" if frozen else f"backfill by {actor}",
                max_attempts=1
                if item.run_mode is RunMode.DRY_RUN
                else node_settings.retry.max_attempts,
                priority=node_settings.priority,
                resource_group=node_settings.resource_group,
                owner=node_settings.owner,
                node_version=version[item.node_key],
            )
        )
    repo = InstanceRepository(db)
    created = repo.create_many(items, dependencies=plan.edges)
    if request.wait_outside and plan.outside:
        _wait_for_outside(db, workspace.name, env, plan, created)
    OperationsStore(db).record(
        actor,
        "backfill",
        f"run {run.id}",
        workspace=workspace.name,
        env=env,
        detail=json.dumps({"instances": len(created), "request": _request_json(request)}),
    )
    return run, plan, created


def _wait_for_outside(
    db: Database, workspace: str, env: str, plan: BackfillPlan, created: list[Instance]
) -> None:
    """Make the backfill's instances wait for the scheduled instances outside it: those
    that exist at once, the others (not created yet) once the scheduler creates them."""
    waits = [
        (created[index].id, node, cycle.replace(tzinfo=None))
        for index, (node, cycle) in plan.outside_edges
    ]
    SchedulingStore(db).wait_for_scheduled(workspace, env, waits)


def describe_outside_wait(outside: list[OutsideDependency]) -> str | None:
    """What ``--wait-outside`` waits for: how many outside instances, how many exist
    (by state) and which are not created yet; None when there are none."""
    if not outside:
        return None
    states: dict[str, int] = {}
    later: dict[str, list[str]] = {}
    for dep in outside:
        if dep.instance is None:
            later.setdefault(dep.ref.node_key, []).append(f"{dep.ref.local:%Y-%m-%d}")
        else:
            states[dep.state] = states.get(dep.state, 0) + 1
    parts = [f"{count} {state}" for state, count in sorted(states.items())]
    text = f"waits for {len(outside)} scheduled instances outside the backfill"
    if parts:
        text += f" ({', '.join(parts)})"
    if later:
        shown = "; ".join(
            f"{node} {', '.join(days[:5])}{' …' if len(days) > 5 else ''}"
            for node, days in sorted(later.items())
        )
        count = sum(len(days) for days in later.values())
        text += (
            f"; {count} of them are not created yet and are waited for once the scheduler"
            f" creates and runs them: {shown}"
        )
    return text


def progress(db: Database, run_id: int) -> BackfillProgress:
    """Counts by state of a backfill's instances; ``NotFound`` for an unknown run."""
    run = RunRepository(db).get(run_id)
    if run.run_type is not RunType.BACKFILL:
        raise NotFound(f"run {run_id} is a {run.run_type.value} run, not a backfill")
    return BackfillProgress(run, OperationsStore(db).state_counts(run_id))


def list_backfills(
    db: Database, *, workspace: str | None = None, env: str | None = None, limit: int = 20
) -> list[Run]:
    """Backfill runs, newest first."""
    return RunRepository(db).list(
        workspace=workspace, env=env, run_type=RunType.BACKFILL, limit=limit
    )


def stop_backfill(db: Database, actor: str, run_id: int) -> ops.ActionResult:
    """Stop every unfinished instance of a backfill and mark it stopped."""
    progress(db, run_id)
    repo = InstanceRepository(db)
    ids: list[int] = []
    after: int | None = None
    while True:
        page = repo.list(run_id=run_id, after_id=after, limit=1000)
        ids.extend(i.id for i in page if not i.state.is_terminal)
        if len(page) < 1000:
            break
        after = page[-1].id
    result = ops.stop(db, actor, ids) if ids else ops.ActionResult("stop")
    OperationsStore(db).stop_run(run_id)
    return result
