"""The all-in-one process: a scheduler thread and a worker thread in one process.

This is the embedded mode (``lakeworks up``, or ``lakeworks scheduler`` on SQLite):
the scheduler wakes the worker directly when it queues instances, and the worker wakes
the scheduler when instances finish. On PostgreSQL it can run beside other scheduler
and worker processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from lakeworks.runtime.clock import Clock, SystemClock
from lakeworks.runtime.scheduler import Scheduler, SchedulerConfig
from lakeworks.runtime.worker import Worker, WorkerConfig, default_engine
from lakeworks.runtime.workspace_source import WorkspaceSource
from lakeworks.store.database import Database

Log = Callable[[str], None]


def workspace_groups(source: WorkspaceSource, env: str) -> dict[str, int]:
    """The resource groups the workspace defines, with their slots."""
    config = source.current(env).config
    return {name: group.slots for name, group in config.resource_groups.items()}


class LakeworksProcess:
    """Scheduler and worker threads sharing one store connection pool."""

    def __init__(
        self,
        db: Database,
        source: WorkspaceSource,
        *,
        env: str = "prod",
        groups: Mapping[str, int] | None = None,
        clock: Clock | None = None,
        scheduler_config: SchedulerConfig | None = None,
        worker_config: WorkerConfig | None = None,
        log: Log | None = None,
    ) -> None:
        clock = clock or SystemClock()
        scheduler_config = scheduler_config or SchedulerConfig(env=env)
        worker_config = worker_config or WorkerConfig(
            groups=dict(groups or workspace_groups(source, env)), env=env
        )
        self.scheduler = Scheduler(db, source, scheduler_config, clock=clock, log=log)
        self.worker = Worker(
            db,
            source,
            worker_config,
            clock=clock,
            engine_factory=default_engine,
            on_done=self.scheduler.bell.ring,
            log=log,
        )
        self.scheduler.on_queued = self.worker.bell.ring
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.grace_seconds = 30.0

    def start(self) -> None:
        """Start the scheduler and worker threads."""
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self.scheduler.run, args=(self._stop,), name="lakeworks-scheduler"
            ),
            threading.Thread(
                target=self.worker.run,
                args=(self._stop,),
                kwargs={"grace_seconds": self.grace_seconds},
                name="lakeworks-worker",
            ),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask both threads to stop and wait for them (the worker finishes what runs)."""
        self._stop.set()
        self.scheduler.bell.ring()
        self.worker.bell.ring()
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        """Whether both threads are still running."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def __enter__(self) -> LakeworksProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
