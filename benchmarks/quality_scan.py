"""Quality one-scan benchmark: 20 mixed aggregate rules on a 20,000,000-row DuckDB table.

Prints the time of the rules evaluated by Lakeworks (one compiled scan) beside the same
metrics hand-written as one ``SELECT`` (the limit) and beside one ``SELECT count(*)``.

    python benchmarks/quality_scan.py            # 20,000,000 rows
    python benchmarks/quality_scan.py --quick    # 200,000 rows, a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lakeworks.engines.duckdb_engine import DuckDBEngine
from lakeworks.quality.evaluator import Evaluator
from lakeworks.quality.loader import load_rule_text
from lakeworks.quality.models import Verdict
from lakeworks.sql.params import ParamContext

RULES = """
table: bench_orders
partition: "ds = '${yyyy-mm-dd}'"
strength: weak
rules:
  - {name: r01_rows, template: row_count, fail: {min: 1}}
  - {name: r02_not_empty, template: not_empty}
  - {name: r03_email_null_ratio, template: null_ratio, column: email, fail: {max: 50}}
  - {name: r04_amount_nulls, template: null_count, column: amount, fail: {max: 1000000000}}
  - {name: r05_customers, template: distinct_count, column: customer_id, fail: {min: 1}}
  - {name: r06_id_duplicates, template: duplicate_count, column: id}
  - {name: r07_id_unique, template: unique, column: id}
  - {name: r08_amount_min, template: min, column: amount, fail: {min: 0}}
  - {name: r09_amount_max, template: max, column: amount, fail: {max: 100000}}
  - {name: r10_amount_avg, template: avg, column: amount, fail: {min: 0, max: 10000}}
  - {name: r11_amount_sum, template: sum, column: amount, fail: {min: 0}}
  - {name: r12_status_values, template: accepted_values, column: status,
     values: [paid, refunded, pending, cancelled]}
  - {name: r13_status_nulls, template: null_ratio, column: status, fail: {max: 1}}
  - {name: r14_status_distinct, template: distinct_count, column: status, fail: {max: 10}}
  - {name: r15_ts_fresh, template: freshness, column: ts, fail: {max: 3650d}}
  - {name: r16_ts_min, template: min, column: ts_epoch, fail: {min: 0}}
  - {name: r17_avg_ticket, template: expression, expression: "sum(amount) / count(*)",
     fail: {max: 100000}}
  - {name: r18_customer_max, template: max, column: customer_id, fail: {max: 10000000}}
  - {name: r19_customer_nulls, template: null_count, column: customer_id}
  - {name: r20_qty_sum, template: sum, column: qty, fail: {min: 0}}
"""

HAND_WRITTEN = """
SELECT
  count(*),
  count(*) - count(email),
  count(*) - count(amount),
  count(DISTINCT customer_id),
  count(id) - count(DISTINCT id),
  min(amount), max(amount), avg(amount), sum(amount),
  count_if(status IS NOT NULL AND status NOT IN ('paid', 'refunded', 'pending', 'cancelled')),
  count(*) - count(status),
  count(DISTINCT status),
  max(ts),
  min(ts_epoch),
  sum(amount) / nullif(count(*), 0),
  max(customer_id),
  count(*) - count(customer_id),
  sum(qty)
FROM bench_orders
WHERE ds = '2026-04-10'
"""

COUNT_ONLY = "SELECT count(*) FROM bench_orders WHERE ds = '2026-04-10'"


def build_table(engine: DuckDBEngine, rows: int) -> None:
    """A table of orders: most rows in the checked partition, a few in another."""
    session = engine.session()
    try:
        session.execute("DROP TABLE IF EXISTS bench_orders")
        session.execute(
            f"""
            CREATE TABLE bench_orders AS
            SELECT
              i AS id,
              (i * 7919) % 200000 AS customer_id,
              CASE WHEN i % 97 = 0 THEN NULL ELSE ((i * 31) % 50000) / 100.0 END AS amount,
              (i % 5)::INTEGER AS qty,
              ['paid', 'refunded', 'pending', 'cancelled'][1 + (i % 4)::INTEGER] AS status,
              CASE WHEN i % 11 = 0 THEN NULL ELSE 'user' || (i % 100000) || '@example.com'
                END AS email,
              TIMESTAMP '2026-04-10 00:00:00' + to_seconds((i % 86400)::BIGINT) AS ts,
              1775779200 + (i % 86400) AS ts_epoch,
              CASE WHEN i % 50 = 0 THEN '2026-04-09' ELSE '2026-04-10' END AS ds
            FROM range({rows}) AS t(i)
            """
        )
        session.execute("CHECKPOINT")
    finally:
        session.close()


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each run, ``repeats`` rounds after a warm-up round.

    The runs take turns within each round, so load from other processes on a shared
    machine hits them alike.
    """
    for run in runs.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - started)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 rows, one repeat")
    parser.add_argument("--rows", type=int, default=None, help="rows in the table")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds")
    args = parser.parse_args(argv)
    rows = args.rows or (200_000 if args.quick else 20_000_000)
    repeats = args.repeats or (1 if args.quick else 7)

    with tempfile.TemporaryDirectory(prefix="lakeworks-bench-") as folder:
        engine = DuckDBEngine(Path(folder) / "bench.duckdb", "bench")
        started = time.perf_counter()
        build_table(engine, rows)
        build_seconds = time.perf_counter() - started

        rules = load_rule_text(RULES, "bench.quality.yml", default_dialect="maxcompute")
        params = ParamContext(cycle_time=datetime(2026, 4, 11, 2, 0))
        evaluator = Evaluator(engine, params, now=datetime(2026, 4, 11, 3, 0))
        results = evaluator.evaluate(rules)
        broken = [r for r in results if r.verdict is Verdict.ERROR]
        if broken:
            for r in broken:
                print(f"rule {r.rule.name} could not run: {r.message}", file=sys.stderr)
            return 1

        session = engine.session()
        try:
            samples = interleaved(
                {
                    "count": lambda: session.execute(COUNT_ONLY),
                    "hand": lambda: session.execute(HAND_WRITTEN),
                    "rules": lambda: evaluator.evaluate(rules),
                },
                repeats,
            )
        finally:
            session.close()

    best = {name: min(times) for name, times in samples.items()}
    middle = {name: statistics.median(times) for name, times in samples.items()}
    ratio = best["rules"] / best["hand"] if best["hand"] else float("inf")
    print(f"table: {rows:,} rows (built in {build_seconds:.1f} s), {len(rules)} rules;")
    print(f"{repeats} interleaved round(s) after a warm-up; best and median seconds")
    print()
    print(f"{'query':<42} {'best s':>8} {'median s':>9} {'best vs hand':>13}")
    print(f"{'-' * 42} {'-' * 8} {'-' * 9} {'-' * 13}")
    labels = {
        "count": "SELECT count(*)",
        "hand": "hand-written single SELECT (the limit)",
        "rules": "Lakeworks: 20 rules, one compiled scan",
    }
    for name, label in labels.items():
        print(
            f"{label:<42} {best[name]:>8.3f} {middle[name]:>9.3f}"
            f" {best[name] / best['hand']:>12.2f}x"
        )
    print()
    print(f"RESULT quality_vs_single_select {ratio:.2f} ratio (target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
