"""What a DuckDB session can tell about its catalog, for local and socket sessions alike.

``DuckDBIntrospection`` needs only ``execute``: the cursor of the process holding the
file (``duckdb_engine``) and a session over another process's socket (``duckdb_socket``)
answer the same questions the same way.
"""

from __future__ import annotations

import threading

from lakeworks.engines.base import ColumnInfo, RelationInfo, StatementResult

_builtin_functions: frozenset[str] | None = None
_builtin_lock = threading.Lock()

_WRITING_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "CREATE", "MERGE"})


def rowcount_of(sql: str, columns: list[str], rows: list[tuple[object, ...]]) -> int | None:
    """The rows a writing statement wrote or removed: DuckDB reports them as one
    ``Count`` column (None for queries)."""
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    if columns != ["Count"] or not rows or not words or words[0].upper() not in _WRITING_WORDS:
        return None
    return int(str(rows[0][0]))


class DuckDBIntrospection:
    """Catalog questions answered through ``execute`` (mixed into DuckDB sessions)."""

    _database: str | None = None

    def execute(
        self, sql: str, params: list[object] | None = None, *, max_rows: int | None = None
    ) -> StatementResult:
        raise NotImplementedError

    def database(self) -> str:
        """The warehouse's database name (before any change to the search path)."""
        if self._database is None:
            self._database = str(self.execute("SELECT current_database()").rows[0][0])
        return self._database

    def prefer_builtin_functions(self) -> None:
        """Resolve function names to DuckDB's built-in functions before any macro defined
        in the warehouse, for this session: a macro cannot stand in for a built-in.
        (Unqualified tables created in this session would land in the system catalog:
        callers qualify them.)"""
        current = self.database().replace('"', '""')
        path = f'system.main,system.pg_catalog,temp.main,"{current}".main'.replace("'", "''")
        self.execute(f"SET search_path = '{path}'")

    def builtin_functions(self) -> frozenset[str]:
        """Names of DuckDB's built-in functions (read once per process)."""
        global _builtin_functions
        with _builtin_lock:
            if _builtin_functions is None:
                rows = self.execute(
                    "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE internal"
                ).rows
                _builtin_functions = frozenset(str(row[0]) for row in rows)
            return _builtin_functions

    def user_functions(self) -> frozenset[str]:
        """Names of the functions and macros created in the warehouse (not built in)."""
        rows = self.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE NOT internal"
        ).rows
        return frozenset(str(row[0]) for row in rows)

    def relations(self) -> tuple[str, list[RelationInfo]]:
        """The current database and every table and view this session can name (its
        temporary tables included), with columns in order."""
        current = self.database()
        columns: dict[tuple[str, str, str], list[ColumnInfo]] = {}
        for database, schema, table, column, dtype in self.execute(
            "SELECT database_name, schema_name, table_name, column_name, data_type "
            "FROM duckdb_columns() WHERE NOT internal ORDER BY column_index"
        ).rows:
            key = (str(database), str(schema), str(table))
            columns.setdefault(key, []).append(ColumnInfo(str(column), str(dtype)))
        found: list[RelationInfo] = []
        for database, schema, name, kind, sql, internal in self.execute(
            "SELECT database_name, schema_name, table_name, 'table', NULL, internal "
            "FROM duckdb_tables() UNION ALL "
            "SELECT database_name, schema_name, view_name, 'view', sql, internal "
            "FROM duckdb_views()"
        ).rows:
            key = (str(database), str(schema), str(name))
            found.append(
                RelationInfo(
                    database=key[0],
                    schema=key[1],
                    name=key[2],
                    kind=str(kind),
                    sql=str(sql) if sql is not None else None,
                    internal=bool(internal),
                    columns=columns.get(key, []),
                )
            )
        return current, found
