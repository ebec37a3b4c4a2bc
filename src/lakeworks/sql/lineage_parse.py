"""Parsing for column lineage: statements with their lines, DDL, target helpers.

Statements are split on the dialect's own tokens and parsed one by one, so a statement
sqlglot cannot read is reported with its line while the others are still analysed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from lakeworks.errors import UserError
from lakeworks.sql.dialect import NORMALIZED_NAMES
from lakeworks.sql.lineage_scope import flatten_table_names, table_name
from lakeworks.sql.script import parse_script


@dataclass(frozen=True)
class ParsedStatement:
    """One statement of a script: its first line, its tree (``None`` if unparseable)."""

    line: int | None
    tree: exp.Expr | None
    error: str = ""


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


def parse_statements(sql: str, dialect: str, *, shared: bool = False) -> list[ParsedStatement]:
    """Every statement of ``sql`` in order, parsed on its own (the caller owns the trees).

    ``shared``: ``sql`` was parsed in this process already (a run's graph build and
    translation); copy those trees, which costs about half a parse.
    """
    copied = _shared_parse(sql, dialect) if shared else None
    if copied is not None:
        return copied
    return [ParsedStatement(line, tree, error) for line, tree, error in _split(sql, dialect)]


def _shared_parse(sql: str, dialect: str) -> list[ParsedStatement] | None:
    """Copies of the trees the translation and the dependency graph parsed (cached by
    text and dialect, so a script that ran is not parsed again for its lineage).

    ``None`` when they could differ from this module's own parse: for a script with a
    syntax error (each statement is then parsed on its own) and for code naming a
    MaxCompute function the shared parse rewrites.
    """
    upper = sql.upper()
    if any(name in upper for name in NORMALIZED_NAMES):
        return None
    try:
        parsed = parse_script(sql, dialect)
    except UserError:
        return None
    return [ParsedStatement(p.line, p.expression.copy()) for p in parsed]


def quick_tables(statements: Sequence[ParsedStatement]) -> tuple[set[str], set[str]]:
    """(tables read, tables written) by parsed statements, without column analysis.

    Good enough to order scripts by dependency before the full analysis runs.
    """
    reads: set[str] = set()
    writes: set[str] = set()
    for statement in statements:
        tree = statement.tree
        if tree is None:
            continue
        target: str | None = None
        if isinstance(tree, exp.Insert | exp.Create | exp.Merge | exp.Update | exp.Delete):
            target = target_table(tree.this)
        if target:
            writes.add(target)
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            name = table_name(table)
            if name and name not in ctes and name != target:
                reads.add(name)
    return reads - writes, writes


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


def target_table(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table) and node.name:
        return table_name(node)
    return None


def partition_spec(table: exp.Expr | None) -> tuple[tuple[str, str | None], ...]:
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


def move_with(statement: exp.Expr, query: exp.Query) -> None:
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


def plain_reads(tree: exp.Expr) -> set[str]:
    flatten_table_names(tree)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return {n for t in tree.find_all(exp.Table) if (n := table_name(t)) and n not in ctes}


def declaration(
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
        name = target_table(holder.this)
        if name is None:
            return None
        return TableDecl(
            name, tuple(_column_decls(holder.expressions, dialect)), partitions, comment
        )
    name = target_table(holder)
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
