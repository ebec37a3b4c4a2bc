"""The all-in-one process: a scheduler thread and a worker thread in one process.

This is the embedded mode (``lakeworks up``, or ``lakeworks scheduler`` on SQLite):
the scheduler wakes the worker directly when it queues instances, and the worker wakes
the scheduler when instances finish. On PostgreSQL it can run beside other scheduler
and worker processes.

Scheduling is never silently off: a thread that dies is logged and restarted; one that
dies more than ``max_restarts`` times within ``restart_window_seconds`` is given up,
``failed`` names it and ``on_failure`` is called (``lakeworks up`` then exits
non-zero). ``health()`` says which parts run.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from enum import StrEnum

from lakeworks.errors import LakeworksError
from lakeworks.runtime import sandbox
from lakeworks.runtime.clock import Clock, SystemClock
from lakeworks.runtime.heartbeat import check_embedded
from lakeworks.runtime.scheduler import Scheduler, SchedulerConfig
from lakeworks.runtime.worker import Worker, WorkerConfig, default_engine
from lakeworks.runtime.workspace_source import WorkspaceSource
from lakeworks.store.database import Database

Log = Callable[[str], None]


class PartState(StrEnum):
    """The state of the scheduler or worker part of a process."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


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
        self.db = db
        self.log = log or (lambda _line: None)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._states: dict[str, PartState] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self.grace_seconds = 30.0
        self.max_restarts = 5
        self.restart_window_seconds = 300.0
        self.restart_delay_seconds = 1.0
        self.on_failure: Callable[[str], None] | None = None
        self.failed: str | None = None
        """The part given up on (and why), if any."""

    def check(self) -> None:
        """Take over from dead predecessors; ``UserError`` if the store serves another.
        Also says how Python and shell nodes will be confined."""
        check_embedded(self.db, actor=self.worker.name, log=self.log)
        self.log(f"Python and shell nodes run in {sandbox.current().describe()}")

    def start(self) -> None:
        """Check the store, then start the scheduler and worker threads (supervised)."""
        self.check()
        self._stop.clear()
        self.failed = None
        parts: dict[str, Callable[[], None]] = {
            "scheduler": lambda: self.scheduler.run(self._stop),
            "worker": lambda: self.worker.run(self._stop, grace_seconds=self.grace_seconds),
        }
        self._threads = [
            threading.Thread(
                target=self._supervise, args=(name, run), name=f"lakeworks-{name}", daemon=True
            )
            for name, run in parts.items()
        ]
        for name in parts:
            self._set(name, PartState.STARTING)
        for thread in self._threads:
            thread.start()

    def _set(self, name: str, state: PartState, error: str | None = None) -> None:
        with self._lock:
            self._states[name] = state
            if error is not None:
                self._errors[name] = error

    def _supervise(self, name: str, run: Callable[[], None]) -> None:
        """Run ``run``; restart it when it dies, or give up and report the failure."""
        deaths: deque[float] = deque()
        while not self._stop.is_set():
            self._set(name, PartState.RUNNING)
            try:
                run()
            except LakeworksError as exc:
                error = exc.render()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                for line in traceback.format_exc().splitlines():
                    self.log(line)
            else:
                if self._stop.is_set():
                    break
                error = "it returned without being asked to stop"
            self.log(f"the {name} thread died: {error}")
            now = time.monotonic()
            deaths.append(now)
            while deaths and now - deaths[0] > self.restart_window_seconds:
                deaths.popleft()
            if len(deaths) > self.max_restarts:
                self._set(name, PartState.FAILED, error)
                self.failed = f"the {name} died {len(deaths)} times: {error}"
                self.log(f"giving up on the {name}: {self.failed}")
                if self.on_failure is not None:
                    self.on_failure(self.failed)
                return
            self._set(name, PartState.RESTARTING, error)
            self._stop.wait(self.restart_delay_seconds * len(deaths))
        self._set(name, PartState.STOPPED)

    def health(self) -> dict[str, str]:
        """``{"scheduler": state, "worker": state}`` (see ``PartState``)."""
        with self._lock:
            return {name: state.value for name, state in self._states.items()}

    def errors(self) -> dict[str, str]:
        """The last error of each part that died."""
        with self._lock:
            return dict(self._errors)

    def stop(self, timeout: float | None = None) -> None:
        """Ask both threads to stop and wait for them (the worker finishes what runs)."""
        self._stop.set()
        self.scheduler.bell.ring()
        self.worker.bell.ring()
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        """Whether both parts still run (or are being restarted)."""
        if self.failed is not None:
            return False
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def __enter__(self) -> LakeworksProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
