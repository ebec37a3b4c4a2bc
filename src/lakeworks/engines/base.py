"""The warehouse engine interface.

An engine runs SQL in its own dialect for one environment (dev or prod) and moves data
in and out as Apache Arrow. Everything a service needs from an engine is declared here:
services branch on ``capabilities``, never on the class, and call nothing outside these
protocols. ``lakeworks.testing.engines`` holds the contract every engine passes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do; code asks these flags instead of checking types."""

    dialect: str
    """The SQL dialect statements are translated to (sqlglot's name)."""
    supports_transactions: bool = False
    """Statements of a session can be grouped into one transaction (``begin``/``commit``);
    without it each write commits atomically on its own."""
    opens_in_background: bool = False
    """Opening it is local work that does not hold the GIL (an embedded database file):
    a run opens it on another thread while it creates its instances."""
    bulk_write_rows: int | None = None
    """An append of at least this many rows goes straight into the table's storage, at a
    fraction of the cost of smaller ones (DuckDB: a whole row group skips the
    write-ahead log and the later checkpoint); None: no such threshold."""


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool = True
    comment: str | None = None


@dataclass(frozen=True)
class RelationInfo:
    """A table or view as the engine's catalog knows it, for resolving names exactly."""

    database: str
    schema: str
    name: str
    kind: str
    """table | view"""
    sql: str | None = None
    """The view's definition."""
    internal: bool = False
    """Part of the engine's own catalog (system views)."""
    columns: list[ColumnInfo] = field(default_factory=list)


@dataclass(frozen=True)
class TableInfo:
    name: str
    schema: str | None
    columns: list[ColumnInfo] = field(default_factory=list)
    comment: str | None = None
    row_count: int | None = None
    kind: str = "table"


class WriteMode(StrEnum):
    APPEND = "append"
    OVERWRITE = "overwrite"
    OVERWRITE_PARTITION = "overwrite_partition"
    MERGE = "merge"


@dataclass(frozen=True)
class StatementResult:
    """What one executed statement returned: columns and rows (small results only).

    ``rowcount`` is the number of rows a writing statement (``INSERT``, ``CREATE TABLE
    ... AS``, ``UPDATE``, ``DELETE``) wrote or removed; None for queries."""

    columns: list[str]
    rows: list[tuple[object, ...]]
    rowcount: int | None = None


@runtime_checkable
class Session(Protocol):
    """One thread's handle on the engine (a cursor or connection)."""

    def execute(
        self, sql: str, params: list[object] | None = None, *, max_rows: int | None = None
    ) -> StatementResult:
        """Run ``sql``; returns at most ``max_rows`` rows when given."""
        ...

    def query_arrow(self, sql: str, params: list[object] | None = None) -> pa.Table: ...

    def stream_arrow(self, sql: str, batch_size: int = 65536) -> Iterator[pa.RecordBatch]: ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...

    def relations(self) -> tuple[str, list[RelationInfo]]:
        """The current database and every table and view this session can name, with
        columns in order (for resolving names exactly, e.g. masking)."""
        ...

    def builtin_functions(self) -> frozenset[str]:
        """Lower-case names of the engine's built-in functions (empty: unknown)."""
        ...

    def user_functions(self) -> frozenset[str]:
        """Lower-case names of functions and macros defined in the warehouse."""
        ...

    def prefer_builtin_functions(self) -> None:
        """Resolve function names to built-ins before anything defined in the warehouse
        for the rest of this session (a no-op where nothing can shadow a built-in)."""
        ...


@runtime_checkable
class Engine(Protocol):
    """A warehouse engine bound to one environment."""

    name: str
    environment: str
    capabilities: EngineCapabilities

    def session(self) -> Session:
        """A new session for the calling thread. Close it when done."""
        ...

    def transaction(self) -> AbstractContextManager[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        ...

    def table_exists(self, name: str) -> bool: ...

    def list_tables(self, names: Collection[str] | None = None) -> list[TableInfo]:
        """Tables and views; with ``names`` (lower-case names without schema) at least
        those so named, and possibly others (a hint that saves listing a whole warehouse)."""
        ...

    def describe(self, name: str) -> TableInfo: ...

    def partition_columns(self, table: str) -> list[str]:
        """The partition columns of ``table`` (empty when it has none or is unknown)."""
        ...

    def all_partition_columns(self) -> dict[str, list[str]]:
        """Partition columns of every table that has them, by lower-case table name."""
        ...

    def register_partitions(self, table: str, columns: Iterable[str]) -> None:
        """Record ``columns`` as ``table``'s partition columns (``PARTITIONED BY`` of a
        node, a sync's partition). Engines with native partitions know them already."""
        ...

    def table_sizes(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """Bytes stored per table (all, or only ``names``), by lower-case name; tables
        whose size the engine cannot tell are absent."""
        ...

    def interactive(self) -> Engine:
        """The engine for ad-hoc queries, previews, quality scans and data APIs over the
        same tables: itself, or a lighter one (DuckDB over a Spark lakehouse)."""
        ...

    def write_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch],
        mode: WriteMode = WriteMode.APPEND,
        *,
        partition: dict[str, str] | None = None,
        key: list[str] | None = None,
        session: Session | None = None,
    ) -> int:
        """Write record batches into ``table``; returns rows written. Creates the table
        if missing. With ``session`` the write joins that session's transaction."""
        ...

    def close(self) -> None: ...
