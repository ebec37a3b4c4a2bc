"""Where an API's SELECT runs: the warehouse engine or a PostgreSQL/MySQL data source.

Every backend runs one statement with bound values, read-only and under a timeout:

- warehouse: a cursor of the environment's engine inside ``BEGIN TRANSACTION READ
  ONLY``, interrupted when the timeout passes; with masking rules, the statement first
  goes through ``security.rewrite`` (as ad-hoc SQL does), so every masked table is
  read through a projection that masks before the rest of the query sees a value;
- postgres: pooled psycopg connections with ``default_transaction_read_only=on`` and
  ``statement_timeout`` (values bound server-side; every execution planned with its
  values, as a generic plan of ``… ORDER BY id LIMIT $n`` may walk the whole index);
- mysql/mariadb: pooled PyMySQL connections with ``SESSION TRANSACTION READ ONLY`` and
  the server's statement time limit (values escaped by the driver, never spliced raw).

Failures come back as ``QueryFailed`` with an HTTP status: 400 for a value the
database rejects, 504 for a timeout, 503 when the backend is unreachable, 502 else.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from lakeworks.dataservice.template import RenderedSql
from lakeworks.engines.base import Engine, Session
from lakeworks.errors import LakeworksError, UserError
from lakeworks.security.models import MaskingRule

POOL_SIZE = 8


class QueryFailed(LakeworksError):
    """The backend could not answer; ``status`` is the HTTP status to return."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[object, ...]]


class Backend(Protocol):
    placeholder_style: str
    masks_in_query: bool
    """Whether ``query`` applies masking rules itself (else the caller masks rows)."""

    def query(
        self, sql: RenderedSql, timeout: float, masking: Sequence[MaskingRule] = ()
    ) -> QueryResult: ...

    def close(self) -> None: ...


class WarehouseBackend:
    """Runs on an environment's interactive engine (DuckDB; over the lakehouse when the
    batch engine is Spark)."""

    placeholder_style = "qmark"
    masks_in_query = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine.interactive()

    def query(
        self, sql: RenderedSql, timeout: float, masking: Sequence[MaskingRule] = ()
    ) -> QueryResult:
        session = self.engine.session()
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            session.interrupt()

        timer = threading.Timer(timeout, stop)
        try:
            text = _masked(session, sql, masking) if masking else sql.text("qmark")
            session.execute("BEGIN TRANSACTION READ ONLY")
            timer.start()
            try:
                result = session.execute(text, list(sql.values))
            finally:
                timer.cancel()
                session.rollback()
        except LakeworksError as exc:
            raise _warehouse_failure(exc, timed_out=fired.is_set()) from None
        finally:
            session.close()
        return QueryResult(result.columns, result.rows)

    def describe(
        self, sql: RenderedSql, masking: Sequence[MaskingRule] = ()
    ) -> list[tuple[str, str]]:
        """The columns ``sql`` returns (rewritten for ``masking``) with their JSON types,
        as the warehouse binds it; ``UserError`` when it cannot be bound."""
        session = self.engine.session()
        try:
            text = _masked(session, sql, masking) if masking else sql.text("qmark")
            try:
                described = session.execute(f"DESCRIBE {text}", list(sql.values))
            except LakeworksError as exc:
                raise UserError(
                    f"the API's SQL cannot be bound in the warehouse: {exc.message[:300]}",
                    hint="create the tables it reads first, or list its fields under 'response:'",
                ) from None
        finally:
            session.close()
        return [(str(row[0]), json_type(str(row[1]))) for row in described.rows]

    def close(self) -> None:
        """The engine belongs to the server; nothing to close here."""


_INTEGERS = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT"}
    | {"UINTEGER", "UBIGINT", "UHUGEINT", "INT", "INT1", "INT2", "INT4", "INT8"}
)


def json_type(warehouse_type: str) -> str:
    """The response field type (``spec`` names) of a warehouse column type."""
    upper = warehouse_type.upper()
    if upper.endswith("]") or upper.startswith(("STRUCT", "MAP", "UNION", "LIST")):
        return "string"
    if upper in ("BOOLEAN", "BOOL"):
        return "boolean"
    if upper.startswith(("DECIMAL", "NUMERIC")) or upper in ("DOUBLE", "FLOAT", "REAL"):
        return "number"
    if upper in _INTEGERS:
        return "integer"
    if upper == "DATE":
        return "date"
    if upper.startswith("TIMESTAMP"):
        return "datetime"
    return "string"


def _masked(session: Session, sql: RenderedSql, rules: Sequence[MaskingRule]) -> str:
    """``sql`` rewritten so that every table under ``rules`` is read masked. Slots are
    numbered (``$1``…), so the values bind whatever order the rewritten text has."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    from lakeworks.security.rewrite import DIALECT, Relations, Rewriter

    numbered = sql.parts[0] + "".join(
        f"${i}{part}" for i, part in enumerate(sql.parts[1:], start=1)
    )
    try:
        tree = sqlglot.parse_one(numbered, read=DIALECT)
    except (SqlglotError, RecursionError):
        raise QueryFailed(
            "the API's SQL cannot be checked for masking", 502, "definition"
        ) from None
    current, known = session.relations()
    guarded = Rewriter(Relations(current, known), rules).statement(tree)
    return guarded.tree.sql(dialect=DIALECT)


def _warehouse_failure(exc: LakeworksError, *, timed_out: bool) -> QueryFailed:
    message = exc.message
    if timed_out:
        return QueryFailed("the query took longer than the API's timeout", 504, "timeout")
    lowered = message.lower()
    if any(w in lowered for w in ("conversion error", "invalid input", "out of range")):
        return QueryFailed(message.splitlines()[0][:300], 400, "bad_request")
    return QueryFailed(f"the warehouse failed: {message.splitlines()[0][:300]}", 502, "backend")


class _Pool:
    """A small pool of driver connections opened on demand."""

    def __init__(self, opener: Callable[[], Any], size: int = POOL_SIZE) -> None:
        self._opener = opener
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self, timeout: float) -> Iterator[Any]:
        if not self._slots.acquire(timeout=timeout):
            raise QueryFailed("all backend connections are busy", 503, "busy")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._opener()
            yield conn
            self._idle.put(conn)
            conn = None
        finally:
            if conn is not None:
                with suppress(Exception):
                    conn.close()
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
            except Exception:
                continue


class PostgresBackend:
    """A PostgreSQL data source, read-only, values bound by the server."""

    placeholder_style = "format"
    masks_in_query = False

    def __init__(self, name: str, raw: Mapping[str, Any]) -> None:
        from lakeworks.connectors.pg_connection import Config, PgConnection
        from lakeworks.connectors.registry import parse_config

        config = parse_config(name, dict(raw))
        assert isinstance(config, Config)
        self.name = name
        self._timeouts: dict[int, int] = {}

        def opener() -> Any:
            conn = PgConnection(name, config).connect()
            conn.autocommit = True
            conn.execute("SET default_transaction_read_only = on")
            # A generic plan ignores the page's LIMIT and the key's selectivity.
            conn.execute("SET plan_cache_mode = force_custom_plan")
            return conn

        self._pool = _Pool(opener)

    def query(
        self, sql: RenderedSql, timeout: float, masking: Sequence[MaskingRule] = ()
    ) -> QueryResult:
        """Rows of ``sql``; ``masking`` is ignored (the caller masks by lineage)."""
        import psycopg

        millis = max(1, int(timeout * 1000))
        try:
            with self._pool.connection(timeout) as conn:
                if self._timeouts.get(id(conn)) != millis:
                    conn.execute(f"SET statement_timeout = {millis}")
                    self._timeouts[id(conn)] = millis
                with conn.cursor() as cursor:
                    cursor.execute(sql.text("format"), list(sql.values))
                    columns = [d.name for d in cursor.description or []]
                    rows = cursor.fetchall()
        except psycopg.Error as exc:
            raise _postgres_failure(exc, self.name) from None
        return QueryResult(columns, [tuple(r) for r in rows])

    def close(self) -> None:
        self._pool.close()


def _postgres_failure(exc: Exception, name: str) -> QueryFailed:
    from lakeworks.connectors.pg_connection import translate_error

    state = getattr(exc, "sqlstate", None) or ""
    message = translate_error(exc, name).message
    if state == "57014":
        return QueryFailed("the query took longer than the API's timeout", 504, "timeout")
    if state.startswith("22"):
        return QueryFailed(message[:300], 400, "bad_request")
    if state.startswith("08") or not state:
        return QueryFailed(f"data source '{name}' is unreachable", 503, "unavailable")
    return QueryFailed(message[:300], 502, "backend")


class MySQLBackend:
    """A MySQL or MariaDB data source, read-only sessions."""

    placeholder_style = "format"
    masks_in_query = False

    def __init__(self, name: str, raw: Mapping[str, Any]) -> None:
        from lakeworks.connectors import mysql
        from lakeworks.connectors.registry import parse_config

        config = parse_config(name, dict(raw))
        assert isinstance(config, mysql.Config)
        self.name = name
        self._timeouts: dict[int, float] = {}

        def opener() -> Any:
            conn = mysql.connect(name, config)
            conn.autocommit(True)
            with conn.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
            return conn

        self._pool = _Pool(opener)

    def _set_timeout(self, conn: Any, seconds: float) -> None:
        if self._timeouts.get(id(conn)) == seconds:
            return
        with conn.cursor() as cursor:
            for statement in (
                f"SET SESSION max_statement_time = {seconds:.3f}",  # MariaDB
                f"SET SESSION max_execution_time = {int(seconds * 1000)}",  # MySQL
            ):
                try:
                    cursor.execute(statement)
                except Exception:
                    continue
        self._timeouts[id(conn)] = seconds

    def query(
        self, sql: RenderedSql, timeout: float, masking: Sequence[MaskingRule] = ()
    ) -> QueryResult:
        """Rows of ``sql``; ``masking`` is ignored (the caller masks by lineage)."""
        import pymysql

        try:
            with self._pool.connection(timeout) as conn:
                self._set_timeout(conn, timeout)
                with conn.cursor() as cursor:
                    cursor.execute(sql.text("format"), list(sql.values))
                    columns = [d[0] for d in cursor.description or []]
                    rows = cursor.fetchall()
        except pymysql.Error as exc:
            raise _mysql_failure(exc, self.name) from None
        return QueryResult(columns, [tuple(r) for r in rows])

    def close(self) -> None:
        self._pool.close()


def _mysql_failure(exc: BaseException, name: str) -> QueryFailed:
    from lakeworks.connectors.mysql import translate_error

    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    message = translate_error(exc, name).message
    if code in (1969, 3024):  # MariaDB / MySQL statement time exceeded
        return QueryFailed("the query took longer than the API's timeout", 504, "timeout")
    if code in (1292, 1366, 1264, 1411):
        return QueryFailed(message[:300], 400, "bad_request")
    if code in (2003, 2006, 2013) or code == 0:
        return QueryFailed(f"data source '{name}' is unreachable", 503, "unavailable")
    return QueryFailed(message[:300], 502, "backend")


def open_backend(
    backend: str, engine: Callable[[], Engine], data_sources: Mapping[str, Mapping[str, Any]]
) -> Backend:
    """The backend named by an API (``warehouse`` or a data source)."""
    if backend == "warehouse":
        return WarehouseBackend(engine())
    raw = data_sources.get(backend)
    if raw is None:
        raise QueryFailed(f"data source '{backend}' is not defined", 502, "backend")
    kind = str(raw.get("type", ""))
    if kind == "postgres":
        return PostgresBackend(backend, raw)
    if kind in ("mysql", "mariadb"):
        return MySQLBackend(backend, raw)
    raise QueryFailed(f"data source '{backend}' ({kind}) cannot serve APIs", 502, "backend")
