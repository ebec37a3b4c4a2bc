"""Opening the metadata database (SQLite or PostgreSQL) and migrating it.

SQLite is the embedded default: one process, any number of threads, WAL journal.
Lakeworks takes over transaction control from the ``sqlite3`` driver so that every
transaction really begins with ``BEGIN`` (DDL included) and writes begin with
``BEGIN IMMEDIATE`` (no lock-upgrade failures between threads). PostgreSQL is used
through psycopg 3 and is required when several processes share the store.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import re
import select
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from lakeworks.errors import LakeworksError, TransientError, UserError
from lakeworks.store.locations import ENV_DATABASE_URL as ENV_DATABASE_URL  # re-exported
from lakeworks.store.locations import default_database_url as default_database_url

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
MIGRATION_LOCK_KEY = 0x6C616B65776F726B
"""The PostgreSQL advisory lock taken (per database) while migrating."""

_WRITE_OPTION = "lakeworks_write"
PING_AFTER_IDLE_SECONDS = 30.0
"""A pooled PostgreSQL connection idle this long is pinged before it is used again."""
_IDLE_SINCE = "lakeworks_idle_since"


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise UserError(
            f"not a database URL: {url!r}",
            hint="use sqlite:///path/to/meta.db or postgresql+psycopg://user@host/db",
        ) from exc
    backend = parsed.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        explicit_driver = "+" in parsed.drivername
        if explicit_driver and parsed.get_driver_name() != "psycopg":
            raise UserError(
                f"unsupported PostgreSQL driver {parsed.get_driver_name()!r}",
                hint="use postgresql+psycopg:// (psycopg 3)",
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    raise UserError(
        f"the metadata database must be SQLite or PostgreSQL, not {backend!r}",
        hint=f"set {ENV_DATABASE_URL} to sqlite:///… or postgresql+psycopg://…",
    )


def _sqlite_engine(url: URL) -> sa.Engine:
    database = url.database or ""
    in_memory = database in {"", ":memory:"} or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    }
    if in_memory:
        # One shared connection: an in-memory store is for single-threaded tools only.
        kwargs["poolclass"] = StaticPool
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # Lakeworks emits BEGIN itself
        busy_ms = int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={busy_ms}",
            "foreign_keys=ON",
            "synchronous=NORMAL",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        # on the driver's connection: a whole SQLAlchemy execution (context, cursor,
        # result) doubled the cost of a short write transaction, all under the lock
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.execute(statement)
        except sqlite3.Error as exc:  # as SQLAlchemy wraps it: busy means transient
            raise sa.exc.DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc

    return engine


def _with_custom_plans(url: URL) -> URL:
    """Plan every execution with its own values (``plan_cache_mode=force_custom_plan``).

    psycopg prepares statements it sees repeatedly; PostgreSQL may then switch to a
    generic plan, which on skewed columns such as ``state`` (or on a freshly filled
    table) was 20 times slower than the custom plan in our measurements.
    """
    existing = url.query.get("options", "")
    current = existing if isinstance(existing, str) else " ".join(existing)
    if "plan_cache_mode" in current:
        return url
    options = f"{current} -c plan_cache_mode=force_custom_plan".strip()
    return url.update_query_dict({"options": options})


def plan_once(conn: sa.Connection) -> None:
    """Let the statements that follow in this transaction use plans made once for any
    values (PostgreSQL), where the caller knows the best plan does not depend on them.

    A worker's claim is one such statement: planning its data-modifying CTEs anew at
    every claim cost PostgreSQL about as much as running it (0.5 ms against 0.7 ms).
    Every other statement keeps a plan for its own values (``_with_custom_plans``).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the server sent something to an idle connection (an error, a close).

    A server that restarts or ends a session (``pg_terminate_backend``, an idle
    timeout) writes its reason and closes the socket, which then polls readable.
    """
    try:
        fd = dbapi_connection.fileno()
    except Exception:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _check_liveness_on_checkout(engine: sa.Engine) -> None:
    """Ping a pooled connection before use only when it may be dead.

    ``pool_pre_ping`` costs a round trip before every transaction; a worker's run
    records several. Instead a connection is pinged when its socket has input while
    idle (the server closed it or reported an error) or when it has been idle for
    ``PING_AFTER_IDLE_SECONDS``; a failed ping makes the pool replace it (and every
    connection older than it) before the caller sees anything.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:  # a new connection: it just answered
            return
        fresh = time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS
        if fresh and not _has_input(dbapi_connection):
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"pooled connection is gone: {exc}") from exc
        if not alive:
            raise sa.exc.DisconnectionError("pooled connection did not answer")


def _is_transient(exc: sa.exc.DBAPIError, dialect: str) -> bool:
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    if dialect == "sqlite":
        text = str(exc.orig).lower()
        return "locked" in text or "busy" in text
    return True


class Database:
    """A connection pool to the metadata database, plus its migrations.

    Repositories use ``read()`` and ``write()``; ``engine`` is there for code that
    needs SQLAlchemy directly (e.g. an area's own tables on ``schema.metadata``).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._autocommit_reads = engine.dialect.name == "postgresql"
        # SQLite allows one writer: threads of this process queue on a lock rather
        # than on SQLite's busy handler, which sleeps in growing steps while it waits.
        self._local_writers = (
            threading.RLock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, snapshot: bool = True) -> Database:
        """Open the store at ``url``; with ``migrate`` upgrade it to the latest schema.

        A new SQLite store starts from the shipped schema snapshot (``store.snapshot``)
        unless ``snapshot`` is off; the migrations then run only what it lacks.
        """
        parsed = _parse_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed)
        else:
            engine = sa.create_engine(_with_custom_plans(parsed))
            _check_liveness_on_checkout(engine)
        db = cls(engine)
        try:
            db.ping()
            if migrate:
                if snapshot and db.dialect_name == "sqlite":
                    db._apply_snapshot()
                db.migrate()
        except BaseException:
            db.close()
            raise
        return db

    def _apply_snapshot(self) -> None:
        from lakeworks.store.snapshot import apply_snapshot

        with self._local_writers, self._translated(), self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            apply_snapshot(raw)

    @property
    def dialect_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def supports_skip_locked(self) -> bool:
        """Whether ``SELECT … FOR UPDATE SKIP LOCKED`` is available (PostgreSQL)."""
        return self.dialect_name == "postgresql"

    @property
    def url(self) -> str:
        """The URL, password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def ping(self) -> None:
        """Check that the database answers; ``TransientError`` when it does not."""
        with self.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection for reading (never for writing: nothing it does is kept).

        On PostgreSQL each statement runs on its own (autocommit), which under READ
        COMMITTED sees exactly what it would inside a transaction, without the
        ``BEGIN`` and ``ROLLBACK`` round trips; on SQLite the transaction is rolled
        back at the end.
        """
        with self._translated(), self.engine.connect() as conn:
            if self._autocommit_reads:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A connection inside one write transaction, committed when the block ends.

        On SQLite the transaction starts with ``BEGIN IMMEDIATE``: writers queue on
        the database lock (up to the busy timeout) instead of failing half-way.
        """
        with self._local_writers, self._translated(), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            if _is_transient(exc, self.dialect_name):
                raise TransientError(
                    f"metadata database {self.url} is unavailable or busy: {exc.orig}",
                    hint="retry; check that the database is reachable",
                ) from exc
            raise

    def migrate(self, *, version_locations: Sequence[Path | str] = ()) -> None:
        """Upgrade the schema to every head revision (``alembic upgrade heads``).

        All pending migrations run in one transaction, so a failing one leaves the
        store as it was. On PostgreSQL an advisory lock lets concurrent callers take
        turns; on SQLite the ``BEGIN IMMEDIATE`` lock does the same. Extra
        ``version_locations`` hold additional migration scripts (plugins, tests).
        """
        if not version_locations and self._at_shipped_heads():
            return  # the common case: no Alembic environment to load
        from alembic import command

        config = self._alembic_config(version_locations)
        try:
            with self._translated(), self._migration_connection() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "heads")
                self._check_foreign_keys(conn)
        except LakeworksError:
            raise
        except Exception as exc:
            raise LakeworksError(
                f"migrating the metadata database {self.url} failed; nothing was changed: {exc}",
                hint="the store is still at its previous revision; if another Lakeworks"
                " version migrated it, run the same version",
            ) from exc

    def _at_shipped_heads(self) -> bool:
        """Whether the store is at every head of the shipped scripts (one cheap query)."""
        heads = _shipped_heads()
        if not heads:
            return False
        try:
            with self.read() as conn:
                rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
        except (sa.exc.DBAPIError, TransientError):
            return False  # a new store: no version table yet
        return {str(row[0]) for row in rows} == heads

    def revisions(self) -> set[str]:
        """The revisions the database is at (one per migration branch head)."""
        from alembic.runtime.migration import MigrationContext

        with self.read() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    def head_revisions(self, *, version_locations: Sequence[Path | str] = ()) -> set[str]:
        """The head revisions of the shipped migration scripts."""
        from alembic.script import ScriptDirectory

        config = self._alembic_config(version_locations)
        return set(ScriptDirectory.from_config(config).get_heads())

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> Literal[False]:
        self.close()
        return False

    def _alembic_config(self, version_locations: Sequence[Path | str]) -> Any:
        from alembic.config import Config

        config = Config()
        locations = [VERSIONS_DIR, *(Path(p) for p in version_locations)]
        config.set_main_option("script_location", _escape(str(MIGRATIONS_DIR)))
        config.set_main_option("path_separator", "newline")
        config.set_main_option("version_locations", "\n".join(_escape(str(p)) for p in locations))
        return config

    @contextmanager
    def _migration_connection(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            if self.dialect_name != "sqlite":
                with conn.begin():
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                    yield conn
                return
            # Table rebuilds (alembic batch mode) need foreign keys off, which SQLite
            # only allows outside a transaction; they are checked before commit.
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                conn.execution_options(**{_WRITE_OPTION: True})
                with conn.begin():
                    yield conn
            finally:
                try:
                    raw.execute("PRAGMA foreign_keys=ON")
                except Exception:
                    conn.invalidate()
                    raise

    def _check_foreign_keys(self, conn: sa.Connection) -> None:
        if self.dialect_name != "sqlite":
            return
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise LakeworksError(
                f"a migration left {len(broken)} rows with broken foreign keys,"
                f" e.g. {tuple(broken[0])}"
            )


_HEADER_LINE = re.compile(
    r"^(revision|down_revision|depends_on)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE
)


@functools.cache
def _shipped_heads() -> frozenset[str]:
    """The head revisions of the shipped scripts, read from their header lines.

    Cheaper than loading Alembic's script directory. Empty when a script uses
    anything this reader does not understand (``depends_on``, unusual syntax): the
    caller then lets Alembic decide.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted(VERSIONS_DIR.glob("[0-9]*.py")):
        header = dict(_HEADER_LINE.findall(script.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(header["revision"])
            down = ast.literal_eval(header.get("down_revision", "None"))
            depends = ast.literal_eval(header.get("depends_on", "None"))
        except (KeyError, ValueError, SyntaxError):
            return frozenset()
        if not isinstance(revision, str) or depends is not None:
            return frozenset()
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
        elif down is not None:
            return frozenset()
    return frozenset(revisions - parents)


def _escape(value: str) -> str:
    """Escape ``%`` for alembic's ConfigParser interpolation."""
    return value.replace("%", "%%")


def serialize_writers(conn: sa.Connection, name: str) -> None:
    """Make concurrent transactions that call this with the same ``name`` take turns
    until they commit (a PostgreSQL transaction-level advisory lock); SQLite has one
    writer at a time already."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
