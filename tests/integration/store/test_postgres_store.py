"""The store contract on PostgreSQL, plus concurrency only a server database has."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from lakeworks.errors import TransientError
from lakeworks.store.database import MIGRATION_LOCK_KEY, Database
from tests.integration.store.contract import StoreContract

pytestmark = pytest.mark.postgres

MIGRATE = (
    "import sys; from lakeworks.store.database import Database; Database.open(sys.argv[1]).close()"
)


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def url(self, pg_schema_url: str) -> str:
        return pg_schema_url


def test_capabilities(pg_schema_url: str) -> None:
    with Database.open(pg_schema_url) as db:
        assert db.dialect_name == "postgresql" and db.supports_skip_locked


def test_plain_postgresql_urls_use_psycopg(pg_schema_url: str) -> None:
    plain = pg_schema_url.replace("postgresql+psycopg://", "postgresql://")
    with Database.open(plain) as db:
        assert db.engine.dialect.driver == "psycopg"


def test_two_processes_migrating_at_once_take_turns(pg_schema_url: str) -> None:
    holder = sa.create_engine(pg_schema_url)
    try:
        with holder.connect() as conn:
            # hold the migration lock so that both processes queue up behind it
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", MIGRATE, pg_schema_url], stderr=subprocess.PIPE
                )
                for _ in range(2)
            ]
            deadline = time.monotonic() + 60
            waiting = 0
            while waiting < 2 and time.monotonic() < deadline:
                if any(p.poll() is not None for p in procs):
                    break  # a process finished without waiting: fail below
                time.sleep(0.1)
                # the session database is ours alone: every waiter is one of our children
                waiting = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                        " WHERE l.locktype = 'advisory' AND NOT l.granted"
                        " AND d.datname = current_database()"
                    )
                ).scalar_one()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
        outputs = [p.communicate(timeout=120)[1].decode() for p in procs]
        assert waiting == 2, "both processes should have waited for the migration lock"
        assert [p.returncode for p in procs] == [0, 0], outputs
    finally:
        holder.dispose()
    with Database.open(pg_schema_url, migrate=False) as db:
        assert db.revisions() == db.head_revisions()


def test_an_unreachable_server_is_a_transient_error() -> None:
    with pytest.raises(TransientError, match="unavailable"):
        Database.open("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_a_pooled_connection_the_server_ended_is_replaced_before_use(pg_schema_url: str) -> None:
    """No round trip before each transaction, yet a session the server ended while it
    sat in the pool (a restart, ``pg_terminate_backend``) never fails the next caller."""
    with Database.open(pg_schema_url) as db:
        with db.read() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        admin = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
        try:
            with admin.connect() as conn:
                ended = conn.execute(
                    sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
                ).scalar_one()
        finally:
            admin.dispose()
        assert ended
        time.sleep(0.5)  # the server closes the socket
        with db.write() as conn:
            again = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert again != pid


def test_a_busy_connection_is_not_pinged_before_each_transaction(
    pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Database.open(pg_schema_url) as db:
        pings: list[object] = []
        ping = db.engine.dialect.do_ping
        monkeypatch.setattr(db.engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
        for _ in range(5):
            with db.write() as conn:
                assert conn.execute(sa.text("SELECT 42")).scalar_one() == 42
        assert pings == []
