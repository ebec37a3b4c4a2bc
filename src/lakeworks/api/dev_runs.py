"""Runs in dev started from the API: created at once (so errors answer the request and
the run id is known), carried out in the background by the in-process runner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from datetime import date

from lakeworks.engines.base import Engine
from lakeworks.runtime.runner import DONE_OK, ManualRunner
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Run, RunState

DEV = "dev"


class BackgroundRunner(ManualRunner):
    """A ``ManualRunner`` whose run is created now and executed on an executor."""

    def start(
        self,
        pool: Executor,
        bizdate: date,
        targets: Iterable[str],
        *,
        actor: str,
        overrides: Mapping[str, str] | None = None,
    ) -> Run:
        run, created, graph = self.create(bizdate, targets, actor=actor, overrides=overrides)
        values = dict(overrides or {})

        def carry_out() -> None:
            try:
                final = self._execute(created, graph, values)
                ok = all(i.state in DONE_OK for i in final)
                self.runs.finish(run.id, RunState.SUCCESS if ok else RunState.FAILED)
            except BaseException:
                self.runs.finish(run.id, RunState.FAILED)
                raise

        pool.submit(carry_out)
        return run


def start_dev_run(
    pool: Executor,
    workspace: Workspace,
    db: Database,
    engine: Engine,
    bizdate: date,
    targets: Iterable[str],
    *,
    actor: str,
    overrides: Mapping[str, str] | None = None,
    redact: object = None,
) -> Run:
    """Create a dev run of ``targets`` for ``bizdate`` and start it in the background."""
    runner = BackgroundRunner(workspace, db, engine, DEV)
    if callable(redact):
        runner.executor.redact = redact
    return runner.start(pool, bizdate, targets, actor=actor, overrides=overrides)
