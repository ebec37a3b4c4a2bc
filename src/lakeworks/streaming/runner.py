"""Running one stream node: follow the source, flush every N seconds or M rows, each
flush one warehouse transaction holding the rows, the quarantined messages and the new
positions; a supervisor reconnects after transient failures with backoff.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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
from lakeworks.streaming.batch import FlushBatch, build, build_blocks, decode_block, to_batch
from lakeworks.streaming.changes import ChangeBlock, build_changes
from lakeworks.streaming.follower import Follower
from lakeworks.streaming.kafka import KafkaFollower, Message, MessageBlock
from lakeworks.streaming.opening import OpenSource, load_spec, open_stream_source
from lakeworks.streaming.pending import Pending
from lakeworks.streaming.positions import QuarantinedMessage
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
FULL_GC_SPACING = 10
"""How many times fewer full garbage collections run while a stream follows."""


@dataclass
class StreamTotals:
    rows_in: int = 0
    rows_out: int = 0
    rows_dirty: int = 0
    flushes: int = 0
    restarts: int = 0


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
        opened: OpenSource | None = None,
    ) -> None:
        """``opened``: the node's source opened already (``open_stream_source``), for
        the first attempt (a restart opens it again)."""
        self.workspace = workspace
        self.env = env
        self.engine = engine
        self.node = node
        self.spec = opened.spec if opened is not None else load_spec(node)
        self.log = log
        self.cancel = cancel
        self.instance_id = instance_id
        self.status = StreamStatusStore(db, workspace.name, env) if db is not None else None
        self.totals = StreamTotals()
        self._watermark: datetime | None = None
        self._opened = opened

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

    def _follow(self) -> None:
        opened, self._opened = self._opened, None
        if opened is None:
            opened = open_stream_source(
                self.workspace,
                self.env,
                self.engine,
                self.node,
                self.spec,
                cancel=self.cancel,
                log=self.log,
            )
        follower, positions = opened.follower, opened.positions
        thresholds = gc.get_threshold()
        try:
            dirty_before = pos.dirty_total(self.engine, self.node.key)
            if follower.snapshot_pending:
                self._snapshot(follower, positions)
            self.log(
                f"stream {self.node.key}: following {', '.join(follower.sources)} "
                f"into {self.spec.target.table}"
            )
            self._report(state=RUNNING, instance_id=self.instance_id, last_error=None)
            # what is alive now (modules, the workspace) lives as long as the stream:
            # keep it out of the collector's passes, which the stream's garbage triggers
            gc.freeze()
            # the messages held until their flush commits are freed by their reference
            # counts, never by the collector; its full passes (which walk every one of
            # them) run a tenth as often
            gc.set_threshold(thresholds[0], thresholds[1], thresholds[2] * FULL_GC_SPACING)
            self._loop(follower, positions, dirty_before)
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
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
        """Poll and flush. A Kafka stream decodes each polled block and commits each
        flush on threads of their own while the next messages are read (Arrow and
        DuckDB release the GIL); one flush at a time, so each one starts from the
        positions the previous one committed, and it waits for its blocks' decoding."""
        kafka = isinstance(follower, KafkaFollower)
        flusher = ThreadPoolExecutor(1, "stream-flush") if kafka else None
        decoder = ThreadPoolExecutor(1, "stream-decode") if kafka else None
        try:
            self._poll_and_flush(follower, positions, dirty, flusher, decoder)
        finally:
            if flusher is not None:
                flusher.shutdown(wait=True)
            if decoder is not None:
                decoder.shutdown(wait=True)

    def _poll_and_flush(
        self,
        follower: Follower,
        positions: dict[str, int],
        dirty: int,
        flusher: ThreadPoolExecutor | None,
        decoder: ThreadPoolExecutor | None,
    ) -> None:
        flush = self.spec.flush
        buffer = Pending()
        last_flush = time.monotonic()
        next_control = last_flush + CONTROL_SECONDS
        paused = False
        running: Future[int] | None = None
        # behind the source, a flush waits (within flush.seconds) for the rows the
        # engine writes in bulk: fewer, cheaper commits until the stream has caught up
        catching_up = max(flush.rows, self.engine.capabilities.bulk_write_rows or 0)
        behind = False

        def settle() -> None:
            """Wait for the flush in progress; its lag is asked for here, between polls
            (beside a poll the broker answers the consumer's pending fetch first)."""
            nonlocal dirty, running
            if running is not None:
                dirty, running = running.result(), None  # a failed flush raises here
                self._report(**follower.lag(positions))

        while not self.cancel.is_set():
            if running is not None and running.done():
                settle()
            now = time.monotonic()
            if now >= next_control:
                next_control = now + CONTROL_SECONDS
                wanted = self.status.desired(self.node.key) if self.status else RUNNING
                if wanted == PAUSED and not paused:
                    settle()
                    dirty = self._flush(follower, buffer, positions, dirty, now - last_flush)
                    buffer, last_flush, paused = Pending(), now, True
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
            rows = catching_up if behind else flush.rows
            room = max(1, min(MAX_POLL_MESSAGES, rows - len(buffer)))
            before = len(buffer)
            polled = follower.poll(room, wait)
            if isinstance(polled, MessageBlock) and not self.spec.upsert:
                # while the next messages are read and a flush writes the previous rows
                if decoder is None:
                    decode_block(polled)
                else:
                    polled.decoding = decoder.submit(decode_block, polled)
            buffer.add(polled)
            # a full poll: more is waiting; the first one that is not ends a catch-up,
            # whose rows are committed at once (they are late already)
            caught_up = behind and len(buffer) - before < room
            behind = len(buffer) - before >= room
            now = time.monotonic()
            rows = catching_up if behind else flush.rows
            if len(buffer) >= rows or caught_up or now - last_flush >= flush.seconds:
                settle()
                if flusher is None or not len(buffer):
                    dirty = self._flush(follower, buffer, positions, dirty, now - last_flush)
                else:
                    running = flusher.submit(
                        self._flush, follower, buffer, positions, dirty, now - last_flush, False
                    )
                buffer, last_flush = Pending(), now
        settle()
        if len(buffer):
            self._flush(follower, buffer, positions, dirty, time.monotonic() - last_flush)

    # -- flushing

    def _flush(
        self,
        follower: Follower,
        pending: Pending,
        positions: dict[str, int],
        dirty_before: int,
        seconds: float,
        with_lag: bool = True,
    ) -> int:
        """Commit one flush; returns the quarantine's new size. ``with_lag``: ask the
        broker how far behind the new positions are (else the caller does)."""
        if not len(pending):
            if follower.caught_up_at is not None:
                self._watermark = max(
                    self._watermark or follower.caught_up_at, follower.caught_up_at
                )
            self._report(rows_per_second=0.0, lag_seconds=0.0, **follower.lag(positions))
            return dirty_before
        pending.decoded()
        blocks = None if self.spec.upsert else pending.blocks()
        groups: dict[str, list[Message]] = {}
        if blocks is None:
            for m in pending.messages():
                groups.setdefault(m.table or self.spec.target.table, []).append(m)
        with self.engine.transaction() as session:
            planned: list[tuple[TargetWrite, FlushBatch]] = []
            if blocks is not None:
                table = self.spec.target.table
                target = TargetWrite(table, self.spec.target.key)
                target.schema = self._target_schema(session, table)
                converter = self._converter(follower, target)
                fast = build_blocks(blocks, converter)
                if fast is not None:
                    planned.append((target, fast))
                else:
                    groups = {table: pending.messages()}
            for table, group in groups.items():
                target = TargetWrite(table, self.spec.target.key or follower.key_of(table))
                if follower.truncates:
                    group = target.after_truncate(group)
                target.schema = self._target_schema(session, table)
                converter = self._converter(follower, target)
                if group and isinstance(group[0], ChangeBlock):
                    changes = [m for m in group if isinstance(m, ChangeBlock)]
                    planned.append((target, build_changes(changes, converter, target.key)))
                else:
                    planned.append((target, build(group, converter, target.key, self.spec.upsert)))
            dirty = [d for _, batch in planned for d in batch.dirty]
            self._check_limits(dirty, len(pending), dirty_before)
            written = sum(self._write(session, target, batch) for target, batch in planned)
            moved = {**positions, **pending.ends}
            now = utcnow()
            pos.save_quarantine(session, self.node.key, dirty, now)
            pos.save_positions(session, self.node.key, moved, now)
        positions.update(moved)
        follower.committed(positions)
        lag_seconds = None
        if pending.newest_ms is not None:
            lag_seconds = max(0.0, time.time() - pending.newest_ms / 1000)
            newest = datetime.fromtimestamp(pending.newest_ms / 1000, UTC).replace(tzinfo=None)
            self._watermark = max(self._watermark or newest, newest)
        self.totals.rows_in += len(pending)
        self.totals.rows_out += written
        self.totals.rows_dirty += len(dirty)
        self.totals.flushes += 1
        for d in dirty[:5]:
            self.log(f"quarantined {d.source}@{d.offset}: {d.reason}")
        self._report(
            rows_per_second=len(pending) / seconds if seconds > 0 else 0.0,
            lag_seconds=lag_seconds,
            last_flush_at=now,
            positions=pos.positions_text(positions),
            **(follower.lag(positions) if with_lag else {}),
        )
        return dirty_before + len(dirty)

    def _converter(self, follower: Follower, target: TargetWrite) -> Converter:
        """The column mapping; without one, the values' schema types the columns."""
        mapping = self.spec.column_specs()
        converter = Converter(mapping, target.schema, {}, target.key)
        if mapping is None and isinstance(follower, KafkaFollower):
            converter.explicit.update(follower.value_types)
        return converter

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
