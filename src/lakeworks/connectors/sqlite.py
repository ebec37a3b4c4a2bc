"""SQLite source (standard library ``sqlite3``), read-only.

SQLite values carry their own types, so each batch's Arrow types are inferred from the
values; columns declared as DATE/DATETIME/TIMESTAMP and holding ISO text become
timestamps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakeworks.connectors.base import (
    ConnectorConfig,
    ReadRequest,
    SourceBatch,
    SourceCapabilities,
    quote_ident,
    select_sql,
)
from lakeworks.errors import TransientError, UserError

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeworks.connectors.probe import Probed
    from lakeworks.connectors.registry import ConnectorContext


class Config(ConnectorConfig):
    """``type: sqlite`` — ``path`` to the database file (relative to the workspace)."""

    type: Literal["sqlite"] = "sqlite"
    path: str


class SQLiteSource:
    """Reads a table or query from a SQLite file."""

    capabilities = SourceCapabilities(
        split_by_key=True, incremental_cursor=True, where_filter=True, query=True
    )

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise UserError(f"SQLite data source '{self.name}': no file at {self.path}")
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def _run(self, sql: str) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
        conn = self._connect()
        try:
            cur = conn.execute(sql)
            names = [d[0] for d in cur.description]
            while True:
                rows = cur.fetchmany(65536)
                if not rows:
                    break
                yield names, rows
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise TransientError(f"SQLite '{self.name}': {exc}") from None
            raise UserError(f"SQLite '{self.name}': {exc}") from None
        finally:
            conn.close()

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        import pyarrow as pa
        import pyarrow.compute as pc

        first = 1
        origin = request.describe()
        conn = self._connect()
        try:
            declared = self._declared_types(conn, request.table) if request.table else {}
        finally:
            conn.close()
        for names, rows in self._run(select_sql(request)):
            for start in range(0, len(rows), request.batch_rows):
                chunk = rows[start : start + request.batch_rows]
                arrays = []
                for i, name in enumerate(names):
                    values = [r[i] for r in chunk]
                    arrays.append(_array(values, declared.get(name, "")))
                batch = pa.RecordBatch.from_arrays(arrays, names=names)
                cursor = None
                if request.cursor_column in names:
                    cursor = pc.max(batch.column(request.cursor_column)).as_py()
                yield SourceBatch(batch, origin, first, cursor=cursor)
                first += len(chunk)

    @staticmethod
    def _declared_types(conn: sqlite3.Connection, table: str) -> dict[str, str]:
        rows = conn.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()
        return {str(r[1]): str(r[2]).upper() for r in rows}

    def estimate_rows(self, request: ReadRequest) -> int | None:
        for _names, rows in self._run(f"SELECT count(*) FROM ({select_sql(request)})"):
            return int(rows[0][0])
        return None

    def key_range(self, request: ReadRequest, column: str) -> tuple[Any, Any] | None:
        col = quote_ident(column)
        for _names, rows in self._run(
            f"SELECT min({col}), max({col}) FROM ({select_sql(request)})"
        ):
            low, high = rows[0]
            return None if low is None else (low, high)
        return None

    def close(self) -> None:
        pass


def _array(values: list[Any], declared: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_null(array.type):
        array = array.cast(pa.string())
    if pa.types.is_string(array.type) and any(k in declared for k in ("DATE", "TIME")):
        target = pa.date32() if declared == "DATE" else pa.timestamp("us")
        try:
            return pc.cast(array, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return array
    return array


def open_source(name: str, config: Config, context: ConnectorContext) -> SQLiteSource:
    """A SQLite source; a relative path is taken from the workspace root."""
    path = Path(config.path)
    if not path.is_absolute() and context.root is not None:
        path = context.root / path
    return SQLiteSource(name, path)


def probe(name: str, config: Config, context: ConnectorContext, timeout: float) -> Probed:
    """Open the file read-only and count its tables."""
    from lakeworks.connectors.probe import Probed, counted

    source = open_source(name, config, context)
    conn = source._connect()
    try:
        version = conn.execute("SELECT sqlite_version()").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    except sqlite3.Error as exc:
        raise UserError(f"SQLite data source '{name}': {exc} ({source.path})") from None
    finally:
        conn.close()
    return Probed(f"SQLite {version}", f"{counted(int(tables[0]), 'table')} in {source.path}")
