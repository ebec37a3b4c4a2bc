"""The Spark engine on the path users run: ``lakeworks run`` of a ``type: spark`` workspace.

Generates ``ods_events`` (~10M rows over ten daily partitions, written into the dev
lakehouse as a sync would) and a 10-node MaxCompute-style pipeline over it (ODS → DWD
→ DWS → ADS, each node ``INSERT OVERWRITE ... PARTITION (ds='${bizdate}')``), then:

(a) runs ``lakeworks run -w WS --bizdate 20260410 --parallel 1`` as a new process with
    the default configuration (Spark start-up, validation, every node, the quality gate
    and the Data Map included; one node at a time, as the loop runs them);
(b) runs the same statements, in native Spark SQL, on Spark tables over the
    same Parquet files, in one Spark session in a loop, as a new process too (Python
    start-up, ``import pyspark``, Spark start-up and the source table's registration
    over its files, then the loop's statements; the row counts read after each insert,
    to check the answers, are not timed).

Both sides take turns, ``--rounds`` times (3; each a new process, each Spark a new JVM),
so that a change of load falls on both alike: Spark's own time for the same job moves
by seconds from one JVM to the next. ``spark_overhead_per_node`` = the median over the
rounds of ((a) - (b)) / nodes: what Lakeworks adds per node beyond the work Spark does.
Then DuckDB over the lakehouse (the interactive engine) answers an aggregate over the
pipeline's DWD output, against the same query on a native DuckDB table holding the
same rows: ``duckdb_lakehouse_vs_native``.

    .venv/bin/python benchmarks/spark_engine.py            # ~10M rows
    .venv/bin/python benchmarks/spark_engine.py --quick    # smoke size (200k rows)

Prints a table, then ``RESULT`` lines. Exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the direct side's process imports only pyspark
    import pyarrow as pa

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
BIZDATE = "20260410"
DAYS = [f"202604{d:02d}" for d in range(1, 11)]

WORKSPACE = """name: sparkbench
sql_dialect: maxcompute
engines:
  default:
    type: spark
    options:
      master: local[2]
      shuffle_partitions: 4
environments:
  dev:
    engine: default
  prod:
    engine: default
"""

# (node, SQL in MaxCompute style; ${bizdate} rendered by Lakeworks)
PIPELINE: list[tuple[str, str]] = [
    (
        "dwd_events",
        "CREATE TABLE IF NOT EXISTS dwd_events (user_id BIGINT, item_id BIGINT, amount DOUBLE,"
        " kind STRING) PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE dwd_events PARTITION (ds = '${bizdate}')\n"
        "SELECT user_id, item_id, amount, kind FROM ods_events\n"
        "WHERE ds = '${bizdate}' AND amount > 0;",
    ),
    (
        "dws_user_day",
        "CREATE TABLE IF NOT EXISTS dws_user_day (user_id BIGINT, events BIGINT, total DOUBLE)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE dws_user_day PARTITION (ds = '${bizdate}')\n"
        "SELECT user_id, COUNT(1), SUM(amount) FROM dwd_events WHERE ds = '${bizdate}'\n"
        "GROUP BY user_id;",
    ),
    (
        "dws_item_day",
        "CREATE TABLE IF NOT EXISTS dws_item_day (item_id BIGINT, buyers BIGINT, total DOUBLE)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE dws_item_day PARTITION (ds = '${bizdate}')\n"
        "SELECT item_id, COUNT(DISTINCT user_id), SUM(amount) FROM dwd_events\n"
        "WHERE ds = '${bizdate}' GROUP BY item_id;",
    ),
    (
        "dws_kind_day",
        "CREATE TABLE IF NOT EXISTS dws_kind_day (kind STRING, events BIGINT, total DOUBLE)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE dws_kind_day PARTITION (ds = '${bizdate}')\n"
        "SELECT kind, COUNT(1), SUM(amount) FROM dwd_events WHERE ds = '${bizdate}'\n"
        "GROUP BY kind;",
    ),
    (
        "ads_top_users",
        "CREATE TABLE IF NOT EXISTS ads_top_users (user_id BIGINT, total DOUBLE)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE ads_top_users PARTITION (ds = '${bizdate}')\n"
        "SELECT user_id, total FROM dws_user_day WHERE ds = '${bizdate}'\n"
        "ORDER BY total DESC LIMIT 100;",
    ),
    (
        "ads_top_items",
        "CREATE TABLE IF NOT EXISTS ads_top_items (item_id BIGINT, total DOUBLE)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE ads_top_items PARTITION (ds = '${bizdate}')\n"
        "SELECT item_id, total FROM dws_item_day WHERE ds = '${bizdate}'\n"
        "ORDER BY total DESC LIMIT 100;",
    ),
    (
        "ads_kind_share",
        "CREATE TABLE IF NOT EXISTS ads_kind_share (kind STRING, share DOUBLE)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE ads_kind_share PARTITION (ds = '${bizdate}')\n"
        "SELECT kind, total / SUM(total) OVER () FROM dws_kind_day WHERE ds = '${bizdate}';",
    ),
    (
        "ads_user_tiers",
        "CREATE TABLE IF NOT EXISTS ads_user_tiers (tier STRING, users BIGINT)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE ads_user_tiers PARTITION (ds = '${bizdate}')\n"
        "SELECT CASE WHEN total >= 500 THEN 'gold' WHEN total >= 100 THEN 'silver'"
        " ELSE 'bronze' END, COUNT(1) FROM dws_user_day WHERE ds = '${bizdate}'\n"
        "GROUP BY CASE WHEN total >= 500 THEN 'gold' WHEN total >= 100 THEN 'silver'"
        " ELSE 'bronze' END;",
    ),
    (
        "ads_day_summary",
        "CREATE TABLE IF NOT EXISTS ads_day_summary (events BIGINT, users BIGINT, total DOUBLE)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE ads_day_summary PARTITION (ds = '${bizdate}')\n"
        "SELECT SUM(events), COUNT(1), SUM(total) FROM dws_user_day WHERE ds = '${bizdate}';",
    ),
    (
        "ads_item_buyers",
        "CREATE TABLE IF NOT EXISTS ads_item_buyers (buyers BIGINT, items BIGINT)"
        " PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE ads_item_buyers PARTITION (ds = '${bizdate}')\n"
        "SELECT buyers, COUNT(1) FROM dws_item_day WHERE ds = '${bizdate}' GROUP BY buyers;",
    ),
]

INTERACTIVE_QUERY = (
    "SELECT kind, COUNT(*) AS n, SUM(amount) AS total, COUNT(DISTINCT user_id) AS users "
    "FROM dwd_events GROUP BY kind ORDER BY kind"
)


def events(rows: int, day: str, seed: int) -> pa.Table:
    """``rows`` generated events of one day (deterministic)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(range(seed * rows, (seed + 1) * rows), pa.int64())
    kinds = pa.array(["view", "cart", "buy", "refund"])
    return pa.table(
        {
            "user_id": pc.bit_wise_and(pc.multiply(ids, 2654435761), 0xFFFF),
            "item_id": pc.bit_wise_and(pc.multiply(ids, 40503), 0x3FFF),
            "amount": pc.subtract(
                pc.divide(pc.cast(pc.bit_wise_and(ids, 1023), pa.float64()), 4.0), 5.0
            ),
            "kind": pc.take(kinds, pc.bit_wise_and(ids, 3)),
            "ds": pa.array([day] * rows),
        }
    )


def generate(ws: Path, rows: int) -> None:
    """The workspace, its pipeline, and ``ods_events`` in the dev lakehouse."""
    from lakeworks.engines.base import WriteMode
    from lakeworks.engines.registry import lakehouse_for
    from lakeworks.spec.loader import load_workspace

    (ws / "lakeworks.yml").write_text(WORKSPACE, encoding="utf-8")
    flow = ws / "workflows" / "daily"
    flow.mkdir(parents=True)
    (flow / "workflow.yml").write_text('schedule:\n  cycle: day\n  at: "02:00"\n', "utf-8")
    for node, sql in PIPELINE:
        (flow / f"{node}.sql").write_text(sql + "\n", encoding="utf-8")
    lake = lakehouse_for(load_workspace(ws), "dev")
    assert lake is not None
    per_day = rows // len(DAYS)
    for n, day in enumerate(DAYS):
        lake.write(
            "ods_events",
            events(per_day, day, n),
            WriteMode.OVERWRITE_PARTITION,
            partition_by=["ds"],
        )
    lake.db.close()


def run_lakeworks(ws: Path) -> tuple[float, dict[str, tuple[float, int]], str]:
    """Wall seconds of ``lakeworks run``; per node the insert's ms and rows (its log)."""
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    started = time.perf_counter()
    done = subprocess.run(
        [LAKEWORKS, "run", "-w", str(ws), "--bizdate", BIZDATE, "--parallel", "1"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"lakeworks run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    inserts: dict[str, tuple[float, int]] = {}
    inserting: set[str] = set()  # nodes run in parallel: their lines interleave
    for line in done.stderr.splitlines():
        match = re.match(r"\[(\w+)\] line \d+: INSERT", line)
        if match:
            inserting.add(match.group(1))
            continue
        ok = re.match(r"\[(\w+)\]\s+ok \((\d+) ms, (\d+) rows\)", line)
        if ok and ok.group(1) in inserting:
            inserts[ok.group(1)] = (float(ok.group(2)), int(ok.group(3)))
            inserting.discard(ok.group(1))
    return elapsed, inserts, done.stdout


def spark_statements(lake_root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Set-up (the source table over its files) and the pipeline in native Spark SQL."""
    setup = [
        f"CREATE TABLE ods_events USING parquet LOCATION '{lake_root}/ods_events'",
        "MSCK REPAIR TABLE ods_events",
    ]
    loop: list[tuple[str, str]] = []
    for node, sql in PIPELINE:
        create, insert = (s.strip() for s in sql.replace("${bizdate}", BIZDATE).split(";")[:2])
        columns = create.split(" PARTITIONED BY")[0].rstrip()[:-1]
        create = f"{columns}, ds STRING) USING parquet PARTITIONED BY (ds)"
        loop.append((node, create))
        loop.append((node, insert))
    return setup, loop


@dataclass(frozen=True)
class Direct:
    """One round of the direct side: its whole process and the parts it timed itself."""

    wall_s: float
    python_s: float
    """From the start of the process to the script's first statement (Python start-up)."""
    exit_s: float
    """From the script's last statement to the end of its process (and of its JVM)."""
    checks_s: float
    """The row counts read to check the answers: in the process, not in the figure."""
    import_s: float
    start_s: float
    loop_s: float
    inserts: dict[str, tuple[float, int]]

    @property
    def seconds(self) -> float:
        """The direct side's figure: its whole process but the checks."""
        return self.wall_s - self.checks_s


def run_direct(work: Path, lake_root: Path) -> Direct:
    """The direct side as a new process (``--direct-loop``), timed whole."""
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    command = [sys.executable, __file__, "--direct-loop", str(lake_root), str(work)]
    started, started_at = time.perf_counter(), time.time()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    wall_s, ended_at = time.perf_counter() - started, time.time()
    if done.returncode != 0:
        raise SystemExit(f"direct Spark loop failed:\n{done.stderr[-3000:]}")
    parts = json.loads(done.stdout.strip().splitlines()[-1])
    inserts = {node: (float(ms), int(rows)) for node, (ms, rows) in parts["inserts"].items()}
    return Direct(
        wall_s,
        parts["began_at"] - started_at,
        ended_at - parts["ended_at"],
        parts["checks_s"],
        parts["import_s"],
        parts["start_s"],
        parts["loop_s"],
        inserts,
    )


def direct_loop(lake_root: Path, work: Path) -> None:
    """The statements in one Spark session (this process); prints its timings as JSON."""
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    began_at = time.time()
    started = time.perf_counter()
    from pyspark.sql import SparkSession

    import_s = time.perf_counter() - started
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("direct")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.warehouse.dir", str(work / "spark-warehouse"))
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sql("SELECT 1").collect()
    # registering the source table over its files is part of getting plain Spark ready
    # (and it warms the JVM, as Lakeworks' first node does): timed with the start-up
    setup, loop = spark_statements(lake_root)
    for sql in setup:
        spark.sql(sql).collect()
    start_s = time.perf_counter() - started
    inserts: dict[str, tuple[float, int]] = {}
    loop_s = checks_s = 0.0
    for node, sql in loop:
        t0 = time.perf_counter()
        spark.sql(sql).collect()
        took = time.perf_counter() - t0
        loop_s += took  # the statements only: the row counts below are the check's
        if sql.startswith("INSERT"):
            rows = spark.sql(f"SELECT COUNT(*) FROM {node} WHERE ds = '{BIZDATE}'").collect()
            inserts[node] = (took * 1000, int(rows[0][0]))
            checks_s += time.perf_counter() - t0 - took
    parts = {
        "began_at": began_at,
        "ended_at": time.time(),
        "import_s": import_s,
        "start_s": start_s,
        "loop_s": loop_s,
        "checks_s": checks_s,
        "inserts": inserts,
    }
    print(json.dumps(parts), flush=True)
    # the end ``lakeworks run`` has: exit handlers, then no interpreter teardown (which,
    # with py4j's threads, costs a plain script seconds) and no ``spark.stop()``; the
    # JVM ends when this process does
    atexit._run_exitfuncs()
    os._exit(0)


def interactive_ratio(ws: Path, repeats: int) -> tuple[float, float, int]:
    """Median seconds of the query through DuckDB over the lakehouse and on a native
    DuckDB table of the same rows; and the rows the query read.

    Both sides answer once untimed (and must agree), then take turns, so that a change
    of load on the machine falls on both alike."""
    import duckdb

    from lakeworks.engines.registry import engine_for
    from lakeworks.spec.loader import load_workspace

    engine = engine_for(load_workspace(ws), "dev").interactive()
    session = engine.session()
    rows = int(str(session.execute("SELECT COUNT(*) FROM dwd_events").rows[0][0]))
    native = duckdb.connect(str(ws / "native.duckdb"))
    native.register("source", session.query_arrow("SELECT * FROM dwd_events"))
    native.execute("CREATE TABLE dwd_events AS SELECT * FROM source")
    native.unregister("source")
    native.execute("CHECKPOINT")
    lake_answer = session.execute(INTERACTIVE_QUERY).rows
    native_answer = [tuple(r) for r in native.execute(INTERACTIVE_QUERY).fetchall()]
    if lake_answer != native_answer:
        raise SystemExit(f"answers differ: lakehouse {lake_answer}, native {native_answer}")
    lake_times, native_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.execute(INTERACTIVE_QUERY)
        lake_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        native.execute(INTERACTIVE_QUERY).fetchall()
        native_times.append(time.perf_counter() - t0)
    session.close()
    native.close()
    return statistics.median(lake_times), statistics.median(native_times), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size: 200k rows")
    parser.add_argument("--rows", type=int, default=10_000_000, help="ods_events rows")
    parser.add_argument("--rounds", type=int, default=3, help="turns of both sides (3)")
    parser.add_argument("--direct-loop", nargs=2, metavar=("LAKE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct_loop:
        direct_loop(Path(args.direct_loop[0]), Path(args.direct_loop[1]))
        return 0
    rows = 200_000 if args.quick else args.rows
    rounds = 1 if args.quick else max(1, args.rounds)
    root = Path(tempfile.mkdtemp(prefix="lw-spark-"))
    runs: list[tuple[float, dict[str, tuple[float, int]]]] = []
    directs: list[Direct] = []
    try:
        ws = root / "ws"
        ws.mkdir()
        generate(ws, rows)
        load = os.getloadavg()[0]
        lake_root = ws / ".lakeworks" / "lakehouse" / "dev"
        for n in range(rounds):  # who goes first alternates too
            if n % 2:
                directs.append(run_direct(root / f"direct-{n}", lake_root))
            run_s, lw_inserts, _out = run_lakeworks(ws)
            runs.append((run_s, lw_inserts))
            if not n % 2:
                directs.append(run_direct(root / f"direct-{n}", lake_root))
        lake_s, native_s, dwd_rows = interactive_ratio(ws, 3 if args.quick else 9)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    nodes = len(PIPELINE)
    overheads = [(r[0] - d.seconds) / nodes * 1000 for r, d in zip(runs, directs, strict=True)]
    overhead_ms = statistics.median(overheads)
    print(
        f"ods_events rows: {rows:,}; load average at the start: {load:.1f}, at the end: "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'round':<7}{'lakeworks run s':>16}{'direct s':>10}{'python':>8}{'pyspark':>9}"
        f"{'Spark start-up':>16}{'10 nodes':>10}{'exit':>6}{'(checks)':>10}{'ms/node':>9}"
    )
    for n, ((run_s, _), d, ms) in enumerate(zip(runs, directs, overheads, strict=True), 1):
        print(
            f"{n:<7}{run_s:>16.2f}{d.seconds:>10.2f}{d.python_s:>8.2f}{d.import_s:>9.2f}"
            f"{d.start_s:>16.2f}{d.loop_s:>10.2f}{d.exit_s:>6.2f}{d.checks_s:>10.2f}{ms:>9.0f}"
        )
    print()
    lw_inserts, direct_inserts = runs[-1][1], directs[-1].inserts
    print(f"last round{'':<8}{'lakeworks ms':>14}{'direct ms':>11}{'rows':>12}")
    for node, _sql in PIPELINE:
        lw_ms, lw_rows = lw_inserts.get(node, (float("nan"), 0))
        d_ms, d_rows = direct_inserts.get(node, (float("nan"), 0))
        print(f"{node:<18}{lw_ms:>14.0f}{d_ms:>11.0f}{lw_rows:>12,}")
    for (_, lw), d in zip(runs, directs, strict=True):
        for node, _sql in PIPELINE:
            lw_rows, d_rows = lw.get(node, (0.0, 0))[1], d.inserts.get(node, (0.0, 0))[1]
            if lw_rows != d_rows:
                print(f"  rows differ: {node}: lakeworks {lw_rows}, direct {d_rows}")
    lw_rates = [_rate(lw.get("dwd_events")) for _, lw in runs]
    d_rates = [_rate(d.inserts.get("dwd_events")) for d in directs]
    print()
    print(
        f"DuckDB over the lakehouse: {lake_s * 1000:.1f} ms; native DuckDB table: "
        f"{native_s * 1000:.1f} ms ({dwd_rows:,} rows)"
    )
    spread = ", ".join(f"{ms:.0f}" for ms in overheads)
    print(f"overhead per node, each round: {spread} ms (the result is their median)")
    print(f"RESULT spark_overhead_per_node {overhead_ms:.0f} ms (target < 200)")
    print(
        f"RESULT spark_insert_overwrite_rows_per_s {statistics.median(lw_rates):.0f} rows/s "
        f"(direct Spark in the same run: {statistics.median(d_rates):.0f})"
    )
    print(f"RESULT duckdb_lakehouse_vs_native {lake_s / native_s:.2f} ratio (target <= 1.5)")
    return 0


def _rate(insert: tuple[float, int] | None) -> float:
    """Rows per second of an insert's (ms, rows), 0 when it did not run."""
    return insert[1] / (insert[0] / 1000) if insert and insert[0] else 0.0


if __name__ == "__main__":
    sys.exit(main())
