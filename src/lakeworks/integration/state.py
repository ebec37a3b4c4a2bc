"""Sync state in the metadata store: run records, committed cursors, quarantine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from lakeworks.integration import tables as t
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a cursor")


def dump_cursor(value: Any) -> str | None:
    """A cursor value as JSON text (datetimes as ISO text), None when there is none."""
    return None if value is None else json.dumps(value, default=_default, sort_keys=True)


def load_cursor(text: str | None) -> Any:
    """The value ``dump_cursor`` stored."""
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class SyncRun:
    id: int
    workspace: str
    env: str
    node_key: str
    instance_id: int | None
    attempt: int
    bizdate: str | None
    state: str
    started_at: datetime
    finished_at: datetime | None
    rows_read: int
    rows_written: int
    rows_dirty: int
    bytes_read: int
    seconds: float | None
    cursor_before: str | None
    cursor_after: str | None
    error: str | None


@dataclass(frozen=True)
class DirtyRecord:
    sync_run_id: int
    position: str
    reason: str
    row_json: str


class SyncState:
    """Reads and writes sync bookkeeping for one workspace and environment."""

    def __init__(self, db: Database, workspace: str, env: str) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env

    def cursor(self, node_key: str) -> Any:
        """The committed cursor of ``node_key`` (None before its first successful run)."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.sync_cursors.c.value_json).where(
                    t.sync_cursors.c.workspace == self.workspace,
                    t.sync_cursors.c.env == self.env,
                    t.sync_cursors.c.node_key == node_key,
                )
            ).first()
        return load_cursor(row[0]) if row else None

    def start_run(
        self,
        node_key: str,
        *,
        instance_id: int | None,
        attempt: int,
        bizdate: str | None,
        cursor_before: Any,
    ) -> int:
        """Record a sync attempt as running; returns its id."""
        with self.db.write() as conn:
            result = conn.execute(
                t.sync_runs.insert().values(
                    workspace=self.workspace,
                    env=self.env,
                    node_key=node_key,
                    instance_id=instance_id,
                    attempt=attempt,
                    bizdate=bizdate,
                    state="running",
                    started_at=utcnow(),
                    rows_read=0,
                    rows_written=0,
                    rows_dirty=0,
                    bytes_read=0,
                    cursor_before=dump_cursor(cursor_before),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def add_dirty(self, run_id: int, rows: list[tuple[str, str, str]]) -> None:
        """Quarantine rows: (position, reason, row JSON)."""
        if not rows:
            return
        with self.db.write() as conn:
            conn.execute(
                t.sync_dirty_rows.insert(),
                [
                    {"sync_run_id": run_id, "position": p, "reason": r, "row_json": j}
                    for p, r, j in rows
                ],
            )

    def finish_run(
        self,
        run_id: int,
        node_key: str,
        *,
        state: str,
        rows_read: int,
        rows_written: int,
        rows_dirty: int,
        bytes_read: int,
        seconds: float,
        cursor_after: Any = None,
        advance_cursor: bool = False,
        error: str | None = None,
    ) -> None:
        """Store a run's totals; with ``advance_cursor`` also move the node's cursor."""
        now = utcnow()
        text = dump_cursor(cursor_after)
        with self.db.write() as conn:
            conn.execute(
                t.sync_runs.update()
                .where(t.sync_runs.c.id == run_id)
                .values(
                    state=state,
                    finished_at=now,
                    rows_read=rows_read,
                    rows_written=rows_written,
                    rows_dirty=rows_dirty,
                    bytes_read=bytes_read,
                    seconds=seconds,
                    cursor_after=text,
                    error=error,
                )
            )
            if advance_cursor and text is not None:
                key = {
                    "workspace": self.workspace,
                    "env": self.env,
                    "node_key": node_key,
                }
                updated = conn.execute(
                    t.sync_cursors.update()
                    .where(
                        t.sync_cursors.c.workspace == self.workspace,
                        t.sync_cursors.c.env == self.env,
                        t.sync_cursors.c.node_key == node_key,
                    )
                    .values(value_json=text, sync_run_id=run_id, updated_at=now)
                )
                if updated.rowcount == 0:
                    conn.execute(
                        t.sync_cursors.insert().values(
                            **key, value_json=text, sync_run_id=run_id, updated_at=now
                        )
                    )

    def runs(self, node_key: str | None = None, limit: int = 50) -> list[SyncRun]:
        """The latest sync runs (newest first), optionally of one node."""
        query = (
            sa.select(t.sync_runs)
            .where(t.sync_runs.c.workspace == self.workspace, t.sync_runs.c.env == self.env)
            .order_by(t.sync_runs.c.id.desc())
            .limit(limit)
        )
        if node_key:
            query = query.where(t.sync_runs.c.node_key == node_key)
        with self.db.read() as conn:
            return [SyncRun(**dict(r._mapping)) for r in conn.execute(query)]

    def dirty_rows(self, run_id: int) -> list[DirtyRecord]:
        """The quarantined rows of one sync run."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(
                    t.sync_dirty_rows.c.sync_run_id,
                    t.sync_dirty_rows.c.position,
                    t.sync_dirty_rows.c.reason,
                    t.sync_dirty_rows.c.row_json,
                )
                .where(t.sync_dirty_rows.c.sync_run_id == run_id)
                .order_by(t.sync_dirty_rows.c.id)
            )
            return [DirtyRecord(*r) for r in rows]
