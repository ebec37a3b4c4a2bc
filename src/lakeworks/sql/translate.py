"""Turn a node's SQL script into statements an engine runs, in the engine's dialect.

``translate_script`` splits the script, parses each statement once and, when the
source dialect differs from the target, rewrites what the target cannot run:

- ``CREATE TABLE … PARTITIONED BY (ds STRING)``: partition columns become ordinary
  trailing columns (and ``partition_spec``); ``LIFECYCLE`` and storage properties are
  dropped; comments become ``COMMENT ON`` statements where the target has them.
- ``INSERT OVERWRITE TABLE t [PARTITION (…)] SELECT …``: one transaction of ``DELETE``
  (the whole table, the static partition, or the partitions the select produces)
  followed by ``INSERT``; static partition values become trailing columns. When the
  select reads ``t`` itself, or partitions are dynamic, it is evaluated once into a
  temporary table first.
- ``TRUNCATE TABLE t PARTITION (…)`` and ``ALTER TABLE t DROP PARTITION (…)`` become
  ``DELETE … WHERE``; ``ALTER TABLE t ADD PARTITION`` and ``SET odps.…`` need nothing.
- MaxCompute functions were made portable by the dialect; ``MAX_PT('t')`` becomes
  ``(SELECT MAX(first_partition_column) FROM t)``.

Targets that know Hive-style partitions (Spark, Hive) keep ``INSERT OVERWRITE`` and
``PARTITIONED BY``. When source and target are the same, statements pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlglot import ErrorLevel, exp
from sqlglot.errors import UnsupportedError

from lakeworks.errors import Location, UserError
from lakeworks.sql import dialect as mc
from lakeworks.sql.classify import (
    Target,
    is_query,
    partition_spec,
    statement_kind,
    target_for,
)
from lakeworks.sql.script import ParsedStatement, get_dialect, parse_script
from lakeworks.sql.tables import (
    command_add_partition,
    parsed_tables,
    statement_tables,
    table_name,
)

__all__ = ["ExecutableStatement", "translate_script"]

PartitionLookup = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class ExecutableStatement:
    """One source statement, ready to run on the target engine."""

    steps: list[str]
    """SQL in the target dialect, run in order (may be empty: nothing to do)."""
    atomic: bool
    """Run all steps in one transaction (INSERT OVERWRITE)."""
    line: int
    """File line where the source statement starts."""
    kind: str
    """create | insert | insert_overwrite | truncate | drop | select | other"""
    reads: frozenset[str]
    writes: frozenset[str]
    partition_spec: tuple[str, tuple[str, ...]] | None
    """(table, partition columns) declared by CREATE … PARTITIONED BY."""
    is_query: bool
    """The statement returns rows to show (a bare SELECT)."""
    source: str = ""
    """The statement as written (rendered), for logs."""


# Expected forms of MaxCompute functions, for errors when a call cannot be translated.
_USAGE = {
    "GETDATE": "GETDATE()",
    "DATEADD": "DATEADD(datetime, delta, 'yyyy'|'mm'|'dd'|'hh'|'mi'|'ss')",
    "DATEDIFF": "DATEDIFF(end, start, 'yyyy'|'mm'|'dd'|'hh'|'mi'|'ss')",
    "DATETRUNC": "DATETRUNC(datetime, 'yyyy'|'mm'|'dd'|'hh'|'mi'|'ss')",
    "DATEPART": "DATEPART(datetime, 'yyyy'|'mm'|'dd'|'hh'|'mi'|'ss')",
    "TO_DATE": "TO_DATE(string, 'yyyymmdd') with a literal format",
    "WM_CONCAT": "WM_CONCAT(separator, column)",
}

_UNIT_FUNCTIONS = frozenset({"DATEADD", "DATEDIFF", "DATETRUNC", "DATEPART"})


def translate_script(
    text: str,
    *,
    source_dialect: str,
    target_dialect: str,
    path: Path | str | None = None,
    first_line: int = 1,
    partition_columns: PartitionLookup | None = None,
) -> list[ExecutableStatement]:
    """Split, parse and translate ``text`` into statements for ``target_dialect``.

    ``partition_columns(table)`` tells the partition columns of existing tables (for
    ``MAX_PT``); tables created earlier in the same script are known without it.
    Raises ``UserError`` (with file, line and column) for syntax errors and for
    statements that cannot be translated.
    """
    source = source_dialect.lower()
    target_name = target_dialect.lower()
    get_dialect(target_name)
    target = target_for(target_name)
    parsed = parse_script(text, source, path=path, first_line=first_line)
    known: dict[str, tuple[str, ...]] = {}

    def lookup(table: str) -> tuple[str, ...] | None:
        if table in known:
            return known[table]
        if partition_columns is not None:
            found = tuple(partition_columns(table))
            return found or None
        return None

    out: list[ExecutableStatement] = []
    for statement in parsed:
        expression = statement.expression
        tables = parsed_tables(statement)
        reads, writes = tables.reads, tables.writes
        spec = partition_spec(expression, lookup)
        if spec is not None:
            known[spec[0]] = spec[1]
        if source == target_name:
            steps, atomic = [statement.text], False
        else:
            translator = _Translator(
                target=target,
                source=source,
                lookup=lookup,
                statement=statement,
                text=text,
                path=path,
                first_line=first_line,
            )
            steps, atomic = translator.run()
        out.append(
            ExecutableStatement(
                steps=steps,
                atomic=atomic,
                line=statement.line,
                kind=statement_kind(expression),
                reads=reads,
                writes=writes,
                partition_spec=spec,
                is_query=is_query(expression),
                source=statement.text,
            )
        )
    return out


class _Translator:
    """Rewrites one parsed statement for one target."""

    def __init__(
        self,
        *,
        target: Target,
        source: str,
        lookup: Callable[[str], tuple[str, ...] | None],
        statement: ParsedStatement,
        text: str,
        path: Path | str | None,
        first_line: int,
    ) -> None:
        self.target = target
        self.source = source
        self.lookup = lookup
        self.statement = statement
        self.text = text
        self.path = path
        self.first_line = first_line
        self._stages = 0

    # -- errors ---------------------------------------------------------------------

    def error(
        self, message: str, hint: str | None = None, node: exp.Expr | None = None
    ) -> UserError:
        line, column = self.statement.line, self.statement.column
        start = node.meta.get("start") if node is not None else None
        if isinstance(start, int):
            rel_line = self.text.count("\n", 0, start)
            line = rel_line + self.first_line
            column = start - (self.text.rfind("\n", 0, start) + 1) + 1
        return UserError(
            message, location=Location(file=self.path, line=line, column=column), hint=hint
        )

    # -- entry ------------------------------------------------------------------------

    def run(self) -> tuple[list[str], bool]:
        original = self.statement.expression
        if self.source == "maxcompute":
            self._check_functions(original)
        if isinstance(original, exp.Command):
            if command_add_partition(original) is not None and not self.target.native_partitions:
                return [], False
            raise self.error(
                f"this statement cannot be translated from {self.source} to {self.target.name}",
                hint=f"declare `dialect: {self.target.name}` on the node to run engine SQL "
                "unchanged",
            )
        expression = original.copy()
        if "MAX_PT" in self.statement.text.upper():
            expression = self._replace_max_pt(expression)
        steps, atomic = self._rewrite(expression)
        return [self._generate(step) for step in steps], atomic

    def _rewrite(self, expression: exp.Expr) -> tuple[list[exp.Expr], bool]:
        if isinstance(expression, exp.Create):
            return self._create(expression), False
        if self.target.native_partitions:
            return [expression], False
        if isinstance(expression, exp.Insert):
            return self._insert(expression)
        if isinstance(expression, exp.MultitableInserts):
            return self._multi_insert(expression)
        if isinstance(expression, exp.TruncateTable):
            return self._truncate(expression), False
        if isinstance(expression, exp.Alter):
            return self._alter(expression), False
        if isinstance(expression, exp.Set) and self._is_odps_set(expression):
            return [], False
        return [expression], False

    # -- functions ------------------------------------------------------------------

    def _check_functions(self, expression: exp.Expr) -> None:
        for func in expression.find_all(exp.Anonymous):
            name = func.name.upper()
            shown = mc.RENAMED_FUNCTIONS.get(name, name)
            if shown in _USAGE:
                unit = func.expressions[-1] if func.expressions else None
                if (
                    shown in _UNIT_FUNCTIONS
                    and isinstance(unit, exp.Literal)
                    and unit.is_string
                    and mc.date_unit(unit) is None
                ):
                    raise self.error(
                        f"{shown}: unknown date part '{unit.name}'",
                        hint="known date parts: " + ", ".join(f"'{u}'" for u in mc.DATE_UNITS),
                        node=unit,
                    )
                raise self.error(
                    f"{shown}(…) cannot be translated as written",
                    hint=f"expected {_USAGE[shown]}",
                    node=func,
                )
            if name == "MAX_PT":
                arg = func.expressions[0] if len(func.expressions) == 1 else None
                if not (isinstance(arg, exp.Literal) and arg.is_string and arg.name):
                    raise self.error(
                        "MAX_PT(…) takes one table name as a string",
                        hint="e.g. MAX_PT('ods_orders')",
                        node=func,
                    )

    def _replace_max_pt(self, expression: exp.Expr) -> exp.Expr:
        if self.target.name == "maxcompute":
            return expression

        def replace(node: exp.Expr) -> exp.Expr:
            if not (isinstance(node, exp.Anonymous) and node.name.upper() == "MAX_PT"):
                return node
            literal = node.expressions[0]
            table = exp.to_table(literal.name)
            name = table_name(table) or literal.name.lower()
            columns = self.lookup(name)
            if not columns:
                raise self.error(
                    f"MAX_PT('{literal.name}'): the partition columns of {name} are unknown",
                    hint=f"create {name} with PARTITIONED BY (…) before it is read "
                    "(in this script or by an earlier run)",
                    node=node,
                )
            select = exp.select(exp.Max(this=exp.column(columns[0]))).from_(table)
            return exp.Subquery(this=select)

        return expression.transform(replace, copy=False)

    # -- DDL ------------------------------------------------------------------------

    def _create(self, create: exp.Create) -> list[exp.Expr]:
        schema = create.this
        table = schema.this if isinstance(schema, exp.Schema) else schema
        properties = create.args.get("properties")
        table_comment: exp.Expr | None = None
        if properties is not None:
            kept: list[exp.Expr] = []
            for prop in properties.expressions:
                if isinstance(prop, exp.PartitionedByProperty):
                    if self.target.native_partitions:
                        kept.append(prop)
                        continue
                    if not isinstance(schema, exp.Schema) or not isinstance(prop.this, exp.Schema):
                        raise self.error(
                            "PARTITIONED BY needs a column list with types here",
                            hint="e.g. CREATE TABLE t (a STRING) PARTITIONED BY (ds STRING)",
                        )
                    for column in prop.this.expressions:
                        schema.append("expressions", column)
                elif isinstance(prop, exp.SchemaCommentProperty):
                    table_comment = prop.this
                    if self.target.native_partitions:
                        kept.append(prop)
                elif isinstance(prop, exp.LikeProperty | exp.TemporaryProperty) or (
                    self.target.native_partitions and not self._is_lifecycle(prop)
                ):
                    kept.append(prop)
            create.set("properties", exp.Properties(expressions=kept) if kept else None)
        if self.target.native_partitions:
            return [create]
        steps: list[exp.Expr] = [create]
        if self.target.comment_on and table_comment is not None and isinstance(table, exp.Table):
            steps.append(
                exp.Comment(this=table.copy(), kind="TABLE", expression=table_comment.copy())
            )
        if isinstance(schema, exp.Schema) and isinstance(table, exp.Table):
            steps.extend(self._column_comments(schema, table))
        return steps

    @staticmethod
    def _is_lifecycle(prop: exp.Expr) -> bool:
        return isinstance(prop, exp.Property) and prop.name.lower() == mc.LIFECYCLE_PROPERTY

    def _column_comments(self, schema: exp.Schema, table: exp.Table) -> list[exp.Expr]:
        steps: list[exp.Expr] = []
        for column in schema.expressions:
            if not isinstance(column, exp.ColumnDef):
                continue
            constraints = column.args.get("constraints") or []
            kept = []
            for constraint in constraints:
                kind = constraint.args.get("kind")
                if isinstance(kind, exp.CommentColumnConstraint):
                    if self.target.comment_on:
                        target = exp.column(
                            column.name,
                            table=table.name,
                            db=table.args.get("db") and table.args["db"].name,
                            catalog=table.args.get("catalog") and table.args["catalog"].name,
                        )
                        steps.append(
                            exp.Comment(this=target, kind="COLUMN", expression=kind.this.copy())
                        )
                else:
                    kept.append(constraint)
            column.set("constraints", kept or None)
        return steps

    def _truncate(self, truncate: exp.TruncateTable) -> list[exp.Expr]:
        partition = truncate.args.get("partition")
        if partition is None:
            return [truncate]
        steps: list[exp.Expr] = []
        for table in truncate.expressions:
            static, dynamic = self._partition_values(partition)
            if dynamic:
                raise self.error("TRUNCATE … PARTITION needs a value for every column")
            steps.append(self._delete(table, static))
        return steps

    def _alter(self, alter: exp.Alter) -> list[exp.Expr]:
        actions = alter.args.get("actions") or []
        if actions and all(isinstance(a, exp.AddPartition) for a in actions):
            return []  # partitions are column values here: nothing to create
        drops = [a for a in actions if isinstance(a, exp.DropPartition)]
        if not drops:
            return [alter]
        if len(drops) != len(actions):
            raise self.error("ALTER TABLE … DROP PARTITION cannot be combined with other changes")
        table = alter.this
        steps: list[exp.Expr] = []
        for drop in drops:
            for partition in drop.expressions:
                static, dynamic = self._partition_values(partition)
                if dynamic:
                    raise self.error("DROP PARTITION needs a value for every column")
                steps.append(self._delete(table, static))
        return steps

    @staticmethod
    def _is_odps_set(expression: exp.Set) -> bool:
        for item in expression.expressions:
            target = item.this.this if isinstance(item.this, exp.EQ) else item.this
            if isinstance(target, exp.Expr) and target.sql().lower().startswith("odps."):
                continue
            return False
        return bool(expression.expressions)

    # -- INSERT ---------------------------------------------------------------------

    def _partition_values(
        self, partition: exp.Expr
    ) -> tuple[list[tuple[str, exp.Expr]], list[str]]:
        static: list[tuple[str, exp.Expr]] = []
        dynamic: list[str] = []
        for item in partition.expressions:
            if isinstance(item, exp.EQ):
                static.append((item.this.name, item.expression))
            elif isinstance(item, exp.Column | exp.Identifier | exp.Var):
                dynamic.append(item.name)
            else:
                raise self.error(
                    f"unexpected partition item '{item.sql()}'",
                    hint="write PARTITION (ds='value') or PARTITION (ds)",
                )
            if static and dynamic and isinstance(item, exp.EQ):
                raise self.error(
                    "static partition values must come before dynamic partition columns",
                    hint="e.g. PARTITION (ds='20240101', hh)",
                )
        return static, dynamic

    def _delete(self, table: exp.Expr, static: list[tuple[str, exp.Expr]]) -> exp.Delete:
        where = _conjunction(static)
        target = table.copy()
        target.set("partition", None)
        return exp.Delete(this=target, where=exp.Where(this=where) if where else None)

    def _multi_insert(self, multi: exp.MultitableInserts) -> tuple[list[exp.Expr], bool]:
        source = multi.args.get("source")
        steps: list[exp.Expr] = []
        atomic = False
        for insert in multi.expressions:
            query = insert.expression
            if isinstance(query, exp.Select) and not query.args.get("from_") and source:
                query.set("from_", exp.From(this=source.copy()))
            part, part_atomic = self._insert(insert)
            steps.extend(part)
            atomic = atomic or part_atomic
        return steps, atomic or len(steps) > 1

    def _insert(self, insert: exp.Insert) -> tuple[list[exp.Expr], bool]:
        target = insert.this
        columns = target.expressions if isinstance(target, exp.Schema) else None
        table = target.this if isinstance(target, exp.Schema) else target
        if not isinstance(table, exp.Table):
            return [insert], False
        partition = table.args.get("partition")
        table.set("partition", None)
        static, dynamic = self._partition_values(partition) if partition else ([], [])
        query = insert.expression
        with_ = insert.args.get("with_")
        if with_ is not None and isinstance(query, exp.Query):
            query = _attach_with(query, with_)
            insert.set("with_", None)
        if static:
            query = self._append_static(query, static, len(dynamic))
            if columns is not None:
                for name, _ in static:
                    columns.append(exp.to_identifier(name))
        if columns is not None:
            present = {c.name.lower() for c in columns}
            for name in dynamic:
                if name.lower() not in present:
                    columns.append(exp.to_identifier(name))
        if not insert.args.get("overwrite"):
            return [exp.Insert(this=target, expression=query)], False
        written = table_name(table)
        self_read = written is not None and written in statement_tables(query).reads
        if not dynamic and not self_read:
            return [self._delete(table, static), exp.Insert(this=target, expression=query)], True
        self._stages += 1
        stage = exp.to_table(f"_lw_stage_{self.statement.line}_{self._stages}")
        if dynamic:
            self._alias_dynamic(query, dynamic)
        create = exp.Create(
            kind="TABLE",
            this=stage,
            expression=query,
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
        )
        delete = self._delete(table, static)
        if dynamic:
            cols: list[exp.Expr] = [exp.column(c) for c in dynamic]
            produced = exp.select(*[c.copy() for c in cols]).distinct().from_(stage.copy())
            left = cols[0] if len(cols) == 1 else exp.Tuple(expressions=cols)
            condition: exp.Expr = exp.In(this=left, query=exp.Subquery(this=produced))
            where = delete.args.get("where")
            if where is not None:
                condition = exp.and_(where.this, condition)
            delete.set("where", exp.Where(this=condition))
        fill = exp.Insert(this=target, expression=exp.select("*").from_(stage.copy()))
        drop = exp.Drop(kind="TABLE", tables=[stage.copy()], exists=True)
        return [create, delete, fill, drop], True

    def _append_static(
        self, query: exp.Expr, static: list[tuple[str, exp.Expr]], n_dynamic: int
    ) -> exp.Expr:
        """Add the static partition values as columns before the dynamic ones."""
        if isinstance(query, exp.Values):
            for row in query.expressions:
                if not isinstance(row, exp.Tuple):
                    raise self.error("VALUES rows must be in parentheses")
                values = list(row.expressions)
                at = len(values) - n_dynamic
                values[at:at] = [value.copy() for _, value in static]
                row.set("expressions", values)
            return query
        if isinstance(query, exp.Select):
            projections = list(query.expressions)
            at = len(projections) - n_dynamic
            if any(p.is_star for p in projections[at:]) or at < 0:
                raise self.error(
                    "list the dynamic partition columns explicitly at the end of the SELECT",
                    hint="e.g. SELECT a, b, hh FROM … for PARTITION (ds='x', hh)",
                )
            projections[at:at] = [exp.alias_(value.copy(), name) for name, value in static]
            query.set("expressions", projections)
            return query
        if n_dynamic:
            raise self.error(
                "static and dynamic partitions together need a plain SELECT",
                hint="wrap the query: SELECT * FROM (…) AS q",
            )
        outer = exp.select("*", *[exp.alias_(value.copy(), name) for name, value in static])
        return outer.from_(exp.Subquery(this=query, alias=exp.TableAlias(this="_lw_src")))

    def _alias_dynamic(self, query: exp.Expr, dynamic: list[str]) -> None:
        """Name the trailing dynamic-partition projections after their columns."""
        select = query
        while isinstance(select, exp.SetOperation):
            select = select.this
        if not isinstance(select, exp.Select):
            return
        projections = list(select.expressions)
        start = len(projections) - len(dynamic)
        for offset, name in enumerate(dynamic):
            index = start + offset
            if index < 0:
                continue
            node = projections[index]
            if node.is_star:
                continue
            inner = node.this if isinstance(node, exp.Alias) else node
            projections[index] = exp.alias_(inner, name)
        select.set("expressions", projections)

    # -- generation -----------------------------------------------------------------

    def _generate(self, expression: exp.Expr) -> str:
        try:
            # The tree is this statement's own copy: no need to copy it again.
            return expression.sql(
                dialect=get_dialect(self.target.name),
                copy=False,
                unsupported_level=ErrorLevel.RAISE,
                comments=False,
            )
        except UnsupportedError as exc:
            raise self.error(
                f"this statement cannot be translated to {self.target.name}: {exc}",
                hint=f"rewrite it, or declare `dialect: {self.target.name}` on the node",
            ) from None


def _conjunction(static: list[tuple[str, exp.Expr]]) -> exp.Expr | None:
    conditions = [exp.EQ(this=exp.column(name), expression=value.copy()) for name, value in static]
    if not conditions:
        return None
    return exp.and_(*conditions) if len(conditions) > 1 else conditions[0]


def _attach_with(query: exp.Query, with_: exp.Expr) -> exp.Query:
    own = query.args.get("with_")
    if own is None:
        query.set("with_", with_)
        return query
    for cte in reversed(with_.expressions):
        own.expressions.insert(0, cte)
    return query
