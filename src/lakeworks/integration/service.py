"""Running a sync node: render, plan, copy with retries, record totals and the cursor."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakeworks.connectors.base import KeyRange, ReadRequest, Sink, Source
from lakeworks.connectors.credentials import redact
from lakeworks.connectors.registry import ConnectorContext, open_sink, open_source
from lakeworks.engines.base import Engine
from lakeworks.errors import LakeworksError, TransientError, UserError
from lakeworks.integration.pipeline import CopyOutcome, CopySettings, SyncStopped, copy
from lakeworks.integration.plan import SyncPlan, plan_sync, split_ranges
from lakeworks.integration.progress import Progress, ProgressListener, SpeedLimit
from lakeworks.integration.state import SyncState
from lakeworks.spec.models import Node, Workspace
from lakeworks.sql.params import ParamContext
from lakeworks.store.database import Database

RETRY_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class SyncResult:
    """What one sync run did."""

    run_id: int | None
    rows_read: int
    rows_written: int
    rows_dirty: int
    bytes_read: int
    seconds: float
    cursor_before: Any
    cursor_after: Any
    attempts: int
    reads: frozenset[str]
    writes: frozenset[str]
    added_columns: list[str] = field(default_factory=list)


class SyncService:
    """Runs sync nodes of one workspace and environment."""

    def __init__(
        self,
        workspace: Workspace,
        env: str,
        engine: Engine,
        db: Database | None,
        *,
        retry_delay: float = RETRY_DELAY_SECONDS,
    ) -> None:
        self.workspace = workspace
        self.env = env
        self.engine = engine
        self.state = SyncState(db, workspace.name, env) if db is not None else None
        self.retry_delay = retry_delay

    def plan(self, node: Node, params: ParamContext) -> SyncPlan:
        """The sync's plan for these parameters (nothing is read or written)."""
        cursor = self.state.cursor(node.key) if self.state is not None else None
        return plan_sync(self.workspace, node, params, cursor=cursor)

    def _open(self, plan: SyncPlan) -> tuple[Source, Sink]:
        context = ConnectorContext(engine=self.engine, root=self.workspace.root)
        source = open_source(plan.source_name, plan.source_config, context)
        sink = open_sink(plan.target_name, plan.target_config, context)
        return source, sink

    def _check(self, plan: SyncPlan, source: Source) -> None:
        """Refuse what the source cannot do (a spec problem: checked once, never retried)."""
        spec = plan.spec.source
        base = plan.read
        caps = source.capabilities
        if base.where and not caps.where_filter:
            raise UserError(
                f"data source '{plan.source_name}' cannot filter with 'where'",
                location=plan.location("source", "where"),
            )
        if base.cursor_column and not caps.incremental_cursor:
            raise UserError(
                f"data source '{plan.source_name}' cannot read incrementally by a cursor column",
                location=plan.location("source", "cursor"),
            )
        if base.query and not caps.query:
            raise UserError(
                f"data source '{plan.source_name}' cannot run a query",
                location=plan.location("source", "query"),
            )
        if spec.parallel > 1 and spec.split_key and not caps.split_by_key:
            raise UserError(
                f"data source '{plan.source_name}' cannot be split into parallel reads",
                location=plan.location("source", "split_key"),
            )

    def _requests(self, plan: SyncPlan, source: Source) -> list[ReadRequest]:
        """The reads of one attempt: one, or one per key range (looked up in the source)."""
        spec = plan.spec.source
        base = plan.read
        if spec.parallel <= 1 or not spec.split_key:
            return [base]
        bounds = source.key_range(base, spec.split_key)
        if bounds is None:
            return [base]
        ranges: list[KeyRange] = split_ranges(spec.split_key, bounds[0], bounds[1], spec.parallel)
        return [ReadRequest(**{**base.__dict__, "split": key_range}) for key_range in ranges]

    def run(
        self,
        node: Node,
        params: ParamContext,
        *,
        log: Callable[[str], None] = lambda _line: None,
        cancel: threading.Event | None = None,
        listeners: list[ProgressListener] | None = None,
        instance_id: int | None = None,
        attempt: int = 1,
        on_source: Callable[[Source], None] | None = None,
    ) -> SyncResult:
        """Run the sync node once (transient failures retried ``retries`` times)."""
        cancel = cancel or threading.Event()
        plan = self.plan(node, params)
        source, sink = self._open(plan)
        if on_source is not None:
            on_source(source)
        try:
            return self._run(
                plan, node, source, sink, log, cancel, listeners or [], instance_id, attempt
            )
        finally:
            source.close()
            sink.close()

    def _run(
        self,
        plan: SyncPlan,
        node: Node,
        source: Source,
        sink: Sink,
        log: Callable[[str], None],
        cancel: threading.Event,
        listeners: list[ProgressListener],
        instance_id: int | None,
        attempt: int,
    ) -> SyncResult:
        spec = plan.spec
        settings = CopySettings(
            mapping=spec.column_specs(),
            schema_drift=spec.schema_drift,
            max_dirty_rows=spec.dirty.row_limit(),
            max_dirty_ratio=spec.dirty.max_ratio,
            queue_batches=spec.queue_batches,
        )
        self._check(plan, source)
        log(f"sync {plan.describe()}")
        tries = spec.retries + 1
        for number in range(1, tries + 1):
            outcome = CopyOutcome(cursor=plan.cursor_before)
            run_id = self._start(node, plan, instance_id, attempt, plan.bizdate)
            try:
                progress = self._attempt(
                    plan, source, sink, settings, outcome, log, cancel, listeners
                )
            except TransientError as exc:
                # a write that committed is never repeated
                last = number >= tries or cancel.is_set() or outcome.committed
                if last:
                    exc.hint = _gave_up(number, spec.retries, cancel)
                    exc.exhausted = True
                self._finish(run_id, node, outcome, "failed", error=exc.render())
                if last:
                    raise
                log(f"transient failure, retrying ({number}/{spec.retries}): {exc.message}")
                cancel.wait(self.retry_delay * number)
                continue
            except BaseException as exc:
                self._finish(run_id, node, outcome, *_ending(exc, outcome))
                raise
            try:
                self._finish(run_id, node, outcome, "success", advance=plan.tracks_cursor)
            except BaseException as exc:
                # the target has committed: record that the bookkeeping did not finish
                with contextlib.suppress(Exception):
                    self._finish(run_id, node, outcome, *_ending(exc, outcome), dirty=False)
                raise
            snap = progress.snapshot()
            log(
                f"sync done: {outcome.rows_written:,} rows written, "
                f"{outcome.rows_dirty:,} dirty, {snap.rows_per_second:,.0f} rows/s"
            )
            return SyncResult(
                run_id=run_id,
                rows_read=outcome.rows_read,
                rows_written=outcome.rows_written,
                rows_dirty=outcome.rows_dirty,
                bytes_read=outcome.bytes_read,
                seconds=outcome.seconds,
                cursor_before=plan.cursor_before,
                cursor_after=outcome.cursor,
                attempts=number,
                reads=plan.reads,
                writes=plan.writes,
                added_columns=outcome.added_columns,
            )
        raise AssertionError("unreachable")

    def _attempt(
        self,
        plan: SyncPlan,
        source: Source,
        sink: Sink,
        settings: CopySettings,
        outcome: CopyOutcome,
        log: Callable[[str], None],
        cancel: threading.Event,
        listeners: list[ProgressListener],
    ) -> Progress:
        """One attempt: look up the split, then copy (``outcome`` tells how far it got)."""
        speed = plan.spec.speed
        requests = self._requests(plan, source)
        progress = Progress(
            _estimate(source, requests),
            [*listeners, lambda snap: log(f"progress: {snap.describe()}")],
        )
        limit = SpeedLimit(speed.rows_per_second, speed.bytes_per_second, cancel)
        copy(
            source,
            sink,
            requests,
            plan.write,
            settings,
            progress=progress,
            limit=limit,
            cancel=cancel,
            outcome=outcome,
        )
        return progress

    def _start(
        self, node: Node, plan: SyncPlan, instance_id: int | None, attempt: int, bizdate: str
    ) -> int | None:
        if self.state is None:
            return None
        return self.state.start_run(
            node.key,
            instance_id=instance_id,
            attempt=attempt,
            bizdate=bizdate,
            cursor_before=plan.cursor_before,
        )

    def _finish(
        self,
        run_id: int | None,
        node: Node,
        outcome: CopyOutcome,
        state: str,
        error: str | None = None,
        *,
        advance: bool = False,
        dirty: bool = True,
    ) -> None:
        if self.state is None or run_id is None:
            return
        if dirty:
            self.state.add_dirty(run_id, outcome.dirty)
        self.state.finish_run(
            run_id,
            node.key,
            state=state,
            rows_read=outcome.rows_read,
            rows_written=outcome.rows_written if outcome.committed else 0,
            rows_dirty=outcome.rows_dirty,
            bytes_read=outcome.bytes_read,
            seconds=outcome.seconds,
            cursor_after=outcome.cursor,
            advance_cursor=advance,
            error=error,
        )


def _ending(exc: BaseException, outcome: CopyOutcome) -> tuple[str, str]:
    """The state and error of a run record that ``exc`` ended."""
    if isinstance(exc, SyncStopped):
        state, error = "stopped", exc.render()
    elif isinstance(exc, LakeworksError):
        state, error = "failed", exc.render()
    elif isinstance(exc, Exception):
        state, error = "failed", redact(f"{type(exc).__name__}: {exc}")
    else:  # KeyboardInterrupt (Ctrl-C), SystemExit
        state = "stopped"
        error = "interrupted" if outcome.committed else "interrupted; nothing was written"
    if outcome.committed:
        error += " (after the target committed: the cursor was not moved)"
    return state, error


def _gave_up(attempts: int, retries: int, cancel: threading.Event) -> str:
    """The hint of a transient failure that is not retried any more."""
    if cancel.is_set():
        return "the sync was stopped; not retried"
    if retries == 0:
        return "not retried (retries: 0)"
    return f"gave up after {attempts} attempts (retries: {retries})"


def _estimate(source: Source, requests: list[ReadRequest]) -> int | None:
    if len(requests) != 1:
        return None
    try:
        return source.estimate_rows(requests[0])
    except LakeworksError:
        return None
