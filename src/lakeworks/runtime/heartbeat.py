"""A scheduler or worker announcing itself in the store, and the embedded-mode rule.

The embedded SQLite store serves exactly one Lakeworks process (scheduler and worker
threads together); a second scheduler or worker process is refused with a message
that says to use PostgreSQL. On PostgreSQL any number of processes may run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

from lakeworks.errors import UserError
from lakeworks.store.database import ENV_DATABASE_URL, Database
from lakeworks.store.processes import ProcessRegistry

HEARTBEAT_SECONDS = 5.0
SILENT_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
"""A process not heard from for this long is presumed gone."""


def process_name(kind: str) -> str:
    """A unique name: ``kind-host-pid-xxxx``."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


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
        if db.dialect_name == "sqlite":
            others = self.registry.others_alive(host, pid, within=SILENT_AFTER_SECONDS)
            if others:
                other = others[0]
                raise UserError(
                    f"the embedded SQLite store serves one Lakeworks process at a time, and "
                    f"{other.kind} {other.name} (pid {other.pid} on {other.host}) is running",
                    hint="stop it, or run several schedulers and workers on PostgreSQL: "
                    f"set {ENV_DATABASE_URL}=postgresql+psycopg://user@host/db",
                )
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

        from lakeworks.store.clock import utcnow

        return ProcessRegistry(db).forget_stopped(utcnow() - timedelta(days=days))

    def close(self) -> None:
        """Record a clean stop."""
        self.registry.stopped(self.name)
