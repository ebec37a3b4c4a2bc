"""A worker killed with ``kill -9`` during a for-each iteration: the loop's instance
is taken over by another worker, the iteration that was cut short runs again, the
iterations that had succeeded do not, and the loop succeeds."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from lakeworks.controlflow.body_runs import LOST
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import InstanceRepository
from tests.e2e.test_scheduler_processes import (
    FOLDER,
    Processes,
    pg_url,
    procs,
    wait_until,
)
from tests.integration.scheduler.world import node_text, scheduler_pg_database, write_workspace

__all__ = ["pg_url", "procs", "scheduler_pg_database"]
S = InstanceState


def _loop_workspace(root: Path, marks: Path) -> Path:
    step = (
        f'echo "$dag_foreach_current" >> {marks}/starts\n'
        'if [ "$dag_foreach_current" = b ]; then sleep 5; fi\n'
        f'echo "$dag_foreach_current" >> {marks}/done\n'
    )
    root = write_workspace(
        root,
        {"items": node_text("echo a,b,c", output=True)},
        schedule={"cycle": "day", "at": "00:00"},
    )
    folder = root / "workflows" / "etl"
    (folder / "loop.foreach.yml").write_text(
        "inputs: {letters: items.outputs}\nitems: letters\nbody: per_item\nretries: 1\n"
    )
    (folder / "per_item").mkdir()
    (folder / "per_item" / "step.sh").write_text(step)
    return root


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_killed_during_an_iteration_reruns_only_that_iteration(
    tmp_path: Path, pg_url: str, procs: Callable[..., Processes]
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir(mode=0o777)
    marks.chmod(0o777)
    root = _loop_workspace(tmp_path / "ws", marks)
    run = procs(root)
    run.start("scheduler", "scheduler", *FOLDER, "--interval", "0.2")
    victim = run.start("worker-a", "worker", *FOLDER, "--name", "A", "--lease-seconds", "3")

    def started(letter: str) -> bool:
        path = marks / "starts"
        return path.exists() and letter in path.read_text().split()

    wait_until(lambda: started("b"), 120, "iteration 2 to start on worker A", run)
    run.start("worker-b", "worker", *FOLDER, "--name", "B", "--lease-seconds", "3")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    with Database.open(pg_url) as db:
        repo = InstanceRepository(db)
        (loop,) = [
            i for i in repo.list(limit=100) if i.node_key == "etl.loop" and i.state is S.RUNNING
        ]

        def finished() -> Instance | None:
            current = repo.get(loop.id)
            return current if current.state.is_terminal else None

        done = wait_until(finished, 120, "the loop to finish on worker B", run)
        assert (done.state, done.worker, done.attempts) == (S.SUCCESS, "B", 2)
        iterations = OutputRepository(db).iterations(loop.id)
        assert [(it.item, it.state) for it in iterations] == [
            ("a", "success"),
            ("b", "success"),
            ("c", "success"),
        ]
        steps = [
            i
            for i in repo.list(limit=100, bizdate=loop.bizdate)
            if i.node_key == "etl/per_item.step"
        ]
        cut_short = [i for i in steps if i.state is S.STOPPED]
        assert len(steps) == 4 and len(cut_short) == 1, [(i.state, i.reason) for i in steps]
        assert cut_short[0].reason == LOST
        assert cut_short[0].run_id != iterations[1].run_id  # b ran again in a run of its own
    assert (marks / "starts").read_text().split() == ["a", "b", "b", "c"]
    assert (marks / "done").read_text().split() == ["a", "b", "c"]  # A's b died with A
