"""Runs of loop bodies and called workflows, recorded with the instance that runs them.

The run is recorded with its iteration *before* it is carried out, so an attempt that
dies with its worker (``kill -9``) leaves a trace: the next attempt closes that run
(its unfinished instances end ``stopped``, "the attempt running it was lost") and runs
the iteration again, while iterations that succeeded are not run again.
"""

from __future__ import annotations

from collections.abc import Mapping

from lakeworks.runtime.context import NodeRunContext
from lakeworks.runtime.runner import ManualRunner, RunSummary
from lakeworks.schedule.graph import DependencyGraph
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState, RunState
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import InstanceRepository, RunRepository

LOST = "the attempt running it was lost"
FINISHED = (
    InstanceState.SUCCESS,
    InstanceState.FAILED,
    InstanceState.SKIPPED,
    InstanceState.STOPPED,
    InstanceState.BLOCKED,
)


def close_lost_runs(db: Database, instance_id: int) -> list[int]:
    """Close the body runs an earlier attempt of ``instance_id`` left running; the
    offsets of their iterations (to run again)."""
    store = OutputRepository(db)
    runs = RunRepository(db)
    instances = InstanceRepository(db)
    lost: list[int] = []
    for iteration in store.iterations(instance_id):
        if iteration.state != "running":
            continue
        lost.append(iteration.offset)
        if iteration.run_id is None:
            continue
        unfinished = [
            i.id
            for i in instances.list(run_id=iteration.run_id, limit=10_000)
            if i.state not in FINISHED
        ]
        if unfinished:
            instances.set_many_state(unfinished, InstanceState.STOPPED, LOST, "system")
        runs.finish(iteration.run_id, RunState.FAILED)
        store.record_iteration(
            instance_id, iteration.offset, iteration.item, "failed", iteration.run_id
        )
    return lost


def run_body(
    ctx: NodeRunContext,
    db: Database,
    body: Workspace,
    offset: int,
    item: str,
    overrides: Mapping[str, str],
    description: str,
    max_parallel: int | None = 1,
    graph: DependencyGraph | None = None,
) -> RunSummary:
    """Run ``body`` for the instance's business date as iteration ``offset``, recording
    the run with the iteration first and its outcome last. ``graph``: the body's
    dependency graph, built once for all iterations of a loop."""
    assert ctx.instance_id is not None
    store = OutputRepository(db)
    runner = ManualRunner(body, db, ctx.engine, ctx.env, max_parallel=max_parallel)
    run, created, graph = runner.create(
        ctx.params.bizdate,
        [],
        actor=ctx.node.key,
        overrides=overrides,
        graph=graph,
        description=description,
    )
    store.record_iteration(ctx.instance_id, offset, item, "running", run.id)
    final = runner.carry_out(run, created, graph, overrides)
    summary = RunSummary(RunRepository(db).get(run.id), final, 0.0)
    state = "success" if summary.ok else "failed"
    store.record_iteration(ctx.instance_id, offset, item, state, run.id)
    return summary
