"""The embedded DuckDB engine: the default warehouse.

DuckDB allows one writing process per database file, so a process keeps one connection
per file (shared by every ``DuckDBEngine`` on that file) and gives each thread its own
cursor. dev and prod are separate files.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from lakeworks.engines.base import (
    ColumnInfo,
    Engine,
    EngineCapabilities,
    StatementResult,
    TableInfo,
    WriteMode,
)
from lakeworks.engines.catalog_locks import CatalogLocks
from lakeworks.engines.duckdb_introspection import DuckDBIntrospection, rowcount_of
from lakeworks.errors import NotFound, TransientError, UserCodeError, UserError

if TYPE_CHECKING:  # pyarrow is loaded by the Arrow paths only (it costs start-up time)
    import pyarrow as pa

META_SCHEMA = "lakeworks_meta"
"""Schema holding Lakeworks' own bookkeeping inside the warehouse (partition columns)."""

_META_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {META_SCHEMA}.partitions "
    "(table_name VARCHAR PRIMARY KEY, columns VARCHAR NOT NULL)"
)
"""The partition columns of every partitioned table (``register_partitions``)."""

ROW_GROUP_ROWS = 122_880
"""DuckDB's default row group size: an insert of at least this many rows is written to
the database file as whole row groups, not logged in the WAL and copied again later."""

_connections: dict[str, duckdb.DuckDBPyConnection] = {}
_connections_lock = threading.Lock()
_partition_cache: dict[str, dict[str, list[str]]] = {}
"""Partition columns per warehouse (keyed like ``_connections``), read once."""
_catalog_locks: dict[int, CatalogLocks] = {}
"""Per shared connection: the turns of catalog changes made outside a transaction
(``catalog_locks``: one object's changes take turns; different objects' run at once)."""


def _catalog_locks_of(conn: duckdb.DuckDBPyConnection) -> CatalogLocks:
    with _connections_lock:
        locks = _catalog_locks.get(id(conn))
        if locks is None:  # made once per connection, not per session
            locks = _catalog_locks[id(conn)] = CatalogLocks()
        return locks


def _key(path: Path) -> str:
    return str(path.resolve()) if str(path) != ":memory:" else f":memory:{id(path)}"


def _shared_connection(
    path: Path, settings: dict[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    key = _key(path)
    with _connections_lock:
        conn = _connections.get(key)
        if conn is None:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = duckdb.connect(str(path), config=dict(settings or {}))
            except duckdb.IOException as exc:
                raise TransientError(
                    f"cannot open warehouse {path}: {exc}",
                    hint="another process holds the DuckDB file; stop it, or start Lakeworks'"
                    " scheduler, worker or up on it so that other commands go through it",
                ) from None
            _create_meta(conn)
            _connections[key] = conn
        return conn


def _create_meta(conn: duckdb.DuckDBPyConnection) -> None:
    """Lakeworks' bookkeeping in the warehouse, made when the process opens the file
    (before any statement of its own runs: made later, a schema change waits for every
    catalog change under way, and holds back those that follow)."""
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        conn.execute(_META_TABLE)
    except duckdb.Error as exc:
        conn.close()
        raise TransientError(f"cannot prepare warehouse: {exc}") from None


def _translate_error(exc: duckdb.Error) -> Exception:
    message = str(exc).strip()
    if isinstance(exc, duckdb.CatalogException | duckdb.BinderException | duckdb.ParserException):
        return UserCodeError(message)
    if isinstance(exc, duckdb.TransactionException):
        return TransientError(message)
    if isinstance(exc, duckdb.InterruptException):
        return UserCodeError("query was interrupted")
    return UserCodeError(message)


class DuckDBSession(DuckDBIntrospection):
    """One thread's cursor on the shared connection, with its own transaction."""

    def __init__(
        self, cursor: duckdb.DuckDBPyConnection, catalog_locks: CatalogLocks | None = None
    ) -> None:
        self._cursor = cursor
        self._catalog_locks = catalog_locks or CatalogLocks()
        self._in_transaction = False

    def execute(
        self, sql: str, params: list[object] | None = None, *, max_rows: int | None = None
    ) -> StatementResult:
        guard = (
            self._catalog_locks.for_statement(sql)
            if not self._in_transaction
            else contextlib.nullcontext()
        )
        try:
            with guard:
                self._cursor.execute(sql, params)
                description = self._cursor.description
                if max_rows is None:
                    rows = self._cursor.fetchall()
                else:
                    rows = self._cursor.fetchmany(max_rows) if description else []
        except duckdb.Error as exc:
            raise _translate_error(exc) from None
        columns = [d[0] for d in description] if description else []
        got = [tuple(r) for r in rows]
        return StatementResult(columns=columns, rows=got, rowcount=rowcount_of(sql, columns, got))

    def query_arrow(self, sql: str, params: list[object] | None = None) -> pa.Table:
        try:
            relation = self._cursor.sql(sql, params=params)
            if relation is None:
                import pyarrow as pa

                return pa.table({})
            return relation.to_arrow_table()
        except duckdb.Error as exc:
            raise _translate_error(exc) from None

    def stream_arrow(self, sql: str, batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
        try:
            relation = self._cursor.sql(sql)
            if relation is None:
                return
            reader = relation.to_arrow_reader(batch_size)
        except duckdb.Error as exc:
            raise _translate_error(exc) from None
        yield from reader

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")
        self._in_transaction = True

    def commit(self) -> None:
        self._in_transaction = False
        self.execute("COMMIT")

    def rollback(self) -> None:
        self._in_transaction = False
        try:
            self._cursor.execute("ROLLBACK")
            self._cursor.fetchall()
        except duckdb.Error:
            pass

    def interrupt(self) -> None:
        self._cursor.interrupt()

    def close(self) -> None:
        self._cursor.close()

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The underlying DuckDB cursor, for adapters that need DuckDB-specific calls."""
        return self._cursor


def _quote(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


class DuckDBEngine:
    """A DuckDB warehouse file for one environment."""

    def __init__(
        self,
        path: Path,
        environment: str,
        name: str = "default",
        *,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.environment = environment
        self.path = path
        self.settings = dict(settings or {})
        """DuckDB configuration applied when this process opens the file."""
        self.capabilities = EngineCapabilities(
            dialect="duckdb",
            supports_transactions=True,
            opens_in_background=True,
            bulk_write_rows=ROW_GROUP_ROWS,
        )
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._meta_ready = False

    def session(self) -> DuckDBSession:
        # opened on first use: a process that never touches the warehouse (a worker
        # running shell nodes) must not hold the file's lock
        if self._conn is None:
            try:
                self._conn = _shared_connection(self.path, self.settings)
                self._meta_ready = True  # made with the connection
            except TransientError:
                from lakeworks.engines.duckdb_socket import RemoteSession, socket_path

                served = socket_path(self.path)
                if not served.exists():
                    raise
                # another local Lakeworks process holds the file and serves it
                return RemoteSession(served)  # type: ignore[return-value]
        return DuckDBSession(self._conn.cursor(), _catalog_locks_of(self._conn))

    def serve(self) -> Any:
        """Hold the file and serve it to other local processes (``duckdb_socket``);
        returns the server (``stop()`` it)."""
        from lakeworks.engines.duckdb_socket import WarehouseServer

        if str(self.path) == ":memory:":
            return None
        if self._conn is None:
            self._conn = _shared_connection(self.path, self.settings)
            self._meta_ready = True
        return WarehouseServer(self._conn, self.path).start()

    @contextmanager
    def transaction(self) -> Iterator[DuckDBSession]:
        session = self.session()
        session.begin()
        try:
            yield session
        except BaseException:
            session.rollback()
            session.close()
            raise
        try:
            session.commit()
        finally:
            session.close()

    def _run(self, sql: str, params: list[object] | None = None) -> StatementResult:
        session = self.session()
        try:
            return session.execute(sql, params)
        finally:
            session.close()

    def table_exists(self, name: str) -> bool:
        schema, table = self._split(name)
        result = self._run(
            "SELECT count(*) FROM duckdb_tables() WHERE lower(schema_name) = ? "
            "AND lower(table_name) = ? AND database_name = current_database()",
            [schema, table],
        )
        views = self._run(
            "SELECT count(*) FROM duckdb_views() WHERE lower(schema_name) = ? "
            "AND lower(view_name) = ? AND NOT internal",
            [schema, table],
        )
        return bool(result.rows[0][0]) or bool(views.rows[0][0])

    @staticmethod
    def _split(name: str) -> tuple[str, str]:
        parts = name.lower().split(".")
        return (parts[-2], parts[-1]) if len(parts) > 1 else ("main", parts[0])

    def list_tables(self, names: Collection[str] | None = None) -> list[TableInfo]:
        only: str
        params: list[object]
        only, params = "", [META_SCHEMA]
        if names is not None:
            only, params = " AND list_contains(?, lower({}))", [META_SCHEMA, sorted(names)]
        rows = self._run(
            "SELECT schema_name, table_name, comment, estimated_size FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name <> ?"
            + only.format("table_name")
            + " ORDER BY schema_name, table_name",
            params,
        ).rows
        views = self._run(
            "SELECT schema_name, view_name, comment FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal AND schema_name <> ?"
            + only.format("view_name")
            + " ORDER BY schema_name, view_name",
            params,
        ).rows
        columns = self._columns_by_table(names)
        tables = [
            TableInfo(
                name=str(table),
                schema=str(schema),
                columns=columns.get((str(schema), str(table)), []),
                comment=str(comment) if comment else None,
                row_count=int(str(size)) if size is not None else None,
            )
            for schema, table, comment, size in rows
        ]
        tables.extend(
            TableInfo(
                name=str(view),
                schema=str(schema),
                columns=columns.get((str(schema), str(view)), []),
                comment=str(comment) if comment else None,
                kind="view",
            )
            for schema, view, comment in views
        )
        return sorted(tables, key=lambda t: (t.schema or "", t.name))

    def _columns_by_table(
        self, names: Collection[str] | None = None
    ) -> dict[tuple[str, str], list[ColumnInfo]]:
        only: str
        params: list[object] | None
        only, params = "", None
        if names is not None:
            only, params = " AND list_contains(?, lower(table_name))", [sorted(names)]
        rows = self._run(
            "SELECT schema_name, table_name, column_name, data_type, is_nullable, comment "
            "FROM duckdb_columns() WHERE database_name = current_database()"
            + only
            + " ORDER BY schema_name, table_name, column_index",
            params,
        ).rows
        out: dict[tuple[str, str], list[ColumnInfo]] = {}
        for schema, table, column, dtype, nullable, comment in rows:
            out.setdefault((str(schema), str(table)), []).append(
                ColumnInfo(
                    str(column), str(dtype), bool(nullable), str(comment) if comment else None
                )
            )
        return out

    def describe(self, name: str) -> TableInfo:
        schema, table = self._split(name)
        for info in self.list_tables():
            if info.schema == schema and info.name.lower() == table:
                count = self._run(f"SELECT count(*) FROM {_quote(name)}").rows[0][0]
                return TableInfo(
                    info.name, info.schema, info.columns, info.comment, int(str(count))
                )
        raise NotFound(f"table '{name}' does not exist in the {self.environment} warehouse")

    # -- partitions (DuckDB has none: partition columns are ordinary trailing columns)

    def _ensure_meta(self) -> None:
        if self._meta_ready:
            return
        self._run(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        self._run(_META_TABLE)
        self._meta_ready = True

    def register_partitions(self, table: str, columns: Iterable[str]) -> None:
        """Remember which columns of ``table`` are its partition columns (parallel runs
        of one node register the same columns: they take turns, and the rest is a no-op)."""
        self._ensure_meta()
        wanted = list(columns)
        if self._conn is None:
            self.session().close()  # opens the shared connection when it can
        locks = _catalog_locks_of(self._conn) if self._conn is not None else CatalogLocks()
        with locks.named(f"{META_SCHEMA}.partitions"):
            if self.partition_columns(table) == wanted:
                return
            self._run(
                f"INSERT OR REPLACE INTO {META_SCHEMA}.partitions VALUES (?, ?)",
                [table.lower(), ",".join(wanted)],
            )
            with _connections_lock:
                known = _partition_cache.get(_key(self.path))
                if known is not None:
                    known[table.lower()] = wanted

    def all_partition_columns(self) -> dict[str, list[str]]:
        """Partition columns of every table that has them, by table name.

        Read once per process and warehouse, then kept current by
        ``register_partitions``: a DuckDB file has one writing process at a time.
        """
        with _connections_lock:
            known = _partition_cache.get(_key(self.path))
        if known is None:
            self._ensure_meta()
            rows = self._run(f"SELECT table_name, columns FROM {META_SCHEMA}.partitions").rows
            known = {str(t): [c for c in str(cols).split(",") if c] for t, cols in rows}
            with _connections_lock:
                known = _partition_cache.setdefault(_key(self.path), known)
        return {t: list(cols) for t, cols in known.items()}

    def partition_columns(self, table: str) -> list[str]:
        """Partition columns recorded for ``table`` (empty when it has none)."""
        with _connections_lock:
            known = _partition_cache.get(_key(self.path))
        if known is None:
            return self.all_partition_columns().get(table.lower(), [])
        return list(known.get(table.lower(), []))

    def table_sizes(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """Bytes of the blocks each table's checkpointed data occupies (tables whose data
        is not checkpointed yet are absent)."""
        wanted = None if names is None else {n.lower() for n in names}
        rows = self._run(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name <> ?",
            [META_SCHEMA],
        ).rows
        sizes: dict[str, int] = {}
        for schema, table in rows:
            name = str(table).lower() if schema == "main" else f"{schema}.{table}".lower()
            if wanted is not None and name not in wanted:
                continue
            found = self._run(
                "SELECT count(DISTINCT block_id) * (SELECT any_value(block_size) "
                "FROM pragma_database_size()) FROM pragma_storage_info(?) WHERE persistent",
                [f"{schema}.{table}"],
            ).rows
            size = int(str(found[0][0])) if found and found[0][0] is not None else 0
            if size:
                sizes[name] = size
        return sizes

    def interactive(self) -> Engine:
        """DuckDB answers ad-hoc queries itself."""
        return self

    # -- bulk writes

    def write_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch],
        mode: WriteMode = WriteMode.APPEND,
        *,
        partition: dict[str, str] | None = None,
        key: list[str] | None = None,
        session: Any = None,
    ) -> int:
        iterator = iter(batches)
        first = next(iterator, None)
        if first is None:
            self._clear_for_empty_write(table, mode, partition, session)
            return 0
        schema = first.schema

        source_errors: list[BaseException] = []

        def all_batches() -> Iterator[pa.RecordBatch]:
            yield first
            try:
                yield from iterator
            except BaseException as exc:  # re-raised below as itself, not as DuckDB's wrap
                source_errors.append(exc)
                raise

        import pyarrow as pa

        reader = pa.RecordBatchReader.from_batches(schema, all_batches())
        try:
            if session is not None:
                return self._write(session, table, reader, mode, partition, key)
            with self.transaction() as own:
                return self._write(own, table, reader, mode, partition, key)
        except Exception:
            if source_errors:
                raise source_errors[0] from None
            raise

    def _clear_for_empty_write(
        self,
        table: str,
        mode: WriteMode,
        partition: dict[str, str] | None,
        session: DuckDBSession | None,
    ) -> None:
        """An overwrite with no rows still empties its target (table or partition)."""
        if mode not in (WriteMode.OVERWRITE, WriteMode.OVERWRITE_PARTITION):
            return
        if not self.table_exists(table):
            return
        sql, params = f"DELETE FROM {_quote(table)}", []
        if mode is WriteMode.OVERWRITE_PARTITION and partition:
            sql += " WHERE " + " AND ".join(f"{_quote(k)} = ?" for k in partition)
            params = list(partition.values())
        if session is not None:
            session.execute(sql, list(params))
            return
        with self.transaction() as own:
            own.execute(sql, list(params))

    def _write(
        self,
        session: DuckDBSession,
        table: str,
        reader: pa.RecordBatchReader,
        mode: WriteMode,
        partition: dict[str, str] | None,
        key: list[str] | None,
    ) -> int:
        cursor = session.raw
        view = f"__lakeworks_in_{id(reader)}"
        target = _quote(table)
        cursor.register(view, reader)
        try:
            if not self.table_exists(table):
                session.execute(f"CREATE TABLE {target} AS SELECT * FROM {view} LIMIT 0")
            if mode is WriteMode.OVERWRITE:
                session.execute(f"DELETE FROM {target}")
            elif mode is WriteMode.OVERWRITE_PARTITION:
                if not partition:
                    raise UserError("overwrite_partition needs partition values")
                where = " AND ".join(f"{_quote(k)} = ?" for k in partition)
                session.execute(f"DELETE FROM {target} WHERE {where}", list(partition.values()))
            if mode is WriteMode.MERGE:
                if not key:
                    raise UserError("merge needs a key", hint="set the key columns to merge on")
                staged = f"__lakeworks_stage_{id(reader)}"
                session.execute(f"CREATE TEMP TABLE {staged} AS SELECT * FROM {view}")
                cols = ", ".join(_quote(k) for k in key)
                session.execute(
                    f"DELETE FROM {target} WHERE ({cols}) IN (SELECT {cols} FROM {staged})"
                )
                result = session.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {staged}")
                session.execute(f"DROP TABLE {staged}")
            else:
                result = session.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {view}")
            return int(str(result.rows[0][0])) if result.rows else 0
        finally:
            with contextlib.suppress(duckdb.Error):  # keep the original error, if any
                cursor.unregister(view)

    def close(self) -> None:
        """Engines share their process's connection; closing one is a no-op."""


def close_all() -> None:
    """Close every DuckDB connection this process holds (tests and shutdown)."""
    with _connections_lock:
        for conn in _connections.values():
            conn.close()
        _connections.clear()
        _partition_cache.clear()
