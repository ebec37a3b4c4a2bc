"""Table- and column-level lineage of a SQL script, parsed (never guessed) with sqlglot.

``script_lineage(sql, schema)`` splits a script into statements and, for each one,
reports the table it writes, the tables it reads, one ``ColumnEdge`` per (source
column, target column) with its kind (a direct copy or a transformation), the columns
that only filter or group rows, and which target columns could not be resolved and why.

Handled: ``INSERT INTO/OVERWRITE [TABLE] … [PARTITION (…)] SELECT`` (static and dynamic
partitions, explicit column lists), CTAS and views, ``MERGE``, ``UPDATE``, CTEs,
subqueries, joins, set operations, window functions, lateral views, and ``*`` expanded
from the known schemas. ``CREATE TABLE`` declarations earlier in a script (and the
columns earlier statements write) extend the schema for the statements that follow.
Unparseable statements are reported, not raised, so one odd statement never hides the
lineage of the rest.

The core is pure: give it already rendered SQL (parameters substituted).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from lakeworks.sql.lineage_parse import (
    ColumnDecl,
    ParsedStatement,
    TableDecl,
    declaration,
    move_with,
    parse_statements,
    partition_spec,
    plain_reads,
    quick_tables,
    target_table,
)
from lakeworks.sql.lineage_scope import ColumnRef, OutputColumn, QueryLineage, query_lineage
from lakeworks.sql.lineage_scope import table_name as table_name

__all__ = [
    "ColumnDecl",
    "ColumnEdge",
    "ColumnRef",
    "EdgeKind",
    "ParsedStatement",
    "ScriptLineage",
    "StatementKind",
    "StatementLineage",
    "TableDecl",
    "default_dialect",
    "parse_statements",
    "quick_tables",
    "script_lineage",
    "statements_lineage",
]


class EdgeKind(StrEnum):
    """How a target column's value relates to a source column."""

    DIRECT = "direct"
    """Copied unchanged (possibly renamed)."""
    TRANSFORM = "transform"
    """Computed from the source: an expression, aggregate, window or lookup."""


class StatementKind(StrEnum):
    INSERT = "insert"
    OVERWRITE = "overwrite"
    CREATE_AS = "create_as"
    CREATE_VIEW = "create_view"
    CREATE = "create"
    MERGE = "merge"
    UPDATE = "update"
    DELETE = "delete"
    TRUNCATE = "truncate"
    DROP = "drop"
    SELECT = "select"
    OTHER = "other"
    UNPARSED = "unparsed"


DEFINING_KINDS = frozenset({StatementKind.CREATE_AS, StatementKind.CREATE_VIEW})
"""Statements whose query's output columns are the columns of the table they write."""
WRITING_KINDS = frozenset(
    {
        StatementKind.INSERT,
        StatementKind.OVERWRITE,
        StatementKind.CREATE_AS,
        StatementKind.CREATE_VIEW,
        StatementKind.CREATE,
        StatementKind.MERGE,
        StatementKind.UPDATE,
        StatementKind.DELETE,
        StatementKind.TRUNCATE,
    }
)
"""Statement kinds whose target counts as a table the script writes."""


@dataclass(frozen=True, order=True)
class ColumnEdge:
    """Data flows from ``source`` into ``target``."""

    source: ColumnRef
    target: ColumnRef
    kind: EdgeKind

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} {self.kind.value}"


@dataclass(frozen=True)
class StatementLineage:
    """The lineage of one statement of a script."""

    index: int
    """0-based position of the statement in its script."""
    line: int | None
    """1-based line of the statement's first token, within the script."""
    kind: StatementKind
    target: str | None = None
    reads: frozenset[str] = frozenset()
    edges: tuple[ColumnEdge, ...] = ()
    filters: frozenset[ColumnRef] = frozenset()
    """Columns that decide which rows are written (WHERE, JOIN, GROUP BY, HAVING)."""
    columns: tuple[str, ...] = ()
    """Target columns this statement writes, in order (when known)."""
    unresolved: tuple[str, ...] = ()
    """Target columns (``#N`` when unnamed) whose sources could not be determined."""
    problems: tuple[str, ...] = ()
    partition: tuple[tuple[str, str | None], ...] = ()
    """The ``PARTITION (…)`` spec written: column and value (``None`` when dynamic)."""
    declared: TableDecl | None = None

    @property
    def complete(self) -> bool:
        """True when every target column's sources are known."""
        return not self.unresolved and not self.problems

    @property
    def writes(self) -> bool:
        return self.target is not None and self.kind in WRITING_KINDS


@dataclass(frozen=True)
class ScriptLineage:
    """The lineage of a whole script, statement by statement."""

    statements: tuple[StatementLineage, ...]
    schemas: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Columns learned for tables this script declares or writes."""

    @property
    def writes(self) -> set[str]:
        return {s.target for s in self.statements if s.writes and s.target}

    @property
    def reads(self) -> set[str]:
        return {t for s in self.statements for t in s.reads}

    @property
    def table_edges(self) -> set[tuple[str, str]]:
        """(source table, target table) for every statement that moves data."""
        return {(r, s.target) for s in self.statements if s.target for r in s.reads}

    @property
    def column_edges(self) -> set[ColumnEdge]:
        return {e for s in self.statements for e in s.edges}

    @property
    def unresolved(self) -> set[ColumnRef]:
        return {ColumnRef(s.target, c) for s in self.statements if s.target for c in s.unresolved}

    @property
    def problems(self) -> list[str]:
        """Every problem, prefixed with the line it was found on."""
        return [f"line {s.line}: {p}" if s.line else p for s in self.statements for p in s.problems]


def default_dialect() -> str:
    """The dialect node SQL is written in: MaxCompute when available, else Hive."""
    try:
        import lakeworks.sql.dialect  # noqa: F401  (registers the dialect)

        Dialect.get_or_raise("maxcompute")
    except (ImportError, ValueError):
        return "hive"
    return "maxcompute"


def script_lineage(
    sql: str,
    schema: Mapping[str, Sequence[str]] | None = None,
    *,
    dialect: str | None = None,
) -> ScriptLineage:
    """Lineage of every statement in ``sql`` (already rendered, parameters substituted).

    ``schema`` maps lower-case table names (``tbl`` or ``db.tbl``) to their columns in
    order; it is used to expand ``*`` and to map ``INSERT … SELECT`` by position.
    """
    dialect_name = dialect or default_dialect()
    return statements_lineage(parse_statements(sql, dialect_name), schema, dialect=dialect_name)


def statements_lineage(
    statements: Sequence[ParsedStatement],
    schema: Mapping[str, Sequence[str]] | None = None,
    *,
    dialect: str | None = None,
) -> ScriptLineage:
    """Lineage of already parsed statements (see ``parse_statements``); consumes the trees."""
    dialect_name = dialect or default_dialect()
    known = _SchemaOverlay(schema if schema is not None else {})
    results: list[StatementLineage] = []
    for index, parsed in enumerate(statements):
        if parsed.tree is None:
            results.append(
                StatementLineage(
                    index, parsed.line, StatementKind.UNPARSED, problems=(parsed.error,)
                )
            )
            continue
        result = _statement(parsed.tree, known, dialect_name, index, parsed.line)
        results.append(result)
        if result.declared is not None:
            known.learn(result.declared.name, result.declared.column_names)
        elif (
            result.target
            and result.columns
            and result.kind in WRITING_KINDS
            # a CREATE ... AS defines its table's columns whether or not it existed
            # (nor does its lineage depend on that); other writes keep a known table's
            and (result.kind in DEFINING_KINDS or known.get(result.target) is None)
        ):
            known.learn(result.target, list(result.columns))
    return ScriptLineage(tuple(results), dict(known.learned))


# -- statements ----------------------------------------------------------------------


class _SchemaOverlay(Mapping[str, Sequence[str]]):
    """The caller's schema plus what earlier statements of the script declared."""

    def __init__(self, base: Mapping[str, Sequence[str]]) -> None:
        self.base = base
        self.learned: dict[str, tuple[str, ...]] = {}

    def learn(self, table: str, columns: Sequence[str]) -> None:
        self.learned[table] = tuple(c.lower() for c in columns)

    def __getitem__(self, key: str) -> Sequence[str]:
        if key in self.learned:
            return self.learned[key]
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.learned
        yield from (k for k in self.base if k not in self.learned)

    def __len__(self) -> int:
        return len(set(self.learned) | set(self.base))


def _statement(
    tree: exp.Expr, known: _SchemaOverlay, dialect: str, index: int, line: int | None
) -> StatementLineage:
    if isinstance(tree, exp.Insert):
        return _insert(tree, known, dialect, index, line)
    if isinstance(tree, exp.Create):
        return _create(tree, known, dialect, index, line)
    if isinstance(tree, exp.Merge):
        return _merge(tree, known, dialect, index, line)
    if isinstance(tree, exp.Update):
        return _update(tree, known, dialect, index, line)
    if isinstance(tree, exp.Query):
        found = query_lineage(tree, known, dialect)
        return StatementLineage(
            index,
            line,
            StatementKind.SELECT,
            reads=frozenset(found.reads),
            problems=tuple(found.problems),
        )
    if isinstance(tree, exp.Delete):
        target = target_table(tree.this)
        reads = plain_reads(tree) - {target} if target else plain_reads(tree)
        return StatementLineage(
            index, line, StatementKind.DELETE, target=target, reads=frozenset(reads)
        )
    if isinstance(tree, exp.TruncateTable):
        tables = [table_name(t) for t in tree.expressions if isinstance(t, exp.Table)]
        return StatementLineage(
            index, line, StatementKind.TRUNCATE, target=tables[0] if tables else None
        )
    if isinstance(tree, exp.Drop):
        target = (
            target_table(tree.this)
            if str(tree.args.get("kind", "")).upper() in {"TABLE", "VIEW"}
            else None
        )
        return StatementLineage(index, line, StatementKind.DROP, target=target)
    if isinstance(tree, exp.Command):
        text = tree.sql()[:80]
        return StatementLineage(
            index,
            line,
            StatementKind.UNPARSED,
            problems=(f"statement not understood for lineage: {text}",),
        )
    return StatementLineage(index, line, StatementKind.OTHER)


def _insert(
    tree: exp.Insert, known: _SchemaOverlay, dialect: str, index: int, line: int | None
) -> StatementLineage:
    kind = StatementKind.OVERWRITE if tree.args.get("overwrite") else StatementKind.INSERT
    holder = tree.this
    insert_columns: list[str] | None = None
    if isinstance(holder, exp.Schema):
        insert_columns = [c.name.lower() for c in holder.expressions]
        holder = holder.this
    target = target_table(holder)
    partition = partition_spec(holder)
    query = tree.expression
    if not isinstance(query, exp.Query):
        # INSERT … VALUES: constants only, no column sources.
        return StatementLineage(
            index,
            line,
            kind,
            target=target,
            partition=partition,
            columns=tuple(insert_columns or known.get(target or "", ()) or ()),
        )
    move_with(tree, query)
    found = query_lineage(query, known, dialect)
    if target is None:
        return StatementLineage(
            index,
            line,
            kind,
            reads=frozenset(found.reads),
            problems=("cannot tell which table this INSERT writes",),
        )
    names, problems = _target_names(target, insert_columns, partition, known, found.outputs)
    return _assemble(index, line, kind, target, found, names, problems, partition=partition)


def _create(
    tree: exp.Create, known: _SchemaOverlay, dialect: str, index: int, line: int | None
) -> StatementLineage:
    kind_word = str(tree.args.get("kind") or "").upper()
    holder = tree.this
    query = tree.expression
    if kind_word not in {"TABLE", "VIEW"}:
        return StatementLineage(index, line, StatementKind.OTHER)
    if isinstance(query, exp.Query):
        declared_columns: list[str] | None = None
        if isinstance(holder, exp.Schema):
            declared_columns = [
                c.name.lower()
                for c in holder.expressions
                if isinstance(c, exp.ColumnDef | exp.Identifier)
            ] or None
            holder = holder.this
        target = target_table(holder)
        kind = StatementKind.CREATE_VIEW if kind_word == "VIEW" else StatementKind.CREATE_AS
        move_with(tree, query)
        found = query_lineage(query, known, dialect)
        if target is None:
            return StatementLineage(index, line, kind, reads=frozenset(found.reads))
        names: list[str | None] = (
            list(declared_columns) if declared_columns else [o.name for o in found.outputs]
        )
        problems = _width_problem(target, names, found.outputs)
        return _assemble(index, line, kind, target, found, names, problems)
    declared = declaration(tree, known, dialect)
    if declared is None:
        return StatementLineage(index, line, StatementKind.OTHER)
    return StatementLineage(
        index,
        line,
        StatementKind.CREATE,
        target=declared.name,
        columns=tuple(declared.column_names),
        declared=declared,
    )


def _merge(
    tree: exp.Merge, known: _SchemaOverlay, dialect: str, index: int, line: int | None
) -> StatementLineage:
    target_node = tree.this
    target = target_table(target_node)
    using = tree.args.get("using")
    whens = tree.args.get("whens")
    if target is None or not isinstance(using, exp.Expr) or whens is None:
        return StatementLineage(
            index,
            line,
            StatementKind.MERGE,
            target=target,
            problems=("MERGE statement not understood for lineage",),
        )
    assignments: list[tuple[str, exp.Expr]] = []
    for when in whens.expressions:
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            for eq in then.expressions:
                if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column):
                    assignments.append((eq.this.name.lower(), eq.expression))
        elif isinstance(then, exp.Insert):
            cols = then.this.expressions if isinstance(then.this, exp.Tuple) else []
            vals = then.expression.expressions if isinstance(then.expression, exp.Tuple) else []
            for col, val in zip(cols, vals, strict=False):
                assignments.append((col.name.lower(), val))
    select = exp.select(
        *(exp.alias_(value.copy(), f"__a{i}") for i, (_, value) in enumerate(assignments))
    ).from_(using.copy())
    on = tree.args.get("on")
    select = select.join(target_node.copy(), on=on.copy() if on is not None else None)
    found = query_lineage(select, known, dialect)
    names: list[str | None] = [name for name, _ in assignments]
    return _assemble(
        index,
        line,
        StatementKind.MERGE,
        target,
        found,
        names,
        [],
        drop_reads={target},
        drop_self=True,
    )


def _update(
    tree: exp.Update, known: _SchemaOverlay, dialect: str, index: int, line: int | None
) -> StatementLineage:
    target = target_table(tree.this)
    if target is None:
        return StatementLineage(
            index,
            line,
            StatementKind.UPDATE,
            problems=("UPDATE statement not understood for lineage",),
        )
    assignments = [
        (eq.this.name.lower(), eq.expression)
        for eq in tree.expressions
        if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column)
    ]
    select = exp.select(
        *(exp.alias_(value.copy(), f"__a{i}") for i, (_, value) in enumerate(assignments))
    ).from_(tree.this.copy())
    from_ = tree.args.get("from_") or tree.args.get("from")
    if isinstance(from_, exp.From):
        select = select.join(from_.this.copy(), join_type="cross")
    where = tree.args.get("where")
    if isinstance(where, exp.Where):
        select = select.where(where.this.copy())
    found = query_lineage(select, known, dialect)
    names: list[str | None] = [name for name, _ in assignments]
    return _assemble(
        index,
        line,
        StatementKind.UPDATE,
        target,
        found,
        names,
        [],
        drop_reads={target},
        drop_self=True,
    )


# -- helpers -------------------------------------------------------------------------


def _assemble(
    index: int,
    line: int | None,
    kind: StatementKind,
    target: str,
    found: QueryLineage,
    names: Sequence[str | None],
    problems: list[str],
    *,
    partition: tuple[tuple[str, str | None], ...] = (),
    drop_reads: set[str] | None = None,
    drop_self: bool = False,
) -> StatementLineage:
    """Turn per-output sources into edges on the target's columns."""
    edges: dict[tuple[ColumnRef, ColumnRef], bool] = {}
    unresolved: list[str] = []
    written: list[str] = []
    for position, (name, output) in enumerate(zip(names, found.outputs, strict=False), 1):
        if name is None:
            unresolved.append(f"#{position}")
            continue
        written.append(name)
        target_ref = ColumnRef(target, name)
        for ref, direct in output.sources.refs.items():
            if drop_self and ref == target_ref:
                continue
            key = (ref, target_ref)
            edges[key] = edges[key] and direct if key in edges else direct
        if not output.sources.resolved and name not in unresolved:
            unresolved.append(name)
            for problem in output.sources.problems:
                message = f"{target}.{name}: {problem}"
                if message not in problems:
                    problems.append(message)
    for extra in names[len(found.outputs) :]:
        if extra is not None:
            unresolved.append(extra)
    static = [c for c, v in partition if v is not None]
    reads = set(found.reads) - (drop_reads or set())
    filters = {f for f in found.filters if not (drop_self and f.table == target)}
    return StatementLineage(
        index,
        line,
        kind,
        target=target,
        reads=frozenset(reads),
        edges=tuple(
            ColumnEdge(s, t, EdgeKind.DIRECT if d else EdgeKind.TRANSFORM)
            for (s, t), d in sorted(edges.items(), key=_edge_order)
        ),
        filters=frozenset(filters),
        columns=tuple(dict.fromkeys([*written, *static])),
        unresolved=tuple(unresolved),
        problems=tuple([*found.problems, *problems]),
        partition=partition,
    )


def _edge_order(item: tuple[tuple[ColumnRef, ColumnRef], bool]) -> tuple[str, str, str, str]:
    (source, target), _ = item
    return (source.table, source.column, target.table, target.column)


def _target_names(
    target: str,
    insert_columns: list[str] | None,
    partition: tuple[tuple[str, str | None], ...],
    known: Mapping[str, Sequence[str]],
    outputs: list[OutputColumn],
) -> tuple[list[str | None], list[str]]:
    """Target column for each output position, as the engine would map it."""
    static = {c for c, v in partition if v is not None}
    dynamic = [c for c, v in partition if v is None]
    table_columns = known.get(target)
    names: list[str | None]
    if insert_columns:
        names = [*insert_columns, *dynamic]
    elif table_columns:
        data = [c.lower() for c in table_columns if c.lower() not in static | set(dynamic)]
        names = [*data, *dynamic]
    else:
        names = [o.name for o in outputs]
        if dynamic and len(names) >= len(dynamic):
            names[len(names) - len(dynamic) :] = dynamic
    return names, _width_problem(target, names, outputs)


def _width_problem(
    target: str, names: Sequence[str | None], outputs: list[OutputColumn]
) -> list[str]:
    if len(names) == len(outputs):
        return []
    return [f"{target} takes {len(names)} columns but the query returns {len(outputs)}"]
