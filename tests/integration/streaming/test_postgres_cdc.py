"""PostgreSQL change data capture into the warehouse on the real server: a snapshot then
the changes (inserts, updates, deletes, a key change, a truncate, a new column), several
tables in one node, a lost slot, and the slot advanced only with the target."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakeworks.errors import UserError
from lakeworks.spec.loader import load_workspace
from lakeworks.streaming import service
from lakeworks.streaming.positions import load_positions
from lakeworks.streaming.status import StreamStatusStore
from tests.integration.streaming.pg_source import Source
from tests.integration.streaming.world import StreamWorld

pytestmark = pytest.mark.postgres


def _world(tmp_path: Path, source: Source, target: str = "ods_orders", **cdc: Any) -> StreamWorld:
    spec = {
        "source": {"type": "postgres_cdc", "data_source": "pg", "slot": source.slot, **cdc},
        "target": {"table": target},
        "flush": {"seconds": 0.2, "rows": 1000},
    }
    sources = {"pg": {"type": "postgres", "database": "test", "user": "postgres"}}
    return StreamWorld(tmp_path, "", spec, sources)


class Running:
    """A stream running in a thread until ``stop``."""

    def __init__(self, world: StreamWorld) -> None:
        self.cancel = threading.Event()
        self.runner = world.runner(self.cancel)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:
            self.error = exc

    def until(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 180  # generous: a loaded machine, not a timing test
        while not check():
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def stop(self) -> None:
        self.cancel.set()
        self.thread.join(60)
        assert self.error is None, self.error


def _rows(world: StreamWorld, table: str = "ods_orders") -> list[tuple[Any, ...]]:
    try:
        return world.query(f"SELECT * FROM {table} ORDER BY 1")
    except Exception:
        return []


def test_snapshot_then_inserts_updates_deletes(tmp_path: Path, source: Source) -> None:
    source.sql(
        "CREATE TABLE S.orders (id int PRIMARY KEY, amount numeric(12,2), note text, "
        "placed timestamptz)"
    )
    source.sql(
        "INSERT INTO S.orders SELECT i, i * 1.5, 'n' || i, "
        "'2026-12-01 00:00:00+00'::timestamptz + i * interval '1 minute' "
        "FROM generate_series(1, 200) i"
    )
    world = _world(tmp_path, source, tables=[f"{source.schema}.orders"])
    running = Running(world)
    try:
        running.until(lambda: len(_rows(world)) == 200, "the snapshot")
        source.sql("INSERT INTO S.orders VALUES (201, 7.25, 'new', now())")
        source.sql("UPDATE S.orders SET amount = 0, note = NULL WHERE id <= 10")
        source.sql("DELETE FROM S.orders WHERE id BETWEEN 11 AND 20")
        source.sql("UPDATE S.orders SET id = 1000 WHERE id = 30")  # a key change
        with source.conn.transaction():  # one transaction: insert, update, delete a key
            source.sql("INSERT INTO S.orders VALUES (500, 1, 'x', now())")
            source.sql("UPDATE S.orders SET note = 'y' WHERE id = 500")
            source.sql("DELETE FROM S.orders WHERE id = 500")
        expected = source.sql("SELECT id, amount, note FROM S.orders ORDER BY id")
        running.until(
            lambda: world.query("SELECT id, amount, note FROM ods_orders ORDER BY id") == expected,
            "the changes",
        )
        # idle and caught up: the watermark passes the source's clock
        marker = source.sql("SELECT clock_timestamp() AT TIME ZONE 'UTC'")[0][0]
        statuses = StreamStatusStore(world.db, "streamws", "dev")

        def watermark_passed() -> bool:
            found = statuses.get("wf.ev")
            return found is not None and (found.watermark or marker) > marker

        running.until(watermark_passed, "the watermark to pass the source's time")
    finally:
        running.stop()
    assert len(expected) == 200 - 10 + 1
    assert world.query("SELECT amount, note FROM ods_orders WHERE id = 5") == [(0, None)]
    types = dict(
        world.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'ods_orders'"
        )
    )
    assert types["id"] == "INTEGER" and types["amount"].startswith("DECIMAL")
    # the slot was let go up to the committed position (an idle stream lets it go
    # further, past WAL holding nothing of its tables)
    position = load_positions(world.engine, "wf.ev")[f"pg:{source.slot}"]
    slot = source.slot_row()
    assert slot is not None
    high, low = slot[0].split("/")
    assert (int(high, 16) << 32 | int(low, 16)) >= position
    status = StreamStatusStore(world.db, "streamws", "dev").get("wf.ev")
    assert status is not None and status.lag_bytes is not None
    assert status.watermark is not None


def test_truncate_and_a_new_column_follow_the_drift_policy(tmp_path: Path, source: Source) -> None:
    source.sql("CREATE TABLE S.orders (id bigint PRIMARY KEY, v text)")
    source.sql("INSERT INTO S.orders VALUES (1, 'a'), (2, 'b')")
    world = _world(tmp_path, source, tables=[f"{source.schema}.orders"])
    running = Running(world)
    try:
        running.until(lambda: len(_rows(world)) == 2, "the snapshot")
        source.sql("TRUNCATE S.orders")
        source.sql("ALTER TABLE S.orders ADD COLUMN qty int")
        source.sql("INSERT INTO S.orders VALUES (3, 'c', 7)")
        running.until(lambda: _rows(world) == [(3, "c", 7)], "truncate and the new column")
    finally:
        running.stop()
    assert any("added column qty" in line for line in world.log)


def test_whole_database_sync_by_patterns_and_naming_rule(tmp_path: Path, source: Source) -> None:
    for name in ("customers", "orders", "tmp_scratch"):
        source.sql(f"CREATE TABLE S.{name} (id int PRIMARY KEY, v text)")
        source.sql(f"INSERT INTO S.{name} VALUES (1, '{name}')")
    source.sql("CREATE TABLE S.no_key (v text)")  # no primary key: left out
    world = _world(
        tmp_path,
        source,
        include=[f"{source.schema}.*"],
        exclude=[f"{source.schema}.tmp_*"],
        target="ods_{table}",
    )
    running = Running(world)
    try:
        running.until(
            lambda: [len(_rows(world, f"ods_{t}")) for t in ("customers", "orders")] == [1, 1],
            "the snapshot of both tables",
        )
        source.sql("INSERT INTO S.customers VALUES (2, 'c2')")
        source.sql("DELETE FROM S.orders WHERE id = 1")
        running.until(
            lambda: len(_rows(world, "ods_customers")) == 2 and _rows(world, "ods_orders") == [],
            "changes of both tables",
        )
    finally:
        running.stop()
    tables = {row[0] for row in world.query("SELECT table_name FROM information_schema.tables")}
    assert "ods_tmp_scratch" not in tables and "ods_no_key" not in tables
    published = source.sql(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1", [source.slot]
    )
    assert published == [("customers",), ("orders",)]


def test_a_dropped_slot_is_a_clear_error(tmp_path: Path, source: Source) -> None:
    source.sql("CREATE TABLE S.orders (id int PRIMARY KEY)")
    source.sql("INSERT INTO S.orders VALUES (1)")
    world = _world(tmp_path, source, tables=[f"{source.schema}.orders"])
    running = Running(world)
    running.until(lambda: len(_rows(world)) == 1, "the snapshot")
    running.stop()
    source.sql("SELECT pg_drop_replication_slot(%s)", [source.slot])
    with pytest.raises(UserError, match="no longer exists") as caught:
        world.runner(threading.Event()).run()
    assert "lakeworks stream reset" in (caught.value.hint or "")
    status = StreamStatusStore(world.db, "streamws", "dev").get("wf.ev")
    assert status is not None and status.state == "failed"
    assert "no longer exists" in (status.last_error or "")
    # the hint's way out: a reset forgets the position; the next start takes a snapshot
    source.sql("INSERT INTO S.orders VALUES (2)")
    workspace = load_workspace(world.root)
    node = workspace.find_node("wf.ev")
    assert node is not None
    done = service.reset(world.engine, workspace, "dev", node)
    assert list(done.forgotten) == [f"pg:{source.slot}"] and done.dropped_slot is None
    running = Running(world)
    running.until(lambda: len(_rows(world)) == 2, "a new snapshot")
    running.stop()


def test_a_reset_drops_the_slot_and_the_publication(tmp_path: Path, source: Source) -> None:
    source.sql("CREATE TABLE S.orders (id int PRIMARY KEY)")
    world = _world(tmp_path, source, tables=[f"{source.schema}.orders"])
    running = Running(world)
    running.until(lambda: source.slot_row() is not None and len(_rows(world)) == 0, "the slot")
    running.until(lambda: bool(load_positions(world.engine, "wf.ev")), "the snapshot")
    running.stop()
    # an empty table's target is created all the same, with the source's types
    assert world.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'ods_orders'"
    ) == [("id", "INTEGER")]
    workspace = load_workspace(world.root)
    node = workspace.find_node("wf.ev")
    assert node is not None
    done = service.reset(world.engine, workspace, "dev", node)
    assert done.dropped_slot == source.slot
    assert "dropped replication slot" in service.confirm_text("wf.ev", done)
    assert source.slot_row() is None
    assert source.sql("SELECT 1 FROM pg_publication WHERE pubname = %s", [source.slot]) == []


def test_a_table_without_primary_key_is_refused(tmp_path: Path, source: Source) -> None:
    source.sql("CREATE TABLE S.logs (v text)")
    world = _world(tmp_path, source, tables=[f"{source.schema}.logs"])
    with pytest.raises(UserError, match="has no primary key"):
        world.runner(threading.Event()).run()
    assert source.slot_row() is None
