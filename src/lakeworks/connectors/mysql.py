"""MySQL / MariaDB source and sink.

Reading prefers ConnectorX (Rust, streams Arrow batches straight from the wire protocol)
and falls back to PyMySQL's unbuffered cursor when ConnectorX is not installed.
Writing uses PyMySQL inside one InnoDB transaction; merge deletes the staged keys from
the target and inserts the staged rows.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import Field

from lakeworks.connectors.base import (
    ConnectorConfig,
    ReadRequest,
    SourceBatch,
    SourceCapabilities,
    WriteMode,
    WriteRequest,
    quote_ident,
    select_sql,
)
from lakeworks.connectors.credentials import redact, resolve_password
from lakeworks.connectors.sql_sink import SQLSink, SQLWrite
from lakeworks.connectors.sql_types import MYSQL, arrow_type_for, column_type
from lakeworks.errors import LakeworksError, TransientError, UserError

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeworks.connectors.probe import Probed
    from lakeworks.connectors.registry import ConnectorContext

INSERT_ROWS = 5000
"""Rows per multi-row INSERT statement when writing."""

_TRANSIENT_WORDS = (
    "lost connection",
    "gone away",
    "timed out",
    "refused",
    "broken pipe",
    "deadlock",
    "lock wait timeout",
    "connection reset",
    "can't connect",
)


class Config(ConnectorConfig):
    """``type: mysql`` (or ``mariadb``)."""

    type: Literal["mysql", "mariadb"] = "mysql"
    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    database: str
    user: str = "root"
    password_env: str | None = None
    password_encrypted: str | None = None
    connect_timeout: int = Field(default=10, ge=1)
    driver: Literal["auto", "connectorx", "pymysql"] = "auto"


def _q(name: str) -> str:
    return quote_ident(name, "`")


def _translate(exc: BaseException, name: str) -> LakeworksError:
    message = redact(str(exc).strip() or repr(exc))
    lowered = message.lower()
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code in {2003, 2006, 2013, 1205, 1213} or any(w in lowered for w in _TRANSIENT_WORDS):
        return TransientError(f"MySQL '{name}': {message}", hint="the sync is retried")
    return UserError(f"MySQL '{name}': {message}")


class _Connection:
    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config
        self._password = resolve_password(name, config.password_env, config.password_encrypted)

    def connect(self, unbuffered: bool = False) -> Any:
        import pymysql
        import pymysql.cursors

        c = self.config
        try:
            return pymysql.connect(
                host=c.host,
                port=c.port,
                user=c.user,
                password=self._password.get_secret_value() if self._password else "",
                database=c.database,
                connect_timeout=c.connect_timeout,
                autocommit=False,
                charset="utf8mb4",
                cursorclass=pymysql.cursors.SSCursor if unbuffered else pymysql.cursors.Cursor,
            )
        except pymysql.Error as exc:
            raise _translate(exc, self.name) from None

    def url(self) -> str:
        c = self.config
        password = quote(self._password.get_secret_value(), safe="") if self._password else ""
        auth = f"{quote(c.user, safe='')}:{password}" if password else quote(c.user, safe="")
        return f"mysql://{auth}@{c.host}:{c.port}/{c.database}"

    @contextmanager
    def errors(self) -> Iterator[None]:
        import pymysql

        try:
            yield
        except pymysql.Error as exc:
            raise _translate(exc, self.name) from None


def _normalize(batch: pa.RecordBatch, types: dict[str, pa.DataType]) -> pa.RecordBatch:
    """The described types (ConnectorX reads every DECIMAL as decimal(38,10) and every
    integer as int64), and plain ``string``/``binary`` instead of the large variants
    some drivers produce."""
    import pyarrow as pa

    fields = []
    changed = False
    for f in batch.schema:
        described = types.get(f.name)
        if described is not None and described != f.type:
            fields.append(pa.field(f.name, described))
            changed = True
        elif pa.types.is_large_string(f.type):
            fields.append(pa.field(f.name, pa.string()))
            changed = True
        elif pa.types.is_large_binary(f.type):
            fields.append(pa.field(f.name, pa.binary()))
            changed = True
        else:
            fields.append(f)
    return batch.cast(pa.schema(fields)) if changed else batch


# MySQL protocol column type codes (pymysql.constants.FIELD_TYPE) read with an explicit
# Arrow type; the others (strings, blobs, times, JSON…) keep the driver's own values.
_DECIMAL_CODES = (0, 246)
_INTEGER_CODES: dict[int, tuple[str, str]] = {
    1: ("int8", "uint8"),  # TINYINT (and BOOLEAN)
    2: ("int16", "uint16"),  # SMALLINT
    9: ("int32", "uint32"),  # MEDIUMINT
    3: ("int32", "uint32"),  # INT
    8: ("int64", "uint64"),  # BIGINT
    13: ("int16", "int16"),  # YEAR
}
_OTHER_CODES: dict[int, str] = {
    4: "float32",
    5: "float64",
    10: "date32",
    12: "timestamp[us]",  # DATETIME
    7: "timestamp[us]",  # TIMESTAMP
}
_UNSIGNED_FLAG = 32


def described_types(description: Any, unsigned: list[bool] | None) -> dict[str, pa.DataType]:
    """Arrow types for the result columns a cursor ``description`` describes exactly.

    ``unsigned`` holds each column's UNSIGNED flag when the driver tells it (None: not
    known; integers are then read as int64 and a DECIMAL's precision may be one more
    than declared, so every value still fits). A DECIMAL's precision comes from its display
    length: its digits, a point when it has a scale, a sign when it is signed.
    """
    import pyarrow as pa

    types: dict[str, pa.DataType] = {}
    for index, column in enumerate(description):
        name, code, _display, length, _precision, scale = column[:6]
        is_unsigned = unsigned[index] if unsigned is not None else None
        if code in _DECIMAL_CODES and length:
            scale = int(scale or 0)
            sign = 0 if is_unsigned is not False else 1
            precision = max(int(length) - (1 if scale else 0) - sign, scale, 1)
            if precision <= 38:
                types[name] = pa.decimal128(precision, scale)
        elif code in _INTEGER_CODES:
            signed_name, unsigned_name = _INTEGER_CODES[code]
            if is_unsigned is None:
                types[name] = pa.int64()
            else:
                types[name] = arrow_type_for(unsigned_name if is_unsigned else signed_name)
        elif code in _OTHER_CODES:
            types[name] = arrow_type_for(_OTHER_CODES[code])
    return types


def _unsigned_flags(cursor: Any) -> list[bool] | None:
    """Each result column's UNSIGNED flag, when PyMySQL exposes its field packets."""
    fields = getattr(getattr(cursor, "_result", None), "fields", None)
    if not fields:
        return None
    try:
        return [bool(int(f.flags) & _UNSIGNED_FLAG) for f in fields]
    except (AttributeError, TypeError, ValueError):
        return None


class MySQLSource:
    """Reads a table or query as Arrow batches."""

    capabilities = SourceCapabilities(
        split_by_key=True, incremental_cursor=True, where_filter=True, query=True
    )

    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config
        self._conn = _Connection(name, config)

    def _use_connectorx(self) -> bool:
        if self.config.driver == "pymysql":
            return False
        available = importlib.util.find_spec("connectorx") is not None
        if self.config.driver == "connectorx" and not available:
            raise UserError(
                f"data source '{self.name}' asks for connectorx, which is not installed",
                hint="pip install connectorx, or set driver: pymysql",
            )
        return available

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        import pyarrow.compute as pc

        sql = select_sql(request, "`")
        types = self._describe(sql)
        if self._use_connectorx():
            batches = self._cx(sql, request)
        else:
            batches = self._pymysql(sql, request, types)
        first = 1
        origin = request.describe()
        for batch in batches:
            if batch.num_rows == 0:
                continue
            batch = _normalize(batch, types)
            cursor = None
            if request.cursor_column and request.cursor_column in batch.schema.names:
                cursor = pc.max(batch.column(request.cursor_column)).as_py()
            yield SourceBatch(batch, origin, first, cursor=cursor)
            first += batch.num_rows

    def _cx(self, sql: str, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        import connectorx

        # ConnectorX's pool retries a refused connection for 30 s; a direct connect
        # first fails fast (and checks the credentials) instead.
        self._conn.connect().close()
        try:
            reader = connectorx.read_sql(
                self._conn.url(), sql, return_type="arrow_stream", batch_size=request.batch_rows
            )
            yield from reader
        except (RuntimeError, OSError, ValueError) as exc:
            raise _translate(exc, self.name) from None

    def _describe(self, sql: str) -> dict[str, pa.DataType]:
        """The Arrow types of the query's numeric and date columns, from MySQL itself."""
        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                cur.execute(f"SELECT * FROM ({sql}) AS lw_d LIMIT 0")
                return described_types(cur.description or [], _unsigned_flags(cur))
        finally:
            conn.close()

    def _pymysql(
        self, sql: str, request: ReadRequest, types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        conn = self._conn.connect(unbuffered=True)
        try:
            with self._conn.errors():
                cur = conn.cursor()
                cur.execute(sql)
                names = [d[0] for d in cur.description]
                while True:
                    rows = cur.fetchmany(request.batch_rows)
                    if not rows:
                        break
                    columns = list(zip(*rows, strict=True))
                    yield pa.RecordBatch.from_arrays(
                        [
                            pa.array(list(col), type=types.get(name))
                            for name, col in zip(names, columns, strict=True)
                        ],
                        names=names,
                    )
        finally:
            conn.close()

    def estimate_rows(self, request: ReadRequest) -> int | None:
        if not request.table or request.where or request.split or request.cursor_after:
            return None
        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                cur.execute(
                    "SELECT table_rows FROM information_schema.tables "
                    "WHERE table_schema = database() AND table_name = %s",
                    (request.table.split(".")[-1],),
                )
                row = cur.fetchone()
                return int(row[0]) if row and row[0] is not None else None
        finally:
            conn.close()

    def key_range(self, request: ReadRequest, column: str) -> tuple[Any, Any] | None:
        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                col = _q(column)
                cur.execute(
                    f"SELECT min({col}), max({col}) FROM ({select_sql(request, '`')}) AS lw_k"
                )
                row = cur.fetchone()
        finally:
            conn.close()
        return None if not row or row[0] is None else (row[0], row[1])

    def close(self) -> None:
        pass


def mysql_type(arrow_type: pa.DataType) -> str:
    """The MySQL column type for an Arrow type."""
    return column_type(arrow_type, MYSQL)


_MYSQL_NAMES = {
    "tinyint": "int8",
    "smallint": "int16",
    "int": "int32",
    "mediumint": "int32",
    "bigint": "int64",
    "float": "float32",
    "double": "float64",
    "date": "date32",
    "datetime": "timestamp[us]",
    "timestamp": "timestamp[us]",
    "time": "time64[us]",
}
"""``information_schema`` type names -> Arrow type aliases (anything else reads as text)."""


class _MySQLWrite(SQLWrite["MySQLSink"]):
    def _prepare(self, cur: Any, schema: pa.Schema) -> str:
        target = _q(self.request.table)
        self._delete_replaced(cur)
        if self.request.mode is WriteMode.MERGE:
            self._stage = f"lw_stage_{id(self)}"
            cur.execute(f"CREATE TEMPORARY TABLE {self._stage} LIKE {target}")
            return self._stage
        return target

    def write(self, batches: Iterable[pa.RecordBatch]) -> int:
        rows = 0
        names: list[str] = []
        with self.sink._conn.errors():
            cur = self.conn.cursor()
            into: str | None = None
            for batch in batches:
                if into is None:
                    self.sink._ensure_table(self.request, batch.schema)
                    into = self._prepare(cur, batch.schema)
                    names = list(batch.schema.names)
                    placeholders = ", ".join(["%s"] * len(names))
                    insert = (
                        f"INSERT INTO {into} ({', '.join(_q(n) for n in names)}) "
                        f"VALUES ({placeholders})"
                    )
                columns = [col.to_pylist() for col in batch.columns]
                data = list(zip(*columns, strict=True))
                for start in range(0, len(data), INSERT_ROWS):
                    cur.executemany(insert, data[start : start + INSERT_ROWS])
                rows += batch.num_rows
            if self._stage and into is not None:
                target = _q(self.request.table)
                match = self._key_match()
                cols = ", ".join(_q(n) for n in names)
                cur.execute(f"DELETE t FROM {target} t JOIN {self._stage} s ON {match}")
                cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {self._stage}")
                cur.execute(f"DROP TEMPORARY TABLE {self._stage}")
        return rows


class MySQLSink(SQLSink[_MySQLWrite]):
    """Writes with multi-row INSERTs inside one InnoDB transaction."""

    database = "MySQL"
    _conn: _Connection

    def __init__(self, name: str, config: Config) -> None:
        super().__init__(name, _Connection(name, config))

    def quote(self, name: str) -> str:
        return _q(name)

    def column_type(self, arrow_type: pa.DataType) -> str:
        return mysql_type(arrow_type)

    def _open_write(self, request: WriteRequest) -> _MySQLWrite:
        return _MySQLWrite(self, request)

    def _ensure_table(self, request: WriteRequest, schema: pa.Schema) -> None:
        # DDL commits implicitly in MySQL: create the (empty) table on its own connection.
        if self.table_schema(request.table) is not None:
            return
        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                columns = ", ".join(f"{_q(f.name)} {mysql_type(f.type)}" for f in schema)
                cur.execute(f"CREATE TABLE IF NOT EXISTS {_q(request.table)} ({columns})")
            conn.commit()
        finally:
            conn.close()

    def table_schema(self, table: str) -> pa.Schema | None:
        import pyarrow as pa

        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                cur.execute(
                    "SELECT column_name, data_type, numeric_precision, numeric_scale "
                    "FROM information_schema.columns WHERE table_schema = database() "
                    "AND table_name = %s ORDER BY ordinal_position",
                    (table.split(".")[-1],),
                )
                rows = cur.fetchall()
        finally:
            conn.close()
        if not rows:
            return None
        fields = []
        for column, data_type, precision, scale in rows:
            kind = str(data_type).lower()
            if kind == "decimal":
                dtype: pa.DataType = pa.decimal128(min(int(precision), 38), int(scale))
            else:
                alias = _MYSQL_NAMES.get(kind)
                dtype = arrow_type_for(alias) if alias else pa.string()
            fields.append(pa.field(str(column), dtype))
        return pa.schema(fields)


def open_source(name: str, config: Config, context: ConnectorContext) -> MySQLSource:
    """A MySQL/MariaDB source."""
    return MySQLSource(name, config)


def open_sink(name: str, config: Config, context: ConnectorContext) -> MySQLSink:
    """A MySQL/MariaDB sink."""
    return MySQLSink(name, config)


def connect(name: str, config: Config) -> Any:
    """A plain PyMySQL connection to the data source (password resolved)."""
    return _Connection(name, config).connect()


def translate_error(exc: BaseException, name: str) -> LakeworksError:
    """A driver error as a Lakeworks error (message redacted)."""
    return _translate(exc, name)


def probe(name: str, config: Config, context: ConnectorContext, timeout: float) -> Probed:
    """Connect and sign in, then read the server's version and count the database's
    tables."""
    from lakeworks.connectors.probe import Probed, counted, whole_seconds

    seconds = min(config.connect_timeout, whole_seconds(timeout))
    connection = _Connection(name, config.model_copy(update={"connect_timeout": seconds}))
    conn = connection.connect()
    try:
        with connection.errors(), conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = str(cur.fetchone()[0])
            cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
            )
            tables = int(cur.fetchone()[0])
    finally:
        conn.close()
    product = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    return Probed(
        f"{product} {version}", f"{counted(tables, 'table')} in database {config.database}"
    )
