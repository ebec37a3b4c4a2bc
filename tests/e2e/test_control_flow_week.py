"""A scheduler and two workers run a simulated week of a pipeline with an assignment,
a branch, two merges (one over a failed upstream) and a for-each: every instance ends
in the state the pure model of the schedule (``schedule.simulate``) predicts."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakeworks.runtime.clock import SimulatedClock
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.simulate import SimulationConfig, simulate
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import InstanceRepository
from lakeworks.store.scheduling import SchedulingStore
from tests.e2e.test_scheduler_processes import FOLDER, Processes, pg_url, procs, wait_until
from tests.integration.scheduler.world import scheduler_pg_database
from tests.unit.schedule.control_flow_week import fails, outputs, regions_of, write_pipeline

__all__ = ["pg_url", "procs", "scheduler_pg_database"]
S = InstanceState
ACTIVE = (S.NOT_RUN, S.WAITING_TIME, S.WAITING_RESOURCES, S.RUNNING)
DONE = (S.SUCCESS, S.SKIPPED)
ENDED = (S.SUCCESS, S.SKIPPED, S.FAILED)
MERGES = ("p.join", "p.tolerant")


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_scheduled_week_of_control_flow_matches_the_model(
    tmp_path: Path, pg_url: str, procs: Callable[..., Processes]
) -> None:
    root = write_pipeline(tmp_path / "ws")
    workspace = load_workspace(root)
    week_start = datetime(2026, 4, 5, 16, tzinfo=UTC)  # Monday 00:00 in Shanghai
    week_end = week_start + timedelta(days=7)
    model = simulate(
        workspace,
        build_graph(workspace),
        SimulationConfig(
            start=week_start, days=7, fails=fails, outputs=outputs, duplicate_scheduler=False
        ),
    )
    clock = SimulatedClock(week_start, 7200.0, time.time() + 12.0)  # a day every 12 s
    run = procs(root, LAKEWORKS_CLOCK=clock.spec())
    since = ("--since", week_start.isoformat())  # a slow start still plans the whole week
    run.start("scheduler", "scheduler", *FOLDER, *since, "--no-worker", "--interval", "0.25")
    for n in (1, 2):
        run.start(f"worker-{n}", "worker", *FOLDER, "--slots", "4", "--name", f"w{n}")
    wait_until(lambda: clock.now() >= week_end + timedelta(hours=3), 200, "the end of the week")
    with Database.open(pg_url) as db:
        repo = InstanceRepository(db)
        merges: dict[int, bool] = {}

        def quiet() -> list[Instance] | None:
            week = [
                i
                for i in repo.list(limit=100000)
                if i.cycle_time < week_end.replace(tzinfo=None) and "/" not in i.node_key
            ]
            merges.update({i.id: i.node_key in MERGES for i in week})
            if any(i.state in ACTIVE for i in week):
                return None
            waiting = [i.id for i in week if i.state is S.WAITING_UPSTREAM]
            upstream = SchedulingStore(db).upstream_of(waiting)
            runnable = [
                i
                for i in waiting
                if all(u.state in DONE for u in upstream[i])
                or (merges[i] and all(u.state in ENDED for u in upstream[i]))
            ]
            return None if runnable else week  # else the scheduler has yet to queue them

        week = wait_until(quiet, 300, "the week's instances to settle", run)
        loops = {
            i.bizdate: len(OutputRepository(db).iterations(i.id))
            for i in week
            if i.node_key == "p.per_region" and i.state is S.SUCCESS
        }
    real = {(i.node_key, i.cycle_time.replace(tzinfo=UTC)): i.state for i in week}
    assert set(real) == set(model.final_states)
    differences = [
        (key, state.value, model.final_states[key].value)
        for key, state in sorted(real.items())
        if state is not model.final_states[key]
    ]
    assert not differences, "\n".join(str(d) for d in differences)
    assert {S.SUCCESS, S.SKIPPED, S.FAILED, S.WAITING_UPSTREAM} <= set(real.values())
    assert len(loops) == 6  # every day but the one whose path failed
    for bizdate, count in loops.items():
        day = datetime.strptime(bizdate, "%Y%m%d").date()
        assert count == len(regions_of(day))
