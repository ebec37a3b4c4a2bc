"""Sync from PostgreSQL into the warehouse: incremental runs, retries, a killed sync."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lakeworks.errors import UserError
from lakeworks.integration.pipeline import DirtyLimitExceeded
from tests.integration.sync.world import SyncWorld, unique
from tests.services import require_postgres

pytestmark = pytest.mark.postgres

DSN = "host=127.0.0.1 user=postgres dbname=test"


def _pg() -> psycopg.Connection[Any]:
    require_postgres()
    return psycopg.connect(DSN, autocommit=True)


@pytest.fixture
def orders() -> Iterator[str]:
    table = unique("lw_orders")
    with _pg() as conn:
        conn.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, amount numeric(10,2), "  # type: ignore[arg-type]
            "status text, updated_at timestamp)"
        )
        conn.execute(
            f"INSERT INTO {table} SELECT g, g * 1.25, 'new', "  # type: ignore[arg-type]
            "timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 1000) g"
        )
    yield table
    with _pg() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]


def _source(world: SyncWorld, app: str = "lakeworks") -> None:
    world.add_source("shop", {"type": "postgres", "database": "test", "application_name": app})


def test_incremental_three_runs_with_late_updates(world: SyncWorld, orders: str) -> None:
    _source(world)
    world.node(
        "ods_orders",
        {
            "source": {"data_source": "shop", "table": orders, "cursor": "updated_at"},
            "target": {"table": "ods_orders", "mode": "merge", "key": ["id"]},
        },
    )
    assert world.run("ods_orders").rows_written == 1000
    with _pg() as conn:
        conn.execute(
            f"UPDATE {orders} SET status = 'paid', updated_at = timestamp '2024-02-01' "  # type: ignore[arg-type]
            "WHERE id IN (5, 6)"
        )
        conn.execute(
            f"INSERT INTO {orders} VALUES (1001, 9.99, 'new', timestamp '2024-02-01 00:00:01')"  # type: ignore[arg-type]
        )
    second = world.run("ods_orders")
    assert second.rows_read == 3
    assert world.query(
        "SELECT count(*), count(*) FILTER (WHERE status = 'paid') FROM ods_orders"
    ) == [(1001, 2)]
    third = world.run("ods_orders")
    assert third.rows_read == 0 and third.rows_written == 0
    assert world.state().cursor("wf.ods_orders") == "2024-02-01 00:00:01"
    runs = world.state().runs("wf.ods_orders")
    assert [r.rows_read for r in runs] == [0, 3, 1000]
    assert all(r.state == "success" for r in runs)


def test_where_with_parameters_and_partition_overwrite(world: SyncWorld, orders: str) -> None:
    _source(world)
    world.node(
        "daily",
        "source:\n"
        "  data_source: shop\n"
        f"  table: {orders}\n"
        "  where: \"updated_at < '${yyyy-mm-dd}'::date + 1\"\n"
        "target:\n"
        "  table: daily\n"
        "  mode: overwrite_partition\n"
        "  partition: {ds: '${bizdate}'}\n",
    )
    first = world.run("daily", "20240101")
    assert first.rows_written == 1000  # every row is on or before 2024-01-01 + 1 day
    world.run("daily", "20240101")
    assert world.query("SELECT count(*) FROM daily WHERE ds = '20240101'") == [(1000,)]


@pytest.fixture
def wide() -> Iterator[str]:
    """100,000 rows of ~1 kB: far more than the pipe, socket and read-ahead buffers hold."""
    table = unique("lw_wide")
    with _pg() as conn:
        conn.execute(
            f"CREATE TABLE {table} AS SELECT g AS id, repeat('x', 1000) AS pad "  # type: ignore[arg-type]
            "FROM generate_series(1, 100000) g"
        )
    yield table
    with _pg() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]


def test_dropped_connection_is_retried(world: SyncWorld, wide: str) -> None:
    app = unique("lw_drop")
    _source(world, app)
    world.node(
        "retry",
        {
            "source": {"data_source": "shop", "table": wide},
            "target": {"table": "retry_t", "mode": "overwrite"},
            "batch_rows": 1000,
            "speed": {"rows_per_second": 20000},
            "retries": 2,
        },
    )
    killed = threading.Event()

    def kill_once(snapshot: Any) -> None:
        if not killed.is_set() and snapshot.rows > 0:
            killed.set()
            with _pg() as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (app,),
                )

    result = world.run("retry", listeners=[kill_once])
    assert killed.is_set()
    assert result.attempts == 2
    assert result.rows_written == 100000
    assert world.query("SELECT count(*) FROM retry_t") == [(100000,)]
    failed = world.state().runs("wf.retry")[1]
    assert failed.state == "failed"
    assert "closed the connection during the COPY" in (failed.error or "")


def test_killed_sync_leaves_no_partial_target_and_keeps_the_cursor(
    world: SyncWorld, orders: str, tmp_path: Path
) -> None:
    _source(world)
    node = {
        "source": {"data_source": "shop", "table": orders, "cursor": "updated_at"},
        "target": {"table": "killed_t", "mode": "append"},
        "batch_rows": 50,
    }
    world.node("killed", {**node, "source": {**node["source"], "where": "id <= 100"}})
    world.run("killed")
    before = world.state().cursor("wf.killed")
    world.node("killed", {**node, "speed": {"rows_per_second": 200}})
    world.close()
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path.cwd())!r})
        from pathlib import Path
        from tests.integration.sync.world import SyncWorld
        w = SyncWorld.__new__(SyncWorld)
        SyncWorld.reopen(w, Path({str(world.root)!r}), {world.data_sources!r})
        w.run("killed", listeners=[lambda s: print("rows", s.rows, flush=True)])
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("rows") and int(line.split()[1]) > 0:
            break
    else:
        pytest.fail("the sync never reported progress")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    again = SyncWorld.__new__(SyncWorld)
    again.reopen(world.root, world.data_sources)
    try:
        assert again.query("SELECT count(*) FROM killed_t") == [(100,)]
        assert again.state().cursor("wf.killed") == before
    finally:
        again.close()


def test_unknown_column_in_mapping(world: SyncWorld, orders: str) -> None:
    _source(world)
    world.node(
        "bad",
        {
            "source": {"data_source": "shop", "table": orders},
            "target": {"table": "bad_t"},
            "columns": ["id", "nope"],
        },
    )
    with pytest.raises(UserError, match="column 'nope' is not in the source"):
        world.run("bad")


def test_infinite_timestamps_are_quarantined_with_their_row(world: SyncWorld) -> None:
    table = unique("lw_inf")
    with _pg() as conn:
        conn.execute(
            f"CREATE TABLE {table} AS SELECT g AS id, CASE WHEN g = 7 THEN "  # type: ignore[arg-type]
            "'infinity'::timestamp ELSE timestamp '2024-01-01' + g * interval '1 hour' END "
            "AS updated_at FROM generate_series(1, 20) g"
        )
    try:
        _source(world)
        world.node(
            "inf",
            {
                "source": {"data_source": "shop", "table": table},
                "target": {"table": "inf_t", "mode": "overwrite"},
                "dirty": {"max_rows": 1},
            },
        )
        result = world.run("inf")
        assert (result.rows_written, result.rows_dirty) == (19, 1)
        assert world.query("SELECT count(*), max(id) FROM inf_t") == [(19, 20)]
        (dirty,) = world.state().dirty_rows(result.run_id or 0)
        assert dirty.position == f"{table} row 7"
        assert "column 'updated_at' holds 'infinity'" in dirty.reason
        assert '"updated_at": "infinity"' in dirty.row_json
    finally:
        with _pg() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]


def test_columns_added_by_a_failed_run_roll_back_in_postgres(world: SyncWorld) -> None:
    table = unique("lw_drift")
    conn = sqlite3.connect(world.root / "src.db")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT, note TEXT)")
    conn.execute("INSERT INTO items VALUES (1, '1', 'a')")
    conn.commit()
    world.add_source("src", {"type": "sqlite", "path": "src.db"})
    _source(world)
    spec: dict[str, Any] = {
        "source": {"data_source": "src", "table": "items"},
        "target": {"data_source": "shop", "table": table, "mode": "append"},
        "columns": ["id", {"source": "v", "type": "bigint"}],
        "batch_rows": 1,
    }
    try:
        world.node("drift", spec)
        world.run("drift")
        # the second row is dirty: the run fails after the first batch added 'note'
        conn.execute("INSERT INTO items VALUES (2, 'two', 'b')")
        conn.commit()
        world.node("drift", {**spec, "columns": [*spec["columns"], "note"]})
        with pytest.raises(DirtyLimitExceeded):
            world.run("drift")
        with _pg() as pg:
            columns = pg.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "ORDER BY ordinal_position",
                (table,),
            ).fetchall()
            assert columns == [("id",), ("v",)]
            assert pg.execute(f"SELECT id FROM {table}").fetchall() == [(1,)]  # type: ignore[arg-type]
    finally:
        conn.close()
        with _pg() as pg:
            pg.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]
