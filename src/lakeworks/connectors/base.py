"""The connector interface: sources yield Arrow record batches, sinks consume them.

Every connector has a config model selected by its ``type`` (unknown keys rejected),
declares what it can do through capability flags, imports its driver lazily and is
registered explicitly in ``connectors.registry``. The sync service only ever talks to
these protocols and branches on capabilities, never on classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from lakeworks.engines.base import WriteMode

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ConnectorConfig",
    "KeyRange",
    "ReadRequest",
    "Reject",
    "Sink",
    "SinkCapabilities",
    "SinkWrite",
    "Source",
    "SourceBatch",
    "SourceCapabilities",
    "WriteMode",
    "WriteRequest",
]

DEFAULT_BATCH_ROWS = 122880
"""Rows per record batch: one DuckDB row group, so that each batch fills whole row
groups (DuckDB ingests such batches fastest and with the least memory)."""


class ConnectorConfig(BaseModel):
    """Base of every connector's config: ``type`` selects the implementation."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    type: str


@dataclass(frozen=True)
class SourceCapabilities:
    """What a source can do; the sync planner asks these flags."""

    split_by_key: bool = False
    """Reads can be split into key ranges read in parallel."""
    incremental_cursor: bool = False
    """Reads can be restricted to rows whose cursor column is past a stored mark."""
    where_filter: bool = False
    """Reads accept a SQL ``where`` predicate."""
    query: bool = False
    """A free SQL query can be read instead of a table."""
    offset_cursor: bool = False
    """The source keeps its own positions (Kafka offsets) as the cursor."""


@dataclass(frozen=True)
class SinkCapabilities:
    """What a sink can do."""

    transactions: bool = False
    """A whole write is committed or rolled back at once."""
    merge: bool = False
    """Upsert by key."""
    partition_overwrite: bool = False
    """Replace one partition (``ds='20240101'``) and keep the others."""
    add_columns: bool = False
    """New source columns can be added to an existing target table."""
    transactional_ddl: bool = False
    """Columns are added inside the write's own transaction (``WriteRequest.add_columns``),
    so a write that rolls back leaves the target's schema as it was. Without it they are
    added by ``Sink.add_columns``, which commits them on its own."""


@dataclass(frozen=True)
class KeyRange:
    """A half-open range ``lower <= column < upper`` of a split key (``upper`` None: open)."""

    column: str
    lower: Any
    upper: Any | None


@dataclass(frozen=True)
class ReadRequest:
    """What to read: a table or a query, narrowed by filters, a cursor and a split."""

    table: str | None = None
    query: str | None = None
    columns: list[str] | None = None
    where: str | None = None
    cursor_column: str | None = None
    cursor_after: Any = None
    """Read only rows with ``cursor_column > cursor_after`` (None: everything)."""
    split: KeyRange | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """A short name of what is read, for positions and messages."""
        return self.table or "query"


@dataclass(frozen=True)
class Reject:
    """A source record that could not be turned into a row (e.g. a log line)."""

    position: str
    reason: str
    raw: str


@dataclass
class SourceBatch:
    """One batch read from a source, with where it came from.

    ``origin`` names the place (a table, a file, a topic partition) and ``first_row``
    the position of the batch's first row there; the position of row ``i`` is
    ``origin`` plus ``first_row + i``. ``cursor`` is the batch's high-water mark
    when the source tracks it (a dict of partition offsets for Kafka).
    """

    batch: pa.RecordBatch
    origin: str
    first_row: int = 0
    cursor: Any = None
    rejects: list[Reject] = field(default_factory=list)
    nbytes: int | None = None
    unit: str = "row"
    """What ``first_row`` counts: ``row``, ``line`` (files) or ``offset`` (Kafka)."""
    numbers: list[int] | None = None
    """Each row's own number when they are not consecutive (log lines that matched)."""

    def position(self, index: int) -> str:
        """The source position of row ``index`` of this batch (``orders.csv line 7``)."""
        number = self.numbers[index] if self.numbers is not None else self.first_row + index
        return f"{self.origin} {self.unit} {number}"

    @property
    def byte_size(self) -> int:
        """Bytes this batch stands for (raw bytes read when known, else Arrow size)."""
        return self.nbytes if self.nbytes is not None else int(self.batch.nbytes)


@runtime_checkable
class Source(Protocol):
    """Reads record batches from a system outside the warehouse."""

    capabilities: SourceCapabilities

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        """Stream the requested rows as batches of at most ``request.batch_rows``."""
        ...

    def estimate_rows(self, request: ReadRequest) -> int | None:
        """A cheap estimate of the rows ``read`` will yield (None: unknown)."""
        ...

    def key_range(self, request: ReadRequest, column: str) -> tuple[Any, Any] | None:
        """Minimum and maximum of ``column`` over the request (None when empty)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WriteRequest:
    """Where and how to write."""

    table: str
    mode: WriteMode = WriteMode.APPEND
    partition: dict[str, str] = field(default_factory=dict)
    key: list[str] = field(default_factory=list)
    add_columns: tuple[pa.Field, ...] = ()
    """New nullable columns the write adds to the existing target before its rows, in
    its own transaction (only sinks with ``capabilities.transactional_ddl`` take it)."""


class SinkWrite(Protocol):
    """One open write: batches go in, then ``commit`` or ``rollback``."""

    def write(self, batches: Iterable[pa.RecordBatch]) -> int:
        """Write every batch of the iterable (consumed as it arrives); rows written."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Writes record batches into a table (or a file set) outside the sync."""

    capabilities: SinkCapabilities

    def table_schema(self, table: str) -> pa.Schema | None:
        """The target's current schema, None when it does not exist yet."""
        ...

    def add_columns(self, table: str, fields: list[pa.Field]) -> None:
        """Add new nullable columns to an existing target (schema drift), committed at
        once (sinks with ``transactional_ddl`` add them in the write instead)."""
        ...

    def begin(self, request: WriteRequest) -> SinkWrite:
        """Open a write; nothing is visible to readers until it commits.

        A request with ``add_columns`` is refused (``ValueError``) by a sink without
        ``capabilities.transactional_ddl``."""
        ...

    def close(self) -> None: ...


def quote_ident(name: str, quote: str = '"') -> str:
    """Quote a possibly dotted identifier for SQL (``a.b`` -> ``"a"."b"``)."""
    return ".".join(quote + part.replace(quote, quote * 2) + quote for part in name.split("."))


def sql_literal(value: Any) -> str:
    """A SQL literal for a cursor or split bound (numbers bare, everything else quoted)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = (
        value.isoformat(sep=" ")
        if hasattr(value, "isoformat") and not isinstance(value, str)
        else str(value)
    )
    return "'" + text.replace("'", "''") + "'"


def select_sql(request: ReadRequest, quote: str = '"') -> str:
    """The ``SELECT`` a SQL source runs for ``request`` (filters, cursor, split)."""
    columns = ", ".join(quote_ident(c, quote) for c in request.columns) if request.columns else "*"
    if request.query:
        base = f"SELECT {columns} FROM ({request.query}) AS lw_q"
    elif request.table:
        base = f"SELECT {columns} FROM {quote_ident(request.table, quote)}"
    else:
        raise ValueError("a read needs a table or a query")
    return base + where_clause(request, quote)


def where_clause(request: ReadRequest, quote: str = '"') -> str:
    """`` WHERE …`` combining the user filter, the cursor and the split (or empty)."""
    predicates: list[str] = []
    if request.where:
        predicates.append(f"({request.where})")
    if request.cursor_column and request.cursor_after is not None:
        predicates.append(
            f"{quote_ident(request.cursor_column, quote)} > {sql_literal(request.cursor_after)}"
        )
    if request.split is not None:
        col = quote_ident(request.split.column, quote)
        predicates.append(f"{col} >= {sql_literal(request.split.lower)}")
        if request.split.upper is not None:
            predicates.append(f"{col} < {sql_literal(request.split.upper)}")
    return (" WHERE " + " AND ".join(predicates)) if predicates else ""
