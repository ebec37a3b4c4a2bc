"""A parallel, newest-first backfill of a layered pipeline with a 7-day rolling node.

Writes a workspace of four SQL nodes on new partitioned tables (ods -> dwd -> dws ->
ads, the last summing ``ds BETWEEN '${yyyymmdd-6}' AND '${bizdate}'``), then, as a user
does: ``lakeworks backfill start --all --dates … --parallel 4 --desc``, ``lakeworks
scheduler --definition folder`` (embedded: SQLite store, DuckDB warehouse, default
hooks) until ``lakeworks backfill status`` says it finished, and ``lakeworks query
--env prod`` (through the running scheduler's warehouse socket) to compare every
``ads`` partition with the serial result.

    .venv/bin/python benchmarks/partition_backfill.py           # 31 dates
    .venv/bin/python benchmarks/partition_backfill.py --quick   # 7 dates (smoke)

Prints a table, then ``RESULT`` lines. Exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
FIRST = date(2026, 3, 1)

NODES = {
    "ods_orders": """
CREATE TABLE IF NOT EXISTS ods_orders (k BIGINT, amount BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE ods_orders PARTITION (ds='${bizdate}')
SELECT 1 AS k, CAST(SUBSTR('${bizdate}', 7, 2) AS BIGINT) AS amount
UNION ALL SELECT 2 AS k, 10 AS amount;
""",
    "dwd_orders": """
CREATE TABLE IF NOT EXISTS dwd_orders (k BIGINT, amount BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE dwd_orders PARTITION (ds='${bizdate}')
SELECT k, amount * 2 AS amount FROM ods_orders WHERE ds = '${bizdate}';
""",
    "dws_daily": """
CREATE TABLE IF NOT EXISTS dws_daily (total BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE dws_daily PARTITION (ds='${bizdate}')
SELECT SUM(amount) AS total FROM dwd_orders WHERE ds = '${bizdate}';
""",
    "ads_week": """
CREATE TABLE IF NOT EXISTS ads_week (total BIGINT, days BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE ads_week PARTITION (ds='${bizdate}')
SELECT SUM(total) AS total, COUNT(*) AS days FROM dws_daily
WHERE ds BETWEEN '${yyyymmdd-6}' AND '${bizdate}';
""",
}


def lw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAKEWORKS, *args], capture_output=True, text=True, check=False)


def write(root: Path) -> None:
    folder = root / "workflows" / "sales"
    folder.mkdir(parents=True)
    (root / "lakeworks.yml").write_text(json.dumps({"name": "bench-backfill"}))
    (folder / "workflow.yml").write_text(json.dumps({"schedule": {"start": "2027-01-01"}}))
    for name, code in NODES.items():
        (folder / f"{name}.sql").write_text(code.lstrip())


def expected(day: date, last: date) -> tuple[int, int]:
    present = [day - timedelta(days=n) for n in range(7)]
    present = [d for d in present if FIRST <= d <= last]
    return sum(2 * (d.day + 10) for d in present), len(present)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 dates (a smoke run)")
    parser.add_argument("--dates", type=int, default=31)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    days = 7 if args.quick else args.dates
    last = FIRST + timedelta(days=days - 1)
    with tempfile.TemporaryDirectory(prefix="lw-bench-backfill-") as tmp:
        root = Path(tmp) / "ws"
        write(root)
        dates = f"{FIRST:%Y%m%d}-{last:%Y%m%d}"
        started = lw(
            "backfill", "start", "--all", "-d", dates, "-p", str(args.parallel), "--desc",
            "-w", str(root),
        )  # fmt: skip
        if started.returncode != 0:
            print(started.stdout + started.stderr, file=sys.stderr)
            return 1
        run_id = started.stdout.split()[1].rstrip(":")
        t0 = time.perf_counter()
        scheduler = subprocess.Popen(
            [LAKEWORKS, "scheduler", "-w", str(root), "--definition", "folder"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                status = lw("backfill", "status", run_id, "-w", str(root))
                if "[running]" not in status.stderr:
                    break
                time.sleep(0.5)
            elapsed = time.perf_counter() - t0
            rows = lw(
                "query", "--env", "prod", "--format", "json", "-w", str(root),
                "SELECT ds, total, days FROM ads_week ORDER BY ds",
            )  # fmt: skip
        finally:
            scheduler.send_signal(signal.SIGTERM)
            scheduler.wait(timeout=60)
        got = {r["ds"]: (r["total"], r["days"]) for r in json.loads(rows.stdout or "[]")}
        want = {
            f"{FIRST + timedelta(days=n):%Y%m%d}": expected(FIRST + timedelta(days=n), last)
            for n in range(days)
        }
        wrong = sum(1 for ds, value in want.items() if got.get(ds) != value)
        instances = days * len(NODES)
    print(
        f"{'dates':>6} {'parallel':>8} {'instances':>9} {'seconds':>8} {'inst/s':>7} {'wrong':>6}"
    )
    print(
        f"{days:>6} {args.parallel:>8} {instances:>9} {elapsed:>8.1f}"
        f" {instances / elapsed:>7.2f} {wrong:>6}"
    )
    print(f"backfill {status.stderr.strip()}")
    print(f"RESULT partition_backfill_wrong_partitions {wrong} partitions (target == 0)")
    print(f"RESULT partition_backfill_throughput {instances / elapsed:.2f} inst/s (target > 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
