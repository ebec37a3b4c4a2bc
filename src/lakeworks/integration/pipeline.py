"""The pipelined copy: reader threads -> bounded queue -> converter/writer.

Each reader streams one key range of the source and puts batches on a bounded queue
(so memory stays at a few batches whatever the table size); the calling thread takes
them, converts them, quarantines dirty rows and feeds the sink's open write. Reading
the next batch overlaps converting and writing the previous one. The write is
committed only after the last batch, when the dirty-data limits have been checked;
any failure, limit breach or stop rolls it back, so nothing of the run is visible (nor
the columns it added for schema drift, where the sink's DDL is transactional).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from lakeworks.connectors.base import ReadRequest, Sink, Source, SourceBatch, WriteRequest
from lakeworks.errors import UserCodeError, UserError
from lakeworks.integration.convert import Converter, row_json
from lakeworks.integration.progress import Progress, SpeedLimit
from lakeworks.integration.spec import ColumnSpec

MAX_QUARANTINED = 10_000
"""Dirty rows kept per run (all are counted; the first ones are stored)."""


class DirtyLimitExceeded(UserCodeError):
    """Too many rows could not be converted or written; the run wrote nothing."""


class SyncStopped(UserCodeError):
    """The sync was stopped before it finished; the run wrote nothing."""


@dataclass
class CopySettings:
    mapping: list[ColumnSpec] | None
    schema_drift: str
    max_dirty_rows: int | None
    """Fail as soon as more rows than this are dirty (None: no count limit)."""
    max_dirty_ratio: float | None
    """Fail at the end when a larger share of the rows read is dirty (None: no limit)."""
    queue_batches: int = 4


@dataclass
class CopyOutcome:
    rows_read: int = 0
    rows_written: int = 0
    rows_dirty: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    cursor: Any = None
    dirty: list[tuple[str, str, str]] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    committed: bool = False
    """The target has committed this run's write."""


_DONE = object()


def merge_cursor(current: Any, new: Any) -> Any:
    """The later of two cursor values (dicts of partition offsets merge key by key)."""
    if new is None:
        return current
    if current is None:
        return new
    if isinstance(current, dict) and isinstance(new, dict):
        merged = dict(current)
        for key, value in new.items():
            merged[key] = max(merged.get(key, value), value)
        return merged
    try:
        return max(current, new)
    except TypeError:
        return max(str(current), str(new))


class _Readers:
    """Reader threads filling one bounded queue; errors travel through the queue."""

    def __init__(
        self,
        source: Source,
        requests: list[ReadRequest],
        limit: SpeedLimit,
        stop: threading.Event,
        size: int,
    ) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self.stop = stop
        self.limit = limit
        self.threads = [
            threading.Thread(target=self._run, args=(source, r), daemon=True, name=f"sync-read-{i}")
            for i, r in enumerate(requests)
        ]
        self.remaining = len(self.threads)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Source, request: ReadRequest) -> None:
        try:
            for item in source.read(request):
                if self.stop.is_set():
                    break
                self.limit.take(item.batch.num_rows, item.byte_size)
                if not self._put(item):
                    break
        except BaseException as exc:
            self._put(exc)
        finally:
            self._put(_DONE)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def items(self) -> Iterator[SourceBatch]:
        while self.remaining:
            try:
                item = self.queue.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            if item is _DONE:
                self.remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def copy(
    source: Source,
    sink: Sink,
    requests: list[ReadRequest],
    write: WriteRequest,
    settings: CopySettings,
    *,
    progress: Progress,
    limit: SpeedLimit,
    cancel: threading.Event,
    outcome: CopyOutcome,
) -> CopyOutcome:
    """Copy everything ``requests`` read into ``write``; commit only if it all fits.

    ``outcome`` (start it with the cursor before the run) is filled in as the copy
    goes, so that a failed run still tells how far it got and which rows were dirty.
    """
    started = time.monotonic()
    stop = threading.Event()
    readers = _Readers(source, requests, limit, stop, settings.queue_batches)
    target_schema = sink.table_schema(write.table)
    converter = Converter(settings.mapping, target_schema, write.partition, write.key)
    readers.start()
    try:
        items = readers.items()
        first = _next_converted(items, converter, outcome, settings, progress, cancel)
        if first is None:
            _check_ratio(outcome, settings)
            if write.mode.value.startswith("overwrite") and target_schema is not None:
                empty = pa.RecordBatch.from_pylist([], schema=target_schema)
                _write_all(sink, write, iter([empty]), outcome)
            outcome.seconds = time.monotonic() - started
            return outcome
        write = _drift(sink, write, target_schema, first.schema, settings, outcome)

        def batches() -> Iterator[pa.RecordBatch]:
            yield first
            while True:
                batch = _next_converted(items, converter, outcome, settings, progress, cancel)
                if batch is None:
                    return
                yield batch

        _write_all(sink, write, batches(), outcome, settings)
        outcome.seconds = time.monotonic() - started
        return outcome
    finally:
        readers.close()
        progress.emit()


def _write_all(
    sink: Sink,
    write: WriteRequest,
    batches: Iterator[pa.RecordBatch],
    outcome: CopyOutcome,
    settings: CopySettings | None = None,
) -> None:
    handle = sink.begin(write)
    try:
        outcome.rows_written = handle.write(batches)
        if settings is not None:
            _check_ratio(outcome, settings)
    except BaseException:
        handle.rollback()
        raise
    handle.commit()
    outcome.committed = True


def _next_converted(
    items: Iterator[SourceBatch],
    converter: Converter,
    outcome: CopyOutcome,
    settings: CopySettings,
    progress: Progress,
    cancel: threading.Event,
) -> pa.RecordBatch | None:
    """The next non-empty converted batch (None at the end)."""
    for item in items:
        if cancel.is_set():
            raise SyncStopped("the sync was stopped; nothing was written")
        dirty_before = outcome.rows_dirty
        for reject in item.rejects:
            _quarantine(outcome, reject.position, reject.reason, reject.raw)
        batch = item.batch
        outcome.rows_read += batch.num_rows + len(item.rejects)
        outcome.bytes_read += item.byte_size
        outcome.cursor = merge_cursor(outcome.cursor, item.cursor)
        converted = None
        if batch.num_rows:
            result = converter.convert(batch)
            for dirty in result.dirty:
                _quarantine(
                    outcome, item.position(dirty.index), dirty.reason, row_json(batch, dirty.index)
                )
            converted = result.batch
        progress.add(batch.num_rows, item.byte_size, outcome.rows_dirty - dirty_before)
        if settings.max_dirty_rows is not None and outcome.rows_dirty > settings.max_dirty_rows:
            raise DirtyLimitExceeded(
                f"{outcome.rows_dirty} dirty rows exceed the limit of "
                f"{settings.max_dirty_rows}; nothing was written",
                hint=_first_reason(outcome),
            )
        if converted is not None and converted.num_rows:
            return converted
    if cancel.is_set():
        raise SyncStopped("the sync was stopped; nothing was written")
    return None


def _quarantine(outcome: CopyOutcome, position: str, reason: str, raw: str) -> None:
    outcome.rows_dirty += 1
    if len(outcome.dirty) < MAX_QUARANTINED:
        outcome.dirty.append((position, reason, raw))


def _first_reason(outcome: CopyOutcome) -> str | None:
    if not outcome.dirty:
        return None
    position, reason, _raw = outcome.dirty[0]
    return f"first: {position}: {reason} (all are in the quarantine table)"


def _check_ratio(outcome: CopyOutcome, settings: CopySettings) -> None:
    if settings.max_dirty_ratio is None or not outcome.rows_read:
        return
    ratio = outcome.rows_dirty / outcome.rows_read
    if ratio > settings.max_dirty_ratio:
        raise DirtyLimitExceeded(
            f"{outcome.rows_dirty} dirty rows ({ratio:.2%} of {outcome.rows_read}) exceed "
            f"the limit of {settings.max_dirty_ratio:.2%}; nothing was written",
            hint=_first_reason(outcome),
        )


def _drift(
    sink: Sink,
    write: WriteRequest,
    target: pa.Schema | None,
    incoming: pa.Schema,
    settings: CopySettings,
    outcome: CopyOutcome,
) -> WriteRequest:
    """The write, adding the incoming columns the target lacks (``schema_drift: add``).

    A sink with transactional DDL adds them in the write's own transaction, so a run
    that fails leaves the target's schema untouched; the others add them at once.
    """
    if target is None:
        return write
    table = write.table
    known = {name.lower() for name in [*target.names, *write.partition]}
    new = [f for f in incoming if f.name.lower() not in known]
    if not new:
        return write
    names = ", ".join(f.name for f in new)
    if settings.schema_drift == "fail":
        raise UserError(
            f"the source has new column(s) not in target '{table}': {names}",
            hint="set schema_drift: add, or map the columns you want under 'columns:'",
        )
    if not sink.capabilities.add_columns:
        raise UserError(
            f"target '{table}' cannot add the new column(s) {names}",
            hint="map only the existing columns under 'columns:'",
        )
    outcome.added_columns = [f.name for f in new]
    if sink.capabilities.transactional_ddl:
        return replace(write, add_columns=tuple(new))
    sink.add_columns(table, list(new))
    return write
