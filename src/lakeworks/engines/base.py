"""The warehouse engine interface.

An engine runs SQL in its own dialect for one environment (dev or prod) and moves data
in and out as Apache Arrow. Services branch on ``capabilities``, never on the class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
    supports_transactions: bool = False
    supports_partition_overwrite: bool = False
    concurrent_writers: bool = False
    supports_arrow: bool = True
    native_partitions: bool = False


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
    """What one executed statement returned: columns and rows (small results only)."""

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

    def list_tables(self) -> list[TableInfo]: ...

    def describe(self, name: str) -> TableInfo: ...

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
