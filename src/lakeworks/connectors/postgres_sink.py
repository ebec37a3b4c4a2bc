"""PostgreSQL sink: ``COPY … FROM STDIN (FORMAT csv)`` inside one transaction.

Overwrite deletes in the same transaction; merge copies into a temporary staging table,
deletes the staged keys from the target and inserts the staged rows. DDL is
transactional in PostgreSQL: a new table and new columns come and go with the write.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lakeworks.connectors.base import SinkCapabilities, WriteMode, WriteRequest, quote_ident
from lakeworks.connectors.pg_connection import Config, PgConnection
from lakeworks.connectors.pg_types import PG_TYPE_NAMES, arrow_type, pg_type
from lakeworks.connectors.sql_sink import SQLSink, SQLWrite

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa


class _PostgresWrite(SQLWrite["PostgresSink"]):
    def _prepare(self, schema: pa.Schema) -> str:
        table = self.request.table
        target = quote_ident(table)
        with self.sink._conn.errors(), self.conn.cursor() as cur:
            if self.sink.table_schema(table, conn=self.conn) is None:
                columns = ", ".join(f"{quote_ident(f.name)} {pg_type(f.type)}" for f in schema)
                cur.execute(f"CREATE TABLE {target} ({columns})")
            else:
                self._add_columns(cur)
            self._delete_replaced(cur)
            if self.request.mode is WriteMode.MERGE:
                self._stage = f"lw_stage_{id(self)}"
                cur.execute(f"CREATE TEMP TABLE {self._stage} (LIKE {target}) ON COMMIT DROP")
                return self._stage
        return target

    def write(self, batches: Iterable[pa.RecordBatch]) -> int:
        import pyarrow.csv as pa_csv

        rows = 0
        into: str | None = None
        copy_sql = ""
        with self.sink._conn.errors(), self.conn.cursor() as cur:
            copy_cm = None
            copy = None
            try:
                for batch in batches:
                    if into is None:
                        into = self._prepare(batch.schema)
                        cols = ", ".join(quote_ident(n) for n in batch.schema.names)
                        copy_sql = f"COPY {into} ({cols}) FROM STDIN (FORMAT csv)"
                        copy_cm = cur.copy(copy_sql)
                        copy = copy_cm.__enter__()
                    buffer = io.BytesIO()
                    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
                    assert copy is not None
                    copy.write(buffer.getbuffer())
                    rows += batch.num_rows
            except BaseException as exc:
                if copy_cm is not None:
                    copy_cm.__exit__(type(exc), exc, exc.__traceback__)
                raise
            if copy_cm is not None:
                copy_cm.__exit__(None, None, None)
            if self._stage and into is not None:
                self._merge(cur, batch_names=list(batch.schema.names))
        return rows

    def _merge(self, cur: Any, batch_names: list[str]) -> None:
        target = quote_ident(self.request.table)
        stage = self._stage
        match = self._key_match()
        cols = ", ".join(quote_ident(n) for n in batch_names)
        cur.execute(f"DELETE FROM {target} AS t USING {stage} AS s WHERE {match}")
        cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}")


class PostgresSink(SQLSink[_PostgresWrite]):
    """Writes with COPY inside one transaction (append, overwrite, partition, merge)."""

    capabilities = SinkCapabilities(
        transactions=True,
        merge=True,
        partition_overwrite=True,
        add_columns=True,
        transactional_ddl=True,
    )
    database = "PostgreSQL"
    _conn: PgConnection

    def __init__(self, name: str, config: Config) -> None:
        super().__init__(name, PgConnection(name, config))

    def quote(self, name: str) -> str:
        return quote_ident(name)

    def column_type(self, arrow_type: pa.DataType) -> str:
        return pg_type(arrow_type)

    def _open_write(self, request: WriteRequest) -> _PostgresWrite:
        return _PostgresWrite(self, request)

    def table_schema(
        self, table: str, conn: psycopg.Connection[Any] | None = None
    ) -> pa.Schema | None:
        import pyarrow as pa

        parts = table.split(".")
        own = conn is None
        active = conn or self._conn.connect()
        try:
            with self._conn.errors(), active.cursor() as cur:
                cur.execute(
                    "SELECT column_name, data_type, numeric_precision, numeric_scale "
                    "FROM information_schema.columns WHERE table_name = %s AND "
                    "table_schema = coalesce(%s, current_schema()) ORDER BY ordinal_position",
                    (parts[-1], parts[-2] if len(parts) > 1 else None),
                )
                rows = cur.fetchall()
        finally:
            if own:
                active.close()
        if not rows:
            return None
        fields = []
        for column, data_type, precision, scale in rows:
            oid = PG_TYPE_NAMES.get(str(data_type), 25)
            fields.append(pa.field(str(column), arrow_type(oid, precision, scale)))
        return pa.schema(fields)
