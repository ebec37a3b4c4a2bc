"""The workspace's warehouse engine as a source and a sink (``type: warehouse``).

Any engine table can be read (streamed as Arrow) and written through
``Engine.write_arrow`` inside one engine transaction, so a failed or stopped sync
leaves nothing behind — columns added for schema drift included: they are added in
that transaction (DuckDB's DDL is transactional; an engine with transactions is taken
to have transactional DDL too).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from lakeworks.connectors.base import (
    ConnectorConfig,
    ReadRequest,
    SinkCapabilities,
    SourceBatch,
    SourceCapabilities,
    WriteMode,
    WriteRequest,
    quote_ident,
    select_sql,
)
from lakeworks.connectors.sql_types import UTC_TIMESTAMP, WAREHOUSE, arrow_type_for, column_type
from lakeworks.errors import UserError

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeworks.connectors.registry import ConnectorContext
    from lakeworks.engines.base import Engine, Session


class Config(ConnectorConfig):
    """``type: warehouse`` — the environment's own engine; no settings."""

    type: Literal["warehouse"] = "warehouse"


_TYPE_NAMES: dict[str, str] = {
    "BOOLEAN": "bool",
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "FLOAT": "float32",
    "REAL": "float32",
    "DOUBLE": "float64",
    "DATE": "date32",
    "TIMESTAMP": "timestamp[us]",
    "TIMESTAMP WITH TIME ZONE": UTC_TIMESTAMP,
    "TIME": "time64[us]",
    "BLOB": "binary",
}
"""DuckDB type names -> Arrow type aliases (anything else reads as text)."""


def _arrow_type(sql_type: str) -> pa.DataType:
    import pyarrow as pa

    upper = sql_type.upper()
    if upper == "HUGEINT":
        return pa.decimal128(38, 0)
    if upper.startswith("DECIMAL"):
        inside = upper[upper.index("(") + 1 : upper.index(")")] if "(" in upper else "18,3"
        precision, _, scale = inside.partition(",")
        return pa.decimal128(int(precision), int(scale or 0))
    alias = _TYPE_NAMES.get(upper)
    return arrow_type_for(alias) if alias else pa.string()


def sql_type(arrow_type: pa.DataType) -> str:
    """A portable SQL type name for an Arrow type (used when adding columns)."""
    return column_type(arrow_type, WAREHOUSE)


def _add_column_sql(table: str, f: pa.Field) -> str:
    return f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(f.name)} {sql_type(f.type)}"


class WarehouseSource:
    """Streams any warehouse table or query as Arrow batches."""

    capabilities = SourceCapabilities(
        split_by_key=True, incremental_cursor=True, where_filter=True, query=True
    )

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        import pyarrow.compute as pc

        session = self.engine.session()
        try:
            first = 1
            origin = request.describe()
            for batch in session.stream_arrow(select_sql(request), request.batch_rows):
                if batch.num_rows == 0:
                    continue
                cursor = None
                if request.cursor_column and request.cursor_column in batch.schema.names:
                    cursor = pc.max(batch.column(request.cursor_column)).as_py()
                yield SourceBatch(batch, origin, first, cursor=cursor)
                first += batch.num_rows
        finally:
            session.close()

    def estimate_rows(self, request: ReadRequest) -> int | None:
        session = self.engine.session()
        try:
            sql = select_sql(request)
            result = session.execute(f"SELECT count(*) FROM ({sql}) AS lw_c")
            return int(str(result.rows[0][0]))
        finally:
            session.close()

    def key_range(self, request: ReadRequest, column: str) -> tuple[Any, Any] | None:
        session = self.engine.session()
        try:
            col = quote_ident(column)
            result = session.execute(
                f"SELECT min({col}), max({col}) FROM ({select_sql(request)}) AS lw_k"
            )
        finally:
            session.close()
        low, high = result.rows[0]
        return None if low is None else (low, high)

    def close(self) -> None:
        pass


class _WarehouseWrite:
    def __init__(self, sink: WarehouseSink, request: WriteRequest) -> None:
        self.sink = sink
        self.request = request
        self.session: Session = sink.engine.session()
        self.session.begin()

    def write(self, batches: Iterable[pa.RecordBatch]) -> int:
        request = self.request
        for f in request.add_columns:
            self.session.execute(_add_column_sql(request.table, f))
        failure: list[BaseException] = []

        def watched() -> Iterator[pa.RecordBatch]:
            # The engine may report a failure of the batch stream as its own
            # "transaction aborted" error; keep the original so retries see it.
            try:
                yield from batches
            except BaseException as exc:
                failure.append(exc)
                raise

        try:
            rows = self.sink.engine.write_arrow(
                request.table,
                watched(),
                request.mode,
                partition=request.partition or None,
                key=request.key or None,
                session=self.session,
            )
        except BaseException:
            if failure:
                raise failure[0] from None
            raise
        if request.partition:
            self.sink.engine.register_partitions(request.table, list(request.partition))
        return rows

    def commit(self) -> None:
        try:
            self.session.commit()
        finally:
            self.session.close()

    def rollback(self) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()


class WarehouseSink:
    """Writes into the warehouse engine inside one engine transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        caps = engine.capabilities
        self.capabilities = SinkCapabilities(
            transactions=caps.supports_transactions,
            merge=True,
            partition_overwrite=True,
            add_columns=True,
            transactional_ddl=caps.supports_transactions,
        )

    def table_schema(self, table: str) -> pa.Schema | None:
        import pyarrow as pa

        if not self.engine.table_exists(table):
            return None
        info = self.engine.describe(table)
        return pa.schema([pa.field(c.name, _arrow_type(c.type)) for c in info.columns])

    def add_columns(self, table: str, fields: list[pa.Field]) -> None:
        session = self.engine.session()
        try:
            for f in fields:
                session.execute(_add_column_sql(table, f))
        finally:
            session.close()

    def begin(self, request: WriteRequest) -> _WarehouseWrite:
        if request.mode is WriteMode.MERGE and not request.key:
            raise UserError("merge into the warehouse needs key columns")
        if request.add_columns and not self.capabilities.transactional_ddl:
            raise ValueError("this warehouse cannot add columns inside a write's transaction")
        return _WarehouseWrite(self, request)

    def close(self) -> None:
        pass


def _engine(name: str, context: ConnectorContext) -> Engine:
    if context.engine is None:
        raise UserError(f"data source '{name}' is the warehouse, but no engine is open")
    return context.engine


def open_source(name: str, config: Config, context: ConnectorContext) -> WarehouseSource:
    """The warehouse as a source."""
    return WarehouseSource(_engine(name, context))


def open_sink(name: str, config: Config, context: ConnectorContext) -> WarehouseSink:
    """The warehouse as a sink."""
    return WarehouseSink(_engine(name, context))
