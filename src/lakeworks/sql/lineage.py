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
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from lakeworks.sql.lineage_scope import (
    ColumnRef,
    OutputColumn,
    QueryLineage,
    flatten_table_names,
    query_lineage,
    table_name,
)

__all__ = [
    "ColumnDecl",
    "ColumnEdge",
    "ColumnRef",
    "EdgeKind",
    "ScriptLineage",
    "StatementKind",
    "StatementLineage",
    "TableDecl",
    "default_dialect",
    "script_lineage",
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
class ColumnDecl:
    """A column declared by ``CREATE TABLE``."""

    name: str
    type: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class TableDecl:
    """A table declared by ``CREATE TABLE`` (columns, partition columns, comment)."""

    name: str
    columns: tuple[ColumnDecl, ...]
    partition_columns: tuple[ColumnDecl, ...] = ()
    comment: str | None = None

    @property
    def column_names(self) -> list[str]:
        """All columns in ``SELECT *`` order: data columns, then partition columns."""
        return [c.name for c in self.columns] + [c.name for c in self.partition_columns]


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
    known = _SchemaOverlay(schema or {})
    statements: list[StatementLineage] = []
    for index, (line, tree, error) in enumerate(_split(sql, dialect_name)):
        if tree is None:
            statements.append(
                StatementLineage(index, line, StatementKind.UNPARSED, problems=(error,))
            )
            continue
        result = _statement(tree, known, dialect_name, index, line)
        statements.append(result)
        if result.declared is not None:
            known.learn(result.declared.name, result.declared.column_names)
        elif (
            result.target
            and result.columns
            and result.kind in WRITING_KINDS
            and known.get(result.target) is None
        ):
            known.learn(result.target, list(result.columns))
    return ScriptLineage(tuple(statements), dict(known.learned))


# -- splitting -----------------------------------------------------------------------


def _split(sql: str, dialect: str) -> Iterator[tuple[int | None, exp.Expr | None, str]]:
    """Each statement as (first line, tree or ``None``, parse error message)."""
    d = Dialect.get_or_raise(dialect)
    try:
        tokens = d.tokenize(sql)
    except SqlglotError as err:
        yield None, None, f"cannot read the SQL: {err}"
        return
    chunk: list[Token] = []
    for token in [*tokens, None]:
        if token is not None and token.token_type != TokenType.SEMICOLON:
            chunk.append(token)
            continue
        if chunk:
            line = chunk[0].line
            try:
                trees = d.parser().parse(chunk, sql)
            except SqlglotError as err:
                yield line, None, f"cannot parse statement: {_first_line(str(err))}"
            else:
                for tree in trees:
                    if tree is not None:
                        yield line, tree, ""
        chunk = []


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


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
        target = _target_table(tree.this)
        reads = _plain_reads(tree) - {target} if target else _plain_reads(tree)
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
            _target_table(tree.this)
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
    target = _target_table(holder)
    partition = _partition_spec(holder)
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
    _move_with(tree, query)
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
        target = _target_table(holder)
        kind = StatementKind.CREATE_VIEW if kind_word == "VIEW" else StatementKind.CREATE_AS
        _move_with(tree, query)
        found = query_lineage(query, known, dialect)
        if target is None:
            return StatementLineage(index, line, kind, reads=frozenset(found.reads))
        names: list[str | None] = (
            list(declared_columns) if declared_columns else [o.name for o in found.outputs]
        )
        problems = _width_problem(target, names, found.outputs)
        return _assemble(index, line, kind, target, found, names, problems)
    declared = _declaration(tree, known, dialect)
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
    target = _target_table(target_node)
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
    target = _target_table(tree.this)
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
            sorted(
                ColumnEdge(s, t, EdgeKind.DIRECT if d else EdgeKind.TRANSFORM)
                for (s, t), d in edges.items()
            )
        ),
        filters=frozenset(filters),
        columns=tuple(dict.fromkeys([*written, *static])),
        unresolved=tuple(unresolved),
        problems=tuple([*found.problems, *problems]),
        partition=partition,
    )


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


def _target_table(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table) and node.name:
        return table_name(node)
    return None


def _partition_spec(table: exp.Expr | None) -> tuple[tuple[str, str | None], ...]:
    if not isinstance(table, exp.Table):
        return ()
    part = table.args.get("partition")
    if not isinstance(part, exp.Partition):
        return ()
    spec: list[tuple[str, str | None]] = []
    for item in part.expressions:
        if isinstance(item, exp.EQ) and isinstance(item.this, exp.Column):
            value = item.expression
            text = value.name if isinstance(value, exp.Literal) else value.sql()
            spec.append((item.this.name.lower(), text))
        elif isinstance(item, exp.Column | exp.Identifier):
            spec.append((item.name.lower(), None))
    return tuple(spec)


def _move_with(statement: exp.Expr, query: exp.Query) -> None:
    """Hive/Spark put ``WITH`` before ``INSERT``; attach it to the query instead."""
    for key in ("with_", "with"):
        outer = statement.args.get(key)
        if not isinstance(outer, exp.With):
            continue
        statement.set(key, None)
        inner = query.args.get(key)
        if isinstance(inner, exp.With):
            inner.set("expressions", [*outer.expressions, *inner.expressions])
        else:
            query.set(key, outer)
        return


def _plain_reads(tree: exp.Expr) -> set[str]:
    flatten_table_names(tree)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return {n for t in tree.find_all(exp.Table) if (n := table_name(t)) and n not in ctes}


def _declaration(
    tree: exp.Create, known: Mapping[str, Sequence[str]], dialect: str
) -> TableDecl | None:
    holder = tree.this
    properties = tree.args.get("properties")
    props: list[Any] = (
        list(properties.expressions) if isinstance(properties, exp.Properties) else []
    )
    comment = next((p.this.name for p in props if isinstance(p, exp.SchemaCommentProperty)), None)
    partitions: tuple[ColumnDecl, ...] = ()
    for prop in props:
        if isinstance(prop, exp.PartitionedByProperty) and isinstance(prop.this, exp.Schema):
            partitions = tuple(_column_decls(prop.this.expressions, dialect))
    if isinstance(holder, exp.Schema):
        name = _target_table(holder.this)
        if name is None:
            return None
        return TableDecl(
            name, tuple(_column_decls(holder.expressions, dialect)), partitions, comment
        )
    name = _target_table(holder)
    like = next((p for p in props if isinstance(p, exp.LikeProperty)), None)
    if name is None or like is None or not isinstance(like.this, exp.Table):
        return None
    copied = known.get(table_name(like.this)) or ()
    return TableDecl(name, tuple(ColumnDecl(c) for c in copied), (), comment)


def _column_decls(items: Sequence[exp.Expr], dialect: str) -> Iterator[ColumnDecl]:
    for item in items:
        if isinstance(item, exp.ColumnDef):
            kind = item.args.get("kind")
            comment = None
            for constraint in item.constraints:
                if isinstance(constraint.kind, exp.CommentColumnConstraint):
                    comment = constraint.kind.name
            yield ColumnDecl(
                item.name.lower(),
                kind.sql(dialect=dialect) if isinstance(kind, exp.DataType) else None,
                comment,
            )
        elif isinstance(item, exp.Identifier):
            yield ColumnDecl(item.name.lower())
