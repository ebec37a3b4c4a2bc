"""Ad-hoc SQL and table previews with the platform's permissions and masking.

Before anything runs, every statement is parsed and checked: only queries and plain
table DML/DDL are allowed (no file readers, table functions, settings, ATTACH, COPY…),
every table written needs a write grant, and prod is never written ad hoc (prod
changes only through deployments). Then, right before each (translated) statement
runs, ``security.rewrite`` places every table reference scope by scope, inlines views,
and replaces each table with masked columns by a projection that masks them; every
table and view read, inside views too, needs a read grant. What runs is the rewritten
statement, so nothing downstream of a table reference sees an unmasked value.

Every run has a deadline (the engine's query is interrupted) and a row cap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from lakeworks.engines.base import Engine, Session
from lakeworks.errors import (
    LakeworksError,
    Location,
    NotFound,
    PermissionDenied,
    UserCodeError,
    UserError,
)
from lakeworks.security.adhoc_checks import (
    PLAIN_NAME,
    QUERY_PATH,
    check_constructs,
    check_statement,
    check_tree,
    unknown_functions,
)
from lakeworks.security.grants import Subjects, denied_tables
from lakeworks.security.masking import (
    FALLBACK_METHOD,
    applicable_rules,
    method_for_sources,
)
from lakeworks.security.models import MaskingRule, TableGrant
from lakeworks.security.rewrite import Guarded, Relations, Rewriter, cap_rows
from lakeworks.sql.script import ParsedStatement, parse_script
from lakeworks.sql.tables import statement_tables

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_ROWS = 10000


@dataclass(frozen=True)
class QueryOutcome:
    """What an ad-hoc query returned, after masking."""

    columns: list[str]
    rows: list[tuple[object, ...]]
    truncated: bool
    masked: dict[str, str] = field(default_factory=dict)
    """Result column → masking method, for columns that were masked."""
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    statements: int = 0
    seconds: float = 0.0


class _Deadline:
    """Interrupts a session's query once ``seconds`` have passed (until cancelled)."""

    def __init__(self, session: Session, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._session = session
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(seconds, self._stop)
        self._timer.daemon = True
        self._timer.start()

    def _stop(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            self._session.interrupt()

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


@dataclass
class _Progress:
    """What a run has done so far."""

    reads: set[str]
    masked: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    relations: Relations | None = None
    """The warehouse's tables and views as the last statement saw them."""


class AdhocQueries:
    """Runs ad-hoc SQL on one environment's engine for one person."""

    def __init__(
        self,
        engine: Engine,
        env: str,
        *,
        grants: Sequence[TableGrant],
        masking: Sequence[MaskingRule],
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine.interactive()
        self.env = env
        self.grants = list(grants)
        self.masking = list(masking)
        self.max_rows = max_rows
        self.timeout_seconds = timeout_seconds

    def check(
        self, sql: str, subjects: Subjects, *, dialect: str, may_write: bool
    ) -> tuple[list[ParsedStatement], set[str], set[str]]:
        """Parse and check ``sql``; returns the statements, tables read and written."""
        if not sql.strip():
            raise UserError("the query is empty", location=Location(QUERY_PATH, 1))
        statements = parse_script(sql, dialect, path=QUERY_PATH)
        if not statements:
            raise UserError("the query has no statement", location=Location(QUERY_PATH, 1))
        reads: set[str] = set()
        writes: set[str] = set()
        created: set[str] = set()
        for statement in statements:
            check_statement(statement)
            tables = statement_tables(statement.expression)
            reads |= tables.reads - created
            writes |= tables.writes
            created |= tables.creates
        if writes:
            if self.env != "dev":
                raise PermissionDenied(
                    f"ad-hoc SQL cannot change {self.env} tables ({', '.join(sorted(writes))})",
                    hint="prod changes only through a deployment; run this in dev",
                )
            if not may_write:
                raise PermissionDenied(
                    "your roles do not allow changing tables",
                    hint="ask for the developer role in this workspace",
                )
            refused = denied_tables(self.grants, subjects, self.env, writes, "write")
            if refused:
                raise PermissionDenied(
                    f"no write grant on {', '.join(refused)} in {self.env}",
                    hint="a security admin can grant it",
                )
        refused = denied_tables(self.grants, subjects, self.env, reads, "read")
        if refused:
            raise PermissionDenied(
                f"no read grant on {', '.join(refused)} in {self.env}",
                hint="a security admin can grant it",
            )
        return statements, reads, writes

    def run(
        self,
        sql: str,
        subjects: Subjects,
        *,
        dialect: str,
        may_write: bool = False,
        limit: int | None = None,
    ) -> QueryOutcome:
        """Check, translate, rewrite, run and return the last statement's rows (at most
        ``limit``, never more than the row cap), within the deadline."""
        from lakeworks.sql.translate import translate_script

        started = time.perf_counter()
        statements, reads, writes = self.check(sql, subjects, dialect=dialect, may_write=may_write)
        cap = min(limit or self.max_rows, self.max_rows)
        executable = translate_script(
            sql,
            source_dialect=dialect,
            target_dialect=self.engine.capabilities.dialect,
            path=QUERY_PATH,
            partition_columns=self.engine.partition_columns,
        )
        rules = applicable_rules(self.masking, subjects.names)
        progress = _Progress(reads=set(reads))
        columns: list[str] = []
        rows: list[tuple[object, ...]] = []
        session = self.engine.session()
        deadline = _Deadline(session, self.timeout_seconds)
        try:
            session.prefer_builtin_functions()
            for index, item in enumerate(executable):
                last_item = index == len(executable) - 1
                where = Location(QUERY_PATH, item.line)
                statements_sql = [
                    (step, cap + 1 if last_item and i == len(item.steps) - 1 else None)
                    for i, step in enumerate(item.steps)
                ]
                if item.atomic and len(item.steps) > 1:
                    session.begin()
                    try:
                        for step, step_cap in statements_sql:
                            guarded = self._guard(
                                session, step, rules, subjects, progress, step_cap, where
                            )
                            result = session.execute(guarded, max_rows=cap + 1)
                            columns, rows = result.columns, result.rows
                        session.commit()
                    except BaseException:
                        session.rollback()
                        raise
                else:
                    for step, step_cap in statements_sql:
                        guarded = self._guard(
                            session, step, rules, subjects, progress, step_cap, where
                        )
                        result = session.execute(guarded, max_rows=cap + 1)
                        columns, rows = result.columns, result.rows
        except LakeworksError:
            if deadline.fired:
                raise self._timed_out() from None
            raise
        finally:
            deadline.cancel()
            session.close()
        truncated = len(rows) > cap
        rows = rows[:cap]
        masks = self._masks(statements[-1], columns, progress, rules, dialect)
        return QueryOutcome(
            columns=columns,
            rows=[tuple(row) for row in rows],
            truncated=truncated,
            masked={columns[i]: method for i, method in sorted(masks.items())},
            reads=sorted(progress.reads),
            writes=sorted(writes),
            statements=len(statements),
            seconds=time.perf_counter() - started,
        )

    def _timed_out(self) -> UserCodeError:
        return UserCodeError(
            f"the query ran longer than {self.timeout_seconds:g} s and was stopped",
            hint="narrow it down (filters, LIMIT); the server's --query-timeout sets the limit",
        )

    def _guard(
        self,
        session: Session,
        step: str,
        rules: Sequence[MaskingRule],
        subjects: Subjects,
        progress: _Progress,
        cap: int | None,
        where: Location,
    ) -> str:
        """One translated statement, checked and rewritten (``security.rewrite``)."""
        dialect = self.engine.capabilities.dialect
        unchecked = UserError(
            "this statement cannot be checked, so it does not run ad hoc",
            location=where,
            hint="simplify it",
        )
        try:
            tree = sqlglot.parse_one(step, read=dialect)
        except (SqlglotError, RecursionError):
            raise unchecked from None
        check_tree(tree, where)
        creates = statement_tables(tree).creates
        current, known = session.relations()
        progress.relations = Relations(current, known)
        rewriter = Rewriter(progress.relations, rules, location=where)
        try:
            guarded: Guarded = rewriter.statement(tree)
            text = (cap_rows(guarded.tree, cap) if cap is not None else guarded.tree).sql(
                dialect=dialect
            )
        except (SqlglotError, RecursionError):
            raise unchecked from None
        check_constructs(guarded.tree, where, self._unknown_functions(session, text))
        refused = denied_tables(
            self.grants, subjects, self.env, guarded.reads - progress.created, "read"
        )
        if refused:
            raise PermissionDenied(
                f"no read grant on {', '.join(refused)} in {self.env}",
                hint="a security admin can grant it (views need grants on what they read)",
            )
        progress.reads |= guarded.reads - progress.created
        progress.masked |= guarded.masked
        progress.created |= creates
        return text

    def _unknown_functions(self, session: Session, text: str) -> frozenset[str]:
        return unknown_functions(
            text,
            self.engine.capabilities.dialect,
            session.builtin_functions,
            session.user_functions,
        )

    def preview(self, table: str, subjects: Subjects, *, limit: int = 50) -> QueryOutcome:
        """The first ``limit`` rows of ``table`` (grants, masking, deadline and row cap
        apply; ``truncated`` says the table has more)."""
        if not all(PLAIN_NAME.match(part) for part in table.split(".")):
            raise UserError(f"'{table}' is not a table name")
        if not self.engine.table_exists(table):
            raise NotFound(f"table '{table}' does not exist in {self.env}")
        return self.run(
            f"SELECT * FROM {table}",
            subjects,
            dialect=self.engine.capabilities.dialect,
            limit=max(1, limit),
        )

    def _masks(
        self,
        last: ParsedStatement,
        columns: list[str],
        progress: _Progress,
        rules: Sequence[MaskingRule],
        dialect: str,
    ) -> dict[int, str]:
        """Which result columns carry masked values (for the caller to show): traced by
        column lineage; all of them when the statement read a masked table and cannot
        be traced. The values were masked in the warehouse already."""
        tree = last.expression
        if not progress.masked or not columns or isinstance(tree, exp.Describe):
            return {}
        everything = {index: FALLBACK_METHOD for index in range(len(columns))}
        if not isinstance(tree, exp.Query):
            return everything
        from lakeworks.sql.lineage_scope import query_lineage

        try:
            lineage = query_lineage(tree.copy(), _schemas(progress), dialect)
        except (SqlglotError, RecursionError, ValueError, KeyError, AttributeError):
            return everything
        if lineage.problems or len(lineage.outputs) != len(columns):
            return everything
        masks: dict[int, str] = {}
        for index, output in enumerate(lineage.outputs):
            sources = [(ref.table, ref.column) for ref in output.sources.refs]
            if output.sources.problems:
                masks[index] = FALLBACK_METHOD
                continue
            method = method_for_sources(rules, sources)
            if method is not None:
                masks[index] = method
        return masks


def _schemas(progress: _Progress) -> dict[str, list[str]]:
    """Columns of the tables a run read, by lower-case name as written."""
    schema: dict[str, list[str]] = {}
    if progress.relations is None:
        return schema
    for table in sorted(progress.reads):
        found = progress.relations.resolve(table.split("."), None)
        if found is not None:
            schema[table] = [c.name.lower() for c in found.columns]
    return schema
