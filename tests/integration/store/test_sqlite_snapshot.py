"""A new SQLite store is created from the shipped snapshot: exactly what migrations make."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lakeworks.store.database import Database
from lakeworks.store.snapshot import SNAPSHOT, apply_snapshot, dump_schema
from lakeworks.store.snapshot_build import migrated_schema


def _objects(path: Path) -> tuple[set[tuple[str, str, str, str | None]], str]:
    raw = sqlite3.connect(path)
    try:
        master = set(raw.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        return master, dump_schema(raw)
    finally:
        raw.close()


def test_the_shipped_snapshot_is_what_the_migrations_create() -> None:
    assert SNAPSHOT.read_text(encoding="utf-8") == migrated_schema(), (
        "the SQLite schema snapshot is stale: run `python -m lakeworks.store.snapshot_build`"
    )


def test_a_store_from_the_snapshot_equals_a_migrated_store(tmp_path: Path) -> None:
    with Database.open(f"sqlite:///{tmp_path / 'migrated.db'}", snapshot=False) as migrated:
        heads = migrated.revisions()
    with Database.open(f"sqlite:///{tmp_path / 'snapshot.db'}") as fast:
        assert fast.revisions() == heads == fast.head_revisions()
    assert _objects(tmp_path / "snapshot.db") == _objects(tmp_path / "migrated.db")


def test_the_snapshot_never_touches_a_store_that_has_tables(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("CREATE TABLE mine (x INTEGER)")
        assert apply_snapshot(raw) is False
        names = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
        assert names == {"mine"}
    finally:
        raw.close()
