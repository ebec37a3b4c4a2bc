"""Bulk inserts that still tell the caller every new id, in input order.

``INSERT … RETURNING`` for many rows was the slow part of creating a day's instances:
SQLite returns ids only one row per statement, and big multi-row statements cost the
PostgreSQL driver a few microseconds per bound parameter. Instead, ids are allocated
first — from the table's sequence on PostgreSQL (one round trip), or as ``max(id) + 1…``
on SQLite, which is safe because writes hold the database lock from ``BEGIN
IMMEDIATE`` — and the rows are streamed with ``COPY`` (PostgreSQL) or one
``executemany`` (SQLite).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa


def supports_copy(conn: sa.Connection) -> bool:
    """Whether ``insert_rows`` streams with ``COPY`` on this connection (PostgreSQL)."""
    return conn.dialect.name == "postgresql"


def allocate_ids(conn: sa.Connection, table: sa.Table, count: int) -> list[int]:
    """``count`` fresh, ascending ids for ``table`` (call inside a write transaction)."""
    if count == 0:
        return []
    if conn.dialect.name == "sqlite":
        top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one_or_none() or 0
        return list(range(top + 1, top + count + 1))
    ids = conn.execute(
        sa.text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table.name, "n": count},
    ).scalars()
    return sorted(ids)


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows that all have the same keys, in one stream where the database allows.

    Uniqueness and foreign-key violations raise ``sqlalchemy.exc.IntegrityError`` on
    every backend.
    """
    if not rows:
        return
    if not supports_copy(conn):
        conn.execute(sa.insert(table), rows)
        return
    import psycopg

    columns = list(rows[0])
    names = ", ".join(f'"{name}"' for name in columns)
    raw: Any = conn.connection.driver_connection
    try:
        with (
            raw.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row([row[name] for name in columns])
    except psycopg.Error as exc:
        # the same exception classes SQLAlchemy raises for its own statements
        raise sa.exc.DBAPIError.instance(
            f"COPY {table.name}", None, exc, psycopg.Error, dialect=conn.dialect
        ) from exc
