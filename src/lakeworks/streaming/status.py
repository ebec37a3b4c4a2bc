"""The status of stream nodes in the metadata store: what the operator wants (running or
paused) and what the running stream last reported (metrics, errors)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.streaming.tables import stream_status

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
FAILED = "failed"
RESTARTING = "restarting"


@dataclass(frozen=True)
class StreamStatus:
    """One stream node's status row (metrics as of ``updated_at``)."""

    workspace: str
    env: str
    node_key: str
    desired: str
    state: str
    instance_id: int | None
    rows_in: int
    rows_out: int
    rows_dirty: int
    rows_per_second: float
    lag_messages: int | None
    lag_seconds: float | None
    lag_bytes: int | None
    """PostgreSQL CDC: WAL the replication slot holds beyond the committed position."""
    watermark: datetime | None
    last_flush_at: datetime | None
    restarts: int
    last_error: str | None
    positions: str | None
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() + "Z" if isinstance(value, datetime) else value
        return out


_DEFAULTS: dict[str, Any] = {
    "desired": RUNNING,
    "state": STOPPED,
    "instance_id": None,
    "rows_in": 0,
    "rows_out": 0,
    "rows_dirty": 0,
    "rows_per_second": 0.0,
    "restarts": 0,
}


class StreamStatusStore:
    """Reads and writes ``stream_status`` rows of one workspace and environment."""

    def __init__(self, db: Database, workspace: str, env: str) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env

    def _where(self, node_key: str) -> Any:
        t = stream_status.c
        return sa.and_(t.workspace == self.workspace, t.env == self.env, t.node_key == node_key)

    def get(self, node_key: str) -> StreamStatus | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(stream_status).where(self._where(node_key))).first()
        return StreamStatus(**row._asdict()) if row is not None else None

    def list(self) -> list[StreamStatus]:
        t = stream_status.c
        query = (
            sa.select(stream_status)
            .where(t.workspace == self.workspace, t.env == self.env)
            .order_by(t.node_key)
        )
        with self.db.read() as conn:
            return [StreamStatus(**r._asdict()) for r in conn.execute(query)]

    def update(self, node_key: str, **values: Any) -> None:
        """Set some columns of a node's row, creating it when missing."""
        values["updated_at"] = utcnow()
        with self.db.write() as conn:
            done = conn.execute(
                sa.update(stream_status).where(self._where(node_key)).values(**values)
            )
            if done.rowcount == 0:
                row = {**_DEFAULTS, **values}
                conn.execute(
                    sa.insert(stream_status).values(
                        workspace=self.workspace, env=self.env, node_key=node_key, **row
                    )
                )

    def desired(self, node_key: str) -> str:
        found = self.get(node_key)
        return found.desired if found is not None else RUNNING


def _behind(messages: Any, wal_bytes: Any) -> str:
    if wal_bytes is not None:
        return f"slot {int(wal_bytes):,} bytes"
    return f"{'?' if messages is None else f'{messages:,}'} messages"


def status_lines(status: StreamStatus) -> list[str]:
    """A stream's status as aligned lines (``stream status``, ``ops show``)."""
    s = status.as_dict()
    lag = s.get("lag_messages")
    seconds = s.get("lag_seconds")
    rate = float(str(s.get("rows_per_second") or 0))
    lines = [
        f"{s['node_key']}  {s['state']} (wanted: {s['desired']})"
        + (f"  instance {s['instance_id']}" if s.get("instance_id") else ""),
        f"  rows in {s['rows_in']:,}  out {s['rows_out']:,}  quarantined {s['rows_dirty']:,}"
        f"  {rate:,.0f} rows/s",
        f"  lag {_behind(lag, s.get('lag_bytes'))}, "
        f"{'?' if seconds is None else f'{float(str(seconds)):.1f}'} s behind"
        f"  last flush {s.get('last_flush_at') or 'never'}  restarts {s['restarts']}",
    ]
    if s.get("positions"):
        lines.append(f"  positions {s['positions']}")
    if s.get("last_error"):
        lines.append(f"  last error: {s['last_error']}")
    return lines
