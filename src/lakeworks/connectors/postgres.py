"""PostgreSQL source and sink (psycopg 3, imported lazily).

Reading uses ``COPY (SELECT …) TO STDOUT (FORMAT csv)``: rows arrive as whole COPY
messages, are joined into blocks of ``batch_rows`` rows and parsed by Arrow's C++ CSV
reader with the column types taken from the query's result description, so no row ever
becomes a Python object. Writing uses ``COPY … FROM STDIN (FORMAT csv)`` inside one
transaction; merge goes through a temporary staging table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr

from lakeworks.connectors.base import (
    ConnectorConfig,
    ReadRequest,
    SourceBatch,
    SourceCapabilities,
    quote_ident,
    select_sql,
)
from lakeworks.connectors.credentials import redact, resolve_password
from lakeworks.errors import LakeworksError, TransientError, UserError

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

    from lakeworks.connectors.postgres_sink import PostgresSink
    from lakeworks.connectors.registry import ConnectorContext

JOIN_ROWS = 8192
"""COPY messages joined at a time (keeps the join cheap and the list short)."""


class Config(ConnectorConfig):
    """``type: postgres`` — host, port, database, user and an indirect password."""

    type: Literal["postgres"] = "postgres"
    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    database: str
    user: str = "postgres"
    password_env: str | None = None
    password_encrypted: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    connect_timeout: int = Field(default=10, ge=1)
    application_name: str = "lakeworks"
    reader: Literal["auto", "psql", "psycopg"] = "auto"
    """``auto`` streams COPY through the ``psql`` client when it is installed (its C
    row loop is several times cheaper than a Python one), else through psycopg."""
    options: dict[str, str] = Field(default_factory=dict)


def _translate(exc: Exception, name: str) -> LakeworksError:
    import psycopg
    from psycopg import errors as pg_errors

    message = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    transient = (
        psycopg.OperationalError,
        pg_errors.SerializationFailure,
        pg_errors.DeadlockDetected,
        pg_errors.LockNotAvailable,
    )
    if isinstance(exc, transient) or (
        isinstance(exc, psycopg.InterfaceError) and "closed" in message
    ):
        return TransientError(
            f"PostgreSQL '{name}': {message}", hint="the connection failed; the sync is retried"
        )
    return UserError(f"PostgreSQL '{name}': {message}")


class _Connection:
    """Opens connections for one data source; password resolved once, never logged."""

    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config
        self._password = resolve_password(name, config.password_env, config.password_encrypted)

    @property
    def password(self) -> SecretStr | None:
        return self._password

    def connect(self) -> psycopg.Connection[Any]:
        import psycopg

        c = self.config
        kwargs: dict[str, Any] = {
            "host": c.host,
            "port": c.port,
            "dbname": c.database,
            "user": c.user,
            "connect_timeout": c.connect_timeout,
            "application_name": c.application_name,
            "options": "-c TimeZone=UTC -c DateStyle=ISO"
            + (f" -c search_path={c.schema_}" if c.schema_ else ""),
            **c.options,
        }
        if self._password is not None:
            kwargs["password"] = self._password.get_secret_value()
        try:
            return psycopg.connect(**kwargs)
        except Exception as exc:
            raise _translate(exc, self.name) from None

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Translate driver errors into Lakeworks errors (messages redacted)."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise _translate(exc, self.name) from None


# -- types ---------------------------------------------------------------------------

_OID_TYPES: dict[int, str] = {
    16: "bool",
    20: "int64",
    21: "int16",
    23: "int32",
    26: "int64",
    700: "float32",
    701: "float64",
    1082: "date32",
    1114: "timestamp",
    1184: "timestamptz",
    1083: "time",
    25: "string",
    1043: "string",
    1042: "string",
    19: "string",
}


def _arrow_type(oid: int, precision: int | None, scale: int | None) -> pa.DataType:
    import pyarrow as pa

    kind = _OID_TYPES.get(oid)
    if oid == 1700 and precision and precision <= 38:
        return pa.decimal128(precision, scale or 0)
    simple: dict[str, pa.DataType] = {
        "bool": pa.bool_(),
        "int64": pa.int64(),
        "int16": pa.int16(),
        "int32": pa.int32(),
        "float32": pa.float32(),
        "float64": pa.float64(),
        "date32": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "time": pa.time64("us"),
    }
    return simple.get(kind or "", pa.string())


def pg_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type."""
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_boolean(arrow_type):
        return "boolean"
    if t.is_int8(arrow_type) or t.is_int16(arrow_type) or t.is_uint8(arrow_type):
        return "smallint"
    if t.is_int32(arrow_type) or t.is_uint16(arrow_type):
        return "integer"
    if t.is_integer(arrow_type):
        return "bigint"
    if t.is_float32(arrow_type):
        return "real"
    if t.is_floating(arrow_type):
        return "double precision"
    if t.is_decimal(arrow_type):
        assert isinstance(arrow_type, pa.Decimal128Type | pa.Decimal256Type)
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if t.is_date(arrow_type):
        return "date"
    if t.is_timestamp(arrow_type):
        assert isinstance(arrow_type, pa.TimestampType)
        return "timestamptz" if arrow_type.tz else "timestamp"
    if t.is_time(arrow_type):
        return "time"
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return "bytea"
    return "text"


_PG_NAMES = {
    "boolean": 16,
    "smallint": 21,
    "integer": 23,
    "bigint": 20,
    "real": 700,
    "double precision": 701,
    "date": 1082,
    "timestamp without time zone": 1114,
    "timestamp with time zone": 1184,
    "time without time zone": 1083,
}


# -- source ----------------------------------------------------------------------------


class PostgresSource:
    """Reads a table or query with binary-safe CSV COPY parsed straight into Arrow."""

    capabilities = SourceCapabilities(
        split_by_key=True, incremental_cursor=True, where_filter=True, query=True
    )

    def __init__(self, name: str, config: Config) -> None:
        self._conn = _Connection(name, config)
        self.name = name
        self._active: list[psycopg.Connection[Any]] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def _describe(
        self, conn: psycopg.Connection[Any], sql: str
    ) -> tuple[list[str], list[pa.DataType]]:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM ({sql}) AS lw_d LIMIT 0")
            description = cur.description or []
        names = [d.name for d in description]
        types = [_arrow_type(d.type_code, d.precision, d.scale) for d in description]
        return names, types

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        from psycopg import pq

        sql = select_sql(request)
        conn = self._conn.connect()
        with self._lock:
            self._active.append(conn)
        try:
            with self._conn.errors():
                names, types = self._describe(conn, sql)
                conn.commit()
                conn.autocommit = True
                exprs = [
                    quote_ident(n) if not pa.types.is_string(tp) else f"{quote_ident(n)}::text"
                    for n, tp in zip(names, types, strict=True)
                ]
                copy_sql = (
                    f"COPY (SELECT {', '.join(exprs)} FROM ({sql}) AS lw_r) TO STDOUT (FORMAT csv)"
                )
                schema = pa.schema([pa.field(n, tp) for n, tp in zip(names, types, strict=True)])
                read_options = pa_csv.ReadOptions(
                    column_names=[f"c{i}" for i in range(len(names))], block_size=1 << 24
                )
                convert = pa_csv.ConvertOptions(
                    column_types={f"c{i}": tp for i, tp in enumerate(types)},
                    true_values=["t"],
                    false_values=["f"],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                )
                if self._psql_program() is not None:
                    conn.close()
                    yield from self._psql(copy_sql, request, schema, read_options, convert)
                    return
                pgconn = conn.pgconn
                pgconn.send_query(copy_sql.encode())
                result = pgconn.get_result()
                if result is None or result.status != pq.ExecStatus.COPY_OUT:
                    message = pgconn.error_message.decode(errors="replace")
                    raise UserError(f"PostgreSQL '{self.name}': {redact(message.strip())}")
                yield from self._drain(pgconn, request, schema, read_options, convert)
        except OSError as exc:
            raise TransientError(f"PostgreSQL '{self.name}': {redact(str(exc))}") from None
        finally:
            with self._lock:
                if conn in self._active:
                    self._active.remove(conn)
            conn.close()

    def _psql_program(self) -> str | None:
        reader = self._conn.config.reader
        if reader == "psycopg" or (reader == "auto" and self._conn.config.options):
            return None
        program = shutil.which("psql")
        if program is None and reader == "psql":
            raise UserError(
                f"data source '{self.name}' asks for the psql reader, but psql is not installed",
                hint="install the PostgreSQL client, or set reader: psycopg",
            )
        return program

    def _psql(
        self,
        copy_sql: str,
        request: ReadRequest,
        schema: pa.Schema,
        read_options: Any,
        convert: Any,
    ) -> Iterator[SourceBatch]:
        """Stream the COPY through ``psql`` (its C row loop) into Arrow's CSV reader."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        c = self._conn.config
        program = self._psql_program()
        assert program is not None
        env = {
            **os.environ,
            "PGAPPNAME": c.application_name,
            "PGCONNECT_TIMEOUT": str(c.connect_timeout),
            "PGOPTIONS": "-c TimeZone=UTC -c DateStyle=ISO"
            + (f" -c search_path={c.schema_}" if c.schema_ else ""),
        }
        env.pop("PGPASSWORD", None)
        if self._conn.password is not None:
            env["PGPASSWORD"] = self._conn.password.get_secret_value()
        command = [
            program, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", c.host, "-p", str(c.port),
            "-U", c.user, "-d", c.database, "-c", copy_sql,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, bufsize=1 << 20
        )
        with self._lock:
            self._processes.append(process)
        assert process.stdout is not None and process.stderr is not None
        origin = request.describe()
        first = 1
        cursor_index = (
            schema.names.index(request.cursor_column)
            if request.cursor_column in schema.names
            else None
        )
        reader = None
        try:
            try:
                reader = pa_csv.open_csv(
                    process.stdout,
                    read_options=pa_csv.ReadOptions(
                        column_names=read_options.column_names, block_size=1 << 22
                    ),
                    parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                    convert_options=convert,
                )
                for block in reader:
                    for start in range(0, block.num_rows, request.batch_rows):
                        part = block.slice(start, request.batch_rows)
                        batch = pa.RecordBatch.from_arrays(part.columns, schema=schema)
                        cursor = None
                        if cursor_index is not None:
                            import pyarrow.compute as pc

                            cursor = pc.max(batch.column(cursor_index)).as_py()
                        yield SourceBatch(batch, origin, first, cursor=cursor)
                        first += batch.num_rows
            except (pa.ArrowInvalid, OSError) as exc:
                if process.wait(timeout=30) == 0 and "Empty CSV" not in str(exc):
                    raise UserError(f"PostgreSQL '{self.name}': {redact(str(exc))}") from None
            code = process.wait(timeout=60)
            if code != 0:
                message = redact(process.stderr.read().decode(errors="replace").strip())
                raise TransientError(
                    f"PostgreSQL '{self.name}': COPY failed: {message}",
                    hint="the connection failed; the sync is retried",
                )
        finally:
            if reader is not None:
                reader.close()
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()
            with self._lock:
                self._processes.remove(process)

    def _drain(
        self,
        pgconn: Any,
        request: ReadRequest,
        schema: pa.Schema,
        read_options: Any,
        convert: Any,
    ) -> Iterator[SourceBatch]:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        from psycopg import pq

        get = pgconn.get_copy_data
        limit = request.batch_rows
        blocks: list[bytes] = []
        parts: list[Any] = []
        append = parts.append
        pending = 0
        first_row = 1
        origin = request.describe()
        cursor_index = (
            schema.names.index(request.cursor_column)
            if request.cursor_column in schema.names
            else None
        )

        def parse(data: bytes, rows: int) -> SourceBatch:
            table = pa_csv.read_csv(
                pa.py_buffer(data), read_options=read_options, convert_options=convert
            )
            batch = pa.RecordBatch.from_arrays(
                [table.column(i).combine_chunks() for i in range(table.num_columns)],
                schema=schema,
            )
            cursor = None
            if cursor_index is not None and rows:
                import pyarrow.compute as pc

                cursor = pc.max(batch.column(cursor_index)).as_py()
            return SourceBatch(batch, origin, first_row, cursor=cursor, nbytes=len(data))

        step = min(JOIN_ROWS, limit)
        while True:
            size, data = get(0)
            if size < 0:
                break
            append(data)
            if len(parts) >= step:
                blocks.append(b"".join(parts))
                parts.clear()
                pending += step
                if pending + step > limit:
                    out = parse(b"".join(blocks), pending)
                    blocks.clear()
                    yield out
                    first_row += pending
                    pending = 0
        if parts:
            blocks.append(b"".join(parts))
            pending += len(parts)
            parts.clear()
        result = pgconn.get_result()
        while pgconn.get_result() is not None:
            pass
        if result is None or result.status != pq.ExecStatus.COMMAND_OK:
            message = pgconn.error_message.decode(errors="replace").strip()
            raise TransientError(
                f"PostgreSQL '{self.name}': COPY ended early: {redact(message)}",
                hint="the server closed the stream; the sync is retried",
            )
        if pending:
            yield parse(b"".join(blocks), pending)

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
