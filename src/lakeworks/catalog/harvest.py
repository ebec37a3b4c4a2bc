"""Harvest: read tables, columns, partitions and sizes from a warehouse engine, and
what the workspace files say about them (owner, layer, tags, descriptions).

Engines are asked through the ``Engine`` protocol — ``list_tables``/``describe``,
``all_partition_columns``, ``table_sizes`` — plus portable SQL for partition row counts,
always on the engine's interactive side (DuckDB over a Spark lakehouse: no Spark job).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlglot import exp

from lakeworks.catalog.lineage_index import NodeLineage
from lakeworks.catalog.models import (
    CatalogColumn,
    CatalogPartition,
    HarvestedTable,
    TableAnnotation,
)
from lakeworks.engines.base import Engine, Session, TableInfo
from lakeworks.errors import LakeworksError
from lakeworks.spec.models import LayerRule, Workspace

DEFAULT_LAYERS: dict[str, str] = {"ods": "ods_", "dwd": "dwd_", "dws": "dws_", "ads": "ads_"}
"""Layer name → table name prefix, used when the workspace configures no layers."""

DEFAULT_SCHEMAS = frozenset({"main", "public", ""})
"""Schemas whose tables are named without the schema (as node SQL names them)."""


def catalog_name(schema: str | None, name: str) -> str:
    """The name node SQL uses for a table: ``name`` in a default schema, else ``schema.name``."""
    if schema is None or schema.lower() in DEFAULT_SCHEMAS:
        return name.lower()
    return f"{schema}.{name}".lower()


def layer_of(name: str, layers: Mapping[str, LayerRule] | None = None) -> str | None:
    """The layer a table belongs to by its name prefix (longest prefix wins)."""
    base = name.rsplit(".", 1)[-1].lower()
    rules = {layer: rule.prefix for layer, rule in layers.items()} if layers else DEFAULT_LAYERS
    for layer, prefix in sorted(rules.items(), key=lambda kv: -len(kv[1])):
        if prefix and base.startswith(prefix.lower()):
            return layer
    return None


def harvest_engine(
    engine: Engine,
    *,
    names: Iterable[str] | None = None,
    partition_columns: Mapping[str, Sequence[str]] | None = None,
    with_partitions: bool = True,
    with_sizes: bool = True,
) -> list[HarvestedTable]:
    """Tables of ``engine`` (all, or only ``names``) with columns, partitions and sizes.

    ``with_sizes=False`` skips the per-table size probe (a run's refresh of the tables
    it wrote: their new data is rarely checkpointed yet, so the probe mostly finds none).

    Partition columns come from the engine when it records them, else from
    ``partition_columns`` (e.g. ``PARTITIONED BY`` in node code).
    """
    engine = engine.interactive()
    declared = {k.lower(): tuple(v) for k, v in (partition_columns or {}).items()}
    if names is None:
        infos = engine.list_tables()
    else:
        infos = _described(engine, dict.fromkeys(n.lower() for n in names))
    sizes: dict[str, int] = {}
    if with_sizes:
        try:
            sizes = engine.table_sizes([catalog_name(i.schema, i.name) for i in infos])
        except LakeworksError:
            sizes = {}
    try:  # one query for all tables instead of one per table
        recorded = engine.all_partition_columns()
    except LakeworksError:
        recorded = {}
    session = engine.session()
    try:
        return [
            _harvest_one(session, engine, info, declared, sizes, recorded, with_partitions)
            for info in infos
        ]
    finally:
        session.close()


def _described(engine: Engine, names: Iterable[str]) -> list[TableInfo]:
    """The named tables with exact row counts: one listing and one counting query for
    all of them (describing them one by one listed the whole warehouse per table)."""
    wanted = list(names)
    if not wanted:
        return []
    bare = {n.rsplit(".", 1)[-1] for n in wanted}
    listed = {catalog_name(i.schema, i.name): i for i in engine.list_tables(bare)}
    found = [listed[n] for n in wanted if n in listed]
    counted = [i for i in found if i.kind == "table"]
    if not counted:
        return found
    query = " UNION ALL ".join(
        f"SELECT {n}, count(*) FROM {_quote(i.schema, i.name)}" for n, i in enumerate(counted)
    )
    session = engine.session()
    try:
        rows = session.execute(query).rows
    except LakeworksError:  # a table went away meanwhile: keep the estimates
        return found
    finally:
        session.close()
    counts = {int(str(n)): int(str(c)) for n, c in rows}
    exact = {id(i): counts.get(n, i.row_count) for n, i in enumerate(counted)}
    return [replace(i, row_count=exact[id(i)]) if id(i) in exact else i for i in found]


def _quote(schema: str | None, name: str) -> str:
    parts = [schema, name] if schema else [name]
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def _harvest_one(
    session: Session,
    engine: Engine,
    info: TableInfo,
    declared: Mapping[str, tuple[str, ...]],
    sizes: Mapping[str, int],
    recorded: Mapping[str, list[str]],
    with_partitions: bool,
) -> HarvestedTable:
    name = catalog_name(info.schema, info.name)
    column_names = {c.name.lower() for c in info.columns}
    parts = tuple(c.lower() for c in recorded.get(name, []))
    if not parts:
        parts = declared.get(name, ())
    parts = tuple(p for p in parts if p in column_names)
    columns = tuple(
        CatalogColumn(
            c.name.lower(), c.type, c.nullable, c.comment, is_partition=c.name.lower() in parts
        )
        for c in info.columns
    )
    size = sizes.get(name)
    partitions: tuple[CatalogPartition, ...] | None = None
    row_count = info.row_count
    if parts and with_partitions and info.kind == "table":
        partitions = _partition_stats(session, engine, info, parts, size)
        row_count = sum(p.row_count or 0 for p in partitions)
    return HarvestedTable(
        name=name,
        kind=info.kind,
        comment=info.comment,
        columns=columns,
        partition_columns=parts,
        row_count=row_count,
        size_bytes=size,
        partitions=partitions,
    )


def _partition_stats(
    session: Session,
    engine: Engine,
    info: TableInfo,
    parts: tuple[str, ...],
    table_size: int | None,
) -> tuple[CatalogPartition, ...]:
    """Row count per partition; size estimated from the table size by row share."""
    table = exp.table_(info.name, db=info.schema, quoted=True)
    query = (
        exp.select(*(exp.column(p, quoted=True) for p in parts), exp.func("COUNT", exp.Star()))
        .from_(table)
        .group_by(*(exp.column(p, quoted=True) for p in parts))
        .order_by(*(exp.column(p, quoted=True) for p in parts))
    )
    rows = session.execute(query.sql(dialect=engine.capabilities.dialect)).rows
    total = sum(int(str(r[-1])) for r in rows) or 0
    out: list[CatalogPartition] = []
    for row in rows:
        count = int(str(row[-1]))
        spec = "/".join(f"{p}={v}" for p, v in zip(parts, row[:-1], strict=True))
        size = round(table_size * count / total) if table_size and total else None
        out.append(CatalogPartition(spec, count, size))
    return tuple(out)


def workspace_annotations(
    workspace: Workspace, lineage: Sequence[NodeLineage]
) -> list[TableAnnotation]:
    """What the workspace says about every table a node writes.

    Owner, tags and description come from the writing node (tags also from its
    workflow); the layer from the naming rules; declared columns and column comments
    from ``CREATE TABLE`` statements in the node's code, else the columns the node's
    statements write.
    """
    nodes = {n.key: n for n in workspace.nodes()}
    out: dict[str, TableAnnotation] = {}
    for item in lineage:
        node = nodes.get(item.node_key)
        if node is None:
            continue
        workflow = workspace.workflows.get(node.workflow)
        tags = tuple(
            dict.fromkeys([*node.header.tags, *(workflow.config.tags if workflow else [])])
        )
        declared = {d.name: d for d in item.declared}
        for table in sorted(item.writes):
            decl = declared.get(table)
            columns = (
                tuple(
                    [CatalogColumn(c.name, c.type, comment=c.comment) for c in decl.columns]
                    + [
                        CatalogColumn(c.name, c.type, comment=c.comment, is_partition=True)
                        for c in decl.partition_columns
                    ]
                )
                if decl
                else tuple(CatalogColumn(c) for c in item.learned.get(table, ()))
            )
            out[table] = TableAnnotation(
                name=table,
                owner=node.settings.owner,
                layer=layer_of(table, workspace.config.layers),
                tags=tags,
                description=(decl.comment if decl and decl.comment else None)
                or node.header.description,
                writer_node=node.key,
                declared=columns,
                partition_columns=tuple(c.name for c in decl.partition_columns) if decl else (),
                column_descriptions={
                    c.name: c.comment for c in (decl.columns if decl else ()) if c.comment
                },
            )
    return [out[k] for k in sorted(out)]


def harvest_time() -> datetime:
    """Now, UTC-naive, as the store keeps time."""
    from lakeworks.store.clock import utcnow

    return utcnow()
