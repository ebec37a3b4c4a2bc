"""What a parsed statement is, and what a target engine can run natively.

Used by ``translate`` to describe each statement (kind, whether it returns rows, the
partitions a CREATE declares) and to decide which rewrites a target needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from lakeworks.sql.tables import table_name

__all__ = [
    "TARGETS",
    "Target",
    "is_query",
    "partition_spec",
    "statement_kind",
    "target_for",
]


@dataclass(frozen=True)
class Target:
    """What a target dialect's engine understands."""

    name: str
    native_partitions: bool = False
    """INSERT OVERWRITE … PARTITION and PARTITIONED BY run as written (Spark, Hive)."""
    comment_on: bool = False
    """COMMENT ON TABLE / COLUMN is available for table and column comments."""


TARGETS = {
    "duckdb": Target("duckdb", comment_on=True),
    "postgres": Target("postgres", comment_on=True),
    "spark": Target("spark", native_partitions=True),
    "spark2": Target("spark2", native_partitions=True),
    "databricks": Target("databricks", native_partitions=True),
    "hive": Target("hive", native_partitions=True),
    "maxcompute": Target("maxcompute", native_partitions=True),
}


def target_for(name: str) -> Target:
    """The capabilities of target dialect ``name`` (none special when unknown)."""
    return TARGETS.get(name, Target(name))


def statement_kind(expression: exp.Expr) -> str:
    """create | insert | insert_overwrite | truncate | drop | select | other"""
    if isinstance(expression, exp.Create):
        return "create"
    if isinstance(expression, exp.Insert):
        return "insert_overwrite" if expression.args.get("overwrite") else "insert"
    if isinstance(expression, exp.MultitableInserts):
        overwrite = any(i.args.get("overwrite") for i in expression.expressions)
        return "insert_overwrite" if overwrite else "insert"
    if isinstance(expression, exp.TruncateTable):
        return "truncate"
    if isinstance(expression, exp.Drop):
        return "drop"
    if isinstance(expression, exp.Query):
        return "select"
    return "other"


def is_query(expression: exp.Expr) -> bool:
    """Whether the statement returns rows to show (SELECT, DESCRIBE, SHOW)."""
    return isinstance(expression, exp.Query | exp.Describe | exp.Show)


def partition_spec(
    expression: exp.Expr, lookup: Callable[[str], tuple[str, ...] | None]
) -> tuple[str, tuple[str, ...]] | None:
    """(table, partition columns) declared by a CREATE statement, if any.

    ``lookup`` gives the partition columns of existing tables (for CREATE … LIKE).
    """
    if not isinstance(expression, exp.Create):
        return None
    schema = expression.this
    table = schema.this if isinstance(schema, exp.Schema) else schema
    if not isinstance(table, exp.Table) or (name := table_name(table)) is None:
        return None
    properties = expression.args.get("properties")
    for prop in properties.expressions if properties else []:
        if isinstance(prop, exp.PartitionedByProperty) and isinstance(prop.this, exp.Schema):
            columns = tuple(c.name.lower() for c in prop.this.expressions if c.name)
            return (name, columns) if columns else None
        if isinstance(prop, exp.LikeProperty) and isinstance(prop.this, exp.Table):
            like = table_name(prop.this)
            columns_like = lookup(like) if like else None
            return (name, columns_like) if columns_like else None
    return None
