"""Harvest from the workspace's data sources (databases outside the warehouse).

A harvester per data source ``type`` (registered in ``HARVESTERS``) lists tables,
columns, types, comments, row estimates, sizes and native partitions. PostgreSQL is read
through SQLAlchemy from ``pg_catalog``: one query each for tables, columns and
partitions, whatever the number of tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from lakeworks.catalog.models import CatalogColumn, CatalogPartition, HarvestedTable
from lakeworks.errors import TransientError, UserError

Harvester = Callable[[str, Mapping[str, Any]], list[HarvestedTable]]

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
_LIST_BOUND = re.compile(r"^FOR VALUES IN \('((?:[^']|'')*)'\)$")

_TABLES = """
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END AS rows,
       CASE WHEN c.relkind IN ('r', 'm', 'p') THEN pg_total_relation_size(c.oid) END AS bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND (CAST(:schemas AS text[]) IS NULL OR n.nspname = ANY(CAST(:schemas AS text[])))
ORDER BY n.nspname, c.relname
"""

_COLUMNS = """
SELECT a.attrelid AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable, col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a
WHERE a.attrelid = ANY(CAST(:oids AS oid[])) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_PARTITIONS = """
SELECT i.inhparent AS parent, child.relname AS name,
       pg_get_expr(child.relpartbound, child.oid) AS bound,
       CASE WHEN child.reltuples >= 0 THEN child.reltuples::bigint ELSE s.n_live_tup END AS rows,
       pg_total_relation_size(child.oid) AS bytes
FROM pg_inherits i
JOIN pg_class child ON child.oid = i.inhrelid
LEFT JOIN pg_stat_all_tables s ON s.relid = child.oid
WHERE i.inhparent = ANY(CAST(:oids AS oid[]))
ORDER BY i.inhparent, child.relname
"""

_PARTITION_KEYS = """
SELECT p.partrelid AS oid, a.attname AS name
FROM pg_partitioned_table p
CROSS JOIN LATERAL unnest(p.partattrs) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.attnum
WHERE p.partrelid = ANY(CAST(:oids AS oid[]))
ORDER BY p.partrelid, k.ord
"""

_KINDS = {"r": "table", "p": "table", "v": "view", "m": "view", "f": "table"}


def harvest_postgres(
    conn: sa.Connection, *, schemas: Sequence[str] | None = None, default_schema: str = "public"
) -> list[HarvestedTable]:
    """Tables of a PostgreSQL database (all user schemas, or only ``schemas``).

    Tables in ``default_schema`` are named without it. Row counts are the planner's
    estimates (exact after ``ANALYZE``); sizes include indexes and TOAST.
    """
    tables = conn.execute(sa.text(_TABLES), {"schemas": list(schemas) if schemas else None}).all()
    oids = [t.oid for t in tables]
    columns: dict[int, list[CatalogColumn]] = {}
    keys: dict[int, list[str]] = {}
    parts: dict[int, list[CatalogPartition]] = {}
    if oids:
        for row in conn.execute(sa.text(_COLUMNS), {"oids": oids}):
            columns.setdefault(row.oid, []).append(
                CatalogColumn(row.name.lower(), row.type, bool(row.nullable), row.comment)
            )
        for row in conn.execute(sa.text(_PARTITION_KEYS), {"oids": oids}):
            keys.setdefault(row.oid, []).append(row.name.lower())
        for row in conn.execute(sa.text(_PARTITIONS), {"oids": oids}):
            spec = _partition_spec(keys.get(row.parent, []), row.name, row.bound or "")
            parts.setdefault(row.parent, []).append(
                CatalogPartition(spec, _int(row.rows), _int(row.bytes))
            )
    out: list[HarvestedTable] = []
    for t in tables:
        part_keys = tuple(keys.get(t.oid, ()))
        cols = tuple(
            CatalogColumn(c.name, c.type, c.nullable, c.comment, is_partition=c.name in part_keys)
            for c in columns.get(t.oid, [])
        )
        partitions = tuple(parts.get(t.oid, ())) if t.kind == "p" else None
        rows = sum(p.row_count or 0 for p in partitions) if partitions is not None else _int(t.rows)
        size = sum(p.size_bytes or 0 for p in partitions) if partitions else _int(t.bytes)
        name = t.name if t.schema == default_schema else f"{t.schema}.{t.name}"
        out.append(
            HarvestedTable(
                name=name.lower(),
                kind=_KINDS.get(t.kind, "table"),
                comment=t.comment,
                columns=cols,
                partition_columns=part_keys,
                row_count=rows,
                size_bytes=size,
                partitions=partitions,
            )
        )
    return out


def _partition_spec(keys: list[str], name: str, bound: str) -> str:
    """``ds=20240101`` for a one-value LIST partition; otherwise the child and its bound."""
    match = _LIST_BOUND.match(bound)
    if match and len(keys) == 1:
        value = match.group(1).replace("''", "'")
        return f"{keys[0]}={value}"
    return f"{name} {bound}".strip()


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def postgres_url(name: str, config: Mapping[str, Any]) -> sa.URL:
    """The SQLAlchemy URL of a ``type: postgres`` data source (password resolved)."""
    from lakeworks.connectors.credentials import resolve_password
    from lakeworks.connectors.registry import parse_config

    parsed = parse_config(name, dict(config))
    values = parsed.model_dump(by_alias=False)
    password = resolve_password(name, values.get("password_env"), values.get("password_encrypted"))
    return sa.URL.create(
        "postgresql+psycopg",
        username=values.get("user"),
        password=password.get_secret_value() if password else None,
        host=values.get("host"),
        port=values.get("port"),
        database=values.get("database"),
    )


def _harvest_postgres_source(name: str, config: Mapping[str, Any]) -> list[HarvestedTable]:
    url = postgres_url(name, config)
    schema = config.get("schema")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return harvest_postgres(
                conn,
                schemas=[schema] if isinstance(schema, str) else None,
                default_schema=schema if isinstance(schema, str) else "public",
            )
    except sa.exc.OperationalError as exc:
        raise TransientError(
            f"data source '{name}': cannot read its catalog: {str(exc.orig).strip()}",
            hint="check that the database is reachable",
        ) from None
    except sa.exc.DBAPIError as exc:
        raise UserError(f"data source '{name}': cannot read its catalog: {exc.orig}") from None
    finally:
        engine.dispose()


HARVESTERS: dict[str, Harvester] = {"postgres": _harvest_postgres_source}
"""Data source ``type`` → harvester."""


def harvest_data_source(name: str, config: Mapping[str, Any]) -> list[HarvestedTable] | None:
    """Tables of one data source; ``None`` when its type cannot be harvested."""
    harvester = HARVESTERS.get(str(config.get("type", "")))
    if harvester is None:
        return None
    return harvester(name, config)
