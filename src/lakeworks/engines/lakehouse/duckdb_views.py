"""DuckDB over the lakehouse: each table becomes a view over its current files.

Nothing is copied: a local warehouse is read with DuckDB's own Parquet reader
(``read_parquet`` with Hive partitions), S3 storage through an Arrow dataset. Call
``attach`` again after a commit to see the new version.
"""

from __future__ import annotations

import threading

import duckdb
import pyarrow as pa

from lakeworks.engines.lakehouse.catalog import Lakehouse, Snapshot

_types_conn: duckdb.DuckDBPyConnection | None = None
_types_lock = threading.Lock()


def duckdb_types(schema: pa.Schema) -> list[str]:
    """DuckDB's names for the types of ``schema``'s columns, as DuckDB reads them."""
    global _types_conn
    with _types_lock:
        if _types_conn is None:
            _types_conn = duckdb.connect(":memory:")
        empty = schema.empty_table()
        return [str(t) for t in _types_conn.from_arrow(empty).dtypes]


def empty_sql(snapshot: Snapshot) -> str:
    """``SELECT`` of no rows with the snapshot's columns and types (a table with no files)."""
    columns = ", ".join(
        f"CAST(NULL AS {t}) AS {_quote(f.name)}"
        for f, t in zip(snapshot.schema, duckdb_types(snapshot.schema), strict=True)
    )
    return f"SELECT {columns} WHERE false"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(lakehouse: Lakehouse, snapshot: Snapshot) -> str | None:
    """``SELECT`` over the snapshot's files with DuckDB's reader; None when it cannot."""
    if not lakehouse.storage.local or not snapshot.files:
        return None
    files = ", ".join(_literal(lakehouse.storage.path(f.path)) for f in snapshot.files)
    columns = ", ".join(_quote(c) for c in snapshot.schema.names)
    options = ""
    if snapshot.partition_by:
        part_types = duckdb_types(
            pa.schema([snapshot.schema.field(c) for c in snapshot.partition_by])
        )
        types = ", ".join(
            f"{_literal(c)}: {_literal(t)}"
            for c, t in zip(snapshot.partition_by, part_types, strict=True)
        )
        options = f", hive_partitioning = true, hive_types = {{{types}}}"
    return f"SELECT {columns} FROM read_parquet([{files}]{options})"


def attach(
    conn: duckdb.DuckDBPyConnection, lakehouse: Lakehouse, schema: str | None = None
) -> list[str]:
    """Create (or replace) a view per lakehouse table in ``schema``; returns the names."""
    names = lakehouse.list_tables()
    prefix = ""
    if schema:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        prefix = _quote(schema) + "."
    for name in names:
        snapshot = lakehouse.snapshot(name)
        select = view_sql(lakehouse, snapshot)
        if select is None:
            source = f"__lakehouse_{schema or 'main'}_{name}"
            conn.register(source, lakehouse.dataset(snapshot))
            select = f"SELECT * FROM {_quote(source)}"
        conn.execute(f"CREATE OR REPLACE VIEW {prefix}{_quote(name)} AS {select}")
    return names
