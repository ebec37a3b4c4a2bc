"""The Spark engine: Spark SQL over lakehouse tables, committed through the store.

Tables live in the lakehouse (``engines.lakehouse``), not in Spark's catalog: before a
statement runs, each lakehouse table it names becomes a temporary view over the files
of its current version; a write (``INSERT [OVERWRITE] ... [PARTITION]``, ``CREATE
TABLE ... AS``) is evaluated by Spark, written by Spark as Parquet into a staging
folder of the table, moved into the table's partition folders and committed as one
lakehouse version. ``CREATE TABLE``, ``TRUNCATE`` and ``DROP TABLE`` change the
lakehouse catalog. Everything else is passed to Spark as is.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
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
from lakeworks.engines.lakehouse import statements
from lakeworks.engines.lakehouse.catalog import (
    ROW_GROUP_ROWS,
    DataFile,
    Lakehouse,
    Snapshot,
    partition_key,
)
from lakeworks.engines.lakehouse.statements import bare_name as _bare
from lakeworks.engines.spark.config import SparkEngineOptions
from lakeworks.engines.spark.session import is_connect, spark_session
from lakeworks.errors import NotFound, UserCodeError, UserError

_ARROW_TO_SPARK = {
    pa.string(): "STRING",
    pa.large_string(): "STRING",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.binary(): "BINARY",
}


def spark_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP" if arrow_type.tz else "TIMESTAMP_NTZ"
    return _ARROW_TO_SPARK.get(arrow_type, "STRING")


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def ddl(schema: pa.Schema) -> str:
    return ", ".join(f"{_q(f.name)} {spark_type(f.type)}" for f in schema)


def _user_error(exc: Exception) -> Exception:
    text = str(exc).strip().splitlines()
    return UserCodeError(text[0] if text else type(exc).__name__)


class SparkSessionHandle:
    """A thread's handle on the engine's Spark session (Spark has no transactions).

    ``interrupt`` cancels the handle's job group on a driver in this process, its
    tagged operations on a Spark Connect client (Connect has no job groups; on a
    driver, tags set by the running thread are not cancelled from another one)."""

    def __init__(self, engine: SparkEngine) -> None:
        self._engine = engine
        self._group = f"lakeworks-{uuid.uuid4().hex}"
        self._connect = is_connect(engine.options.master)

    @property
    def spark(self) -> Any:
        return self._engine.spark

    def execute(
        self, sql: str, params: list[object] | None = None, *, max_rows: int | None = None
    ) -> StatementResult:
        try:
            expression = sqlglot.parse_one(sql, read="spark")
        except SqlglotError:
            expression = None
        engine = self._engine
        if isinstance(expression, exp.Create) and expression.kind == "TABLE":
            return engine.create(self, expression)
        if isinstance(expression, exp.Insert):
            return engine.insert(self, expression, params)
        if isinstance(expression, exp.TruncateTable):
            return engine.truncate(expression)
        if isinstance(expression, exp.Drop) and expression.kind == "TABLE":
            return engine.drop(expression)
        frame = self.frame(sql, params)
        if not frame.columns and max_rows is None:
            return StatementResult(columns=[], rows=[])
        try:
            rows = frame.take(max_rows) if max_rows is not None else frame.collect()
        except Exception as exc:
            raise _user_error(exc) from None
        return StatementResult(columns=list(frame.columns), rows=[tuple(r) for r in rows])

    def frame(self, sql: str, params: list[object] | None = None) -> Any:
        """A Spark DataFrame of ``sql`` with the lakehouse tables it names in view."""
        self._engine.expose(sql)
        # the jobs this thread starts belong to this handle (``interrupt``)
        if self._connect:
            self.spark.clearTags()
            self.spark.addTag(self._group)
        else:
            self.spark.sparkContext.setJobGroup(self._group, "lakeworks", True)
        try:
            return self.spark.sql(sql, args=params) if params else self.spark.sql(sql)
        except Exception as exc:
            raise _user_error(exc) from None

    def query_arrow(self, sql: str, params: list[object] | None = None) -> pa.Table:
        try:
            return self.frame(sql, params).toArrow()
        except UserCodeError:
            raise
        except Exception as exc:
            raise _user_error(exc) from None

    def stream_arrow(self, sql: str, batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
        yield from self.query_arrow(sql).to_batches(batch_size)

    def begin(self) -> None:
        """Spark has no transactions; each write commits atomically on its own."""

    def commit(self) -> None:
        """See ``begin``."""

    def rollback(self) -> None:
        """See ``begin``."""

    def interrupt(self) -> None:
        if self._connect:
            self.spark.interruptTag(self._group)
        else:
            self.spark.sparkContext.cancelJobGroup(self._group)

    def close(self) -> None:
        """The Spark session outlives its handles."""

    def relations(self) -> tuple[str, list[RelationInfo]]:
        """The lakehouse tables, as tables of the ``spark_catalog.default`` schema."""
        return "spark_catalog", [
            RelationInfo("spark_catalog", "default", t.name, "table", columns=t.columns)
            for t in self._engine.list_tables()
        ]

    def builtin_functions(self) -> frozenset[str]:
        """Spark's built-in functions (listed once per engine)."""
        return self._engine.builtin_functions()

    def user_functions(self) -> frozenset[str]:
        """Functions are not defined in the lakehouse."""
        return frozenset()

    def prefer_builtin_functions(self) -> None:
        """Nothing in the lakehouse shadows a built-in function."""


class SparkEngine:
    """Spark SQL over the lakehouse tables of one environment."""

    def __init__(
        self, lakehouse: Lakehouse, options: SparkEngineOptions, environment: str, name: str
    ) -> None:
        self.name = name
        self.environment = environment
        self.lakehouse = lakehouse
        self.options = options
        self.capabilities = EngineCapabilities(dialect="spark", supports_transactions=False)
        self._exposed: dict[str, int] = {}
        self._lock = threading.Lock()
        self._builtins: frozenset[str] | None = None
        self._interactive: Engine | None = None

    @property
    def spark(self) -> Any:
        return spark_session(self.options)

    def session(self) -> SparkSessionHandle:
        return SparkSessionHandle(self)

    @contextmanager
    def transaction(self) -> Iterator[SparkSessionHandle]:
        yield self.session()

    # -- catalog ------------------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        return self.lakehouse.table_exists(_bare(name))

    def partition_columns(self, table: str) -> list[str]:
        if not self.lakehouse.table_exists(_bare(table)):
            return []
        return self.lakehouse.snapshot(_bare(table)).partition_by

    def all_partition_columns(self) -> dict[str, list[str]]:
        return self.lakehouse.partition_columns()

    def register_partitions(self, table: str, columns: Iterable[str]) -> None:
        """Lakehouse tables know their partition columns (``PARTITIONED BY``)."""

    def table_sizes(self, names: Iterable[str] | None = None) -> dict[str, int]:
        return self.lakehouse.sizes(names)

    def interactive(self) -> Engine:
        """DuckDB over the same lakehouse: ad-hoc SQL, previews, quality scans and data
        APIs read the tables Spark wrote without starting Spark."""
        if self._interactive is None:
            from lakeworks.engines.lakehouse.duckdb_engine import LakehouseDuckDBEngine

            self._interactive = LakehouseDuckDBEngine(self.lakehouse, self.environment, self.name)
        return self._interactive

    def builtin_functions(self) -> frozenset[str]:
        if self._builtins is None:
            rows = self.spark.sql("SHOW SYSTEM FUNCTIONS").collect()
            self._builtins = frozenset(str(r[0]).lower() for r in rows)
        return self._builtins

    def list_tables(self, names: Collection[str] | None = None) -> list[TableInfo]:
        listed = self.lakehouse.list_tables()
        if names is not None:
            listed = [n for n in listed if n.lower() in names]
        return [self._info(self.lakehouse.snapshot(n)) for n in listed]

    def describe(self, name: str) -> TableInfo:
        try:
            return self._info(self.lakehouse.snapshot(_bare(name)))
        except NotFound:
            raise NotFound(
                f"table '{name}' does not exist in the {self.environment} lakehouse"
            ) from None

    @staticmethod
    def _info(snapshot: Snapshot) -> TableInfo:
        return TableInfo(
            name=snapshot.table,
            schema=None,
            columns=[ColumnInfo(f.name, spark_type(f.type)) for f in snapshot.schema],
            row_count=snapshot.rows,
        )

    def expose(self, sql: str) -> None:
        """Make the lakehouse tables named in ``sql`` temporary views at their current
        version (a view is only replaced when the table has a newer version)."""
        try:
            names = {
                t.name.lower()
                for e in sqlglot.parse(sql, read="spark")
                if e is not None
                for t in e.find_all(exp.Table)
            }
        except SqlglotError:
            names = set()
        for name in names:
            if not self.lakehouse.table_exists(name):
                continue
            snapshot = self.lakehouse.snapshot(name)
            with self._lock:
                if self._exposed.get(name) == snapshot.version:
                    continue
                self._frame(snapshot).createOrReplaceTempView(name)
                self._exposed[name] = snapshot.version

    def _frame(self, snapshot: Snapshot) -> Any:
        schema = ddl(snapshot.schema)
        if not snapshot.files:
            return self.spark.createDataFrame([], schema)
        if not self.lakehouse.storage.local:
            return self.spark.createDataFrame(self.lakehouse.read(snapshot.table))
        base = self.lakehouse.storage.path(snapshot.table)
        paths = [self.lakehouse.storage.path(f.path) for f in snapshot.files]
        frame = self.spark.read.schema(schema).option("basePath", base).parquet(*paths)
        # Spark puts partition columns last, where the lakehouse keeps them too: a
        # reordering projection (one more analysis) only for a table that differs
        if list(frame.columns) != snapshot.schema.names:
            frame = frame.select(*[_q(c) for c in snapshot.schema.names])
        return frame

    # -- statements ---------------------------------------------------------------
    def create(self, handle: SparkSessionHandle, create: exp.Create) -> StatementResult:
        name = statements.create_target(create, "spark")
        exists = self.lakehouse.table_exists(name)
        if exists and not create.args.get("exists"):
            raise UserCodeError(f"table '{name}' already exists")
        query = create.expression
        partition_by = statements.partition_by(create)
        if isinstance(query, exp.Query):
            frame = handle.frame(query.sql(dialect="spark"))
            if exists:
                return StatementResult(columns=[], rows=[])
            arrow_schema = _arrow_schema(frame)
            self.lakehouse.create_table(name, arrow_schema, partition_by)
            rows = self._write_frame(name, frame, WriteMode.OVERWRITE, None)
            return StatementResult(columns=[], rows=[], rowcount=rows)
        if exists:
            return StatementResult(columns=[], rows=[])
        all_columns = statements.column_defs(create)
        if not all_columns:
            raise UserError(f"CREATE TABLE {name} declares no columns")
        schema = _declared_schema(all_columns)
        if schema is None:  # a type only Spark knows how to store: ask it
            select = ", ".join(
                f"CAST(NULL AS {c.args['kind'].sql(dialect='spark')}) AS {_q(c.name)}"
                for c in all_columns
            )
            schema = _arrow_schema(handle.frame(f"SELECT {select}"))
        self.lakehouse.create_table(name, schema, partition_by)
        return StatementResult(columns=[], rows=[])

    def insert(
        self, handle: SparkSessionHandle, insert: exp.Insert, params: list[object] | None = None
    ) -> StatementResult:
        target = statements.insert_target(insert, "spark")
        name, static = target.table, target.static
        if not self.lakehouse.table_exists(name):
            raise UserCodeError(f"table '{name}' does not exist", hint="create it first")
        snapshot = self.lakehouse.snapshot(name)
        query = insert.expression.sql(dialect="spark")
        expected = target.expected_columns(snapshot.schema.names)
        # into one static partition: the files hold no partition columns (``_write_frame``)
        skipped = set(snapshot.partition_by) if _one_partition(snapshot, static) else set()
        frame = self._inserted(handle, query, params, expected, snapshot, static, skipped)
        if target.overwrite:
            mode = WriteMode.OVERWRITE_PARTITION if snapshot.partition_by else WriteMode.OVERWRITE
        else:
            mode = WriteMode.APPEND
        rows = self._write_frame(name, frame, mode, static or None)
        return StatementResult(columns=[], rows=[], rowcount=rows)

    def _inserted(
        self,
        handle: SparkSessionHandle,
        query: str,
        params: list[object] | None,
        expected: list[str],
        snapshot: Snapshot,
        static: dict[str, str],
        skipped: set[str],
    ) -> Any:
        """The rows of an INSERT in the table's column order and types: the query named
        by position, static partition values and casts in one statement (Spark analyses
        each DataFrame step on its own, so one statement is one analysis)."""
        given = set(expected)
        casts = ", ".join(
            f"CAST({_literal(static[c]) if c in static else _q(c) if c in given else 'NULL'}"
            f" AS {spark_type(snapshot.schema.field(c).type)}) AS {_q(c)}"
            for c in snapshot.schema.names
            if c not in skipped
        )
        aliases = f"({', '.join(_q(c) for c in expected)})" if expected else ""
        sql = f"SELECT {casts} FROM ({query}) AS {_q(_INSERTED)}{aliases}"
        try:
            frame = handle.frame(sql, params)
            try:
                _ = frame.columns  # Spark Connect analyses lazily: its errors surface here
            except Exception as exc:
                raise _user_error(exc) from None
            return frame
        except UserCodeError:
            # the query's own error, or a column count the table does not take
            columns = handle.frame(query, params).columns
            if len(columns) != len(expected):
                raise UserCodeError(
                    f"INSERT into '{snapshot.table}' gives {len(columns)} columns, the table "
                    f"takes {len(expected)} ({', '.join(expected)})"
                ) from None
            raise

    def truncate(self, truncate: exp.TruncateTable) -> StatementResult:
        for table in truncate.expressions:
            name = _bare(exp.table_name(table))
            self.lakehouse.truncate(name, statements.truncated_partition(truncate))
        return StatementResult(columns=[], rows=[])

    def drop(self, drop: exp.Drop) -> StatementResult:
        tables = drop.args.get("tables") or [drop.this]
        for table in tables:
            name = _bare(exp.table_name(table))
            if not self.lakehouse.table_exists(name):
                if drop.args.get("exists"):
                    continue
                raise UserCodeError(f"table '{name}' does not exist")
            self.lakehouse.drop_table(name)
            with self._lock:
                self._exposed.pop(name, None)
        return StatementResult(columns=[], rows=[])

    # -- writing ------------------------------------------------------------------
    def _write_frame(
        self, name: str, frame: Any, mode: WriteMode, static: dict[str, str] | None
    ) -> int:
        """Write ``frame`` (columns in table order) into ``name`` as one commit."""
        lake = self.lakehouse
        if not lake.storage.local:
            return lake.write(name, frame.toArrow(), mode, partition=static).rows_added
        snapshot = lake.snapshot(name)
        staging_rel = f"{name}/_staging/{uuid.uuid4().hex}"
        staging = lake.storage.path(staging_rel)
        # one static partition: its files need no partition folders, so Spark writes
        # without partitionBy (which sorts every task's rows by the partition columns)
        one_partition = _one_partition(snapshot, static)
        if one_partition and set(snapshot.partition_by) & set(frame.columns):
            frame = frame.drop(*snapshot.partition_by)
        # Spark's row groups are 128 MB: the lakehouse's are sized for DuckDB's threads;
        # Parquet 2 encodings (``PARQUET_WRITER_VERSION``) are cheaper for DuckDB to decode
        writer = (
            frame.write.mode("overwrite")
            .option("parquet.block.row.count.limit", str(ROW_GROUP_ROWS))
            .option("parquet.writer.version", PARQUET_WRITER_VERSION)
        )
        if snapshot.partition_by and not one_partition:
            writer = writer.partitionBy(*snapshot.partition_by)
        fs = lake.storage.filesystem
        added: list[DataFile] = []
        try:
            try:
                writer.parquet(f"file://{staging}")
            except Exception as exc:
                raise _user_error(exc) from None
            # a driver elsewhere (a Spark Connect server on another machine) wrote to
            # its own disk: committing would publish an empty version
            if fs.get_file_info(staging).type != pafs.FileType.Directory:
                raise UserError(
                    f"Spark ({self.options.master}) wrote '{name}' where this process "
                    f"cannot see it: {staging} is not on a disk the Spark driver shares",
                    hint="with a cluster or a Spark Connect server on other machines, "
                    "use an s3:// warehouse or a folder mounted at the same path everywhere",
                )
            infos = fs.get_file_info(pafs.FileSelector(staging, recursive=True))
            for info in infos:
                if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
                    continue
                relative = info.path[len(staging) + 1 :]
                values = (
                    dict(static or {})
                    if one_partition
                    else dict(
                        piece.split("=", 1) for piece in relative.split("/")[:-1] if "=" in piece
                    )
                )
                folder = partition_key(snapshot.partition_by, values)
                final_rel = "/".join(
                    x for x in (name, folder, f"part-{uuid.uuid4().hex}.parquet") if x
                )
                final = lake.storage.path(final_rel)
                fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
                rows = pq.ParquetFile(info.path).metadata.num_rows
                fs.move(info.path, final)
                added.append(DataFile(final_rel, values, rows, int(info.size or 0)))
            if mode is WriteMode.APPEND:
                replaced: list[str] | None = []
            elif static:
                replaced = [partition_key(snapshot.partition_by, static)]
            elif mode is WriteMode.OVERWRITE_PARTITION:
                replaced = sorted(
                    {partition_key(snapshot.partition_by, d.partition) for d in added}
                )
            else:
                replaced = None
            return lake.commit_files(snapshot, mode.value, added, replaced).rows_added
        except BaseException:
            for d in added:
                lake.delete_quietly(d.path)
            raise
        finally:
            fs.delete_dir(staging) if fs.get_file_info(
                staging
            ).type == pafs.FileType.Directory else None

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
        """Sync writes: one lakehouse commit per call (``session`` is not needed)."""
        from lakeworks.engines.lakehouse.duckdb_engine import write_lakehouse

        return write_lakehouse(self.lakehouse, table, batches, mode, partition=partition, key=key)

    def close(self) -> None:
        """The Spark session is shared by the process; ``session.stop_all`` ends it."""


PARQUET_WRITER_VERSION = "v2"
"""Spark writes lakehouse files with Parquet 2 encodings: a column whose dictionary
does not pay falls back to ``DELTA_BINARY_PACKED`` (integers) or ``DELTA_BYTE_ARRAY``
(strings) instead of ``PLAIN``, in data pages v2. DuckDB decodes delta-packed integers
in about half the CPU of plain Snappy-compressed ones, and Spark, DuckDB and pyarrow
all read them."""

_INSERTED = "__lakeworks_inserted"
"""The alias of an INSERT's query inside the projection that writes it."""


def _one_partition(snapshot: Snapshot, static: dict[str, str] | None) -> bool:
    """Whether a write goes into one partition named in full by its static values."""
    return bool(snapshot.partition_by) and set(static or {}) == set(snapshot.partition_by)


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_DECLARED_TYPES: dict[exp.DType, pa.DataType] = {
    exp.DType.BIGINT: pa.int64(),
    exp.DType.INT: pa.int32(),
    exp.DType.SMALLINT: pa.int16(),
    exp.DType.TINYINT: pa.int8(),
    exp.DType.DOUBLE: pa.float64(),
    exp.DType.FLOAT: pa.float32(),
    exp.DType.BOOLEAN: pa.bool_(),
    exp.DType.DATE: pa.date32(),
    exp.DType.BINARY: pa.binary(),
    exp.DType.TEXT: pa.string(),
    exp.DType.VARCHAR: pa.string(),
    exp.DType.CHAR: pa.string(),
}
"""Spark SQL column types and the Arrow types Spark stores them as (checked against
Spark's own analysis in the tests)."""


def _declared_schema(columns: list[exp.ColumnDef]) -> pa.Schema | None:
    """The Arrow schema of ``CREATE TABLE`` column definitions without a Spark round
    trip, or None when one of the types is not a plain scalar (Spark then decides)."""
    fields = []
    for column in columns:
        kind = column.args.get("kind")
        if not isinstance(kind, exp.DataType):
            return None
        arrow = _DECLARED_TYPES.get(kind.this)
        if kind.this is exp.DType.DECIMAL and len(kind.expressions) == 2:
            precision, scale = (int(e.name) for e in kind.expressions)
            arrow = pa.decimal128(precision, scale) if 0 <= scale <= precision <= 38 else None
        if arrow is None:
            return None
        fields.append(pa.field(column.name, arrow))
    return pa.schema(fields)


def _arrow_schema(frame: Any) -> pa.Schema:
    """The Arrow schema of a DataFrame from its analysed plan (no Spark job)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(frame.schema, timezone="UTC")
    # Spark Connect marks generated column names in the field metadata: not table data
    return pa.schema([field.remove_metadata() for field in schema])
