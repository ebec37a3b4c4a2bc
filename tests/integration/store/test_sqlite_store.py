"""The store contract on SQLite, plus what only the embedded default does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakeworks.errors import TransientError, UserError
from lakeworks.store import database
from lakeworks.store.database import Database, _shipped_heads, default_database_url
from lakeworks.store.repositories import InstanceRepository, LogRepository
from tests.integration.store.contract import StoreContract
from tests.integration.store.contract_instances import daily, race


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url


def test_default_url_is_a_sqlite_file_in_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAKEWORKS_DATABASE_URL", raising=False)
    state = tmp_path / "project" / ".lakeworks"
    url = default_database_url(state)
    assert state.is_dir()
    assert url == f"sqlite:///{state.resolve() / 'meta.db'}"
    with Database.open(url) as db:
        assert db.dialect_name == "sqlite" and not db.supports_skip_locked
    assert (state / "meta.db").is_file()


def test_environment_variable_chooses_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEWORKS_DATABASE_URL", "postgresql+psycopg://lw@db.example/lw")
    assert default_database_url(tmp_path / "unused") == "postgresql+psycopg://lw@db.example/lw"
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql+pymysql://root@127.0.0.1/test", "must be SQLite or PostgreSQL, not 'mysql'"),
        ("postgresql+asyncpg://u@h/db", "unsupported PostgreSQL driver 'asyncpg'"),
    ],
)
def test_unusable_urls_are_user_errors(url: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        Database.open(url)
    assert info.value.hint


def test_connections_use_wal_and_enforce_foreign_keys(sqlite_url: str) -> None:
    with Database.open(sqlite_url) as db, db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_write_that_waits_too_long_for_the_lock_is_transient(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding SQLite's write lock past the busy timeout: the write
    fails as transient (retried by its callers), with nothing written."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.2)
    with Database.open(sqlite_url) as db:
        repo = InstanceRepository(db)
        other = sqlite3.connect(sa.make_url(sqlite_url).database or "", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(TransientError, match="unavailable or busy: database is locked"):
                repo.create_many([daily("a")])
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert repo.list() == []  # the refused write left nothing behind
        assert repo.create_many([daily("a")])[0].node_key == daily("a").node_key


def test_many_threads_write_without_locking_errors(sqlite_url: str) -> None:
    with Database.open(sqlite_url) as db:
        repo = InstanceRepository(db)
        [inst] = repo.create_many([daily("a")])
        logs = LogRepository(db)
        counter = iter(range(1000))

        def write_a_lot() -> None:
            for _ in range(40):
                n = next(counter)
                logs.append(inst.id, 1, [f"line {n}"])
                repo.record_event(inst.id, "note", detail=str(n))

        race(4, write_a_lot)
        assert len(logs.read(inst.id)) == 160
        assert len(repo.events(inst.id)) == 160


def test_foreign_keys_are_back_on_after_migrating(sqlite_url: str) -> None:
    with Database.open(sqlite_url) as db:
        db.migrate()
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO instance_logs (instance_id, attempt, created_at, text)"
                " VALUES (12345, 1, '2026-04-01 00:00:00.000000', 'orphan')"
            )


def test_a_store_at_head_opens_without_loading_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    with Database.open(url) as db:
        assert db.revisions() == db.head_revisions()
        assert _shipped_heads() == db.head_revisions()
    with Database.open(url) as db, db.write() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version WHERE version_num = '0015'"))
    with Database.open(url, migrate=False) as db:  # one branch behind: Alembic decides
        assert not db._at_shipped_heads()
