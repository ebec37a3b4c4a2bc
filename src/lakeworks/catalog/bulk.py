"""Bulk inserts straight through the database driver's ``executemany``.

The Data Map writes edges, columns and search documents by the hundred thousand;
SQLAlchemy's per-row parameter processing would cost more than the database's own
work. Values must be plain text, integers, floats, booleans or ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

BATCH = 5000


def insert_plain(conn: sa.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the caller's transaction."""
    if not rows:
        return
    names = list(rows[0])
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    quote = conn.dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join(mark for _ in names)})"
    )
    for start in range(0, len(rows), BATCH):
        conn.exec_driver_sql(sql, [tuple(r[n] for n in names) for r in rows[start : start + BATCH]])
