"""Sync nodes end to end without external services: SQLite and local files -> DuckDB."""

from __future__ import annotations

import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeworks.errors import UserError
from lakeworks.integration.pipeline import DirtyLimitExceeded
from tests.integration.sync.world import SyncWorld


def _orders_db(world: SyncWorld, rows: list[tuple[object, ...]]) -> None:
    conn = sqlite3.connect(world.root / "shop.db")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, amount TEXT, "
        "updated_at TEXT, city TEXT)"
    )
    conn.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def test_full_sync_with_mapping_and_partition_rerun_is_idempotent(world: SyncWorld) -> None:
    _orders_db(world, [(i, f"{i}.50", "2024-01-01 00:00:00", "x") for i in range(1, 101)])
    world.add_source("shop", {"type": "sqlite", "path": "shop.db"})
    world.node(
        "ods_orders",
        {
            "source": {"data_source": "shop", "table": "orders"},
            "target": {
                "table": "ods_orders",
                "mode": "overwrite_partition",
                "partition": {"ds": "${bizdate}"},
            },
            "columns": [
                {"source": "id", "name": "order_id", "type": "bigint"},
                {"source": "amount", "type": "decimal(10,2)"},
            ],
        },
    )
    first = world.run("ods_orders", "20240101")
    again = world.run("ods_orders", "20240101")
    world.run("ods_orders", "20240102")
    assert first.rows_written == again.rows_written == 100
    assert world.query("SELECT ds, count(*) FROM ods_orders GROUP BY ds ORDER BY ds") == [
        ("20240101", 100),
        ("20240102", 100),
    ]
    types = dict(
        world.query(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'ods_orders'"
        )
    )
    assert types["order_id"] == "BIGINT"
    assert types["amount"] == "DECIMAL(10,2)"
    assert first.writes == frozenset({"ods_orders"})


def test_dirty_row_under_limit_is_quarantined_and_over_limit_writes_nothing(
    world: SyncWorld,
) -> None:
    rows = [(i, f"{i}", "2024-01-01", "x") for i in range(1, 51)]
    rows[9] = (10, "ten", "2024-01-01", "x")
    _orders_db(world, rows)
    world.add_source("shop", {"type": "sqlite", "path": "shop.db"})
    spec = {
        "source": {"data_source": "shop", "table": "orders"},
        "target": {"table": "orders_clean", "mode": "overwrite"},
        "columns": ["id", {"source": "amount", "type": "bigint"}],
        "dirty": {"max_rows": 1},
    }
    world.node("clean", spec)
    result = world.run("clean")
    assert result.rows_written == 49
    assert result.rows_dirty == 1
    assert world.query("SELECT count(*) FROM orders_clean") == [(49,)]
    quarantined = world.state().dirty_rows(result.run_id or 0)
    assert len(quarantined) == 1
    assert quarantined[0].position == "orders row 10"
    assert "amount" in quarantined[0].reason
    assert json.loads(quarantined[0].row_json)["amount"] == "ten"

    _orders_db(world, [(60, "sixty", "2024-01-01", "x")])
    with pytest.raises(DirtyLimitExceeded, match="2 dirty rows exceed the limit of 1"):
        world.run("clean")
    # the failed run left the previous contents untouched
    assert world.query("SELECT count(*) FROM orders_clean") == [(49,)]
    last = world.state().runs("wf.clean")[0]
    assert last.state == "failed" and last.rows_dirty == 2


def test_dirty_ratio_limit(world: SyncWorld) -> None:
    _orders_db(
        world, [(i, "bad" if i % 10 == 0 else str(i), "2024-01-01", "x") for i in range(1, 101)]
    )
    world.add_source("shop", {"type": "sqlite", "path": "shop.db"})
    world.node(
        "ratio",
        {
            "source": {"data_source": "shop", "table": "orders"},
            "target": {"table": "ratio_t"},
            "columns": ["id", {"source": "amount", "type": "int"}],
            "dirty": {"max_ratio": 0.05},
        },
    )
    with pytest.raises(DirtyLimitExceeded, match=r"10\.00% of 100"):
        world.run("ratio")
    assert not world.engine.table_exists("ratio_t") or world.query(
        "SELECT count(*) FROM ratio_t"
    ) == [(0,)]


def test_incremental_cursor_and_merge_over_three_runs(world: SyncWorld) -> None:
    _orders_db(world, [(i, str(i), f"2024-01-01 00:00:{i:02d}", "a") for i in range(1, 11)])
    world.add_source("shop", {"type": "sqlite", "path": "shop.db"})
    world.node(
        "inc",
        {
            "source": {"data_source": "shop", "table": "orders", "cursor": "updated_at"},
            "target": {"table": "orders_inc", "mode": "merge", "key": ["id"]},
        },
    )
    first = world.run("inc")
    assert first.rows_written == 10
    assert first.cursor_after == "2024-01-01 00:00:10"
    # late updates of old rows and new rows
    _orders_db(
        world,
        [(3, "33", "2024-01-02 00:00:00", "b"), (11, "11", "2024-01-02 00:00:01", "a")],
    )
    second = world.run("inc")
    assert second.rows_read == 2
    assert world.query("SELECT amount, city FROM orders_inc WHERE id = 3") == [("33", "b")]
    assert world.query("SELECT count(*) FROM orders_inc") == [(11,)]
    third = world.run("inc")
    assert third.rows_read == 0
    assert world.state().cursor("wf.inc") == "2024-01-02 00:00:01"


def test_schema_drift_add_and_fail(world: SyncWorld) -> None:
    _orders_db(world, [(1, "1", "2024-01-01", "a")])
    world.add_source("shop", {"type": "sqlite", "path": "shop.db"})
    spec = {
        "source": {"data_source": "shop", "table": "orders"},
        "target": {"table": "drift_t", "mode": "append"},
    }
    world.node("drift", spec)
    world.run("drift")
    conn = sqlite3.connect(world.root / "shop.db")
    conn.execute("ALTER TABLE orders ADD COLUMN channel TEXT")
    conn.execute("UPDATE orders SET channel = 'web'")
    conn.commit()
    conn.close()
    result = world.run("drift")
    assert result.added_columns == ["channel"]
    assert world.query("SELECT channel FROM drift_t ORDER BY channel NULLS FIRST") == [
        (None,),
        ("web",),
    ]
    conn = sqlite3.connect(world.root / "shop.db")
    conn.execute("ALTER TABLE orders ADD COLUMN coupon TEXT")
    conn.commit()
    conn.close()
    world.node("drift", {**spec, "schema_drift": "fail"})
    with pytest.raises(UserError, match=r"new column.*coupon"):
        world.run("drift")


def test_columns_added_by_a_failed_run_roll_back_with_it(world: SyncWorld) -> None:
    _orders_db(world, [(1, "1", "2024-01-01", "a")])
    world.add_source("shop", {"type": "sqlite", "path": "shop.db"})
    spec = {
        "source": {"data_source": "shop", "table": "orders"},
        "target": {"table": "drift_rb", "mode": "append"},
        "columns": ["id", {"source": "amount", "type": "bigint"}],
        "batch_rows": 1,
    }
    world.node("drift_rb", spec)
    world.run("drift_rb")
    # the second row is dirty: the run fails after the first batch added 'city'
    _orders_db(world, [(2, "two", "2024-01-01", "b")])
    world.node("drift_rb", {**spec, "columns": [*spec["columns"], "city"]})  # type: ignore[list-item]
    with pytest.raises(DirtyLimitExceeded):
        world.run("drift_rb")
    columns = world.query(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'drift_rb' "
        "ORDER BY column_index"
    )
    assert columns == [("id",), ("amount",)]
    assert world.query("SELECT id FROM drift_rb") == [(1,)]


def test_files_csv_jsonl_log_and_parquet_target(world: SyncWorld) -> None:
    data = world.root / "landing"
    data.mkdir()
    (data / "a.csv").write_text("id,name\n1,x\n2,y\n")
    (data / "b.csv").write_text("id,name\n3,z\n")
    (data / "events.jsonl").write_text('{"id": 1, "kind": "click"}\n{"id": 2, "kind": "view"}\n')
    (data / "app.log").write_bytes(
        b"2024-01-01 10:00:00 INFO started\ngarbage line\r\n2024-01-01 10:00:05 WARN slow\n"
        b"yesterday noon ERROR boom\n"
    )
    world.add_source("landing", {"type": "files", "root": "landing"})
    world.add_source("lake", {"type": "files", "root": "lake", "format": "parquet"})
    world.node(
        "csv",
        {
            "source": {"data_source": "landing", "path": "*.csv", "options": {"format": "csv"}},
            "target": {"table": "csv_t"},
        },
    )
    world.node(
        "jsonl",
        {
            "source": {
                "data_source": "landing",
                "path": "events.jsonl",
                "options": {"format": "jsonl"},
            },
            "target": {
                "data_source": "lake",
                "table": "events",
                "mode": "overwrite_partition",
                "partition": {"ds": "${bizdate}"},
            },
        },
    )
    world.node(
        "log",
        {
            "source": {
                "data_source": "landing",
                "path": "app.log",
                "options": {
                    "format": "log",
                    "pattern": r"(?P<ts>\S+ \S+) (?P<level>\w+) (?P<msg>.*)",
                },
            },
            "target": {"table": "log_t"},
            "columns": [{"source": "ts", "type": "timestamp"}, "level", "msg"],
            "dirty": {"max_rows": 5},
        },
    )
    assert world.run("csv").rows_written == 3
    assert world.query("SELECT sum(id) FROM csv_t") == [(6,)]
    world.run("jsonl")
    world.run("jsonl")  # rerun replaces the partition folder
    files = sorted((world.root / "lake" / "events" / "ds=20240101").glob("*.parquet"))
    assert len(files) == 1
    assert pq.read_table(files[0]).column("kind").to_pylist() == ["click", "view"]
    result = world.run("log")
    assert result.rows_written == 2 and result.rows_dirty == 2
    dirty = world.state().dirty_rows(result.run_id or 0)
    # a line that does not match and a matched line that does not convert: both by line
    assert sorted(d.position.split("app.log ")[-1] for d in dirty) == ["line 2", "line 4"]
    assert world.query("SELECT level FROM log_t ORDER BY ts") == [("INFO",), ("WARN",)]


def test_warehouse_to_warehouse_reads_become_dependencies(world: SyncWorld) -> None:
    with world.engine.transaction() as s:
        s.execute("CREATE TABLE src_t AS SELECT range AS id FROM range(1000)")
    world.node(
        "copy",
        {
            "source": {
                "data_source": "warehouse",
                "table": "src_t",
                "split_key": "id",
                "parallel": 3,
            },
            "target": {"table": "dst_t", "mode": "overwrite"},
        },
    )
    result = world.run("copy")
    assert result.rows_written == 1000
    assert result.reads == frozenset({"src_t"})
    assert world.query("SELECT count(DISTINCT id) FROM dst_t") == [(1000,)]


def test_bad_spec_points_at_the_line(world: SyncWorld) -> None:
    world.node(
        "bad",
        "source:\n  data_source: nowhere\n  table: t\ntarget:\n  table: x\n  mode: merge\n",
    )
    with pytest.raises(UserError) as info:
        world.run("bad")
    assert "merge needs 'key'" in str(info.value)
    assert info.value.location.line == 4  # the "target:" block
    world.node("bad2", "source:\n  data_source: nowhere\n  table: t\ntarget:\n  table: x\n")
    with pytest.raises(UserError) as info2:
        world.run("bad2")
    assert "unknown data source 'nowhere'" in str(info2.value)
    assert info2.value.location.line == 2


def test_parquet_source(world: SyncWorld) -> None:
    (world.root / "in").mkdir()
    pq.write_table(pa.table({"k": [1, 2, 3]}), world.root / "in" / "p.parquet")
    world.add_source("in", {"type": "files", "root": "in"})
    world.node(
        "pq", {"source": {"data_source": "in", "path": "p.parquet"}, "target": {"table": "pq_t"}}
    )
    assert world.run("pq").rows_written == 3
