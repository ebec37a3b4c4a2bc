"""Running one stream node: follow the source, flush every N seconds or M rows, each
flush one warehouse transaction holding the rows, the quarantined messages and the new
positions; a supervisor reconnects after transient failures with backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from lakeworks.connectors.sql_types import WAREHOUSE, column_type
from lakeworks.engines.base import Engine, Session, WriteMode
from lakeworks.errors import LakeworksError, TransientError, UserError
from lakeworks.integration.convert import Converter
from lakeworks.spec.models import Node, Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.streaming import positions as pos
from lakeworks.streaming.batch import FlushBatch, build, to_batch
from lakeworks.streaming.kafka import KafkaFollower, Message, open_follower
from lakeworks.streaming.spec import StreamSpec, parse_stream
from lakeworks.streaming.status import (
    FAILED,
    PAUSED,
    RESTARTING,
    RUNNING,
    STOPPED,
    StreamStatusStore,
)

MAX_POLL_MESSAGES = 10_000
MAX_BACKOFF_SECONDS = 60.0
CONTROL_SECONDS = 1.0
"""How often a running stream reads the operator's wish (pause, resume)."""


@dataclass
class StreamTotals:
    rows_in: int = 0
    rows_out: int = 0
    rows_dirty: int = 0
    flushes: int = 0
    restarts: int = 0


def load_spec(node: Node) -> StreamSpec:
    """The node's stream spec (errors name the file and line)."""
    return parse_stream(node.code, node.path)[0]


def _quote(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


class StreamRunner:
    """Follows one stream node until ``cancel`` is set (then flushes and returns)."""

    def __init__(
        self,
        workspace: Workspace,
        env: str,
        engine: Engine,
        node: Node,
        db: Database | None,
        *,
        log: Callable[[str], None],
        cancel: threading.Event,
        instance_id: int | None = None,
    ) -> None:
        self.workspace = workspace
        self.engine = engine
        self.node = node
        self.spec = load_spec(node)
        self.log = log
        self.cancel = cancel
        self.instance_id = instance_id
        self.status = StreamStatusStore(db, workspace.name, env) if db is not None else None
        self.totals = StreamTotals()
        self._watermark: datetime | None = None

    # -- supervisor

    def run(self) -> StreamTotals:
        """Follow the source; transient failures reconnect with growing delays."""
        delay = 1.0
        while True:
            try:
                self._follow()
                self._report(state=STOPPED, rows_per_second=0.0)
                return self.totals
            except TransientError as exc:
                if self.cancel.is_set():
                    self._report(state=STOPPED, last_error=str(exc))
                    return self.totals
                self.totals.restarts += 1
                self.log(f"stream interrupted: {exc}; restarting in {delay:.0f}s")
                self._report(state=RESTARTING, last_error=str(exc), restarts=self.totals.restarts)
                if self.cancel.wait(delay):
                    self._report(state=STOPPED)
                    return self.totals
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            except LakeworksError as exc:
                self._report(state=FAILED, last_error=str(exc))
                raise

    # -- following

    def _source(self) -> KafkaFollower:
        name = self.spec.source.data_source
        raw = self.workspace.config.data_sources.get(name)
        if raw is None:
            raise UserError(
                f"unknown data source '{name}'",
                hint="declare it under data_sources: in lakeworks.yml",
            )
        return open_follower(name, raw, self.spec.source)

    def _follow(self) -> None:
        positions = pos.load_positions(self.engine, self.node.key)
        dirty_before = pos.dirty_total(self.engine, self.node.key)
        follower = self._source()
        try:
            follower.open(positions)
            self.log(
                f"stream {self.node.key}: following {len(follower.sources)} partitions "
                f"into {self.spec.target.table}"
            )
            self._report(state=RUNNING, instance_id=self.instance_id, last_error=None)
            self._loop(follower, positions, dirty_before)
        finally:
            follower.close()

    def _loop(self, follower: KafkaFollower, positions: dict[str, int], dirty: int) -> None:
        flush = self.spec.flush
        buffer: list[Message] = []
        last_flush = time.monotonic()
        next_control = last_flush + CONTROL_SECONDS
        paused = False
        while not self.cancel.is_set():
            now = time.monotonic()
            if now >= next_control:
                next_control = now + CONTROL_SECONDS
                wanted = self.status.desired(self.node.key) if self.status else RUNNING
                if wanted == PAUSED and not paused:
                    dirty = self._flush(follower, buffer, positions, dirty, now - last_flush)
                    buffer, last_flush, paused = [], now, True
                    self._report(state=PAUSED, rows_per_second=0.0)
                    self.log("stream paused")
                elif wanted != PAUSED and paused:
                    paused = False
                    self._report(state=RUNNING)
                    self.log("stream resumed")
            if paused:
                self.cancel.wait(CONTROL_SECONDS / 4)
                continue
            wait = max(0.01, min(0.2, flush.seconds - (now - last_flush)))
            room = max(1, min(MAX_POLL_MESSAGES, flush.rows - len(buffer)))
            buffer.extend(follower.poll(room, wait))
            now = time.monotonic()
            if len(buffer) >= flush.rows or now - last_flush >= flush.seconds:
                dirty = self._flush(follower, buffer, positions, dirty, now - last_flush)
                buffer, last_flush = [], now
        if buffer:
            self._flush(follower, buffer, positions, dirty, time.monotonic() - last_flush)

    # -- flushing

    def _flush(
        self,
        follower: KafkaFollower,
        messages: list[Message],
        positions: dict[str, int],
        dirty_before: int,
        seconds: float,
    ) -> int:
        """Commit one flush; returns the quarantine's new size."""
        if not messages:
            self._report(rows_per_second=0.0, lag_messages=follower.lag(positions), lag_seconds=0.0)
            return dirty_before
        target = self.spec.target
        upsert = target.mode == "upsert"
        with self.engine.transaction() as session:
            schema = self._target_schema(session)
            converter = Converter(self.spec.column_specs(), schema, {}, target.key)
            batch = build(messages, converter, target.key, upsert)
            self._check_limits(batch, len(messages), dirty_before)
            written = self._write(session, batch, schema)
            moved = dict(positions)
            for m in messages:
                moved[m.source] = m.offset + 1
            now = utcnow()
            pos.save_quarantine(session, self.node.key, batch.dirty, now)
            pos.save_positions(session, self.node.key, moved, now)
        positions.update(moved)
        stamps = [m.timestamp_ms for m in messages if m.timestamp_ms is not None]
        lag_seconds = None
        if stamps:
            lag_seconds = max(0.0, time.time() - max(stamps) / 1000)
            self._watermark = datetime.fromtimestamp(max(stamps) / 1000, UTC).replace(tzinfo=None)
        self.totals.rows_in += len(messages)
        self.totals.rows_out += written
        self.totals.rows_dirty += len(batch.dirty)
        self.totals.flushes += 1
        for d in batch.dirty[:5]:
            self.log(f"quarantined {d.source}@{d.offset}: {d.reason}")
        self._report(
            rows_per_second=len(messages) / seconds if seconds > 0 else 0.0,
            lag_messages=follower.lag(positions),
            lag_seconds=lag_seconds,
            last_flush_at=now,
            positions=pos.positions_text(positions),
        )
        return dirty_before + len(batch.dirty)

    def _check_limits(self, batch: FlushBatch, count: int, dirty_before: int) -> None:
        if not batch.dirty:
            return
        limits = self.spec.dirty
        total = dirty_before + len(batch.dirty)
        first = batch.dirty[0]
        where = f"first: {first.source}@{first.offset}: {first.reason}"
        limit = limits.row_limit()
        if limit is not None and total > limit:
            raise UserError(
                f"stream stopped: {total} quarantined messages exceed dirty.max_rows "
                f"{limit} ({where}); the position was not moved",
                hint="fix the producer or raise dirty.max_rows, then start the stream again",
            )
        if limits.max_ratio is not None and len(batch.dirty) / count > limits.max_ratio:
            raise UserError(
                f"stream stopped: {len(batch.dirty)} of {count} messages of one flush are "
                f"dirty, over dirty.max_ratio {limits.max_ratio} ({where}); "
                "the position was not moved",
                hint="fix the producer or raise dirty.max_ratio, then start the stream again",
            )

    def _target_schema(self, session: Session) -> pa.Schema | None:
        table = self.spec.target.table
        try:
            return session.query_arrow(f"SELECT * FROM {_quote(table)} LIMIT 0").schema
        except LakeworksError:
            return None

    def _write(self, session: Session, batch: FlushBatch, schema: pa.Schema | None) -> int:
        table = self.spec.target.table
        key = self.spec.target.key
        if batch.delete_keys and schema is not None:
            keys = to_batch([dict(zip(key, k, strict=True)) for k in batch.delete_keys])
            staged = "lakeworks_meta.stream_keys"
            self.engine.write_arrow(staged, [keys], WriteMode.OVERWRITE, session=session)
            cols = ", ".join(_quote(k) for k in key)
            session.execute(
                f"DELETE FROM {_quote(table)} WHERE ({cols}) IN (SELECT {cols} FROM {staged})"
            )
            session.execute(f"DROP TABLE {staged}")
        rows = batch.rows
        if rows is None or rows.num_rows == 0:
            return 0
        if schema is not None:
            self._drift(session, rows, schema)
        return self.engine.write_arrow(table, [rows], WriteMode.APPEND, session=session)

    def _drift(self, session: Session, rows: pa.RecordBatch, schema: pa.Schema) -> None:
        known = {n.lower() for n in schema.names}
        new = [f for f in rows.schema if f.name.lower() not in known]
        if not new:
            return
        if self.spec.schema_drift == "fail":
            raise UserError(
                f"stream stopped: new field '{new[0].name}' is not a column of "
                f"{self.spec.target.table} (schema_drift: fail); the position was not moved",
                hint="add the column to the table, map the fields with 'columns', "
                "or set schema_drift: add",
            )
        for f in new:
            session.execute(
                f"ALTER TABLE {_quote(self.spec.target.table)} ADD COLUMN "
                f"{_quote(f.name)} {column_type(f.type, WAREHOUSE)}"
            )
            self.log(f"schema drift: added column {f.name}")

    # -- status

    def _report(self, **values: object) -> None:
        if self.status is None:
            return
        values.setdefault("rows_in", self.totals.rows_in)
        values.setdefault("rows_out", self.totals.rows_out)
        values.setdefault("rows_dirty", self.totals.rows_dirty)
        if self._watermark is not None:
            values.setdefault("watermark", self._watermark)
        try:
            self.status.update(self.node.key, **values)
        except LakeworksError as exc:  # metrics must never stop the data
            self.log(f"could not record the stream's status: {exc}")
