"""Scheduling is never silently off, and a dead predecessor is recognised at once.

- A scheduler thread that dies is restarted (and re-registers under its name); one
  that keeps dying is given up: ``health()`` says ``failed`` and ``on_failure`` hears it.
- A process record whose PID is gone, or whose PID now belongs to a process started
  later, is a dead process: a starting process closes it without waiting for its
  heartbeat to age; a live process is left alone (and on SQLite still refused).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lakeworks.errors import UserError
from lakeworks.runtime.heartbeat import check_embedded, is_dead, take_over_dead
from lakeworks.runtime.process import LakeworksProcess, PartState
from lakeworks.runtime.workspace_source import FolderWorkspaceSource
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.processes import ProcessRegistry
from tests.integration.scheduler.world import node_text, write_workspace


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    opened = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield opened
    opened.close()


@pytest.fixture
def process(tmp_path: Path, db: Database) -> Iterator[LakeworksProcess]:
    root = write_workspace(tmp_path / "ws", {"a": node_text("echo a")})
    made = LakeworksProcess(db, FolderWorkspaceSource(root), env="prod")
    made.restart_delay_seconds = 0.01
    made.grace_seconds = 1.0
    yield made
    made.stop(timeout=10)


def _until(check: Callable[[], Any], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def test_a_scheduler_thread_that_keeps_dying_is_given_up_loudly(
    process: LakeworksProcess,
) -> None:
    def broken(_stop: threading.Event) -> None:
        raise RuntimeError("store exploded")

    process.scheduler.run = broken  # type: ignore[method-assign]
    process.max_restarts = 2
    heard: list[str] = []
    process.on_failure = heard.append
    process.start()
    _until(lambda: process.health().get("scheduler") == PartState.FAILED.value)
    assert process.health()["worker"] == PartState.RUNNING.value
    assert not process.alive()
    assert heard and "scheduler died 3 times: RuntimeError: store exploded" in heard[0]
    assert process.failed == heard[0]


def test_a_scheduler_thread_that_dies_once_is_restarted(
    process: LakeworksProcess, db: Database
) -> None:
    original = process.scheduler.run
    calls: list[int] = []

    def flaky(stop: threading.Event) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a passing hiccup")
        original(stop)

    process.scheduler.run = flaky  # type: ignore[method-assign]
    process.start()
    _until(lambda: len(calls) == 2 and process.health()["scheduler"] == "running")
    _until(lambda: any(p.kind == "scheduler" for p in ProcessRegistry(db).list(alive_within=15)))
    assert process.alive()
    assert process.errors()["scheduler"] == "RuntimeError: a passing hiccup"


def _finished_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_dead_and_reused_pids_are_taken_over_and_live_ones_are_not(db: Database) -> None:
    registry = ProcessRegistry(db)
    host = socket.gethostname()
    gone = registry.register("worker-gone", "worker", host, _finished_pid(), "ws", "prod")
    reused = registry.register("worker-reused", "worker", host, os.getpid(), "ws", "prod")
    live = registry.register("sched-live", "scheduler", host, os.getppid(), "ws", "prod")
    elsewhere = registry.register("worker-far", "worker", "another-host", 1, "ws", "prod")
    db_old = utcnow() - timedelta(hours=1)  # this PID's record is older than this process
    with db.write() as conn:
        from lakeworks.store.scheduler_tables import lakeworks_processes as t

        conn.execute(t.update().where(t.c.name == reused.name).values(started_at=db_old))
        conn.execute(t.update().where(t.c.name == live.name).values(started_at=utcnow()))
    records = {p.name: p for p in registry.list()}
    assert is_dead(records["worker-gone"]) and is_dead(records["worker-reused"])
    assert not is_dead(records["sched-live"]) and not is_dead(records["worker-far"])

    taken = {p.name for p in take_over_dead(db, actor="test")}
    assert taken == {gone.name, reused.name}
    alive = {p.name for p in registry.list(alive_within=15)}
    assert alive == {live.name, elsewhere.name}
    with pytest.raises(UserError, match="serves one Lakeworks process at a time"):
        check_embedded(db, actor="test")  # the live one (another PID) is still refused
