"""Buffered instance log: lines go to the store in batches, and to an optional echo."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lakeworks.store.repositories import LogRepository

FLUSH_LINES = 200
FLUSH_SECONDS = 0.5


class InstanceLog:
    """Collects an attempt's log lines and writes them to the store in batches."""

    def __init__(
        self,
        logs: LogRepository | None,
        instance_id: int | None,
        attempt: int,
        echo: Callable[[str], None] | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self._logs = logs
        self._instance_id = instance_id
        self._attempt = attempt
        self._echo = echo
        self._redact = redact
        self._buffer: list[str] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.lines_written = 0

    def __call__(self, line: str) -> None:
        if self._redact is not None:
            line = self._redact(line)
        if self._echo is not None:
            self._echo(line)
        with self._lock:
            self._buffer.append(line)
            due = (
                len(self._buffer) >= FLUSH_LINES
                or time.monotonic() - self._last_flush >= FLUSH_SECONDS
            )
        if due:
            self.flush()

    def drain(self) -> list[str]:
        """Take the lines not written yet; the caller writes them (with the run's end)."""
        with self._lock:
            lines, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        self.lines_written += len(lines)
        return lines

    def flush(self) -> None:
        with self._lock:
            lines, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        if lines and self._logs is not None and self._instance_id is not None:
            self._logs.append(self._instance_id, self._attempt, lines)
        self.lines_written += len(lines)
