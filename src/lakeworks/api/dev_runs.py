"""Runs in dev started from the API: created at once (so errors answer the request and
the run id is known), carried out in the background by the in-process runner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from datetime import date

from lakeworks.engines.base import Engine
from lakeworks.runtime.runner import ManualRunner
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Run

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
        pool.submit(self.carry_out, run, created, graph, dict(overrides or {}))
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
) -> Run:
    """Create a dev run of ``targets`` for ``bizdate`` and start it in the background."""
    runner = BackgroundRunner(workspace, db, engine, DEV)
    return runner.start(pool, bizdate, targets, actor=actor, overrides=overrides)
