"""Scheduler and worker processes and their heartbeats.

Each process registers under a unique name and renews ``heartbeat_at`` while it runs;
operators see which processes are alive and which groups they serve, and the embedded
SQLite store refuses a second process.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.records import instance_from_mapping
from lakeworks.store.scheduler_tables import lakeworks_processes
from lakeworks.store.schema import instances

_p = lakeworks_processes.c


@dataclass(frozen=True)
class ProcessInfo:
    """One scheduler or worker process."""

    name: str
    kind: str
    """``scheduler``, ``worker`` or ``all-in-one``."""
    host: str
    pid: int
    workspace: str
    env: str
    groups: str
    """Resource groups served, ``group:slots`` comma-separated (workers)."""
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None

    def alive(self, now: datetime, timeout_seconds: float) -> bool:
        """Not stopped, and heard from within ``timeout_seconds`` of ``now``."""
        if self.stopped_at is not None:
            return False
        return now - self.heartbeat_at <= timedelta(seconds=timeout_seconds)


def _from_row(row: sa.Row[object]) -> ProcessInfo:
    m = row._mapping
    return ProcessInfo(
        name=m["name"],
        kind=m["kind"],
        host=m["host"],
        pid=m["pid"],
        workspace=m["workspace"],
        env=m["env"],
        groups=m["groups"],
        started_at=m["started_at"],
        heartbeat_at=m["heartbeat_at"],
        stopped_at=m["stopped_at"],
    )


class ProcessRegistry:
    """Register processes, renew their heartbeats, list them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def register(
        self, name: str, kind: str, host: str, pid: int, workspace: str, env: str, groups: str = ""
    ) -> ProcessInfo:
        """Record a starting process (again, if a restarted thread reuses its name)."""
        now = utcnow()
        values = {
            "name": name,
            "kind": kind,
            "host": host,
            "pid": pid,
            "workspace": workspace,
            "env": env,
            "groups": groups,
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
        }
        with self._db.write() as conn:
            again = conn.execute(
                sa.update(lakeworks_processes)
                .where(_p.name == name, _p.host == host, _p.pid == pid)
                .values(heartbeat_at=now, stopped_at=None)
            )
            if not again.rowcount:
                conn.execute(sa.insert(lakeworks_processes).values(values))
        return ProcessInfo(**values)  # type: ignore[arg-type]

    def heartbeat(self, name: str) -> None:
        """The process is alive."""
        with self._db.write() as conn:
            conn.execute(
                sa.update(lakeworks_processes)
                .where(_p.name == name)
                .values(heartbeat_at=utcnow(), stopped_at=None)
            )

    def stopped(self, name: str) -> None:
        """The process ended cleanly."""
        now = utcnow()
        with self._db.write() as conn:
            conn.execute(
                sa.update(lakeworks_processes)
                .where(_p.name == name)
                .values(heartbeat_at=now, stopped_at=now)
            )

    def list(self, *, alive_within: float | None = None) -> list[ProcessInfo]:
        """Registered processes, newest first; only live ones with ``alive_within``."""
        query = sa.select(lakeworks_processes).order_by(_p.started_at.desc(), _p.name)
        if alive_within is not None:
            since = utcnow() - timedelta(seconds=alive_within)
            query = query.where(_p.stopped_at.is_(None), _p.heartbeat_at >= since)
        with self._db.read() as conn:
            return [_from_row(row) for row in conn.execute(query)]

    def others_alive(self, host: str, pid: int, *, within: float) -> builtins.list[ProcessInfo]:
        """Live processes other than the process ``(host, pid)``."""
        return [p for p in self.list(alive_within=within) if (p.host, p.pid) != (host, pid)]

    def forget_stopped(self, before: datetime) -> int:
        """Delete records of processes that stopped (or went silent) before ``before``."""
        with self._db.write() as conn:
            result = conn.execute(sa.delete(lakeworks_processes).where(_p.heartbeat_at < before))
        return int(result.rowcount or 0)

    def held_by(self, worker: str) -> builtins.list[Instance]:
        """Instances the worker ``worker`` is recorded as running."""
        query = sa.select(instances).where(
            instances.c.worker == worker, instances.c.state == InstanceState.RUNNING.value
        )
        with self._db.read() as conn:
            return [instance_from_mapping(row._mapping) for row in conn.execute(query)]
