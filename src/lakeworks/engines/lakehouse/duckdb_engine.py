"""DuckDB over the lakehouse: the interactive engine of a workspace whose batch engine is
Spark (the role Hologres plays beside MaxCompute).

An in-memory DuckDB database per lakehouse holds one view per lakehouse table over the
files of its current version (``duckdb_views``); before each statement the views of
tables that have a newer version are replaced, so a Spark commit is visible to the
next query. Nothing is copied and Spark is never started.

Writing statements become lakehouse commits, as on Spark: ``CREATE TABLE [... AS]``,
``INSERT [OVERWRITE] INTO t ...``, ``TRUNCATE`` and ``DROP TABLE``; each commits
atomically on its own (no multi-statement transactions). Views created here live in
this process only.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from lakeworks.engines.base import (
    ColumnInfo,
    Engine,
    EngineCapabilities,
    RelationInfo,
    StatementResult,
    TableInfo,
    WriteMode,
)
from lakeworks.engines.catalog_locks import CatalogLocks
from lakeworks.engines.duckdb_engine import DuckDBSession
from lakeworks.engines.lakehouse import duckdb_views, statements
from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.statements import bare_name
from lakeworks.errors import NotFound, UserCodeError, UserError

_connections: dict[tuple[int, str], duckdb.DuckDBPyConnection] = {}
_connections_lock = threading.Lock()


def _connection(lakehouse: Lakehouse) -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB database for ``lakehouse`` (one per warehouse).

    It keeps the Parquet footers it has read: a lakehouse file never changes once
    written (a commit adds new files), so a query over many files reads each footer
    once per process, not once per query."""
    key = (id(lakehouse.db), lakehouse.warehouse)
    with _connections_lock:
        conn = _connections.get(key)
        if conn is None:
            conn = _connections[key] = duckdb.connect(":memory:")
            conn.execute("SET parquet_metadata_cache = true")
        return conn


def close_all() -> None:
    """Close every in-memory lakehouse database of this process (tests and shutdown)."""
    with _connections_lock:
        for conn in _connections.values():
            conn.close()
        _connections.clear()


class LakehouseDuckDBSession(DuckDBSession):
    """A DuckDB cursor whose lakehouse views are current at each statement."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, engine: LakehouseDuckDBEngine) -> None:
        super().__init__(cursor, engine.catalog_locks)
        self._engine = engine
        self._registered: dict[str, int] = {}
        self._read_only = False
        """Inside ``BEGIN TRANSACTION READ ONLY``: writes to the lakehouse are refused
        as DuckDB refuses writes to its own tables."""

    def refresh(self) -> None:
        """Bring the lakehouse views up to the tables' current versions."""
        self._engine.refresh(self.raw, self._registered)

    def execute(
        self, sql: str, params: list[object] | None = None, *, max_rows: int | None = None
    ) -> StatementResult:
        expression = None if _is_query(sql) else _parsed(sql)
        engine = self._engine
        self._track_read_only(sql)
        if self._read_only and _writes(expression):
            raise UserCodeError(
                "cannot write lakehouse tables in a read-only transaction",
                hint="this session only reads",
            )
        if isinstance(expression, exp.Create) and expression.kind == "TABLE":
            if not expression.args.get("properties") or not any(
                isinstance(p, exp.TemporaryProperty)
                for p in expression.args["properties"].expressions
            ):
                return engine.create(self, expression, params)
        elif isinstance(expression, exp.Insert):
            return engine.insert(self, expression, params)
        elif isinstance(expression, exp.TruncateTable):
            return engine.truncate(expression)
        elif isinstance(expression, exp.Drop) and expression.kind == "TABLE":
            return engine.drop(self, expression)
        elif isinstance(expression, exp.Delete | exp.Update | exp.Merge):
            raise UserCodeError(
                "lakehouse tables are changed by whole partitions, not row by row",
                hint="write the rows to keep with INSERT OVERWRITE (a table or a partition)",
            )
        self.refresh()
        return super().execute(sql, params, max_rows=max_rows)

    def _track_read_only(self, sql: str) -> None:
        words = sql.upper().split()
        if words[:1] == ["BEGIN"] and "READ" in words and "ONLY" in words:
            self._read_only = True
        elif words[:1] in (["COMMIT"], ["ROLLBACK"], ["ABORT"], ["END"]):
            self._read_only = False

    def rollback(self) -> None:
        self._read_only = False
        super().rollback()

    def query_arrow(self, sql: str, params: list[object] | None = None) -> pa.Table:
        self.refresh()
        return super().query_arrow(sql, params)

    def stream_arrow(self, sql: str, batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
        self.refresh()
        yield from super().stream_arrow(sql, batch_size)

    def relations(self) -> tuple[str, list[RelationInfo]]:
        """Lakehouse tables are tables here, although DuckDB holds them as views."""
        self.refresh()
        current, found = super().relations()
        tables = set(self._engine.lakehouse.versions())
        return current, [
            RelationInfo(r.database, r.schema, r.name, "table", None, r.internal, r.columns)
            if r.kind == "view" and r.schema == "main" and r.name in tables
            else r
            for r in found
        ]

    def arrow_of(self, sql: str, params: list[object] | None) -> pa.Table:
        """The rows of a query, as Arrow, with the lakehouse views current."""
        self.refresh()
        try:
            relation = self.raw.sql(sql, params=params)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise UserCodeError(str(exc).strip().splitlines()[0]) from None


class LakehouseDuckDBEngine:
    """DuckDB reading (and committing to) the lakehouse tables of one environment."""

    def __init__(self, lakehouse: Lakehouse, environment: str, name: str = "default") -> None:
        self.name = name
        self.environment = environment
        self.lakehouse = lakehouse
        self.capabilities = EngineCapabilities(dialect="duckdb", supports_transactions=False)
        self.catalog_locks = CatalogLocks(stripes=1)
        """One turn: catalog changes and the views' refresh never overlap."""
        self._views: dict[str, int] = {}

    @property
    def _conn(self) -> duckdb.DuckDBPyConnection:
        return _connection(self.lakehouse)

    def session(self) -> LakehouseDuckDBSession:
        session = LakehouseDuckDBSession(self._conn.cursor(), self)
        session.refresh()
        return session

    @contextmanager
    def transaction(self) -> Iterator[LakehouseDuckDBSession]:
        """Each write commits on its own; the block shares one session."""
        session = self.session()
        try:
            yield session
        finally:
            session.close()

    def refresh(self, cursor: duckdb.DuckDBPyConnection, registered: dict[str, int]) -> None:
        """Replace the views of tables with a newer version; drop those of dropped tables.

        Local files are read by DuckDB's Parquet reader through views every cursor
        shares; an S3 table is an Arrow dataset registered on ``cursor`` itself
        (``registered`` remembers which version each cursor has)."""
        versions = self.lakehouse.versions()
        with self.catalog_locks.exclusive(), self._conn.cursor() as views:
            # views change through a cursor of their own: the session may be inside a
            # (read-only) transaction, which keeps the views it started with
            for name in [n for n in self._views if n not in versions]:
                views.execute(f"DROP VIEW IF EXISTS {_quote(name)}")
                del self._views[name]
            for name, version in versions.items():
                if self._views.get(name) == version or registered.get(name) == version:
                    continue
                snapshot = self.lakehouse.snapshot(name, version)
                select = duckdb_views.view_sql(self.lakehouse, snapshot)
                if select is None and not snapshot.files:
                    select = duckdb_views.empty_sql(snapshot)
                if select is None:
                    cursor.register(name, self.lakehouse.dataset(snapshot))
                    registered[name] = version
                    continue
                views.execute(f"CREATE OR REPLACE VIEW {_quote(name)} AS {select}")
                self._views[name] = version

    # -- catalog ------------------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        if self.lakehouse.table_exists(bare_name(name)):
            return True
        return bare_name(name) in {t.name for t in self._local_views()}

    def list_tables(self, names: Collection[str] | None = None) -> list[TableInfo]:
        listed = self.lakehouse.list_tables()
        if names is not None:
            listed = [n for n in listed if n.lower() in names]
        tables = [self._info(n) for n in listed]
        return sorted(tables + self._local_views(), key=lambda t: t.name)

    def _local_views(self) -> list[TableInfo]:
        """Views created in this process over lakehouse tables."""
        session = self.session()
        try:
            rows = session.execute(
                "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal "
                "AND schema_name = 'main' AND database_name = current_database()"
            ).rows
            columns: dict[str, list[ColumnInfo]] = {}
            for table, column, dtype in session.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = 'main' AND database_name = current_database() "
                "ORDER BY column_index"
            ).rows:
                columns.setdefault(str(table), []).append(ColumnInfo(str(column), str(dtype)))
        finally:
            session.close()
        lake = set(self.lakehouse.versions())
        return [
            TableInfo(str(n), None, columns.get(str(n), []), kind="view")
            for n, _sql in rows
            if str(n) not in lake
        ]

    def _info(self, name: str) -> TableInfo:
        snapshot = self.lakehouse.snapshot(name)
        types = duckdb_views.duckdb_types(snapshot.schema)
        return TableInfo(
            name=snapshot.table,
            schema=None,
            columns=[ColumnInfo(f.name, t) for f, t in zip(snapshot.schema, types, strict=True)],
            row_count=snapshot.rows,
        )

    def describe(self, name: str) -> TableInfo:
        bare = bare_name(name)
        if self.lakehouse.table_exists(bare):
            return self._info(bare)
        for view in self._local_views():
            if view.name == bare:
                return view
        raise NotFound(f"table '{name}' does not exist in the {self.environment} lakehouse")

    def partition_columns(self, table: str) -> list[str]:
        return list(self.lakehouse.partition_columns().get(bare_name(table), []))

    def all_partition_columns(self) -> dict[str, list[str]]:
        return self.lakehouse.partition_columns()

    def register_partitions(self, table: str, columns: Iterable[str]) -> None:
        """Lakehouse tables know their partition columns (``PARTITIONED BY``)."""

    def table_sizes(self, names: Iterable[str] | None = None) -> dict[str, int]:
        return self.lakehouse.sizes(names)

    def interactive(self) -> Engine:
        return self

    # -- statements ---------------------------------------------------------------
    def create(
        self, session: LakehouseDuckDBSession, create: exp.Create, params: list[object] | None
    ) -> StatementResult:
        name = statements.create_target(create, "duckdb")
        exists = self.lakehouse.table_exists(name)
        if exists and not create.args.get("exists"):
            raise UserCodeError(f"table '{name}' already exists")
        if exists:
            return StatementResult(columns=[], rows=[])
        partition_by = statements.partition_by(create)
        query = create.expression
        if isinstance(query, exp.Query):
            data = session.arrow_of(query.sql(dialect="duckdb"), params)
            self.lakehouse.create_table(name, data.schema, partition_by)
            commit = self.lakehouse.write(name, data, WriteMode.OVERWRITE)
            return StatementResult(columns=[], rows=[], rowcount=commit.rows_added)
        columns = statements.column_defs(create)
        if not columns:
            raise UserError(f"CREATE TABLE {name} declares no columns")
        select = ", ".join(
            f"CAST(NULL AS {c.args['kind'].sql(dialect='duckdb')}) AS {_quote(c.name)}"
            for c in columns
        )
        schema = session.arrow_of(f"SELECT {select} LIMIT 0", None).schema
        self.lakehouse.create_table(name, schema, partition_by)
        return StatementResult(columns=[], rows=[])

    def insert(
        self, session: LakehouseDuckDBSession, insert: exp.Insert, params: list[object] | None
    ) -> StatementResult:
        target = statements.insert_target(insert, "duckdb")
        name = target.table
        if not self.lakehouse.table_exists(name):
            raise UserCodeError(f"table '{name}' does not exist", hint="create it first")
        snapshot = self.lakehouse.snapshot(name)
        data = session.arrow_of(insert.expression.sql(dialect="duckdb"), params)
        expected = target.expected_columns(snapshot.schema.names)
        if data.num_columns != len(expected):
            raise UserCodeError(
                f"INSERT into '{name}' gives {data.num_columns} columns, the table takes "
                f"{len(expected)} ({', '.join(expected)})"
            )
        data = data.rename_columns(expected)
        for column in snapshot.schema.names:
            if column not in data.column_names and column not in target.static:
                field = snapshot.schema.field(column)
                data = data.append_column(field, pa.nulls(data.num_rows, type=field.type))
        if target.overwrite:
            mode = WriteMode.OVERWRITE_PARTITION if snapshot.partition_by else WriteMode.OVERWRITE
        else:
            mode = WriteMode.APPEND
        commit = self.lakehouse.write(name, data, mode, partition=target.static or None)
        return StatementResult(columns=[], rows=[], rowcount=commit.rows_added)

    def truncate(self, truncate: exp.TruncateTable) -> StatementResult:
        for table in truncate.expressions:
            name = bare_name(exp.table_name(table))
            self.lakehouse.truncate(name, statements.truncated_partition(truncate))
        return StatementResult(columns=[], rows=[])

    def drop(self, session: LakehouseDuckDBSession, drop: exp.Drop) -> StatementResult:
        tables = drop.args.get("tables") or [drop.this]
        for table in tables:
            name = bare_name(exp.table_name(table))
            if not self.lakehouse.table_exists(name):
                if drop.args.get("exists"):
                    continue
                raise UserCodeError(f"table '{name}' does not exist")
            self.lakehouse.drop_table(name)
        session.refresh()
        return StatementResult(columns=[], rows=[])

    # -- bulk writes ----------------------------------------------------------------
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
        """One lakehouse commit per call (``session`` is not needed)."""
        return write_lakehouse(self.lakehouse, table, batches, mode, partition=partition, key=key)

    def close(self) -> None:
        """The in-memory database is shared by the process; ``close_all`` ends it."""


def write_lakehouse(
    lakehouse: Lakehouse,
    table: str,
    batches: Iterable[pa.RecordBatch],
    mode: WriteMode,
    *,
    partition: dict[str, str] | None,
    key: list[str] | None,
) -> int:
    """A sync write into a lakehouse table as one commit; an empty overwrite empties
    its target (the table or the partition)."""
    name = bare_name(table)
    data = list(batches)
    if not data:
        if mode in (WriteMode.OVERWRITE, WriteMode.OVERWRITE_PARTITION) and (
            lakehouse.table_exists(name)
        ):
            lakehouse.truncate(name, partition)
        return 0
    return lakehouse.write(
        name, data, mode, partition=partition, key=key, partition_by=list(partition or [])
    ).rows_added


_QUERY_WORDS = frozenset({"SELECT", "FROM"})


def _is_query(sql: str) -> bool:
    """Whether a statement is a plain query, which needs no parse to be told from the
    statements this engine commits (a ``SELECT`` writes nothing in DuckDB)."""
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    return bool(words) and words[0].upper() in _QUERY_WORDS


def _parsed(sql: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError:
        return None


def _writes(expression: exp.Expr | None) -> bool:
    """Whether a statement changes lakehouse tables (or would, were it allowed)."""
    if isinstance(expression, exp.Create | exp.Drop):
        return expression.kind == "TABLE"
    return isinstance(
        expression, exp.Insert | exp.TruncateTable | exp.Delete | exp.Update | exp.Merge
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
