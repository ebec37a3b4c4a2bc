"""The parts of a writing statement a lakehouse engine needs, read from its syntax tree.

Spark and DuckDB over the lakehouse both run ``CREATE TABLE``, ``INSERT [OVERWRITE]
... [PARTITION (...)]``, ``TRUNCATE`` and ``DROP TABLE`` as lakehouse commits; the
target table, its partition values and its column list are read here, the same way
for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp


def bare_name(name: str) -> str:
    """A table name without quotes or schema, lower-cased (lakehouse tables have one
    namespace per warehouse)."""
    return name.strip('`"').split(".")[-1].strip('`"').lower()


@dataclass(frozen=True)
class InsertTarget:
    """Where an ``INSERT`` writes."""

    table: str
    static: dict[str, str] = field(default_factory=dict)
    """Partition values fixed by ``PARTITION (ds = '...')``."""
    dynamic: list[str] = field(default_factory=list)
    """Partition columns named without a value (``PARTITION (ds)``)."""
    listed: list[str] = field(default_factory=list)
    """The column list after the table name, if any."""
    overwrite: bool = False

    def expected_columns(self, table_columns: list[str]) -> list[str]:
        """The table columns the query's columns fill, in order."""
        expected = [c for c in table_columns if c not in self.static]
        if self.listed:
            expected = self.listed + [
                c for c in expected if c not in self.listed and c in self.dynamic
            ]
        return expected


def insert_target(insert: exp.Insert, dialect: str) -> InsertTarget:
    target = insert.this
    table = target.this if isinstance(target, exp.Schema) else target
    partition = table.args.get("partition") if isinstance(table, exp.Table) else None
    if not isinstance(partition, exp.Partition):
        partition = insert.args.get("partition")
    static: dict[str, str] = {}
    dynamic: list[str] = []
    items = partition.expressions if isinstance(partition, exp.Partition) else []
    for item in items:
        if isinstance(item, exp.EQ):
            value = item.expression
            static[item.this.name.lower()] = (
                value.name if isinstance(value, exp.Literal) else value.sql(dialect)
            )
        else:
            dynamic.append(item.name.lower())
    name = bare_name(exp.table_name(table) if isinstance(table, exp.Table) else table.sql())
    listed = [c.name.lower() for c in target.expressions] if isinstance(target, exp.Schema) else []
    return InsertTarget(name, static, dynamic, listed, bool(insert.args.get("overwrite")))


def create_target(create: exp.Create, dialect: str) -> str:
    target = create.this
    table = target.this if isinstance(target, exp.Schema) else target
    return bare_name(table.sql(dialect=dialect))


def column_defs(create: exp.Create) -> list[exp.ColumnDef]:
    """Columns of ``CREATE TABLE t (...)``, then partition columns declared with a type
    in ``PARTITIONED BY (...)`` that the list does not name."""
    target = create.this
    columns = [
        c
        for c in (target.expressions if isinstance(target, exp.Schema) else [])
        if isinstance(c, exp.ColumnDef)
    ]
    names = {c.name.lower() for c in columns}
    return columns + [c for c in partition_defs(create) if c.name.lower() not in names]


def partition_defs(create: exp.Create) -> list[exp.ColumnDef]:
    found: list[exp.ColumnDef] = []
    for prop in create.find_all(exp.PartitionedByProperty):
        schema = prop.this
        for item in schema.expressions if isinstance(schema, exp.Schema) else []:
            if isinstance(item, exp.ColumnDef) and item.args.get("kind") is not None:
                found.append(item)
    return found


def partition_by(create: exp.Create) -> list[str]:
    """The partition column names of ``PARTITIONED BY (...)`` (typed or not)."""
    names: list[str] = []
    for prop in create.find_all(exp.PartitionedByProperty):
        schema = prop.this
        items = schema.expressions if isinstance(schema, exp.Schema | exp.Tuple) else [schema]
        names.extend(i.name.lower() for i in items if i.name)
    return names


def truncated_partition(truncate: exp.TruncateTable) -> dict[str, str] | None:
    partition = truncate.args.get("partition")
    if partition is None:
        return None
    return {e.this.name.lower(): e.expression.name for e in partition.expressions}
