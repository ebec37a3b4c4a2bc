"""The Spark engine over a local lakehouse: one Spark session (local[2]) for the module.

It passes the engine contract (``lakeworks.testing.engines``); a Spark writer killed
outright leaves the previous version and only files vacuum removes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from lakeworks.catalog.harvest import harvest_engine
from lakeworks.engines.base import Engine, WriteMode
from lakeworks.engines.lakehouse import duckdb_engine as lakehouse_duckdb
from lakeworks.engines.lakehouse import duckdb_views
from lakeworks.engines.lakehouse.catalog import ROW_GROUP_ROWS, Lakehouse
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.engines.lakehouse.vacuum import vacuum
from lakeworks.engines.spark.config import SparkEngineOptions, parse_options
from lakeworks.engines.spark.engine import SparkEngine
from lakeworks.engines.spark.session import spark_session, stop_all
from lakeworks.errors import UserCodeError, UserError
from lakeworks.sql.translate import translate_script
from lakeworks.store.database import Database
from lakeworks.testing.engines import EngineContract

pytest.importorskip("pyspark")

# py4j leaves its gateway sockets to the garbage collector
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


OPTIONS = SparkEngineOptions(master="local[2]", shuffle_partitions=2)


@pytest.fixture(scope="module")
def spark() -> Iterator[None]:
    """One Spark session for the whole module (starting Spark takes seconds)."""
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    spark_session(OPTIONS)
    yield
    stop_all()
    lakehouse_duckdb.close_all()


@pytest.fixture(scope="module")
def engine(spark: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    root = tmp_path_factory.mktemp("spark")
    with Database.open(f"sqlite:///{root / 'meta.db'}") as db:
        lake = Lakehouse(db, open_storage(str(root / "lake")), "ws/dev")
        yield SparkEngine(lake, OPTIONS, "dev", "spark")


class TestSparkEngineContract(EngineContract):
    views_are_tables_of_the_engine = False  # Spark views are temporary, per session
    inserts_per_thread = 2  # each INSERT is a Spark job and a commit

    @pytest.fixture
    def engine(self, spark: None, tmp_path: Path) -> Iterator[Engine]:
        with Database.open(f"sqlite:///{tmp_path / 'meta.db'}") as db:
            lake = Lakehouse(db, open_storage(str(tmp_path / "lake")), "ws/dev")
            yield SparkEngine(lake, OPTIONS, "dev", "spark")


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


def test_created_columns_have_the_types_spark_gives_them(engine: SparkEngine) -> None:
    session = engine.session()
    plain = ["BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "BOOLEAN", "DATE"]
    plain += ["BINARY", "STRING", "VARCHAR(10)", "CHAR(3)", "DECIMAL(12,3)"]
    for table, types in (("t_plain", plain), ("t_nested", ["TIMESTAMP", "ARRAY<INT>"])):
        columns = ", ".join(f"c{i} {t}" for i, t in enumerate(types))
        session.execute(f"CREATE TABLE {table} ({columns}) PARTITIONED BY (ds STRING)")
        casts = ", ".join(f"CAST(NULL AS {t}) AS c{i}" for i, t in enumerate(types))
        spark = session.query_arrow(f"SELECT {casts}, CAST(NULL AS STRING) AS ds").schema
        created = engine.lakehouse.snapshot(table).schema
        assert [(f.name, f.type) for f in created] == [(f.name, f.type) for f in spark]


def test_interrupt_stops_a_running_statement(engine: SparkEngine) -> None:
    session = engine.session()
    outcome: list[object] = []

    def endless() -> None:
        try:
            outcome.append(session.execute("SELECT SUM(id % 7) FROM range(1000000000000)"))
        except Exception as exc:
            outcome.append(exc)

    runner = threading.Thread(target=endless, daemon=True)
    runner.start()
    deadline = time.monotonic() + 240
    while runner.is_alive() and time.monotonic() < deadline:
        session.interrupt()  # until the statement, started some time after the thread, ends
        runner.join(timeout=1)
    assert not runner.is_alive(), "the statement was not interrupted"
    assert len(outcome) == 1 and isinstance(outcome[0], UserCodeError), outcome
    assert session.execute("SELECT 1 AS one").rows == [(1,)]


def test_options_are_typed() -> None:
    assert parse_options({"master": "spark://h:7077"}, engine="big").master == "spark://h:7077"
    with pytest.raises(UserError, match="masterr"):
        parse_options({"masterr": "local"}, engine="big")


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from lakeworks.engines.lakehouse.catalog import Lakehouse
    from lakeworks.engines.lakehouse.storage import open_storage
    from lakeworks.engines.spark.config import SparkEngineOptions
    from lakeworks.engines.spark.engine import SparkEngine
    from lakeworks.store.database import Database

    lake = Lakehouse(Database.open(sys.argv[1]), open_storage(sys.argv[2]), "ws/dev")
    engine = SparkEngine(lake, SparkEngineOptions(master="local[1]"), "dev", "spark")
    session = engine.session()
    session.execute("SELECT 1")
    print("started", flush=True)
    session.execute(
        "INSERT OVERWRITE TABLE big PARTITION (ds) "
        "SELECT id, repeat('x', 200), CAST(id % 500 AS STRING) FROM range(3000000)"
    )
    print("committed", flush=True)
    """
)


def test_a_killed_spark_write_leaves_the_previous_version(engine: SparkEngine) -> None:
    lake = engine.lakehouse
    run(
        engine,
        "CREATE TABLE big (id BIGINT, pad STRING) PARTITIONED BY (ds STRING);"
        "INSERT INTO TABLE big PARTITION (ds = '0') SELECT 1, 'a';",
    )
    before = lake.snapshot("big")
    table_dir = Path(lake.storage.path("big"))
    known = {f.path for f in before.files}
    url = lake.db.url
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, url, lake.storage.root],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # Spark's JVM is killed with it
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 180
        while not any((table_dir / "_staging").rglob("*.parquet")):
            assert writer.poll() is None, "the write ended before it could be killed"
            assert time.monotonic() < deadline, "Spark wrote no staging files"
            time.sleep(0.05)
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGKILL)
            writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    assert lake.snapshot("big").version == before.version
    assert engine.session().execute("SELECT count(*) FROM big").rows == [(1,)]
    assert any(table_dir.rglob("*.parquet")) and len(list(table_dir.rglob("*.parquet"))) > 1
    report = vacuum(lake, retain=timedelta(0))
    assert report.orphan_files > 0
    left = {str(p.relative_to(lake.storage.root)) for p in table_dir.rglob("*.parquet")}
    assert left == known
    assert not (table_dir / "_staging").exists() or not any((table_dir / "_staging").iterdir())


def test_harvest_reads_spark_tables_through_duckdb(engine: SparkEngine) -> None:
    run(
        engine,
        """
        CREATE TABLE dws_harvest (region STRING, total DOUBLE) PARTITIONED BY (ds STRING);
        INSERT OVERWRITE TABLE dws_harvest PARTITION (ds = '20260410')
        SELECT 'east', 1.5 UNION ALL SELECT 'west', 2.5;
        INSERT OVERWRITE TABLE dws_harvest PARTITION (ds = '20260411') SELECT 'east', 4.0;
        """,
    )
    (found,) = harvest_engine(engine, names=["dws_harvest"])
    assert [(c.name, c.is_partition) for c in found.columns] == [
        ("region", False),
        ("total", False),
        ("ds", True),
    ]
    assert found.partition_columns == ("ds",)
    assert found.row_count == 3
    assert found.size_bytes == engine.lakehouse.snapshot("dws_harvest").bytes > 0
    assert found.partitions is not None
    assert [(p.spec, p.row_count) for p in found.partitions] == [
        ("ds=20260410", 2),
        ("ds=20260411", 1),
    ]


def test_spark_writes_row_groups_duckdb_reads_in_parallel(engine: SparkEngine) -> None:
    rows = 2 * ROW_GROUP_ROWS + 10
    run(
        engine,
        "CREATE TABLE wide_day (id BIGINT) PARTITIONED BY (ds STRING);"
        f"INSERT OVERWRITE TABLE wide_day PARTITION (ds = '20260410')"
        f" SELECT id FROM range(0, {rows}, 1, 1);",
    )
    [data] = engine.lakehouse.snapshot("wide_day").files
    path = engine.lakehouse.storage.path(data.path)
    groups = duckdb.sql(
        f"SELECT row_group_num_rows FROM parquet_metadata('{path}') ORDER BY row_group_id"
    ).fetchall()
    assert groups == [(ROW_GROUP_ROWS,), (ROW_GROUP_ROWS,), (10,)]
    # ids with no dictionary worth keeping are delta-packed (Parquet 2), not plain
    encodings = duckdb.sql(f"SELECT DISTINCT encodings FROM parquet_metadata('{path}')").fetchall()
    assert [e for (e,) in encodings if "DELTA_BINARY_PACKED" not in e] == []
