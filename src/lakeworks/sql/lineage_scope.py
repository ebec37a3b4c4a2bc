"""Column sources of a query, found by walking its qualified syntax tree scope by scope.

``query_lineage`` takes one query (SELECT or set operation), qualifies it against the
known table schemas (expanding ``*``), and returns, per output column, the real table
columns it comes from and whether each is a plain copy or a transformation. It also
returns the columns that only shape the rows (WHERE, JOIN, GROUP BY, HAVING, QUALIFY)
and every real table the query reads. CTEs, derived tables, scalar and correlated
subqueries, set operations and lateral views are followed to their base tables.

This is the fast path sqlglot's own ``lineage()`` does not offer: one qualification per
query, then one memoised walk for all columns at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema

# Columns inside these clauses decide which rows exist, not what values they carry.
_FILTER_ARGS = ("where", "having", "qualify", "group")
_GENERATED = re.compile(r"_col_\d+")


@dataclass(frozen=True, order=True)
class ColumnRef:
    """A column of a real table, by lower-case table name and column name."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass
class Sources:
    """Where one value comes from: base columns (``True`` = copied unchanged)."""

    refs: dict[ColumnRef, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return not self.problems

    def add(self, other: Sources, *, direct: bool) -> None:
        for ref, was_direct in other.refs.items():
            keep = direct and was_direct
            # A column reached by several paths is a copy only if every path copies it.
            self.refs[ref] = self.refs[ref] and keep if ref in self.refs else keep
        for problem in other.problems:
            if problem not in self.problems:
                self.problems.append(problem)


@dataclass(frozen=True)
class OutputColumn:
    """One column a query returns: its name (``None`` when unnamed) and its sources."""

    name: str | None
    sources: Sources


@dataclass(frozen=True)
class QueryLineage:
    """What ``query_lineage`` found for one query."""

    outputs: list[OutputColumn]
    filters: set[ColumnRef]
    reads: set[str]
    problems: list[str]


def table_name(table: exp.Table) -> str:
    """The lower-case dotted name of a table reference (``db.tbl`` or ``tbl``)."""
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    return ".".join(parts).lower()


def flatten_table_names(tree: exp.Expr) -> list[exp.Table]:
    """Rewrite ``db.tbl`` references as one quoted identifier ``"db.tbl"`` aliased ``tbl``.

    This lets a flat schema ``{"db.tbl": ...}`` describe qualified tables and keeps
    column references like ``tbl.col`` working. Modifies ``tree`` in place and returns
    every table reference in it.
    """
    tables = list(tree.find_all(exp.Table))
    for table in tables:
        if not (table.args.get("db") or table.args.get("catalog")):
            continue
        full = table_name(table)
        alias = table.alias or table.name
        table.set("this", exp.to_identifier(full, quoted=True))
        table.set("db", None)
        table.set("catalog", None)
        if not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return tables


def query_lineage(
    query: exp.Query,
    schema: Mapping[str, Sequence[str]],
    dialect: str | type | None,
) -> QueryLineage:
    """Column sources of every output column of ``query``.

    ``schema`` maps lower-case table names to their columns in order; tables missing
    from it are still followed, but ``*`` over them cannot be expanded and unqualified
    columns in a join that includes them cannot be placed. Modifies ``query`` in place.
    """
    problems: list[str] = []
    mapping = _schema_for(flatten_table_names(query), schema)
    qualified: exp.Expr
    try:
        qualified = qualify(
            query,
            schema=mapping,
            dialect=dialect,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except SqlglotError:
        # A correlated reference over an unknown table defeats full qualification;
        # keep going with qualified tables only and place columns ourselves.
        try:
            qualified = qualify(
                query,
                schema=mapping,
                dialect=dialect,
                qualify_columns=False,
                validate_qualify_columns=False,
                quote_identifiers=False,
                identify=False,
            )
        except SqlglotError as err:
            return QueryLineage([], set(), _tables_in(query), [f"cannot analyse query: {err}"])
    root = build_scope(qualified)
    if root is None:
        return QueryLineage([], set(), _tables_in(qualified), ["cannot analyse query"])
    walker = _Walker(root, schema)
    outputs = [
        OutputColumn(name, walker.column_at(root, i))
        for i, name in enumerate(walker.output_names(root))
    ]
    return QueryLineage(
        outputs, walker.filters(), walker.reads() | partition_lookups(qualified), problems
    )


def partition_lookups(tree: exp.Expr) -> set[str]:
    """Tables named in ``MAX_PT('tbl')`` calls: they are read for their partitions."""
    found: set[str] = set()
    for call in tree.find_all(exp.Anonymous):
        if call.name.upper() != "MAX_PT" or not call.expressions:
            continue
        arg = call.expressions[0]
        if isinstance(arg, exp.Literal) and arg.is_string and arg.name:
            found.add(arg.name.lower())
    return found


def _schema_for(tables: list[exp.Table], schema: Mapping[str, Sequence[str]]) -> MappingSchema:
    """The part of ``schema`` the query's ``tables`` can use, shaped for sqlglot.

    Names are lower case already, so sqlglot need not normalise them again.
    """
    wanted: dict[str, object] = {}
    for table in tables:
        name = table_name(table)
        if name in wanted:
            continue
        columns = schema.get(name)
        if columns:
            wanted[name] = dict.fromkeys((c.lower() for c in columns), "UNKNOWN")
    return MappingSchema(wanted, normalize=False)


def _tables_in(tree: exp.Expr) -> set[str]:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return {n for t in tree.find_all(exp.Table) if (n := table_name(t)) and n not in ctes}


class _Walker:
    """Resolves columns through the scopes of one qualified query, memoised."""

    def __init__(self, root: Scope, schema: Mapping[str, Sequence[str]]) -> None:
        self.root = root
        self.schema = schema
        self.scopes = list(root.traverse())
        self.by_expression: dict[int, Scope] = {id(s.expression): s for s in self.scopes}
        self.memo: dict[tuple[int, str], Sources] = {}
        self.active: set[tuple[int, str]] = set()
        self.names: dict[int, list[str | None]] = {}
        self.positions: dict[int, dict[str, int]] = {}
        self.table_names: dict[int, str] = {}

    # -- scope outputs ---------------------------------------------------------------

    def output_names(self, scope: Scope) -> list[str | None]:
        """Names of the columns a scope returns, in order (``None`` if unnamed)."""
        cached = self.names.get(id(scope))
        if cached is None:
            cached = self.names[id(scope)] = self._output_names(scope)
        return cached

    def position(self, scope: Scope, name: str) -> int | None:
        """Index of the output column ``name`` of ``scope`` (first one), if any."""
        found = self.positions.get(id(scope))
        if found is None:
            found = {}
            for index, output in enumerate(self.output_names(scope)):
                if output is not None:
                    found.setdefault(output, index)
            self.positions[id(scope)] = found
        return found.get(name)

    def _output_names(self, scope: Scope) -> list[str | None]:
        node = scope.expression
        if isinstance(node, exp.SetOperation):
            left = scope.set_operation_scopes[0] if scope.set_operation_scopes else None
            return self.output_names(left) if left is not None else []
        if isinstance(node, exp.Select):
            return [_output_name(s) for s in node.selects]
        alias = node.args.get("alias")
        if isinstance(alias, exp.TableAlias):
            return [c.name.lower() for c in alias.columns]
        return []

    def column_at(self, scope: Scope, index: int) -> Sources:
        """Sources of the ``index``-th output column of ``scope``."""
        node = scope.expression
        if isinstance(node, exp.SetOperation):
            result = Sources()
            for branch in scope.set_operation_scopes:
                result.add(self.column_at(branch, index), direct=True)
            return result
        if isinstance(node, exp.Select):
            selects = node.selects
            if index >= len(selects):
                return Sources(problems=["set operation branches differ in width"])
            item = selects[index]
            if isinstance(item, exp.Star) or (
                isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
            ):
                return Sources(problems=["'*' over a table whose columns are unknown"])
            return self.expression_sources(scope, item)
        # Lateral view / table function: every output comes from its arguments.
        result = Sources()
        result.add(self.expression_sources(scope, node.this), direct=False)
        return result

    def column_named(self, scope: Scope, name: str) -> Sources:
        """Sources of the output column ``name`` of ``scope`` (memoised)."""
        key = (id(scope), name)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        if key in self.active:
            return Sources(problems=[f"recursive reference to column '{name}'"])
        self.active.add(key)
        try:
            result = self._column_named(scope, name)
        finally:
            self.active.discard(key)
        self.memo[key] = result
        return result

    def _column_named(self, scope: Scope, name: str) -> Sources:
        index = self.position(scope, name)
        if index is not None:
            return self.column_at(scope, index)
        # Not listed: it may come through an unexpanded '*' over a table or scope.
        node = scope.expression
        if isinstance(node, exp.SetOperation) and scope.set_operation_scopes:
            return self.column_named(scope.set_operation_scopes[0], name)
        if isinstance(node, exp.Select):
            for item in node.selects:
                star_of = _star_source(item)
                if star_of is None:
                    continue
                candidates = [star_of] if star_of else list(scope.selected_sources)
                for alias in candidates:
                    found = self._from_source(scope, alias, name, require_known=True)
                    if found is not None:
                        return found
                if len(candidates) == 1:
                    found = self._from_source(scope, candidates[0], name, require_known=False)
                    if found is not None:
                        return found
        return Sources(problems=[f"column '{name}' not found"])

    # -- expressions -----------------------------------------------------------------

    def expression_sources(self, scope: Scope, node: exp.Expr) -> Sources:
        """Base columns an expression reads; direct only for a bare column."""
        inner = node.this if isinstance(node, exp.Alias) else node
        if isinstance(inner, exp.Column) and not isinstance(inner.this, exp.Star):
            return self.resolve_column(scope, inner)
        result = Sources()
        for item in _walk_pruned(inner):
            if isinstance(item, exp.Column):
                if isinstance(item.this, exp.Star):
                    continue
                result.add(self.resolve_column(scope, item), direct=False)
            else:
                result.add(self.subquery_sources(item), direct=False)
        return result

    def subquery_sources(self, node: exp.Expr) -> Sources:
        """All sources of a nested query used as a value (scalar, IN, EXISTS)."""
        sub = self.by_expression.get(id(node))
        if sub is None and isinstance(node, exp.Subquery):
            sub = self.by_expression.get(id(node.this))
        result = Sources()
        if sub is None:
            result.problems.append("nested query could not be analysed")
            return result
        for i in range(len(self.output_names(sub))):
            result.add(self.column_at(sub, i), direct=False)
        return result

    def resolve_column(self, scope: Scope, column: exp.Column) -> Sources:
        """Sources of one column reference seen in ``scope``."""
        name = column.name.lower()
        qualifier = column.table.lower() if column.table else ""
        if qualifier:
            current: Scope | None = scope
            while current is not None:
                if qualifier in current.sources:
                    found = self._from_source(current, qualifier, name, require_known=False)
                    if found is not None:
                        return found
                current = current.parent
            return Sources(problems=[f"unknown table alias '{qualifier}' for '{name}'"])
        candidates = list(scope.selected_sources)
        if len(candidates) == 1:
            found = self._from_source(scope, candidates[0], name, require_known=False)
            if found is not None:
                return found
        for alias in candidates:
            found = self._from_source(scope, alias, name, require_known=True)
            if found is not None:
                return found
        return Sources(problems=[f"column '{name}' is ambiguous or unknown"])

    def _from_source(
        self, scope: Scope, alias: str, name: str, *, require_known: bool
    ) -> Sources | None:
        """Sources of ``alias.name`` in ``scope``; ``None`` if ``alias`` lacks ``name``."""
        source = scope.sources.get(alias)
        if isinstance(source, exp.Table):
            table = self.table_names.get(id(source))
            if table is None:
                table = self.table_names[id(source)] = table_name(source)
            known = self.schema.get(table)
            if require_known and (not known or name not in {c.lower() for c in known}):
                return None
            return Sources(refs={ColumnRef(table, name): True})
        if isinstance(source, Scope):
            if require_known and self.position(source, name) is None:
                return None
            return self.column_named(source, name)
        return None

    # -- statement-wide facts ----------------------------------------------------------

    def filters(self) -> set[ColumnRef]:
        """Base columns that decide which rows are produced (WHERE, JOIN, GROUP BY...)."""
        found: set[ColumnRef] = set()
        for scope in self.scopes:
            node = scope.expression
            if not isinstance(node, exp.Select):
                continue
            clauses: list[exp.Expr] = [
                c for arg in _FILTER_ARGS if isinstance(c := node.args.get(arg), exp.Expr)
            ]
            for join in node.args.get("joins") or []:
                for arg in ("on", "using"):
                    value = join.args.get(arg)
                    if isinstance(value, exp.Expr):
                        clauses.append(value)
                    elif isinstance(value, list):
                        clauses.extend(v for v in value if isinstance(v, exp.Expr))
            for clause in clauses:
                for item in _walk_pruned(clause):
                    if isinstance(item, exp.Column):
                        found.update(self.resolve_column(scope, item).refs)
                    elif isinstance(item, exp.Identifier):
                        # USING (col): a bare identifier naming a column of both sides.
                        for alias in scope.selected_sources:
                            hit = self._from_source(
                                scope, alias, item.name.lower(), require_known=False
                            )
                            if hit is not None:
                                found.update(hit.refs)
                    else:
                        found.update(self.subquery_sources(item).refs)
        return found

    def reads(self) -> set[str]:
        """Every real table read anywhere in the query."""
        names: set[str] = set()
        for scope in self.scopes:
            for source in scope.sources.values():
                if isinstance(source, exp.Table):
                    names.add(table_name(source))
        return names


def _output_name(item: exp.Expr) -> str | None:
    """The user-visible name of a select item; ``None`` for an unnamed expression.

    qualify() names unnamed expressions ``_col_N``; those are not names a user gave.
    """
    name = item.alias_or_name
    if not name or (isinstance(item, exp.Alias) and _GENERATED.fullmatch(name)):
        return None
    return name.lower()


def _star_source(item: exp.Expr) -> str | None:
    """For ``*`` return ``""``, for ``t.*`` return ``"t"``; otherwise ``None``."""
    if isinstance(item, exp.Star):
        return ""
    if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
        return item.table.lower()
    return None


def _walk_pruned(node: exp.Expr) -> Iterator[exp.Expr]:
    """Column references and nested queries inside ``node``, not looking into the latter."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, exp.Column):
            yield item
            continue
        if item is not node and isinstance(item, exp.Subquery | exp.Query):
            yield item
            continue
        if isinstance(item, exp.Identifier) and isinstance(item.parent, exp.Join):
            yield item
            continue
        stack.extend(item.iter_expressions())
