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
class CursorRecord:
    node_key: str
    value: Any
    sync_run_id: int | None
    """The run that stored it (None: set by hand)."""
    updated_at: datetime


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

    def _cursor_of(self, node_key: str) -> Any:
        c = t.sync_cursors.c
        return (c.workspace == self.workspace) & (c.env == self.env) & (c.node_key == node_key)

    def cursor(self, node_key: str) -> Any:
        """The committed cursor of ``node_key`` (None before its first successful run)."""
        record = self.cursor_record(node_key)
        return record.value if record is not None else None

    def cursor_record(self, node_key: str) -> CursorRecord | None:
        """The committed cursor of ``node_key`` with who stored it and when."""
        c = t.sync_cursors.c
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(c.value_json, c.sync_run_id, c.updated_at).where(
                    self._cursor_of(node_key)
                )
            ).first()
        if row is None:
            return None
        return CursorRecord(node_key, load_cursor(row[0]), row[1], row[2])

    def set_cursor(self, node_key: str, value: Any) -> None:
        """Set the cursor of ``node_key`` by hand: the next run reads rows past ``value``."""
        text = dump_cursor(value)
        if text is None:
            raise ValueError("a cursor cannot be set to None (reset it instead)")
        with self.db.write() as conn:
            self._put_cursor(conn, node_key, text, None, utcnow())

    def reset_cursor(self, node_key: str) -> bool:
        """Forget the cursor of ``node_key`` (the next run reads everything); False if none."""
        with self.db.write() as conn:
            deleted = conn.execute(t.sync_cursors.delete().where(self._cursor_of(node_key)))
        return bool(deleted.rowcount)

    def _put_cursor(
        self, conn: sa.Connection, node_key: str, text: str, run_id: int | None, now: datetime
    ) -> None:
        values = {"value_json": text, "sync_run_id": run_id, "updated_at": now}
        updated = conn.execute(
            t.sync_cursors.update().where(self._cursor_of(node_key)).values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(
                t.sync_cursors.insert().values(
                    workspace=self.workspace, env=self.env, node_key=node_key, **values
                )
            )

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
                self._put_cursor(conn, node_key, text, run_id, now)

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

    def run(self, run_id: int) -> SyncRun | None:
        """One sync run of this workspace and environment (None: no such run here)."""
        query = sa.select(t.sync_runs).where(
            t.sync_runs.c.id == run_id,
            t.sync_runs.c.workspace == self.workspace,
            t.sync_runs.c.env == self.env,
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return SyncRun(**dict(row._mapping)) if row is not None else None

    def dirty_rows(self, run_id: int, limit: int | None = None) -> list[DirtyRecord]:
        """The quarantined rows of one sync run, in the order they were found."""
        query = (
            sa.select(
                t.sync_dirty_rows.c.sync_run_id,
                t.sync_dirty_rows.c.position,
                t.sync_dirty_rows.c.reason,
                t.sync_dirty_rows.c.row_json,
            )
            .where(t.sync_dirty_rows.c.sync_run_id == run_id)
            .order_by(t.sync_dirty_rows.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            return [DirtyRecord(*r) for r in conn.execute(query)]
