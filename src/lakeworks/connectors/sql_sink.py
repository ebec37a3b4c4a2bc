"""What the SQL sinks (MySQL, PostgreSQL) share.

Each write runs on its own connection and is committed or rolled back as a whole; an
overwrite deletes the table's rows (or the partition's) inside that transaction; merge
needs key columns; new columns are added with one ``ALTER TABLE … ADD COLUMN`` each —
inside the write's transaction where the database's DDL is transactional (PostgreSQL:
``transactional_ddl``), else on a connection of their own, committed at once (MySQL,
whose DDL commits implicitly: columns added for a run that then fails stay).
A sink supplies only what differs: the database's name in messages, identifier quoting,
column types, its connection helper and how a write loads its rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from lakeworks.connectors.base import SinkCapabilities, WriteMode, WriteRequest
from lakeworks.errors import UserError

if TYPE_CHECKING:
    import pyarrow as pa


class SQLConnector(Protocol):
    """A data source's connection helper."""

    def connect(self) -> Any:
        """A new DB-API connection, not in autocommit mode."""
        ...

    def errors(self) -> AbstractContextManager[None]:
        """Turns the driver's errors into Lakeworks errors."""
        ...


_Sink = TypeVar("_Sink", bound="SQLSink[Any]")
_Write = TypeVar("_Write", bound="SQLWrite[Any]")


class SQLWrite(Generic[_Sink]):
    """One write into a SQL sink: its own connection, one transaction."""

    def __init__(self, sink: _Sink, request: WriteRequest) -> None:
        self.sink = sink
        self.request = request
        self.conn = sink._conn.connect()
        self._stage: str | None = None

    def _add_columns(self, cur: Any) -> None:
        """Add the request's new columns in this write's transaction."""
        for f in self.request.add_columns:
            cur.execute(self.sink.add_column_sql(self.request.table, f))

    def _delete_replaced(self, cur: Any) -> None:
        """Delete the rows the write replaces: all for an overwrite, the partition's
        for a partition overwrite, none otherwise."""
        q = self.sink.quote
        target = q(self.request.table)
        mode = self.request.mode
        if mode is WriteMode.OVERWRITE:
            cur.execute(f"DELETE FROM {target}")
        elif mode is WriteMode.OVERWRITE_PARTITION:
            where = " AND ".join(f"{q(k)} = %s" for k in self.request.partition)
            cur.execute(
                f"DELETE FROM {target} WHERE {where}", list(self.request.partition.values())
            )

    def _key_match(self) -> str:
        """The merge condition between the target ``t`` and the staged rows ``s``."""
        q = self.sink.quote
        return " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in self.request.key)

    def commit(self) -> None:
        with self.sink._conn.errors():
            self.conn.commit()
        self.conn.close()

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


class SQLSink(ABC, Generic[_Write]):
    """A sink writing into a SQL database through DB-API connections."""

    capabilities = SinkCapabilities(
        transactions=True, merge=True, partition_overwrite=True, add_columns=True
    )
    database: ClassVar[str]
    """The database's name in messages ("merge into MySQL needs key columns")."""

    def __init__(self, name: str, conn: SQLConnector) -> None:
        self.name = name
        self._conn = conn

    @abstractmethod
    def quote(self, name: str) -> str:
        """A quoted identifier (``schema.table`` quoted part by part)."""

    @abstractmethod
    def column_type(self, arrow_type: pa.DataType) -> str:
        """The column type for an Arrow type."""

    @abstractmethod
    def _open_write(self, request: WriteRequest) -> _Write:
        """A new write for a checked request."""

    def add_column_sql(self, table: str, f: pa.Field) -> str:
        """``ALTER TABLE … ADD COLUMN …`` for one new nullable column."""
        return (
            f"ALTER TABLE {self.quote(table)} ADD COLUMN "
            f"{self.quote(f.name)} {self.column_type(f.type)}"
        )

    def add_columns(self, table: str, fields: list[pa.Field]) -> None:
        """Add columns on a connection of their own, committed at once (whatever
        becomes of the write that needed them)."""
        conn = self._conn.connect()
        try:
            with self._conn.errors(), conn.cursor() as cur:
                for f in fields:
                    cur.execute(self.add_column_sql(table, f))
            conn.commit()
        finally:
            conn.close()

    def begin(self, request: WriteRequest) -> _Write:
        if request.mode is WriteMode.MERGE and not request.key:
            raise UserError(f"merge into {self.database} needs key columns")
        if request.add_columns and not self.capabilities.transactional_ddl:
            raise ValueError(
                f"{self.database} cannot add columns inside a write's transaction; use add_columns"
            )
        return self._open_write(request)

    def close(self) -> None:
        pass
