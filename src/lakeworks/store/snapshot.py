"""A new SQLite store from the shipped schema snapshot instead of running every migration.

``migrations/sqlite_head.sql`` holds what ``alembic upgrade heads`` leaves in an empty
SQLite file: every ``CREATE`` statement of ``sqlite_master`` in creation order and the
rows the migrations insert (``alembic_version`` among them). Replaying it takes about
0.03 CPU-s where importing Alembic and running the migrations take 0.3, which every
first run of a workspace would pay. A snapshot that lags behind the scripts is still
correct: Alembic then upgrades from the revisions the snapshot recorded. The snapshot is
regenerated with ``python -m lakeworks.store.snapshot_build`` and a test checks that it
is current.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "migrations" / "sqlite_head.sql"
_HEADER = "-- The schema `alembic upgrade heads` creates in an empty SQLite store.\n"


def _statements(text: str) -> Iterator[str]:
    """The complete statements of a script, one at a time (comment lines skipped)."""
    pending = ""
    for line in text.splitlines(keepends=True):
        if not pending and (not line.strip() or line.startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""


def apply_snapshot(raw: sqlite3.Connection, snapshot: Path = SNAPSHOT) -> bool:
    """Create the snapshot's schema in ``raw`` if the file has no tables yet.

    Runs in one ``BEGIN IMMEDIATE`` transaction, so two processes opening the same new
    file cannot both create it. False (nothing done) when the file already has tables
    or no snapshot is shipped.
    """
    if not snapshot.is_file():
        return False
    raw.execute("BEGIN IMMEDIATE")
    try:
        if raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raw.execute("ROLLBACK")
            return False
        for statement in _statements(snapshot.read_text(encoding="utf-8")):
            raw.execute(statement)
        raw.execute("COMMIT")
    except BaseException:
        raw.execute("ROLLBACK")
        raise
    return True


def dump_schema(raw: sqlite3.Connection) -> str:
    """The snapshot text of a migrated store: its schema and the rows migrations wrote."""
    objects = raw.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    virtual = [name for kind, name, sql in objects if sql.upper().startswith("CREATE VIRTUAL")]

    def shadow(name: str) -> bool:  # created by its virtual table, not by a statement
        return any(name.startswith(f"{v}_") for v in virtual)

    lines = [_HEADER]
    tables: list[str] = []
    for kind, name, sql in objects:
        if shadow(name):
            continue
        lines.append(f"{sql};\n")
        if kind == "table" and name not in virtual:
            tables.append(name)
    for table in tables:
        for row in raw.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
            values = ", ".join(_literal(value) for value in row)
            lines.append(f'INSERT INTO "{table}" VALUES ({values});\n')
    return "".join(lines)


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"
