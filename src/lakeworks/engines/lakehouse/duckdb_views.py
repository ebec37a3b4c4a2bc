"""DuckDB over the lakehouse: each table becomes a view over its current files.

Nothing is copied: a local warehouse is read with DuckDB's own Parquet reader
(``read_parquet`` with Hive partitions), S3 storage through an Arrow dataset. Call
``attach`` again after a commit to see the new version.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from lakeworks.engines.lakehouse.catalog import Lakehouse, Snapshot

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.int16(): "SMALLINT",
    pa.date32(): "DATE",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
}


def _duckdb_type(arrow_type: pa.DataType) -> str:
    return _DUCKDB_TYPES.get(arrow_type, "VARCHAR")


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
        types = ", ".join(
            f"{_literal(c)}: {_literal(_duckdb_type(snapshot.schema.field(c).type))}"
            for c in snapshot.partition_by
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
