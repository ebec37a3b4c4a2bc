"""A SQLAlchemy statement compiled once for a dialect, executed on the DBAPI cursor.

The hot statements of an instance's start and end are built once with bound
parameters; what SQLAlchemy still does per execution (an execution context, parameter
and result processing, result objects) cost about 100-200 us per statement against
20-30 us for the same statement on the ``sqlite3`` cursor. A ``DriverStatement``
keeps SQLAlchemy's own compilation of a statement for a dialect: its SQL text, the
order of its positional parameters, the constants it binds, and the bind and result
processors of each parameter and column (so datetimes, JSON, booleans... are stored
and read exactly as SQLAlchemy stores and reads them). It then executes on the DBAPI
connection of the caller's ``sa.Connection``, in the same transaction.

Only dialects with positional parameters (SQLite's ``qmark``) are supported, and only
statements SQLAlchemy executes as plain ``cursor.execute``/``executemany`` calls:
no expanding ``IN`` parameters, no Python-side column defaults. A DBAPI error is
raised as SQLAlchemy raises it (``sa.exc.DBAPIError`` and its subclasses), so
``Database`` translates a busy or locked database into ``TransientError`` as before.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

_Processor = Callable[[Any], Any]
Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete
"""What a ``DriverStatement`` executes."""
_NOT_PASSED = object()


@dataclass(frozen=True)
class DriverResult:
    """What a statement returned: its rows (processed) and the driver's row count."""

    keys: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    rowcount: int

    def mappings(self) -> list[dict[str, Any]]:
        """Each row as a dict of column name to value."""
        keys = self.keys
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class _Bind:
    """One positional parameter: where its value comes from and how it is processed."""

    key: str
    name: str
    required: bool
    constant: Any
    produce: Callable[[], Any] | None
    process: _Processor | None

    def value(self, values: Mapping[str, Any]) -> Any:
        # the lookup of SQLAlchemy's ``SQLCompiler.construct_params``
        found = values.get(self.key, _NOT_PASSED)
        if found is _NOT_PASSED:
            found = values.get(self.name, _NOT_PASSED)
        if found is _NOT_PASSED:
            if self.required:
                raise sa.exc.InvalidRequestError(
                    f"A value is required for bind parameter {self.key!r}"
                )
            found = self.constant if self.produce is None else self.produce()
        return found if self.process is None else self.process(found)


class CompiledStatement:
    """A statement as compiled for one dialect (``DriverStatement.on``)."""

    def __init__(
        self, statement: Statement, dialect: Dialect, column_keys: Sequence[str] | None
    ) -> None:
        compiled = statement.compile(
            dialect=dialect, column_keys=None if column_keys is None else list(column_keys)
        )
        if not isinstance(compiled, sa.sql.compiler.SQLCompiler):
            raise TypeError(f"not a SQL statement: {statement!r}")
        if not compiled.positional or compiled.positiontup is None:
            raise ValueError(f"{dialect.name} binds named parameters: execute through SQLAlchemy")
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("expanding or literal-execute parameters: execute through SQLAlchemy")
        if compiled.escaped_bind_names:
            raise ValueError("escaped parameter names: execute through SQLAlchemy")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("Python-side column defaults: execute through SQLAlchemy")
        self.sql: str = compiled.string
        self._dialect = dialect
        self._error: type[Exception] = dialect.loaded_dbapi.Error
        binds = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            binds.append(
                _Bind(
                    key=bind.key,
                    name=name,
                    required=bind.required,
                    constant=bind.value,
                    produce=bind.callable,
                    process=bind.type.dialect_impl(dialect).bind_processor(dialect),
                )
            )
        self._binds = tuple(binds)
        columns = (
            list(statement.exported_columns) if compiled.returning or _selects(statement) else []
        )
        self.keys: tuple[str, ...] = tuple(str(c.key) for c in columns)
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self._returns_rows = bool(columns)
        self._processed = tuple((n, p) for n, p in enumerate(processors) if p is not None)

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters of one execution with ``values``."""
        return tuple(bind.value(values) for bind in self._binds)

    def execute(self, conn: sa.Connection, values: Mapping[str, Any]) -> DriverResult:
        """Execute once with ``values`` in ``conn``'s transaction; rows are fetched."""
        params = self.parameters(values)
        cursor = _driver_connection(conn).cursor()
        try:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall() if self._returns_rows else []
            rowcount = cursor.rowcount
        except self._error as exc:
            raise self._translated(conn, exc, params, many=False) from exc
        finally:
            cursor.close()
        return DriverResult(self.keys, self._process(rows), rowcount)

    def execute_many(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute once per row of values (``executemany``); the rows affected."""
        if self._returns_rows:
            raise ValueError("a statement returning rows runs once per execution")
        if not rows:
            return 0
        params = [self.parameters(values) for values in rows]
        cursor = _driver_connection(conn).cursor()
        try:
            cursor.executemany(self.sql, params)
            rowcount: int = cursor.rowcount
        except self._error as exc:
            raise self._translated(conn, exc, params, many=True) from exc
        finally:
            cursor.close()
        return rowcount

    def _process(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not self._processed:
            return [tuple(row) for row in rows]
        processed = []
        for row in rows:
            values = list(row)
            for n, process in self._processed:
                values[n] = process(values[n])
            processed.append(tuple(values))
        return processed

    def _translated(
        self, conn: sa.Connection, exc: Exception, params: Any, *, many: bool
    ) -> sa.exc.StatementError:
        """The error SQLAlchemy raises for ``exc`` (invalidating a lost connection)."""
        lost = self._dialect.is_disconnect(cast(Any, exc), _driver_connection(conn), None)
        error = sa.exc.DBAPIError.instance(
            self.sql,
            params,
            exc,
            self._error,
            connection_invalidated=lost,
            dialect=self._dialect,
            ismulti=many,
        )
        if lost:
            conn.invalidate(exc)
        return error


DRIVER_DIALECTS = frozenset({"sqlite"})
"""Dialects whose statements ``DriverStatement`` executes on the DBAPI cursor; on the
others (PostgreSQL) it executes them through SQLAlchemy."""


def on_driver(conn: sa.Connection) -> bool:
    """Whether ``DriverStatement`` executes on ``conn``'s DBAPI cursor."""
    return conn.dialect.name in DRIVER_DIALECTS


class DriverStatement:
    """A statement compiled at first use per dialect and per set of parameter names
    (as SQLAlchemy compiles it for an execution: an ``INSERT`` without explicit values
    takes its columns from them), executed on the DBAPI cursor on SQLite and through
    SQLAlchemy on other dialects."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: weakref.WeakKeyDictionary[
            Dialect, dict[tuple[str, ...], CompiledStatement]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def on(self, dialect: Dialect, column_keys: Iterable[str]) -> CompiledStatement:
        """The statement compiled for ``dialect`` and parameters named ``column_keys``."""
        key = tuple(sorted(column_keys))
        found = self._compiled.get(dialect)
        if found is not None:
            compiled = found.get(key)
            if compiled is not None:
                return compiled
        compiled = CompiledStatement(self.statement, dialect, key)
        with self._lock:
            self._compiled.setdefault(dialect, {})[key] = compiled
        return compiled

    def all(self, conn: sa.Connection, values: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        """Execute once with ``values`` in ``conn``'s transaction; the rows it returned."""
        if on_driver(conn):
            return self.on(conn.dialect, values).execute(conn, values).mappings()
        rows = conn.execute(self.statement, values).mappings().all()
        return cast("Sequence[Mapping[str, Any]]", rows)

    def one_or_none(
        self, conn: sa.Connection, values: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Execute once; its only row, None without rows (more than one is an error)."""
        rows = self.all(conn, values)
        if len(rows) > 1:
            raise sa.exc.MultipleResultsFound(
                "Multiple rows were found when one or none was required"
            )
        return rows[0] if rows else None

    def execute_many(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute once per row of values (named as in the first row, as SQLAlchemy
        compiles an ``executemany``); the rows affected."""
        if not rows:
            return 0
        if on_driver(conn):
            return self.on(conn.dialect, rows[0]).execute_many(conn, rows)
        return conn.execute(self.statement, list(rows)).rowcount


def _selects(statement: Statement) -> bool:
    return isinstance(statement, sa.Select)


def _driver_connection(conn: sa.Connection) -> Any:
    raw = conn.connection.driver_connection
    if raw is None:
        raise sa.exc.ResourceClosedError("the connection is closed")
    return raw
