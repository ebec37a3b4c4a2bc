"""A scheduler or worker announcing itself in the store, and the embedded-mode rule.

The embedded SQLite store serves exactly one Lakeworks process (scheduler and worker
threads together); a second scheduler or worker process is refused with a message
that says to use PostgreSQL. On PostgreSQL any number of processes may run.

A process that starts first takes over from dead predecessors on its host: a record
whose PID is gone (or belongs to a process started after the record) is a dead
process, whatever its last heartbeat says; its running instances are reclaimed at
once (retried per their policy) and its record is closed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from lakeworks.errors import UserError
from lakeworks.store.clock import utcnow
from lakeworks.store.database import ENV_DATABASE_URL, Database
from lakeworks.store.leases import reclaim
from lakeworks.store.processes import ProcessInfo, ProcessRegistry

HEARTBEAT_SECONDS = 5.0
SILENT_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
"""A process not heard from for this long is presumed gone."""


def process_name(kind: str) -> str:
    """A unique name: ``kind-host-pid-xxxx``."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


_START_SLACK_SECONDS = 3.0


def _pid_started(pid: int) -> float | None:
    """When process ``pid`` started (Unix time), from ``/proc``; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def is_dead(info: ProcessInfo, host: str | None = None) -> bool:
    """Whether the recorded process certainly no longer runs (only known on its host)."""
    if info.stopped_at is not None:
        return True
    if info.host != (host or socket.gethostname()):
        return False
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    started = _pid_started(info.pid)
    recorded = info.started_at.replace(tzinfo=UTC).timestamp()
    return started is not None and started > recorded + _START_SLACK_SECONDS


def take_over_dead(
    db: Database, *, actor: str, log: Callable[[str], None] | None = None
) -> list[ProcessInfo]:
    """Close the records of dead processes on this host and reclaim their instances."""
    registry = ProcessRegistry(db)
    host = socket.gethostname()
    dead = [
        p for p in registry.list() if p.stopped_at is None and p.host == host and is_dead(p, host)
    ]
    for info in dead:
        for instance in registry.held_by(info.name):
            back = reclaim(
                db,
                instance,
                now=utcnow(),
                actor=actor,
                holder_dead=True,
                why=f"{info.kind} {info.name} (pid {info.pid}) died during attempt "
                f"{instance.attempts}",
            )
            if back is not None and log is not None:
                log(f"instance {instance.id} ({instance.node_key}): {back.reason}")
        registry.stopped(info.name)
        if log is not None:
            log(f"took over from {info.kind} {info.name}: pid {info.pid} is gone")
    return dead


def check_embedded(db: Database, *, actor: str, log: Callable[[str], None] | None = None) -> None:
    """Take over from dead processes; on SQLite, ``UserError`` if another one lives."""
    take_over_dead(db, actor=actor, log=log)
    if db.dialect_name != "sqlite":
        return
    host, pid = socket.gethostname(), os.getpid()
    others = ProcessRegistry(db).others_alive(host, pid, within=SILENT_AFTER_SECONDS)
    if others:
        other = others[0]
        raise UserError(
            f"the embedded SQLite store serves one Lakeworks process at a time, and "
            f"{other.kind} {other.name} (pid {other.pid} on {other.host}) is running",
            hint="stop it, or run several schedulers and workers on PostgreSQL: "
            f"set {ENV_DATABASE_URL}=postgresql+psycopg://user@host/db",
        )


class ProcessHandle:
    """The record of one running scheduler or worker, with a throttled heartbeat."""

    def __init__(
        self,
        db: Database,
        kind: str,
        workspace: str,
        env: str,
        *,
        groups: str = "",
        name: str | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.registry = ProcessRegistry(db)
        self.name = name or process_name(kind)
        self.heartbeat_seconds = heartbeat_seconds
        host, pid = socket.gethostname(), os.getpid()
        check_embedded(db, actor=self.name)
        self.info = self.registry.register(self.name, kind, host, pid, workspace, env, groups)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def beat(self) -> None:
        """Renew the heartbeat if it is due."""
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.heartbeat_seconds:
                return
            self._last = now
        self.registry.heartbeat(self.name)

    @staticmethod
    def forget_silent(db: Database, days: float = 7.0) -> int:
        """Delete the records of processes not heard from for ``days``."""
        from datetime import timedelta

        return ProcessRegistry(db).forget_stopped(utcnow() - timedelta(days=days))

    def close(self) -> None:
        """Record a clean stop."""
        self.registry.stopped(self.name)
