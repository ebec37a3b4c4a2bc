"""Statements executed on SQLite's cursor store and read values exactly as SQLAlchemy does."""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lakeworks.errors import TransientError
from lakeworks.store.database import Database
from lakeworks.store.driver_statements import DriverStatement


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


_meta = sa.MetaData()
things = sa.Table(
    "things",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(), nullable=False, unique=True),
    sa.Column("at", sa.DateTime(timezone=False), nullable=True),
    sa.Column("doc", sa.JSON(), nullable=True),
    sa.Column("flag", sa.Boolean(), nullable=True),
    sa.Column("color", sa.Enum(Color), nullable=True),
    sa.Column("amount", sa.Numeric(10, 2), nullable=True),
)
_t = things.c
_INSERT = sa.insert(things)
_RENAME = (
    sa.update(things)
    .where(_t.name == sa.bindparam("old"), _t.flag == sa.true())
    .values(name=sa.bindparam("new"), at=sa.bindparam("when"), color=Color.BLUE)
    .returning(*things.c)
)
_BY_NAME = sa.select(things).where(_t.name == sa.bindparam("n")).order_by(_t.id)

ROWS: list[dict[str, Any]] = [
    {
        "name": "a",
        "at": datetime(2026, 4, 11, 2, 0, 0, 123456),
        "doc": {"k": [1, "two", None]},
        "flag": True,
        "color": Color.RED,
        "amount": "12.50",
    },
    {"name": "b", "at": None, "doc": None, "flag": False, "color": None, "amount": None},
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database.open(f"sqlite:///{tmp_path / 'meta.db'}") as opened:
        _meta.create_all(opened.engine)
        yield opened


def _stored(conn: sa.Connection) -> list[tuple[Any, ...]]:
    """The values as the database holds them (no processing)."""
    found = conn.exec_driver_sql(
        "SELECT name, at, doc, flag, color, amount FROM things ORDER BY name"
    )
    return [tuple(row) for row in found]


def _sent(db: Database) -> list[tuple[str, Any]]:
    """What SQLAlchemy sends to the cursor (recorded by the test)."""
    sent: list[tuple[str, Any]] = []

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def _record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if not statement.startswith("BEGIN"):
            sent.append((statement, params))

    return sent


def test_the_cursor_receives_what_sqlalchemy_sends(db: Database) -> None:
    sent = _sent(db)
    with db.write() as conn:
        conn.execute(_INSERT, ROWS)
        conn.execute(_RENAME, {"old": "a", "new": "c", "when": datetime(2026, 1, 2)})
        conn.execute(_BY_NAME, {"n": "c"})
    insert = DriverStatement(_INSERT).on(db.engine.dialect, ROWS[0])
    rename = DriverStatement(_RENAME).on(db.engine.dialect, ["old", "new", "when"])
    select = DriverStatement(_BY_NAME).on(db.engine.dialect, ["n"])
    assert sent == [
        (insert.sql, [insert.parameters(row) for row in ROWS]),
        (rename.sql, rename.parameters({"old": "a", "new": "c", "when": datetime(2026, 1, 2)})),
        (select.sql, select.parameters({"n": "c"})),
    ]


def test_values_are_stored_and_read_as_sqlalchemy_does(db: Database) -> None:
    with db.write() as conn:
        conn.execute(_INSERT, ROWS)
        through_sqlalchemy = _stored(conn)
        conn.execute(sa.delete(things))
        inserted = DriverStatement(_INSERT).execute_many(conn, ROWS)
    assert inserted == 2
    with db.read() as conn:
        assert _stored(conn) == through_sqlalchemy

    when = datetime(2026, 1, 2, 3, 4, 5, 6)
    rename = DriverStatement(_RENAME)
    with db.write() as conn:
        moved = rename.all(conn, {"old": "a", "new": "c", "when": when})
        not_moved = rename.one_or_none(conn, {"old": "b", "new": "d", "when": when})
        (read,) = DriverStatement(_BY_NAME).all(conn, {"n": "c"})
        expected = conn.execute(_BY_NAME, {"n": "c"}).one()._asdict()
    assert not_moved is None
    assert [dict(row) for row in moved] == [expected] == [dict(read)]
    assert expected["at"] == when and expected["doc"] == {"k": [1, "two", None]}
    assert expected["flag"] is True and expected["color"] is Color.BLUE
    assert str(expected["amount"]) == "12.50"


def test_a_missing_value_is_refused_as_sqlalchemy_refuses_it(db: Database) -> None:
    with db.write() as conn, pytest.raises(sa.exc.InvalidRequestError, match="'new'"):
        DriverStatement(_RENAME).all(conn, {"old": "a", "when": None})


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(db: Database) -> None:
    insert = DriverStatement(_INSERT)
    with db.write() as conn:
        insert.execute_many(conn, ROWS[:1])
    with pytest.raises(sa.exc.IntegrityError, match="UNIQUE"), db.write() as conn:
        insert.execute_many(conn, [{**ROWS[1], "name": "b"}, {**ROWS[1], "name": "a"}])
    with db.read() as conn:  # the failed transaction left nothing
        assert [r["name"] for r in DriverStatement(_BY_NAME).all(conn, {"n": "b"})] == []


def test_a_locked_database_is_a_transient_error(db: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process is writing
        with pytest.raises(TransientError, match="unavailable or busy"), db.read() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA busy_timeout=0")
            DriverStatement(_INSERT).execute_many(conn, ROWS[:1])
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_postgresql_statements_run_through_sqlalchemy() -> None:
    from sqlalchemy.dialects import postgresql

    with pytest.raises(ValueError, match="named parameters"):
        DriverStatement(_INSERT).on(postgresql.psycopg.dialect(), ROWS[0])
