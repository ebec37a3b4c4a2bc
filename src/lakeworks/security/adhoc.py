"""Ad-hoc SQL and table previews with the platform's permissions and masking.

Before anything runs, every statement is parsed and checked: only queries and plain
table DML/DDL are allowed (no file readers, table functions, settings, ATTACH, COPY…),
every table read needs a read grant and every table written a write grant, and prod
is never written ad hoc (prod changes only through deployments). After the last
statement ran, each result column is traced to the table columns it is computed from
and masked when any of them is under a masking rule; a column that cannot be traced
while the query reads a table with masking rules is masked entirely (fail closed).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from lakeworks.engines.base import Engine
from lakeworks.errors import Location, NotFound, PermissionDenied, UserError
from lakeworks.security.grants import Subjects, denied_tables
from lakeworks.security.masking import (
    FALLBACK_METHOD,
    applicable_rules,
    apply_masks,
    method_for_sources,
    tables_with_rules,
)
from lakeworks.security.models import MaskingRule, TableGrant
from lakeworks.sql.script import ParsedStatement, parse_script
from lakeworks.sql.tables import statement_tables

QUERY_PATH = "<query>"

_ALLOWED = (
    exp.Query,
    exp.Insert,
    exp.Create,
    exp.Drop,
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.TruncateTable,
    exp.Describe,
)
_TABLE_KINDS = frozenset({"TABLE", "VIEW"})
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_DENIED_FUNCTIONS = re.compile(
    r"^(read_|glob$|getenv$|query$|query_table|sniff_csv|parquet_|duckdb_|pragma_|"
    r"current_setting$|iceberg_|delta_|sqlite_|postgres_|mysql_|json_execute|load_|"
    r"install_|which_secret|http|s3|system$|checkpoint|force_checkpoint|enable_|disable_|"
    r"set_|reset_|.*_scan$)",
    re.IGNORECASE,
)


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


def _function_name(func: exp.Func) -> str:
    return func.name if isinstance(func, exp.Anonymous) else func.sql_name()


def check_statement(statement: ParsedStatement) -> None:
    """``UserError`` for a statement kind or construct ad-hoc SQL may not use."""
    tree = statement.expression
    where = Location(QUERY_PATH, statement.line, statement.column)
    if not isinstance(tree, _ALLOWED):
        raise UserError(
            f"{type(tree).__name__.upper()} statements are not allowed in ad-hoc queries",
            location=where,
            hint="ad-hoc SQL may query tables and, in dev, create and change them",
        )
    if isinstance(tree, exp.Create | exp.Drop):
        kind = str(tree.args.get("kind") or "").upper()
        if kind not in _TABLE_KINDS:
            raise UserError(
                f"CREATE/DROP {kind or '?'} is not allowed in ad-hoc queries",
                location=where,
                hint="only tables and views",
            )
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise UserError(
                f"table functions are not allowed in ad-hoc queries: {table.this.sql()[:60]}",
                location=where,
                hint="read warehouse tables by name",
            )
        parts = [p.name for p in (table.args.get("catalog"), table.args.get("db")) if p]
        parts.append(table.name)
        if not all(_PLAIN_NAME.match(part) for part in parts):
            raise UserError(
                f"'{'.'.join(parts)}' is not a table name",
                location=where,
                hint="files cannot be read ad hoc; load them with a sync node",
            )
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if _DENIED_FUNCTIONS.match(name):
            raise UserError(
                f"function {name.upper()} is not allowed in ad-hoc queries",
                location=where,
                hint="functions that read files, settings or the environment are refused",
            )


class AdhocQueries:
    """Runs ad-hoc SQL on one environment's engine for one person."""

    def __init__(
        self,
        engine: Engine,
        env: str,
        *,
        grants: Sequence[TableGrant],
        masking: Sequence[MaskingRule],
        max_rows: int = 10000,
    ) -> None:
        self.engine = engine
        self.env = env
        self.grants = list(grants)
        self.masking = list(masking)
        self.max_rows = max_rows

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
        """Check, translate, run and mask ``sql``; returns the last statement's rows."""
        from lakeworks.sql.translate import translate_script

        started = time.perf_counter()
        statements, reads, writes = self.check(sql, subjects, dialect=dialect, may_write=may_write)
        cap = min(limit or self.max_rows, self.max_rows)
        partition_lookup = getattr(self.engine, "partition_columns", None)
        executable = translate_script(
            sql,
            source_dialect=dialect,
            target_dialect=self.engine.capabilities.dialect,
            path=QUERY_PATH,
            partition_columns=partition_lookup,
        )
        columns: list[str] = []
        rows: list[tuple[object, ...]] = []
        session = self.engine.session()
        try:
            for item in executable:
                if item.atomic and len(item.steps) > 1:
                    session.begin()
                    try:
                        for step in item.steps:
                            result = session.execute(step)
                        session.commit()
                    except BaseException:
                        session.rollback()
                        raise
                else:
                    for step in item.steps:
                        result = session.execute(step)
                columns, rows = result.columns, result.rows
        finally:
            session.close()
        truncated = len(rows) > cap
        rows = rows[:cap]
        masks = self._masks(statements[-1], columns, reads, subjects, dialect)
        return QueryOutcome(
            columns=columns,
            rows=apply_masks(rows, masks),
            truncated=truncated,
            masked={columns[i]: method for i, method in sorted(masks.items())},
            reads=sorted(reads),
            writes=sorted(writes),
            statements=len(statements),
            seconds=time.perf_counter() - started,
        )

    def preview(self, table: str, subjects: Subjects, *, limit: int = 50) -> QueryOutcome:
        """The first rows of ``table`` (grants and masking apply)."""
        if not all(_PLAIN_NAME.match(part) for part in table.split(".")):
            raise UserError(f"'{table}' is not a table name")
        if not self.engine.table_exists(table):
            raise NotFound(f"table '{table}' does not exist in {self.env}")
        return self.run(
            f"SELECT * FROM {table} LIMIT {max(1, min(limit, self.max_rows))}",
            subjects,
            dialect=self.engine.capabilities.dialect,
        )

    def _masks(
        self,
        last: ParsedStatement,
        columns: list[str],
        reads: set[str],
        subjects: Subjects,
        dialect: str,
    ) -> dict[int, str]:
        rules = applicable_rules(self.masking, subjects.names)
        sensitive = tables_with_rules(rules, reads)
        if not rules or not sensitive or not columns:
            return {}
        everything = {index: FALLBACK_METHOD for index in range(len(columns))}
        tree = last.expression
        if isinstance(tree, exp.Describe):
            return {}
        if not isinstance(tree, exp.Query):
            return everything
        from lakeworks.sql.lineage_scope import query_lineage

        schema = self._schemas(reads)
        lineage = query_lineage(tree.copy(), schema, dialect)
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

    def _schemas(self, tables: set[str]) -> dict[str, list[str]]:
        schema: dict[str, list[str]] = {}
        for table in sorted(tables):
            try:
                info = self.engine.describe(table)
            except Exception:
                continue
            schema[table.lower()] = [c.name.lower() for c in info.columns]
        return schema
