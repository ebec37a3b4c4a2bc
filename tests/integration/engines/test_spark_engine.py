"""The Spark engine over a local lakehouse: one Spark session (local[2]) for the module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from lakeworks.engines.base import WriteMode
from lakeworks.engines.lakehouse import duckdb_views
from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.engines.spark.config import SparkEngineOptions, parse_options
from lakeworks.engines.spark.engine import SparkEngine
from lakeworks.engines.spark.session import stop_all
from lakeworks.errors import UserCodeError, UserError
from lakeworks.sql.translate import translate_script
from lakeworks.store.database import Database

pytest.importorskip("pyspark")

# py4j leaves its gateway sockets to the garbage collector
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    root = tmp_path_factory.mktemp("spark")
    with Database.open(f"sqlite:///{root / 'meta.db'}") as db:
        lake = Lakehouse(db, open_storage(str(root / "lake")), "ws/dev")
        options = SparkEngineOptions(master="local[2]", shuffle_partitions=2)
        yield SparkEngine(lake, options, "dev", "spark")
        stop_all()


def run(engine: SparkEngine, script: str) -> list[object]:
    results: list[object] = []
    session = engine.session()
    for statement in translate_script(script, source_dialect="maxcompute", target_dialect="spark"):
        for step in statement.steps:
            results.append(session.execute(step))
    return results


def test_maxcompute_pipeline_runs_on_spark_and_duckdb_reads_it(engine: SparkEngine) -> None:
    engine.write_arrow(
        "ods_orders",
        [
            pa.record_batch(
                {
                    "order_id": [1, 2, 3],
                    "amount": [10.0, 20.5, 4.5],
                    "ds": ["20260410", "20260410", "20260411"],
                }
            )
        ],
        WriteMode.OVERWRITE_PARTITION,
        partition=None,
    )
    script = """
    CREATE TABLE IF NOT EXISTS dws_sales (orders BIGINT, total DOUBLE, day STRING)
      PARTITIONED BY (ds STRING) LIFECYCLE 30;
    INSERT OVERWRITE TABLE dws_sales PARTITION (ds = '20260410')
    SELECT COUNT(*), SUM(amount), TO_CHAR(TO_DATE('20260410', 'yyyymmdd'), 'yyyy-mm-dd')
    FROM ods_orders WHERE ds = '20260410';
    """
    run(engine, script)
    run(engine, script)  # a re-run replaces the partition
    session = engine.session()
    got = session.execute("SELECT orders, total, day, ds FROM dws_sales")
    assert got.rows == [(2, 30.5, "2026-04-10", "20260410")]
    assert engine.lakehouse.snapshot("dws_sales").version == 2
    conn = duckdb.connect()
    duckdb_views.attach(conn, engine.lakehouse)
    assert conn.execute("SELECT orders, total, ds FROM dws_sales").fetchall() == [
        (2, 30.5, "20260410")
    ]
    run(engine, "TRUNCATE TABLE dws_sales;")
    assert engine.describe("dws_sales").row_count == 0


def test_dynamic_partitions_append_and_drop(engine: SparkEngine) -> None:
    run(
        engine,
        """
        CREATE TABLE dwd_orders (order_id BIGINT, amount DOUBLE) PARTITIONED BY (ds STRING);
        INSERT OVERWRITE TABLE dwd_orders PARTITION (ds)
        SELECT order_id, amount, ds FROM ods_orders;
        INSERT INTO TABLE dwd_orders PARTITION (ds = '20260412') SELECT 9, 1.0;
        """,
    )
    assert engine.lakehouse.snapshot("dwd_orders").partitions() == {
        "ds=20260410": 2,
        "ds=20260411": 1,
        "ds=20260412": 1,
    }
    assert engine.partition_columns("dwd_orders") == ["ds"]
    run(engine, "DROP TABLE dwd_orders;")
    assert not engine.table_exists("dwd_orders")


def test_a_failing_statement_leaves_the_table_as_it_was(engine: SparkEngine) -> None:
    run(engine, "CREATE TABLE t_fail (x BIGINT); INSERT INTO TABLE t_fail SELECT 1;")
    before = engine.lakehouse.snapshot("t_fail")
    with pytest.raises(UserCodeError):
        run(engine, "INSERT OVERWRITE TABLE t_fail SELECT no_such_column FROM ods_orders;")
    with pytest.raises(UserCodeError, match="gives 2 columns"):
        run(engine, "INSERT OVERWRITE TABLE t_fail SELECT 1, 2;")
    after = engine.lakehouse.snapshot("t_fail")
    assert after.version == before.version
    assert engine.session().execute("SELECT x FROM t_fail").rows == [(1,)]
    staging = Path(engine.lakehouse.storage.path("t_fail")) / "_staging"
    assert not any(staging.rglob("*.parquet"))


def test_options_are_typed() -> None:
    assert parse_options({"master": "spark://h:7077"}, engine="big").master == "spark://h:7077"
    with pytest.raises(UserError, match="masterr"):
        parse_options({"masterr": "local"}, engine="big")
