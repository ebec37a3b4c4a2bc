"""Waking workers and schedulers early instead of polling fast.

Two topics: ``queue`` (instances were queued: workers should claim) and ``done``
(an instance finished: the scheduler should look at its downstream). Inside one
process a ``Bell`` is rung directly; across processes on PostgreSQL the writer sends
``NOTIFY`` in its transaction and a ``Listener`` thread rings the local bell. Waiters
always time out too, so a lost notification costs one poll interval, never a hang.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from lakeworks.store.database import Database

QUEUE = "queue"
DONE = "done"


def channel_name(topic: str, workspace: str, env: str) -> str:
    """The PostgreSQL channel of a topic for one workspace environment."""
    digest = hashlib.sha1(f"{workspace}\0{env}".encode()).hexdigest()[:12]
    return f"lakeworks_{topic}_{digest}"


class Bell:
    """A resettable wake-up signal shared by threads."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def ring(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ring; True if rung. Resets the bell."""
        rung = self._event.wait(max(0.0, timeout))
        self._event.clear()
        return rung


class Listener:
    """Rings bells when PostgreSQL notifications arrive on their channels.

    On SQLite there is nothing to listen to (one process), and ``start`` does nothing.
    """

    def __init__(self, db: Database, bells: dict[str, Bell]) -> None:
        self._db = db
        self._bells = bells
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def start(self) -> None:
        if self._db.dialect_name != "postgresql" or not self._bells:
            return
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="lakeworks-listener", daemon=True
        )
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, ready: threading.Event) -> None:
        while not self._stop.is_set():
            try:
                self._listen(ready.set)
            except Exception as exc:  # the database went away: retry, keep polling meanwhile
                self.errors.append(f"{type(exc).__name__}: {exc}")
                ready.set()
                for bell in self._bells.values():
                    bell.ring()
                self._stop.wait(1.0)

    def _listen(self, on_ready: Callable[[], None]) -> None:
        raw = self._db.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None
            raw.rollback()
            conn.autocommit = True
            for channel in self._bells:
                conn.execute(f'LISTEN "{channel}"')
            on_ready()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    bell = self._bells.get(note.channel)
                    if bell is not None:
                        bell.ring()
        finally:
            raw.invalidate()
