"""The call log (every request to a published API) and the statistics drawn from it.

Requests hand their record to ``CallLog.record``, which never blocks: a writer thread
inserts the queued records in batches (every half second, or sooner when many wait),
so logging stays off the request's path. ``stats`` reads the log back per API.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.dataservice.tables import ds_calls
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

log = logging.getLogger(__name__)
BATCH = 500
FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class Call:
    route: str
    status: int
    duration_ms: float
    workspace: str | None = None
    api: str | None = None
    version: int | None = None
    app_key: str | None = None
    rows: int = 0
    bytes: int = 0
    client: str | None = None
    cached: bool = False
    error: str | None = None
    called_at: datetime | None = None


@dataclass(frozen=True)
class ApiStats:
    workspace: str
    api: str
    calls: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    rows: int
    cached: int


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


class CallLog:
    """Queues call records and writes them in batches from one thread."""

    def __init__(self, db: Database, *, on_flush: Callable[[], None] | None = None) -> None:
        self.db = db
        self._queue: queue.Queue[Call | None] = queue.Queue()
        self._on_flush = on_flush
        self._written = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="dataservice-calls", daemon=True)
        self._thread.start()

    def record(self, call: Call) -> None:
        with self._written:
            self._pending += 1
        self._queue.put(call if call.called_at else _stamped(call))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything recorded so far is written."""
        with self._written:
            self._written.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[Call] = []
            try:
                item = self._queue.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                item = _IDLE
            if item is None:
                stop = True
            elif item is not _IDLE:
                batch.append(item)
            while len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            if batch:
                self._write(batch)
            if self._on_flush is not None:
                try:
                    self._on_flush()
                except Exception:
                    log.exception("dataservice housekeeping failed")

    def _write(self, batch: list[Call]) -> None:
        rows: list[dict[str, Any]] = [
            {
                "workspace": c.workspace,
                "api": c.api,
                "route": c.route[:500],
                "version": c.version,
                "app_key": c.app_key,
                "status": c.status,
                "duration_ms": round(c.duration_ms, 3),
                "rows": c.rows,
                "bytes": c.bytes,
                "client": c.client,
                "cached": c.cached,
                "error": (c.error or None) and c.error[:2000],
                "called_at": c.called_at,
            }
            for c in batch
        ]
        try:
            with self.db.write() as conn:
                conn.execute(sa.insert(ds_calls), rows)
        except Exception:
            log.exception("could not write %d API call records", len(rows))
        finally:
            with self._written:
                self._pending -= len(batch)
                self._written.notify_all()


_IDLE = Call("", 0, 0.0)


def _stamped(call: Call) -> Call:
    from dataclasses import replace

    return replace(call, called_at=utcnow())


def prune(db: Database, before: datetime) -> int:
    """Forget calls made before ``before``; returns how many."""
    with db.write() as conn:
        result = conn.execute(sa.delete(ds_calls).where(ds_calls.c.called_at < before))
    return int(result.rowcount or 0)


def calls(
    db: Database,
    *,
    workspace: str | None = None,
    api: str | None = None,
    app_key: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The latest calls, newest first."""
    c = ds_calls.c
    query = sa.select(ds_calls).order_by(c.id.desc()).limit(limit)
    if workspace is not None:
        query = query.where(c.workspace == workspace)
    if api is not None:
        query = query.where(c.api == api)
    if app_key is not None:
        query = query.where(c.app_key == app_key)
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query).all()]


def stats(
    db: Database, workspace: str, *, api: str | None = None, since: datetime | None = None
) -> list[ApiStats]:
    """Calls, errors (status 400 and above), p50/p99 latency and rows per API."""
    c = ds_calls.c
    query = sa.select(c.api, c.status, c.duration_ms, c.rows, c.cached).where(
        c.workspace == workspace, c.api.is_not(None)
    )
    if api is not None:
        query = query.where(c.api == api)
    if since is not None:
        query = query.where(c.called_at >= since)
    grouped: dict[str, list[Any]] = {}
    with db.read() as conn:
        for row in conn.execute(query.order_by(c.id.desc()).limit(1_000_000)):
            grouped.setdefault(row.api, []).append(row)
    result: list[ApiStats] = []
    for name in sorted(grouped):
        rows = grouped[name]
        durations = [float(r.duration_ms) for r in rows]
        result.append(
            ApiStats(
                workspace,
                name,
                len(rows),
                sum(1 for r in rows if r.status >= 400),
                percentile(durations, 0.5),
                percentile(durations, 0.99),
                sum(int(r.rows) for r in rows),
                sum(1 for r in rows if r.cached),
            )
        )
    return result
