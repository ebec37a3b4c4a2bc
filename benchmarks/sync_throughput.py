"""Sync throughput: PostgreSQL -> DuckDB and MariaDB -> DuckDB beside their physical limits.

A table (id, timestamp, 3 numbers, 2 short strings) is created once in local
PostgreSQL and MariaDB. Measured in the same run:

- the source's own export: ``COPY (SELECT …) TO STDOUT (FORMAT binary)`` drained to
  /dev/null by ``psql``, and ``mariadb -e "SELECT …" > /dev/null``;
- the sink's own load: DuckDB creating the table from the same data already in memory
  as Arrow (file written and closed);
- the end-to-end limit ``min(source, sink)`` and the Lakeworks sync itself (reader and
  writer pipelined), with the sync process's peak RSS.

Each measured step runs in a child process so that its memory is its own.

    python benchmarks/sync_throughput.py            # 10,000,000 rows
    python benchmarks/sync_throughput.py --quick    # 100,000 rows, a smoke run
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PG_DSN = "host=127.0.0.1 user=postgres dbname=test"
SELECT = "SELECT id, ts, a, b, c, s1, s2 FROM {table}"


def _table(rows: int) -> str:
    return f"lw_bench_sync_{rows}"


def _run_child(phase: str, rows: int, workdir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--rows", str(rows), "--dir", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"phase {phase} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- setup ----------------------------------------------------------------------------


def setup_postgres(rows: int) -> None:
    import psycopg

    table = _table(rows)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        if exists and exists[0]:
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[arg-type]
            if count and count[0] == rows:
                return
            conn.execute(f"DROP TABLE {table}")  # type: ignore[arg-type]
        conn.execute(
            f"CREATE TABLE {table} AS SELECT g::bigint AS id, "  # type: ignore[arg-type]
            "timestamp '2024-01-01' + g * interval '1 second' AS ts, "
            "(g * 1.5)::float8 AS a, (g % 1000)::int AS b, (g * 0.25)::float8 AS c, "
            "'name_' || (g % 5000) AS s1, substr(md5(g::text), 1, 8) AS s2 "
            f"FROM generate_series(1, {rows}) g"
        )
        conn.execute(f"ANALYZE {table}")  # type: ignore[arg-type]


def _mariadb(sql: str) -> None:
    subprocess.run(["mariadb", "-h", "127.0.0.1", "-u", "root", "test", "-e", sql], check=True)


def setup_mariadb(rows: int) -> None:
    import pymysql

    table = _table(rows)
    conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES LIKE %s", (table,))
            if cur.fetchone():
                cur.execute(f"SELECT count(*) FROM {table}")
                row = cur.fetchone()
                if row and row[0] == rows:
                    return
                cur.execute(f"DROP TABLE {table}")
            cur.execute(
                f"CREATE TABLE {table} (id bigint PRIMARY KEY, ts datetime(6), a double, "
                "b int, c double, s1 varchar(16), s2 varchar(8))"
            )
            cur.execute(
                f"INSERT INTO {table} SELECT seq, timestamp'2024-01-01 00:00:00' + "
                "interval seq second, seq * 1.5, seq % 1000, seq * 0.25, "
                f"concat('name_', seq % 5000), left(md5(seq), 8) FROM seq_1_to_{rows}"
            )
    finally:
        conn.close()


# -- phases (each in its own process) -------------------------------------------------


def phase_pg_export(rows: int) -> dict[str, Any]:
    sql = f"COPY ({SELECT.format(table=_table(rows))}) TO STDOUT (FORMAT binary)"
    start = time.perf_counter()
    if shutil.which("psql"):
        with open("/dev/null", "wb") as sink:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "test", "-c", sql],
                stdout=sink,
                check=True,
            )
        tool = "psql"
    else:
        import psycopg

        with psycopg.connect(PG_DSN) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
            for _ in copy:
                pass
        tool = "psycopg"
    return {"seconds": time.perf_counter() - start, "tool": tool}


def phase_my_export(rows: int) -> dict[str, Any]:
    start = time.perf_counter()
    with open("/dev/null", "wb") as sink:
        subprocess.run(
            [
                "mariadb",
                "-h",
                "127.0.0.1",
                "-u",
                "root",
                "test",
                "-e",
                SELECT.format(table=_table(rows)),
            ],
            stdout=sink,
            check=True,
        )
    return {"seconds": time.perf_counter() - start}


def phase_sink(rows: int, workdir: Path) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa

    from lakeworks.connectors.base import ReadRequest
    from lakeworks.connectors.registry import open_source

    source = open_source("pg", {"type": "postgres", "database": "test"})
    request = ReadRequest(query=SELECT.format(table=_table(rows)))
    data = pa.Table.from_batches([item.batch for item in source.read(request)])
    path = workdir / "sink_limit.duckdb"
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    conn = duckdb.connect(str(path))
    conn.register("data_in", data)
    conn.execute("CREATE TABLE t AS SELECT * FROM data_in")
    conn.close()
    return {"seconds": time.perf_counter() - start}


def _copy(source_name: str, config: dict[str, Any], rows: int, workdir: Path) -> dict[str, Any]:
    from lakeworks.connectors.base import ReadRequest, WriteMode, WriteRequest
    from lakeworks.connectors.registry import ConnectorContext, open_sink, open_source
    from lakeworks.engines.duckdb_engine import DuckDBEngine, close_all
    from lakeworks.integration.pipeline import CopyOutcome, CopySettings, copy
    from lakeworks.integration.progress import Progress, SpeedLimit

    path = workdir / f"sync_{source_name}.duckdb"
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    engine = DuckDBEngine(path, "bench")
    context = ConnectorContext(engine=engine)
    source = open_source(source_name, config, context)
    sink = open_sink("warehouse", {"type": "warehouse"}, context)
    outcome = CopyOutcome()
    cancel = threading.Event()
    copy(
        source,
        sink,
        [ReadRequest(query=SELECT.format(table=_table(rows)))],
        WriteRequest(table="t", mode=WriteMode.OVERWRITE),
        CopySettings(mapping=None, schema_drift="add", max_dirty_rows=0, max_dirty_ratio=None),
        progress=Progress(),
        limit=SpeedLimit(None, None, cancel),
        cancel=cancel,
        outcome=outcome,
    )
    close_all()
    seconds = time.perf_counter() - start
    if outcome.rows_written != rows:
        raise RuntimeError(f"wrote {outcome.rows_written} rows, expected {rows}")
    return {"seconds": seconds, "peak_mib": _peak_mib()}


def phase(name: str, rows: int, workdir: Path) -> dict[str, Any]:
    if name == "pg_export":
        return phase_pg_export(rows)
    if name == "my_export":
        return phase_my_export(rows)
    if name == "sink":
        return phase_sink(rows, workdir)
    if name == "sync_pg":
        return _copy("pg", {"type": "postgres", "database": "test"}, rows, workdir)
    if name == "sync_my":
        return _copy("my", {"type": "mysql", "database": "test"}, rows, workdir)
    raise SystemExit(f"unknown phase {name}")


# -- driver ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, a smoke run")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 10_000_000)
    if args.phase:
        print(json.dumps(phase(args.phase, rows, Path(args.dir))))
        return

    setup_postgres(rows)
    setup_mariadb(rows)
    with tempfile.TemporaryDirectory(prefix="lw_sync_bench_") as tmp:
        workdir = Path(tmp)
        pg_export = _run_child("pg_export", rows, workdir)
        sink = _run_child("sink", rows, workdir)
        sync_pg = _run_child("sync_pg", rows, workdir)
        my_export = _run_child("my_export", rows, workdir)
        sync_my = _run_child("sync_my", rows, workdir)

    def rate(result: dict[str, Any]) -> float:
        return rows / result["seconds"]

    limit = min(rate(pg_export), rate(sink))
    table = [
        (f"PostgreSQL COPY binary -> /dev/null ({pg_export['tool']})", pg_export),
        ("DuckDB CREATE TABLE from in-memory Arrow", sink),
        ("Lakeworks sync PostgreSQL -> DuckDB", sync_pg),
        ("mariadb -e SELECT > /dev/null", my_export),
        ("Lakeworks sync MariaDB -> DuckDB", sync_my),
    ]
    print(f"{rows:,} rows (id, timestamp, 3 numbers, 2 short strings)")
    print(f"{'step':<48} {'seconds':>9} {'rows/s':>13} {'peak MiB':>9}")
    for label, result in table:
        peak = f"{result['peak_mib']:.0f}" if "peak_mib" in result else ""
        print(f"{label:<48} {result['seconds']:>9.2f} {rate(result):>13,.0f} {peak:>9}")
    print(f"{'end-to-end limit min(source, sink)':<48} {'':>9} {limit:>13,.0f}")
    print(f"RESULT pg_to_duckdb_vs_limit {rate(sync_pg) / limit:.2f} ratio (target >= 0.8)")
    print(f"RESULT pg_to_duckdb_peak_rss {sync_pg['peak_mib']:.0f} MiB (target < 1024)")
    print(
        f"RESULT mysql_to_duckdb_vs_client {rate(sync_my) / rate(my_export):.2f} ratio "
        "(target >= 0.5)"
    )


if __name__ == "__main__":
    main()
