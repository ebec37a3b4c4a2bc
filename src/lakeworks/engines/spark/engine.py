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
from collections.abc import Iterable, Iterator
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
    EngineCapabilities,
    StatementResult,
    TableInfo,
    WriteMode,
)
from lakeworks.engines.lakehouse.catalog import DataFile, Lakehouse, Snapshot, partition_key
from lakeworks.engines.spark.config import SparkEngineOptions
from lakeworks.engines.spark.session import spark_session
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
    """A thread's handle on the engine's Spark session (Spark has no transactions)."""

    def __init__(self, engine: SparkEngine) -> None:
        self._engine = engine
        self._group = f"lakeworks-{uuid.uuid4().hex}"

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
            return engine.insert(self, expression)
        if isinstance(expression, exp.TruncateTable):
            return engine.truncate(expression)
        if isinstance(expression, exp.Drop) and expression.kind == "TABLE":
            return engine.drop(expression)
        frame = self.frame(sql, params)
        if not frame.columns and max_rows is None:
            return StatementResult(columns=[], rows=[])
        rows = frame.take(max_rows) if max_rows is not None else frame.collect()
        return StatementResult(columns=list(frame.columns), rows=[tuple(r) for r in rows])

    def frame(self, sql: str, params: list[object] | None = None) -> Any:
        """A Spark DataFrame of ``sql`` with the lakehouse tables it names in view."""
        self._engine.expose(sql)
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
        self.spark.sparkContext.cancelJobGroup(self._group)

    def close(self) -> None:
        """The Spark session outlives its handles."""


class SparkEngine:
    """Spark SQL over the lakehouse tables of one environment."""

    def __init__(
        self, lakehouse: Lakehouse, options: SparkEngineOptions, environment: str, name: str
    ) -> None:
        self.name = name
        self.environment = environment
        self.lakehouse = lakehouse
        self.options = options
        self.capabilities = EngineCapabilities(
            dialect="spark",
            supports_transactions=False,
            supports_partition_overwrite=True,
            concurrent_writers=True,
            supports_arrow=True,
            native_partitions=True,
        )
        self._exposed: dict[str, int] = {}
        self._lock = threading.Lock()

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

    def list_tables(self) -> list[TableInfo]:
        return [self._info(self.lakehouse.snapshot(n)) for n in self.lakehouse.list_tables()]

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
        return (
            self.spark.read.schema(schema)
            .option("basePath", base)
            .parquet(*paths)
            .select(*[_q(c) for c in snapshot.schema.names])
        )

    # -- statements ---------------------------------------------------------------
    def create(self, handle: SparkSessionHandle, create: exp.Create) -> StatementResult:
        target = create.this
        table = target.this if isinstance(target, exp.Schema) else target
        name = _bare(table.sql(dialect="spark"))
        exists = self.lakehouse.table_exists(name)
        if exists and not create.args.get("exists"):
            raise UserCodeError(f"table '{name}' already exists")
        query = create.expression
        partition_by = _partition_by(create)
        if isinstance(query, exp.Query):
            frame = handle.frame(query.sql(dialect="spark"))
            if exists:
                return StatementResult(columns=[], rows=[])
            if not partition_by:
                names = [c.name for c in create.find_all(exp.PartitionedByProperty)]
                partition_by = names
            arrow_schema = frame.limit(0).toArrow().schema
            self.lakehouse.create_table(name, arrow_schema, partition_by)
            rows = self._write_frame(name, frame, WriteMode.OVERWRITE, None)
            return StatementResult(columns=["Count"], rows=[(rows,)])
        if exists:
            return StatementResult(columns=[], rows=[])
        columns = [c for c in target.expressions if isinstance(c, exp.ColumnDef)]
        part_defs = _partition_defs(create)
        all_columns = columns + [c for c in part_defs if c.name not in {x.name for x in columns}]
        if not all_columns:
            raise UserError(f"CREATE TABLE {name} declares no columns")
        select = ", ".join(
            f"CAST(NULL AS {c.args['kind'].sql(dialect='spark')}) AS {_q(c.name)}"
            for c in all_columns
        )
        schema = handle.frame(f"SELECT {select} LIMIT 0").toArrow().schema
        self.lakehouse.create_table(name, schema, [c.name for c in part_defs] or partition_by)
        return StatementResult(columns=[], rows=[])

    def insert(self, handle: SparkSessionHandle, insert: exp.Insert) -> StatementResult:
        target = insert.this
        table = target.this if isinstance(target, exp.Schema) else target
        static: dict[str, str] = {}
        partition = table.args.get("partition") if isinstance(table, exp.Table) else None
        if not isinstance(partition, exp.Partition):
            partition = insert.args.get("partition")
        dynamic: list[str] = []
        items = partition.expressions if isinstance(partition, exp.Partition) else []
        for item in items:
            if isinstance(item, exp.EQ):
                value = item.expression
                static[item.this.name.lower()] = (
                    value.name if isinstance(value, exp.Literal) else value.sql("spark")
                )
            else:
                dynamic.append(item.name.lower())
        name = _bare(exp.table_name(table) if isinstance(table, exp.Table) else table.sql())
        if not self.lakehouse.table_exists(name):
            raise UserCodeError(f"table '{name}' does not exist", hint="create it first")
        snapshot = self.lakehouse.snapshot(name)
        query = insert.expression
        frame = handle.frame(query.sql(dialect="spark"))
        expected = [c for c in snapshot.schema.names if c not in static]
        if isinstance(target, exp.Schema) and target.expressions:
            listed = [c.name.lower() for c in target.expressions]
            expected = listed + [c for c in expected if c not in listed and c in dynamic]
        if len(frame.columns) != len(expected):
            raise UserCodeError(
                f"INSERT into '{name}' gives {len(frame.columns)} columns, the table takes "
                f"{len(expected)} ({', '.join(expected)})"
            )
        frame = frame.toDF(*expected)
        for column, value in static.items():
            frame = frame.selectExpr("*", f"{_literal(value)} AS {_q(column)}")
        casts = [
            f"CAST({_q(c)} AS {spark_type(snapshot.schema.field(c).type)}) AS {_q(c)}"
            if c in frame.columns
            else f"CAST(NULL AS {spark_type(snapshot.schema.field(c).type)}) AS {_q(c)}"
            for c in snapshot.schema.names
        ]
        frame = frame.selectExpr(*casts)
        if insert.args.get("overwrite"):
            mode = WriteMode.OVERWRITE_PARTITION if snapshot.partition_by else WriteMode.OVERWRITE
        else:
            mode = WriteMode.APPEND
        rows = self._write_frame(name, frame, mode, static or None)
        return StatementResult(columns=["Count"], rows=[(rows,)])

    def truncate(self, truncate: exp.TruncateTable) -> StatementResult:
        for table in truncate.expressions:
            name = _bare(exp.table_name(table))
            partition = truncate.args.get("partition")
            values = None
            if partition is not None:
                values = {e.this.name.lower(): e.expression.name for e in partition.expressions}
            self.lakehouse.truncate(name, values)
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
        writer = frame.write.mode("overwrite")
        if snapshot.partition_by:
            writer = writer.partitionBy(*snapshot.partition_by)
        fs = lake.storage.filesystem
        added: list[DataFile] = []
        try:
            try:
                writer.parquet(f"file://{staging}")
            except Exception as exc:
                raise _user_error(exc) from None
            infos = fs.get_file_info(pafs.FileSelector(staging, recursive=True))
            for info in infos:
                if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
                    continue
                relative = info.path[len(staging) + 1 :]
                values = dict(
                    piece.split("=", 1) for piece in relative.split("/")[:-1] if "=" in piece
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
            return lake._commit(snapshot, mode.value, added, replaced).rows_added
        except BaseException:
            for d in added:
                lake._delete_quietly(d.path)
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
        data = list(batches)
        if not data:
            if mode in (WriteMode.OVERWRITE, WriteMode.OVERWRITE_PARTITION) and (
                self.lakehouse.table_exists(_bare(table))
            ):
                self.lakehouse.truncate(_bare(table), partition)
            return 0
        return self.lakehouse.write(
            _bare(table),
            data,
            mode,
            partition=partition,
            key=key,
            partition_by=list(partition or []),
        ).rows_added

    def close(self) -> None:
        """The Spark session is shared by the process; ``session.stop_all`` ends it."""


def _bare(name: str) -> str:
    return name.strip('`"').split(".")[-1].strip('`"').lower()


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _partition_defs(create: exp.Create) -> list[exp.ColumnDef]:
    found: list[exp.ColumnDef] = []
    for prop in create.find_all(exp.PartitionedByProperty):
        schema = prop.this
        for item in schema.expressions if isinstance(schema, exp.Schema) else []:
            if isinstance(item, exp.ColumnDef) and item.args.get("kind") is not None:
                found.append(item)
    return found


def _partition_by(create: exp.Create) -> list[str]:
    names: list[str] = []
    for prop in create.find_all(exp.PartitionedByProperty):
        schema = prop.this
        items = schema.expressions if isinstance(schema, exp.Schema | exp.Tuple) else [schema]
        names.extend(i.name.lower() for i in items if i.name)
    return names
