"""Live progress of a sync (rows, bytes, rows/s, ETA) and the speed limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressSnapshot:
    rows: int
    bytes: int
    dirty: int
    seconds: float
    expected_rows: int | None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate (None when the total is unknown)."""
        if not self.expected_rows or self.rows_per_second <= 0:
            return None
        return max(0.0, (self.expected_rows - self.rows) / self.rows_per_second)

    def describe(self) -> str:
        """One log line: ``1,234 rows, 5.6 MB, 12,345 rows/s, ETA 3s``."""
        text = f"{self.rows:,} rows, {self.bytes / 1e6:,.1f} MB, {self.rows_per_second:,.0f} rows/s"
        if self.dirty:
            text += f", {self.dirty:,} dirty"
        eta = self.eta_seconds
        if eta is not None:
            text += f", ETA {eta:,.0f}s"
        return text


ProgressListener = Callable[[ProgressSnapshot], None]


class Progress:
    """Thread-safe counters; listeners hear about it at most every ``interval`` seconds."""

    def __init__(
        self,
        expected_rows: int | None = None,
        listeners: list[ProgressListener] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.expected_rows = expected_rows
        self.listeners = list(listeners or [])
        self.interval = interval
        self._rows = 0
        self._bytes = 0
        self._dirty = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, rows: int, nbytes: int, dirty: int = 0) -> None:
        notify = False
        with self._lock:
            self._rows += rows
            self._bytes += nbytes
            self._dirty += dirty
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                notify = True
        if notify:
            self.emit()

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            return ProgressSnapshot(
                self._rows,
                self._bytes,
                self._dirty,
                time.monotonic() - self._start,
                self.expected_rows,
            )

    def emit(self) -> None:
        """Tell every listener the current totals now."""
        snap = self.snapshot()
        for listener in self.listeners:
            listener(snap)


class SpeedLimit:
    """Blocks readers so that rows/s and bytes/s stay under their limits (shared)."""

    def __init__(
        self,
        rows_per_second: float | None,
        bytes_per_second: float | None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.rows_per_second = rows_per_second
        self.bytes_per_second = bytes_per_second
        self.cancel = cancel or threading.Event()
        self._rows = 0
        self._bytes = 0
        self._start = time.monotonic()
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self.rows_per_second or self.bytes_per_second)

    def take(self, rows: int, nbytes: int) -> None:
        """Account for a batch, sleeping until the totals are within the limits."""
        if not self.active:
            return
        with self._lock:
            self._rows += rows
            self._bytes += nbytes
            due = 0.0
            if self.rows_per_second:
                due = max(due, self._rows / self.rows_per_second)
            if self.bytes_per_second:
                due = max(due, self._bytes / self.bytes_per_second)
            wait = self._start + due - time.monotonic()
        if wait > 0:
            self.cancel.wait(wait)
