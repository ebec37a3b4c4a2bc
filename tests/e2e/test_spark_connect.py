"""The Spark engine through Spark Connect (``master: sc://host:port``).

A Connect server (pyspark's ``sbin/start-connect-server.sh``, its jar ships with
pyspark 4) runs ``local[1]`` for the module; ``lakeworks run`` of a MaxCompute-style
pipeline sends every statement to it, and the lakehouse tables it commits hold what
DuckDB computes from the same SQL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeworks.engines.lakehouse import duckdb_engine as lakehouse_duckdb
from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.engines.spark.config import SparkEngineOptions
from lakeworks.engines.spark.engine import SparkEngine
from lakeworks.engines.spark.session import spark_session, stop_all
from lakeworks.errors import TransientError, UserCodeError, UserError
from lakeworks.store.database import Database
from tests.services import free_port

pyspark = pytest.importorskip("pyspark")
pytest.importorskip("grpc")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.timeout(900),
]

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
SPARK_HOME = Path(pyspark.__file__).parent
DATES = ["20260401", "20260402"]
NODES = {
    "ods_orders": """
CREATE TABLE IF NOT EXISTS ods_orders (order_id BIGINT, region STRING, amount DOUBLE)
PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE ods_orders PARTITION (ds = '${bizdate}')
SELECT CAST('${bizdate}' AS BIGINT) * 10 + 1, 'east',
  10.5 * CAST(SUBSTR('${bizdate}', 8, 1) AS DOUBLE)
UNION ALL SELECT CAST('${bizdate}' AS BIGINT) * 10 + 2, 'west', 20.0
UNION ALL SELECT CAST('${bizdate}' AS BIGINT) * 10 + 3, 'east', -1.0;
""",
    "dws_region": """
CREATE TABLE IF NOT EXISTS dws_region (region STRING, orders BIGINT, total DOUBLE)
PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE dws_region PARTITION (ds = '${bizdate}')
SELECT UPPER(region), COUNT(1), SUM(amount) FROM ods_orders
WHERE ds = '${bizdate}' AND amount > 0 GROUP BY UPPER(region);
""",
}
CHECK = "SELECT ds, region, orders, total FROM dws_region ORDER BY ds, region"


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on the loopback for the module."""
    folder = tmp_path_factory.mktemp("connect")
    port = free_port()
    log = folder / "server.log"
    with log.open("ab") as out:
        server = subprocess.Popen(
            [
                str(SPARK_HOME / "sbin" / "start-connect-server.sh"),
                "--wait",
                *("--master", "local[1]", "--driver-memory", "512m"),
                *("--conf", "spark.ui.enabled=false"),
                *("--conf", "spark.connect.grpc.binding.address=127.0.0.1"),
                *("--conf", f"spark.connect.grpc.binding.port={port}"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "SPARK_HOME": str(SPARK_HOME),
                "SPARK_LOCAL_IP": "127.0.0.1",
                "SPARK_LOG_DIR": str(folder),
                "SPARK_PID_DIR": str(folder),
            },
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while "Spark Connect server started" not in log.read_text(errors="replace"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop_all()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def write_workspace(root: Path, engine: str) -> Path:
    root.mkdir(parents=True)
    (root / "lakeworks.yml").write_text(
        f"name: connect\nsql_dialect: maxcompute\ntimezone: UTC\n{engine}", encoding="utf-8"
    )
    flow = root / "workflows" / "daily"
    flow.mkdir(parents=True)
    for name, sql in NODES.items():
        (flow / f"{name}.sql").write_text(sql.lstrip(), encoding="utf-8")
    return root


def lakeworks(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [LAKEWORKS, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "LAKEWORKS_DATABASE_URL"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_a_pipeline_runs_through_spark_connect_as_on_duckdb(
    connect_url: str, tmp_path: Path
) -> None:
    spark_ws = write_workspace(
        tmp_path / "spark",
        "engines:\n  default:\n    type: spark\n    options:\n"
        f"      master: {connect_url}\n      shuffle_partitions: 2\n",
    )
    duck_ws = write_workspace(tmp_path / "duck", "")
    for day in DATES:
        lakeworks("run", "-w", str(spark_ws), "--bizdate", day, "-q")
        lakeworks("run", "-w", str(duck_ws), "--bizdate", day, "-q")
    # ``lakeworks query`` of the Spark workspace reads the lakehouse through DuckDB
    got = lakeworks("query", "-w", str(spark_ws), "--format", "json", CHECK)
    expected = lakeworks("query", "-w", str(duck_ws), "--format", "json", CHECK)
    rows = json.loads(got.stdout)
    assert rows == json.loads(expected.stdout)
    assert [r["region"] for r in rows] == ["EAST", "WEST"] * len(DATES)


@pytest.fixture
def engine(connect_url: str, tmp_path: Path) -> Iterator[SparkEngine]:
    with Database.open(f"sqlite:///{tmp_path / 'meta.db'}") as db:
        lake = Lakehouse(db, open_storage(str(tmp_path / "lake")), "ws/dev")
        yield SparkEngine(lake, SparkEngineOptions(master=connect_url), "dev", "spark")
    lakehouse_duckdb.close_all()


def test_interrupt_stops_a_statement_running_on_the_connect_server(engine: SparkEngine) -> None:
    session = engine.session()
    outcome: list[object] = []

    def endless() -> None:
        try:
            outcome.append(session.execute("SELECT SUM(id % 7) FROM range(1000000000000)"))
        except Exception as exc:
            outcome.append(exc)

    runner = threading.Thread(target=endless, daemon=True)
    runner.start()
    # interrupt until the statement (started at some point after the thread) ends
    deadline = time.monotonic() + 240
    while runner.is_alive() and time.monotonic() < deadline:
        session.interrupt()
        runner.join(timeout=1)
    assert not runner.is_alive(), "the statement was not interrupted"
    assert len(outcome) == 1 and isinstance(outcome[0], UserCodeError), outcome
    # the session still works after an interrupt
    assert session.execute("SELECT 1 AS one").rows == [(1,)]


def test_an_unreachable_connect_server_is_reported_at_once() -> None:
    port = free_port()
    with pytest.raises(
        TransientError,
        match=re.escape(f"cannot reach the Spark Connect server at 127.0.0.1:{port}"),
    ):
        spark_session(SparkEngineOptions(master=f"sc://127.0.0.1:{port}"))


def test_a_setting_the_connect_server_refuses_is_named(connect_url: str) -> None:
    stop_all()  # a process keeps one session per master: start a new one
    options = SparkEngineOptions(master=connect_url, conf={"spark.ui.enabled": "true"})
    with pytest.raises(UserError, match=re.escape("refuses the setting spark.ui.enabled=true")):
        spark_session(options)


def test_a_local_driver_beside_a_connect_session_is_refused_by_name(engine: SparkEngine) -> None:
    engine.session().execute("SELECT 1 AS one")
    with pytest.raises(UserError, match="already uses the Spark Connect server sc://"):
        spark_session(SparkEngineOptions(master="local[1]"))


def test_after_connect_a_process_and_its_children_can_start_a_local_driver(
    engine: SparkEngine,
) -> None:
    engine.session().execute("SELECT 1 AS one")
    # pyspark marks the whole process as a Connect client; a child inherits the mark
    inherited = dict(os.environ)
    assert inherited.get("SPARK_CONNECT_MODE_ENABLED") == "1"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lakeworks.engines.spark.config import SparkEngineOptions\n"
            "from lakeworks.engines.spark.session import spark_session, stop_all\n"
            "s = spark_session(SparkEngineOptions(master='local[1]'))\n"
            "print(s.sql('SELECT 40 + 2 AS answer').collect()[0][0])\n"
            "stop_all()\n",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**inherited, "SPARK_LOCAL_IP": "127.0.0.1"},
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.strip().splitlines()[-1] == "42"
    stop_all()
    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ
