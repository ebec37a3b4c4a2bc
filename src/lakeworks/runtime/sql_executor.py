"""Run a SQL node: render parameters, translate to the engine dialect, execute."""

from __future__ import annotations

import contextlib
import re
import time

from lakeworks.engines.base import Session
from lakeworks.errors import (
    LakeworksError,
    Location,
    TransientError,
    UserCodeError,
    UserError,
)
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.schedule.node_io import node_io
from lakeworks.spec.outputs import rows_output
from lakeworks.spec.suggest import closest
from lakeworks.sql.params import render
from lakeworks.sql.translate import ExecutableStatement, translate_script

MAX_SHOWN_ROWS = 20


def _one_line(sql: str, limit: int = 120) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_word(sql: str) -> str:
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    return words[0].upper() if words else ""


def _is_insert(sql: str) -> bool:
    return _first_word(sql) == "INSERT"


def _is_delete(sql: str) -> bool:
    return _first_word(sql) == "DELETE"


def _counts(step: str, rows: int | None) -> bool:
    """Whether a step's count is the statement's: an INSERT OVERWRITE reports the rows
    its INSERT wrote, not those its DELETE removed."""
    return _is_insert(step) or (rows is None and not _is_delete(step))


_QUOTED = re.compile(r'"([^"\n]+)"')
_MISSING_TABLE = re.compile(r"Table with name ([\w.]+) does not exist", re.IGNORECASE)


def _line_offset(source: str, message: str) -> int:
    """Lines from the statement's first line to the first line of ``source`` naming the
    identifier an engine error quotes (``Referenced column "totl" not found``), so the
    error points at the user's line rather than the translated statement's ``LINE 1``."""
    first = message.splitlines()[0] if message else ""
    for name in [*_QUOTED.findall(first), *_MISSING_TABLE.findall(first)]:
        token = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)", re.IGNORECASE)
        for offset, text in enumerate(source.splitlines()):
            if token.search(text.split("--", 1)[0]):
                return offset
    return 0


def _missing_table_hint(ctx: NodeRunContext, message: str) -> str | None:
    """For an engine's "table does not exist": the closest names among the tables the
    workspace's nodes write (also those not created yet) and the warehouse holds."""
    found = _MISSING_TABLE.search(message)
    if found is None:
        return None
    names: set[str] = set()
    for other in ctx.workspace.nodes():
        try:
            names |= node_io(ctx.workspace, other).writes
        except LakeworksError:
            continue
    with contextlib.suppress(LakeworksError):
        names |= {t.name for t in ctx.engine.list_tables()}
    close = closest(found.group(1), names)
    already = [c for c in close if f'"{c}"' in message]
    if not close or already == close:
        return None  # the engine named the same tables already
    shown = " or ".join(repr(c) for c in close)
    return f"did you mean {shown}? (tables the workspace writes or the warehouse holds)"


def _execute(
    ctx: NodeRunContext, statement: ExecutableStatement, last: list[list[object]]
) -> int | None:
    """Run one statement; errors keep their kind (deterministic, transient or run time)."""
    node = ctx.node
    try:
        if statement.atomic:
            with ctx.engine.transaction() as session:
                return _steps(ctx, session, statement, last)
        session = ctx.engine.session()
        try:
            return _steps(ctx, session, statement, last)
        finally:
            session.close()
    except UserError as exc:
        where = Location(node.path, statement.line)
        raise UserError(exc.message, location=where, hint=exc.hint) from None
    except TransientError as exc:
        raise TransientError(f"{node.path.name}:{statement.line}: {exc.message}") from None
    except UserCodeError:
        raise
    except LakeworksError as exc:
        line = statement.line + _line_offset(statement.source, exc.message)
        raise UserCodeError(f"{node.path.name}:{line}: {exc.message}") from None


def _steps(
    ctx: NodeRunContext, session: Session, statement: ExecutableStatement, last: list[list[object]]
) -> int | None:
    """Run a statement's steps; ``last`` becomes the rows of its query, if it is one."""
    ctx.on_interrupt.append(session.interrupt)
    try:
        rows = None
        for step in statement.steps:
            result = session.execute(step)
            if statement.is_query and not statement.atomic:
                ctx.log(" | ".join(result.columns))
                for row in result.rows[:MAX_SHOWN_ROWS]:
                    ctx.log(" | ".join("NULL" if v is None else str(v) for v in row))
                if len(result.rows) > MAX_SHOWN_ROWS:
                    ctx.log(f"… {len(result.rows) - MAX_SHOWN_ROWS} more rows")
                rows = len(result.rows)
                last[:] = [list(row) for row in result.rows]
            elif result.rowcount is not None and _counts(step, rows):
                rows = result.rowcount
        return rows
    finally:
        ctx.on_interrupt.remove(session.interrupt)


def run_sql_node(ctx: NodeRunContext) -> NodeResult:
    """Run every statement of a SQL node in order; stop at the first failure."""
    node = ctx.node
    rendered = render(node.code, ctx.params, path=node.path, first_line=node.span.first_code_line)
    statements = translate_script(
        rendered,
        source_dialect=ctx.workspace.dialect_for(node),
        target_dialect=ctx.engine.capabilities.dialect,
        path=node.path,
        first_line=node.span.first_code_line,
        partition_columns=ctx.engine.partition_columns,
    )
    reads: set[str] = set()
    writes: set[str] = set()
    total_rows = 0
    last_rows: list[list[object]] = []
    for statement in statements:
        if ctx.cancel.is_set():
            raise UserCodeError(f"stopped before the statement at line {statement.line}")
        started = time.perf_counter()
        shown = statement.source or (statement.steps[0] if statement.steps else "")
        ctx.log(f"line {statement.line}: {_one_line(shown)}")
        try:
            rows = _execute(ctx, statement, last_rows)
        except UserCodeError as exc:
            message = exc.message
            if not message.startswith(f"{node.path.name}:"):
                line = statement.line + _line_offset(statement.source, message)
                message = f"{node.path.name}:{line}: {message}"
            raise UserCodeError(message, hint=_missing_table_hint(ctx, message)) from None
        if statement.partition_spec is not None:
            table, columns = statement.partition_spec
            ctx.engine.register_partitions(table, columns)
        elapsed_ms = (time.perf_counter() - started) * 1000
        suffix = f", {rows} rows" if rows is not None else ""
        ctx.log(f"  ok ({elapsed_ms:.0f} ms{suffix})")
        total_rows += rows or 0
        reads.update(statement.reads)
        writes.update(statement.writes)
    return NodeResult(
        rendered_code=rendered,
        reads=frozenset(reads),
        writes=frozenset(writes),
        rows=total_rows,
        output=rows_output(last_rows) if node.header.output else None,
    )
