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
from lakeworks.integration.convert import Converter, cast_column
from lakeworks.spec.models import Node, Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.streaming import positions as pos
from lakeworks.streaming.batch import FlushBatch, build, to_batch
from lakeworks.streaming.changes import ChangeBlock, build_changes, change_count
from lakeworks.streaming.follower import Follower
from lakeworks.streaming.kafka import Message, open_follower
from lakeworks.streaming.positions import QuarantinedMessage
from lakeworks.streaming.postgres_cdc import open_cdc_follower, slot_name
from lakeworks.streaming.spec import CdcSource, StreamSpec, parse_stream
from lakeworks.streaming.status import (
    FAILED,
    PAUSED,
    RESTARTING,
    RUNNING,
    STOPPED,
    StreamStatusStore,
)

MAX_POLL_MESSAGES = 10_000
SNAPSHOT_BATCH_ROWS = 100_000
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


def _cast_keys(keys: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Deleted keys in the target's column types (a tombstone's key arrives as text)."""
    types = {f.name.lower(): f.type for f in schema}
    arrays = []
    for name, array in zip(keys.schema.names, keys.columns, strict=True):
        wanted = types.get(name.lower())
        arrays.append(cast_column(array, wanted, name)[0] if wanted is not None else array)
    return pa.RecordBatch.from_arrays(arrays, names=keys.schema.names)


@dataclass
class TargetWrite:
    """One target table's part of a flush."""

    table: str
    key: list[str]
    schema: pa.Schema | None = None
    truncate: bool = False

    def after_truncate(self, messages: list[Message]) -> list[Message]:
        """The messages after the last truncate of the source table (which empties the
        target first); tombstone-less truncates are told by their payload."""
        last = -1
        for index, m in enumerate(messages):
            if (
                m.row is None
                and m.key is None
                and m.reject is None
                and m.payload.startswith("TRUNCATE ")
            ):
                last = index
        if last < 0:
            return messages
        self.truncate = True
        return messages[last + 1 :]


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
        self.env = env
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

    def _source(self) -> Follower:
        source = self.spec.source
        name = source.data_source
        raw = self.workspace.config.data_sources.get(name)
        if raw is None:
            raise UserError(
                f"unknown data source '{name}'",
                hint="declare it under data_sources: in lakeworks.yml",
            )
        if isinstance(source, CdcSource):
            slot = slot_name(self.workspace.name, self.env, self.node.key)
            return open_cdc_follower(
                name, raw, source, self.spec.target, slot, cancel=self.cancel, log=self.log
            )
        return open_follower(name, raw, source, self.workspace.root)

    def _follow(self) -> None:
        positions = pos.load_positions(self.engine, self.node.key)
        dirty_before = pos.dirty_total(self.engine, self.node.key)
        follower = self._source()
        try:
            follower.open(positions)
            if follower.snapshot_pending:
                self._snapshot(follower, positions)
            self.log(
                f"stream {self.node.key}: following {', '.join(follower.sources)} "
                f"into {self.spec.target.table}"
            )
            self._report(state=RUNNING, instance_id=self.instance_id, last_error=None)
            self._loop(follower, positions, dirty_before)
        finally:
            follower.close()

    def _snapshot(self, follower: Follower, positions: dict[str, int]) -> None:
        """Copy every table as of the source's snapshot, in one target transaction with
        the position the snapshot stands for (a crash takes the snapshot again)."""
        started = time.monotonic()
        rows = 0
        source = follower.sources[0]
        with self.engine.transaction() as session:
            for table, batches in follower.snapshot(SNAPSHOT_BATCH_ROWS):
                if self.cancel.is_set():
                    raise TransientError("stopped during the initial snapshot")
                written = self.engine.write_arrow(
                    table.target, batches, WriteMode.OVERWRITE, session=session
                )
                rows += written
                self.log(f"snapshot: {table.qualified} -> {table.target}: {written:,} rows")
            position = follower.snapshot_done()
            pos.save_positions(session, self.node.key, {source: position}, utcnow())
        positions[source] = position
        seconds = time.monotonic() - started
        self.totals.rows_out += rows
        self.log(f"snapshot committed: {rows:,} rows in {seconds:.1f}s")
        self._report(
            rows_per_second=rows / seconds if seconds > 0 else 0.0,
            last_flush_at=utcnow(),
            positions=pos.positions_text(positions),
        )

    def _loop(self, follower: Follower, positions: dict[str, int], dirty: int) -> None:
        flush = self.spec.flush
        buffer: list[Message] = []
        buffered = 0  # source messages in the buffer (a change block holds many)
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
                    buffer, buffered, last_flush, paused = [], 0, now, True
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
            room = max(1, min(MAX_POLL_MESSAGES, flush.rows - buffered))
            polled = follower.poll(room, wait)
            buffer.extend(polled)
            buffered += change_count(polled)
            now = time.monotonic()
            if buffered >= flush.rows or now - last_flush >= flush.seconds:
                dirty = self._flush(follower, buffer, positions, dirty, now - last_flush)
                buffer, buffered, last_flush = [], 0, now
        if buffer:
            self._flush(follower, buffer, positions, dirty, time.monotonic() - last_flush)

    # -- flushing

    def _flush(
        self,
        follower: Follower,
        messages: list[Message],
        positions: dict[str, int],
        dirty_before: int,
        seconds: float,
    ) -> int:
        """Commit one flush; returns the quarantine's new size."""
        if not messages:
            if follower.caught_up_at is not None:
                self._watermark = max(
                    self._watermark or follower.caught_up_at, follower.caught_up_at
                )
            self._report(rows_per_second=0.0, lag_seconds=0.0, **follower.lag(positions))
            return dirty_before
        groups: dict[str, list[Message]] = {}
        for m in messages:
            groups.setdefault(m.table or self.spec.target.table, []).append(m)
        with self.engine.transaction() as session:
            planned: list[tuple[TargetWrite, FlushBatch]] = []
            for table, group in groups.items():
                target = TargetWrite(table, self.spec.target.key or follower.key_of(table))
                if follower.truncates:
                    group = target.after_truncate(group)
                target.schema = self._target_schema(session, table)
                converter = Converter(self.spec.column_specs(), target.schema, {}, target.key)
                if group and isinstance(group[0], ChangeBlock):
                    blocks = [m for m in group if isinstance(m, ChangeBlock)]
                    planned.append((target, build_changes(blocks, converter, target.key)))
                else:
                    planned.append((target, build(group, converter, target.key, self.spec.upsert)))
            count = change_count(messages)
            dirty = [d for _, batch in planned for d in batch.dirty]
            self._check_limits(dirty, count, dirty_before)
            written = sum(self._write(session, target, batch) for target, batch in planned)
            moved = dict(positions)
            for m in messages:
                moved[m.source] = m.position_after()
            now = utcnow()
            pos.save_quarantine(session, self.node.key, dirty, now)
            pos.save_positions(session, self.node.key, moved, now)
        positions.update(moved)
        follower.committed(positions)
        stamps = [m.timestamp_ms for m in messages if m.timestamp_ms is not None]
        lag_seconds = None
        if stamps:
            lag_seconds = max(0.0, time.time() - max(stamps) / 1000)
            newest = datetime.fromtimestamp(max(stamps) / 1000, UTC).replace(tzinfo=None)
            self._watermark = max(self._watermark or newest, newest)
        self.totals.rows_in += count
        self.totals.rows_out += written
        self.totals.rows_dirty += len(dirty)
        self.totals.flushes += 1
        for d in dirty[:5]:
            self.log(f"quarantined {d.source}@{d.offset}: {d.reason}")
        self._report(
            rows_per_second=count / seconds if seconds > 0 else 0.0,
            lag_seconds=lag_seconds,
            last_flush_at=now,
            positions=pos.positions_text(positions),
            **follower.lag(positions),
        )
        return dirty_before + len(dirty)

    def _check_limits(self, dirty: list[QuarantinedMessage], count: int, dirty_before: int) -> None:
        if not dirty:
            return
        limits = self.spec.dirty
        total = dirty_before + len(dirty)
        first = dirty[0]
        where = f"first: {first.source}@{first.offset}: {first.reason}"
        limit = limits.row_limit()
        if limit is not None and total > limit:
            raise UserError(
                f"stream stopped: {total} quarantined messages exceed dirty.max_rows "
                f"{limit} ({where}); the position was not moved",
                hint="fix the producer or raise dirty.max_rows, then start the stream again",
            )
        if limits.max_ratio is not None and len(dirty) / count > limits.max_ratio:
            raise UserError(
                f"stream stopped: {len(dirty)} of {count} messages of one flush are "
                f"dirty, over dirty.max_ratio {limits.max_ratio} ({where}); "
                "the position was not moved",
                hint="fix the producer or raise dirty.max_ratio, then start the stream again",
            )

    def _target_schema(self, session: Session, table: str) -> pa.Schema | None:
        try:
            return session.query_arrow(f"SELECT * FROM {_quote(table)} LIMIT 0").schema
        except LakeworksError:
            return None

    def _write(self, session: Session, target: TargetWrite, batch: FlushBatch) -> int:
        table, key, schema = target.table, target.key, target.schema
        if target.truncate and schema is not None:
            session.execute(f"DELETE FROM {_quote(table)}")
        keys = batch.delete_batch
        if keys is None and batch.delete_keys:
            keys = to_batch([dict(zip(key, k, strict=True)) for k in batch.delete_keys])
        if keys is not None and schema is not None:
            keys = _cast_keys(keys, schema)
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
            self._drift(session, table, rows, schema)
        return self.engine.write_arrow(table, [rows], WriteMode.APPEND, session=session)

    def _drift(self, session: Session, table: str, rows: pa.RecordBatch, schema: pa.Schema) -> None:
        known = {n.lower() for n in schema.names}
        new = [f for f in rows.schema if f.name.lower() not in known]
        if not new:
            return
        if self.spec.schema_drift == "fail":
            raise UserError(
                f"stream stopped: new field '{new[0].name}' is not a column of "
                f"{table} (schema_drift: fail); the position was not moved",
                hint="add the column to the table, map the fields with 'columns', "
                "or set schema_drift: add",
            )
        for f in new:
            session.execute(
                f"ALTER TABLE {_quote(table)} ADD COLUMN "
                f"{_quote(f.name)} {column_type(f.type, WAREHOUSE)}"
            )
            self.log(f"schema drift: added column {f.name} to {table}")

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
