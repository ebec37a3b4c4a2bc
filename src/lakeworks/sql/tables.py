"""Which tables a SQL script reads, writes and creates: the basis of inferred dependencies.

Names are lowercased and keep their qualifier (``dw.orders``). Subquery and table
aliases are not tables; ``MAX_PT('t')`` reads ``t``. A name is a CTE only where that CTE
is visible (sqlglot's scope analysis, scope by scope): ``(WITH t AS (…) SELECT * FROM
t) a, t b`` reads the table ``t`` through ``b``. Whatever the analysis cannot place is a
table (it needs a grant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from lakeworks.sql.script import ParsedStatement, parse_script

__all__ = [
    "StatementTables",
    "TableIO",
    "command_add_partition",
    "cte_references",
    "max_pt_table",
    "statement_tables",
    "table_io",
    "table_name",
    "write_targets",
]


@dataclass(frozen=True)
class StatementTables:
    """The tables one statement reads, writes (incl. created or dropped) and creates."""

    reads: frozenset[str]
    writes: frozenset[str]
    creates: frozenset[str]


@dataclass(frozen=True)
class TableIO:
    """Tables a script reads, writes and creates, overall and per statement."""

    reads: frozenset[str]
    writes: frozenset[str]
    creates: frozenset[str]
    statements: list[tuple[int, frozenset[str], frozenset[str]]]
    """(file line, reads, writes) of every statement, in order."""

    def external_reads(self) -> frozenset[str]:
        """Reads of tables that no earlier statement of the same script wrote."""
        written: set[str] = set()
        external: set[str] = set()
        for _line, reads, writes in self.statements:
            external.update(reads - written)
            written.update(writes)
        return frozenset(external)


def table_name(table: exp.Table) -> str | None:
    """The normalised name of a table reference (``db.name``, lowercase), or None when it
    is not a plain table (a table function, a path)."""
    if not isinstance(table.this, exp.Identifier):
        return None
    parts = [part.name for part in (table.args.get("catalog"), table.args.get("db")) if part]
    parts.append(table.name)
    return ".".join(parts).lower()


_ADD_PARTITION_RE = re.compile(
    r"^\s*TABLE\s+(?P<table>[\w.`]+)\s+ADD\s+(IF\s+NOT\s+EXISTS\s+)?PARTITION\b",
    re.IGNORECASE,
)


def command_add_partition(expression: exp.Expr) -> str | None:
    """The table of ``ALTER TABLE t ADD PARTITION …`` (which sqlglot keeps as a command)."""
    if not isinstance(expression, exp.Command) or expression.name.upper() != "ALTER":
        return None
    m = _ADD_PARTITION_RE.match(str(expression.expression or ""))
    return m.group("table").replace("`", "").lower() if m else None


def _target(expression: exp.Expr) -> exp.Table | None:
    node = expression.this if isinstance(expression.this, exp.Expr) else None
    if isinstance(node, exp.Schema):
        node = node.this
    return node if isinstance(node, exp.Table) else None


def write_targets(expression: exp.Expr) -> tuple[list[exp.Table], list[exp.Table]]:
    """(tables written, tables created) by the statement itself."""
    if isinstance(expression, exp.Create):
        target = _target(expression)
        return ([target], [target]) if target is not None else ([], [])
    if isinstance(expression, exp.Drop):
        tables = expression.args.get("tables") or [expression.this]
        return [t for t in tables if isinstance(t, exp.Table)], []
    if isinstance(expression, exp.Insert | exp.Delete | exp.Update | exp.Merge):
        target = _target(expression)
        return ([target], []) if target is not None else ([], [])
    if isinstance(expression, exp.Alter):
        target = expression.this
        return ([target], []) if isinstance(target, exp.Table) else ([], [])
    if isinstance(expression, exp.TruncateTable):
        return [t for t in expression.expressions if isinstance(t, exp.Table)], []
    if (added := command_add_partition(expression)) is not None:
        return [exp.to_table(added)], []
    if isinstance(expression, exp.MultitableInserts):
        written: list[exp.Table] = []
        for insert in expression.expressions:
            written.extend(write_targets(insert)[0])
        return written, []
    return [], []


def max_pt_table(func: exp.Anonymous) -> str | None:
    """The table ``MAX_PT('t')`` reads, else None."""
    if func.name.upper() != "MAX_PT" or not func.expressions:
        return None
    arg = func.expressions[0]
    if isinstance(arg, exp.Literal) and arg.is_string and arg.name:
        return arg.name.lower()
    return None


_TABLE_KINDS = frozenset({"TABLE", "VIEW", "MATERIALIZED VIEW"})


def cte_references(expression: exp.Expr) -> dict[int, exp.CTE]:
    """The table references of ``expression`` that name a CTE visible in their own scope,
    by ``id`` of the reference, with the CTE each names (names match case-insensitively,
    as in DuckDB). Every other table reference names a real table or view.

    A reference inside a non-recursive CTE to that CTE's own name is a table. When the
    scope analysis fails nothing is a CTE (fail closed).
    """
    found: dict[int, exp.CTE] = {}
    if expression.find(exp.CTE) is None:
        return found  # no WITH anywhere: the scope analysis cannot find one
    try:
        scopes = traverse_scope(expression)
    except (SqlglotError, RecursionError, ValueError, KeyError):
        return found
    for scope in scopes:
        if not scope.cte_sources:
            continue
        visible = {name.lower(): source for name, source in scope.cte_sources.items()}
        for table in scope.tables:
            if table.args.get("db") or table.args.get("catalog"):
                continue
            source = visible.get(table.name.lower())
            if (cte := _defining_cte(getattr(source, "expression", None))) is not None:
                found[id(table)] = cte
    return found


def _defining_cte(node: object) -> exp.CTE | None:
    """The CTE whose body is ``node`` (a recursive CTE's scope is a branch of its union)."""
    while isinstance(node, exp.Expr):
        parent = node.parent
        if isinstance(parent, exp.CTE):
            return parent
        if not isinstance(parent, exp.SetOperation | exp.Subquery):
            return None
        node = parent
    return None


def statement_tables(expression: exp.Expr) -> StatementTables:
    """The tables one parsed statement reads, writes and creates."""
    written, created = write_targets(expression)
    target_ids = {id(t) for t in written}
    tables: list[exp.Table] = []
    has_cte = False
    reads: set[str] = set()
    for node in expression.walk():  # one pass: the tables, MAX_PT calls, whether any CTE
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.Anonymous):
            if (pt := max_pt_table(node)) is not None:
                reads.add(pt)
        elif isinstance(node, exp.CTE):
            has_cte = True
    ctes = cte_references(expression) if has_cte else {}
    for table in tables:
        if id(table) in target_ids or id(table) in ctes:
            continue
        if (name := table_name(table)) is not None:
            reads.add(name)
    if isinstance(expression, exp.Create | exp.Drop):
        kind = str(expression.args.get("kind") or "").upper()
        if kind not in _TABLE_KINDS:
            # CREATE / DROP of a schema, a function…: only tables and views count.
            return StatementTables(frozenset(reads), frozenset(), frozenset())
    writes = {n for t in written if (n := table_name(t)) is not None}
    creates = {n for t in created if (n := table_name(t)) is not None}
    return StatementTables(frozenset(reads), frozenset(writes), frozenset(creates))


_PARSED_TABLES: dict[int, tuple[exp.Expr, StatementTables]] = {}
_PARSED_TABLES_MAX = 8192


def parsed_tables(parsed: ParsedStatement) -> StatementTables:
    """``statement_tables`` of a statement from ``parse_script``, found once per tree:
    the graph build and the run's translation look at the same cached trees."""
    key = id(parsed.expression)
    known = _PARSED_TABLES.get(key)
    if known is not None and known[0] is parsed.expression:
        return known[1]
    tables = statement_tables(parsed.expression)
    if len(_PARSED_TABLES) >= _PARSED_TABLES_MAX:
        _PARSED_TABLES.clear()
    _PARSED_TABLES[key] = (parsed.expression, tables)  # the tree kept: its id stays its own
    return tables


def table_io(
    text: str,
    dialect: str,
    *,
    path: Path | str | None = None,
    first_line: int = 1,
) -> TableIO:
    """The tables a (rendered) script reads, writes and creates.

    Raises ``UserError`` with file, line and column on a syntax error.
    """
    reads: set[str] = set()
    writes: set[str] = set()
    creates: set[str] = set()
    statements: list[tuple[int, frozenset[str], frozenset[str]]] = []
    for parsed in parse_script(text, dialect, path=path, first_line=first_line):
        io = parsed_tables(parsed)
        reads |= io.reads
        writes |= io.writes
        creates |= io.creates
        statements.append((parsed.line, io.reads, io.writes))
    return TableIO(frozenset(reads), frozenset(writes), frozenset(creates), statements)
