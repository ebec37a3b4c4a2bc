"""PostgreSQL source and sink (psycopg 3, imported lazily).

Reading describes the query, then runs ``COPY (SELECT …) TO STDOUT (FORMAT binary)``
and decodes the stream into Arrow batches with the compiled decoder (``pg_binary``),
carried by the fastest transport that applies (``pg_transport``), so no row ever
becomes a Python object. Writing uses ``COPY … FROM STDIN (FORMAT csv)`` inside one
transaction; merge goes through a temporary staging table (``postgres_sink``).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from lakeworks.connectors import pg_transport
from lakeworks.connectors.base import (
    ReadRequest,
    SourceBatch,
    SourceCapabilities,
    quote_ident,
    select_sql,
)
from lakeworks.connectors.credentials import redact
from lakeworks.connectors.pg_binary import BinaryCopyDecoder, DecodedBatch
from lakeworks.connectors.pg_connection import Config, PgConnection
from lakeworks.connectors.pg_types import ColumnCodec, plan_column
from lakeworks.errors import TransientError, UserError

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

    from lakeworks.connectors.postgres_sink import PostgresSink
    from lakeworks.connectors.probe import Probed
    from lakeworks.connectors.registry import ConnectorContext


# -- source ----------------------------------------------------------------------------


class PostgresSource:
    """Reads a table or query as binary COPY decoded straight into Arrow."""

    capabilities = SourceCapabilities(
        split_by_key=True, incremental_cursor=True, where_filter=True, query=True
    )

    def __init__(self, name: str, config: Config) -> None:
        self._conn = PgConnection(name, config)
        self.name = name
        self._active: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    def _describe(self, conn: psycopg.Connection[Any], sql: str) -> list[ColumnCodec]:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM ({sql}) AS lw_d LIMIT 0")
            description = cur.description or []
        return [plan_column(d.name, d.type_code, d.precision, d.scale) for d in description]

    def schema(self, request: ReadRequest) -> pa.Schema:
        """The Arrow schema ``read`` gives its batches (also when there are no rows)."""
        import pyarrow as pa

        conn = self._conn.connect()
        try:
            with self._conn.errors():
                codecs = self._describe(conn, select_sql(request))
        finally:
            conn.close()
        return pa.schema([(c.name, c.arrow_type) for c in codecs])

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        import pyarrow.compute as pc

        sql = select_sql(request)
        conn = self._conn.connect()
        with self._lock:
            self._active.append(conn)
        try:
            with self._conn.errors():
                codecs = self._describe(conn, sql)
                conn.commit()
                conn.autocommit = True
                snapshot = request.options.get("snapshot")
                if snapshot:
                    import psycopg.sql

                    # a snapshot exported by a replication slot: read as of it
                    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    conn.execute(
                        psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(
                            psycopg.sql.Literal(str(snapshot))
                        )
                    )
            exprs = ", ".join(c.expression for c in codecs)
            copy_sql = f"COPY (SELECT {exprs} FROM ({sql}) AS lw_r) TO STDOUT (FORMAT binary)"
            origin = request.describe()
            # Text arrives converted to UTF-8 (checked by the server), except from a
            # SQL_ASCII database: its bytes pass as they are and are checked row by row
            # here, so one bad value is a rejected row rather than a failed read.
            encoding = "UTF8"
            if conn.info.parameter_status("server_encoding") == "SQL_ASCII":
                encoding = "SQL_ASCII"
                with self._conn.errors():
                    conn.execute("SET client_encoding TO 'SQL_ASCII'")
            check_utf8 = encoding != "UTF8"
            decoder = BinaryCopyDecoder(codecs, request.batch_rows, origin, check_utf8)
            names = [c.name for c in codecs]
            cursor_index = (
                names.index(request.cursor_column) if request.cursor_column in names else None
            )

            in_snapshot = bool(request.options.get("snapshot"))

            def batches() -> Iterator[DecodedBatch]:
                with self._conn.errors():
                    for _ in self._transport(conn, copy_sql, decoder, encoding, in_snapshot):
                        yield from decoder.ready()
                yield from decoder.finish()

            for decoded in batches():
                batch = decoded.batch
                cursor = None
                if cursor_index is not None and batch.num_rows:
                    cursor = pc.max(batch.column(cursor_index)).as_py()
                yield SourceBatch(
                    batch,
                    origin,
                    decoded.first_row,
                    cursor=cursor,
                    rejects=decoded.rejects,
                    nbytes=decoded.nbytes,
                )
        except OSError as exc:
            raise TransientError(f"PostgreSQL '{self.name}': {redact(str(exc))}") from None
        finally:
            with self._lock:
                if conn in self._active:
                    self._active.remove(conn)
            conn.close()

    def _transport(
        self,
        conn: psycopg.Connection[Any],
        copy_sql: str,
        decoder: BinaryCopyDecoder,
        encoding: str,
        in_snapshot: bool = False,
    ) -> Iterator[None]:
        """The configured way to carry the COPY (``auto``: the fastest that applies;
        inside a snapshot only this connection's own: direct or psycopg)."""
        reader = self._conn.config.reader
        stream = decoder.stream
        if reader in ("auto", "direct") and pg_transport.plain_socket(conn):
            return pg_transport.direct(conn, copy_sql, stream, self.name)
        if in_snapshot:
            return pg_transport.libpq(conn, copy_sql, stream, self.name)
        if reader == "direct":
            raise UserError(
                f"data source '{self.name}' asks for the direct reader, but the connection "
                "is encrypted",
                hint="set reader: psql (or auto) for TLS connections",
            )
        program = shutil.which("psql") if reader in ("auto", "psql") else None
        if reader == "psql" and program is None:
            raise UserError(
                f"data source '{self.name}' asks for the psql reader, but psql is not installed",
                hint="install the PostgreSQL client, or set reader: auto",
            )
        if program is not None:
            password = self._conn.password
            return pg_transport.psql(
                program,
                self._conn.conninfo(client_encoding=encoding),
                password.get_secret_value() if password is not None else None,
                copy_sql,
                stream,
                self.name,
            )
        return pg_transport.libpq(conn, copy_sql, stream, self.name)

    def estimate_rows(self, request: ReadRequest) -> int | None:
        if not request.table or request.where or request.split or request.cursor_after:
            return None
        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                cur.execute(
                    "SELECT greatest(reltuples, 0)::bigint FROM pg_class "
                    "WHERE oid = to_regclass(%s)",
                    (request.table,),
                )
                row = cur.fetchone()
                return int(row[0]) if row and row[0] else None
        finally:
            conn.close()

    def key_range(self, request: ReadRequest, column: str) -> tuple[Any, Any] | None:
        sql = select_sql(request)
        col = quote_ident(column)
        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                cur.execute(f"SELECT min({col}), max({col}) FROM ({sql}) AS lw_k")
                row = cur.fetchone()
        finally:
            conn.close()
        if not row or row[0] is None:
            return None
        return row[0], row[1]

    def cancel(self) -> None:
        """Cancel running reads (used when a sync is stopped)."""
        with self._lock:
            for conn in self._active:
                with suppress(Exception):
                    conn.cancel()

    def close(self) -> None:
        self.cancel()


def open_source(name: str, config: Config, context: ConnectorContext) -> PostgresSource:
    """A PostgreSQL source for the data source ``name``."""
    return PostgresSource(name, config)


def open_sink(name: str, config: Config, context: ConnectorContext) -> PostgresSink:
    """A PostgreSQL sink for the data source ``name``."""
    from lakeworks.connectors.postgres_sink import PostgresSink

    return PostgresSink(name, config)


def probe(name: str, config: Config, context: ConnectorContext, timeout: float) -> Probed:
    """Connect and sign in, then read the server's version and count the tables of the
    schema it searches first."""
    from lakeworks.connectors.probe import Probed, counted, whole_seconds

    limited = config.model_copy(
        update={"connect_timeout": min(config.connect_timeout, whole_seconds(timeout))}
    )
    connection = PgConnection(name, limited)
    conn = connection.connect()
    try:
        with connection.errors():
            conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
            version = conn.execute("SHOW server_version").fetchone()
            row = conn.execute(
                "SELECT current_schema(), count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchone()
    finally:
        conn.close()
    schema, tables = (row[0], int(row[1])) if row else (None, 0)
    server = f"PostgreSQL {version[0]}" if version else None
    return Probed(server, f"{counted(tables, 'table')} in schema {schema or '(none)'}")
