"""Lakehouse tables on local disk and on S3 (moto): commits, versions, DuckDB views."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeworks.engines.base import WriteMode
from lakeworks.engines.lakehouse import duckdb_views
from lakeworks.engines.lakehouse.catalog import ROW_GROUP_ROWS, Lakehouse
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.errors import Conflict, NotFound, UserError
from lakeworks.store.database import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database.open(f"sqlite:///{tmp_path / 'meta.db'}") as database:
        yield database


@pytest.fixture
def lake(db: Database, tmp_path: Path) -> Lakehouse:
    return Lakehouse(db, open_storage(str(tmp_path / "warehouse")), "dev")


def orders(ds: str, amounts: list[float]) -> pa.Table:
    return pa.table(
        {
            "order_id": list(range(1, len(amounts) + 1)),
            "amount": amounts,
            "ds": [ds] * len(amounts),
        }
    )


def test_partition_overwrite_replaces_only_that_partition(lake: Lakehouse, tmp_path: Path) -> None:
    lake.write("orders", orders("20260410", [1.0, 2.0]), partition_by=["ds"])
    lake.write("orders", orders("20260411", [3.0]), WriteMode.APPEND)
    lake.write(
        "orders",
        orders("x", [5.0, 6.0, 7.0]).drop_columns(["ds"]),
        WriteMode.OVERWRITE_PARTITION,
        partition={"ds": "20260411"},
    )
    snap = lake.snapshot("orders")
    assert snap.version == 3
    assert snap.partitions() == {"ds=20260410": 2, "ds=20260411": 3}
    assert (tmp_path / "warehouse" / "orders" / "ds=20260411").is_dir()
    # earlier versions stay readable
    assert lake.read("orders", version=2).num_rows == 3
    assert [c.operation for c in lake.history("orders")] == [
        "append",
        "append",
        "overwrite_partition",
    ]


def test_duckdb_reads_the_current_version_with_typed_partitions(lake: Lakehouse) -> None:
    lake.write("orders", orders("20260410", [1.0, 2.0]), partition_by=["ds"])
    conn = duckdb.connect()
    duckdb_views.attach(conn, lake)
    assert conn.execute("SELECT ds, sum(amount) FROM orders GROUP BY ds").fetchall() == [
        ("20260410", 3.0)
    ]
    lake.write("orders", orders("20260410", [9.0]), WriteMode.OVERWRITE_PARTITION)
    duckdb_views.attach(conn, lake)
    assert conn.execute("SELECT sum(amount) FROM orders").fetchone() == (9.0,)


def test_a_failed_write_leaves_the_previous_version_and_no_files(
    lake: Lakehouse, tmp_path: Path
) -> None:
    lake.write("orders", orders("20260410", [1.0]), partition_by=["ds"])
    before = sorted((tmp_path / "warehouse").rglob("*.parquet"))
    bad = pa.table({"order_id": [1], "amount": ["not a number"], "ds": ["20260410"]})
    with pytest.raises(UserError, match="does not fit"):
        lake.write("orders", bad, WriteMode.OVERWRITE_PARTITION)
    with pytest.raises(UserError, match="missing: amount"):
        lake.write("orders", pa.table({"order_id": [1], "ds": ["x"]}))
    assert sorted((tmp_path / "warehouse").rglob("*.parquet")) == before
    assert lake.snapshot("orders").version == 1
    assert lake.read("orders").column("amount").to_pylist() == [1.0]


def test_two_writers_of_one_partition_one_wins(lake: Lakehouse, tmp_path: Path) -> None:
    lake.write("orders", orders("20260410", [1.0]), partition_by=["ds"])
    base = lake.snapshot("orders")
    # writer A commits while writer B has already started from the same version
    lake.write("orders", orders("20260410", [2.0]), WriteMode.OVERWRITE_PARTITION)
    written = lake._write_file(base, {"ds": "20260410"}, orders("20260410", [3.0]))
    with pytest.raises(Conflict, match="partition ds=20260410"):
        lake.commit_files(base, "overwrite_partition", [written], ["ds=20260410"])
    assert lake.read("orders").column("amount").to_pylist() == [2.0]
    # another partition, and appends, do not conflict
    other = lake._write_file(base, {"ds": "20260411"}, orders("20260411", [4.0]))
    lake.commit_files(base, "overwrite_partition", [other], ["ds=20260411"])
    assert lake.snapshot("orders").partitions() == {"ds=20260410": 1, "ds=20260411": 1}


def test_concurrent_overwrites_leave_one_consistent_version(lake: Lakehouse) -> None:
    lake.write("orders", orders("20260410", [0.0]), partition_by=["ds"])
    outcomes: list[str] = []

    def overwrite(value: float) -> None:
        try:
            lake.write("orders", orders("20260410", [value] * 3), WriteMode.OVERWRITE_PARTITION)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=overwrite, args=(float(i),)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "ok" in outcomes
    amounts = lake.read("orders").column("amount").to_pylist()
    assert len(amounts) == 3 and len(set(amounts)) == 1


def test_merge_by_key_and_truncate(lake: Lakehouse) -> None:
    lake.write("customers", pa.table({"id": [1, 2], "name": ["a", "b"]}))
    lake.write(
        "customers", pa.table({"id": [2, 3], "name": ["B", "c"]}), WriteMode.MERGE, key=["id"]
    )
    got = sorted(lake.read("customers").to_pylist(), key=lambda r: r["id"])
    assert got == [{"id": 1, "name": "a"}, {"id": 2, "name": "B"}, {"id": 3, "name": "c"}]
    lake.truncate("customers")
    assert lake.read("customers").num_rows == 0
    with pytest.raises(NotFound):
        lake.snapshot("missing")


def test_s3_storage(db: Database, s3_endpoint: str) -> None:
    bucket = "issue18-lakehouse"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    lake = Lakehouse(db, open_storage(f"s3://{bucket}/wh", endpoint=s3_endpoint), "prod")
    lake.write("orders", orders("20260410", [1.0, 2.0]), partition_by=["ds"])
    lake.write("orders", orders("20260411", [3.0]), WriteMode.OVERWRITE_PARTITION)
    keys = [
        o["Key"]
        for o in boto3.client(
            "s3", endpoint_url=s3_endpoint, region_name="us-east-1"
        ).list_objects_v2(Bucket=bucket)["Contents"]
    ]
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert len(parquet) == 2
    assert all(k.startswith("wh/orders/ds=2026041") for k in parquet)
    conn = duckdb.connect()
    duckdb_views.attach(conn, lake)
    assert conn.execute("SELECT ds, count(*) FROM orders GROUP BY ds ORDER BY ds").fetchall() == [
        ("20260410", 2),
        ("20260411", 1),
    ]


def test_files_are_plain_hive_partitioned_parquet(lake: Lakehouse, tmp_path: Path) -> None:
    lake.write("orders", orders("20260410", [1.0]), partition_by=["ds"])
    [path] = (tmp_path / "warehouse" / "orders" / "ds=20260410").glob("*.parquet")
    assert pq.read_table(path).column_names == ["order_id", "amount"]


def test_a_large_write_is_split_into_row_groups_duckdb_reads_in_parallel(
    lake: Lakehouse, tmp_path: Path
) -> None:
    rows = 2 * ROW_GROUP_ROWS + 10
    kinds = ["view", "buy"] * (rows // 2)
    lake.write("events", pa.table({"id": list(range(rows)), "kind": kinds}))
    [path] = (tmp_path / "warehouse" / "events").glob("*.parquet")
    groups = duckdb.sql(
        "SELECT DISTINCT row_group_id, row_group_num_rows "
        f"FROM parquet_metadata('{path}') ORDER BY row_group_id"
    ).fetchall()
    assert [n for _, n in groups] == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 10]
    # integers delta-packed (as Spark writes them), other columns dictionary-encoded
    encodings = dict(
        duckdb.sql(
            f"SELECT DISTINCT path_in_schema, encodings FROM parquet_metadata('{path}')"
        ).fetchall()
    )
    assert "DELTA_BINARY_PACKED" in encodings["id"]
    assert "RLE_DICTIONARY" in encodings["kind"]
