"""Validate and run a generated workspace of trivial SQL nodes; compare with DuckDB alone.

Prints the time of `validate` (load + parse + dependency graph) and of a full run, beside
the time to execute the same statements directly on DuckDB in one loop, and the run's
overhead per node.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb


def generate(root: Path, nodes: int, seed: int = 7) -> list[str]:
    """A wide and deep DAG: node i reads up to two tables of earlier nodes."""
    rng = random.Random(seed)
    (root / "lakeworks.yml").write_text(
        "name: bench\nsql_dialect: maxcompute\nmax_parallel: 2\n", encoding="utf-8"
    )
    statements: list[str] = []
    workflows = max(1, nodes // 100)
    for i in range(nodes):
        wf = root / "workflows" / f"wf{i % workflows:02d}"
        wf.mkdir(parents=True, exist_ok=True)
        if i < 20:
            sql = f"CREATE TABLE IF NOT EXISTS t{i} AS SELECT {i} AS v;"
        else:
            a, b = rng.randrange(0, i), rng.randrange(0, i)
            sql = (
                f"CREATE TABLE IF NOT EXISTS t{i} AS "
                f"SELECT x.v + y.v AS v FROM t{a} x CROSS JOIN t{b} y LIMIT 1;"
            )
        (wf / f"n{i:04d}.sql").write_text(sql + "\n", encoding="utf-8")
        statements.append(sql)
    return statements


def time_direct(statements: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = duckdb.connect(str(Path(tmp) / "direct.duckdb"))
        started = time.perf_counter()
        for sql in statements:
            conn.execute(sql).fetchall()
        elapsed = time.perf_counter() - started
        conn.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="smoke run with 60 nodes")
    args = parser.parse_args()
    nodes = 60 if args.quick else args.nodes

    from lakeworks.engines.registry import engine_for
    from lakeworks.runtime.runner import ManualRunner
    from lakeworks.schedule.graph import build_graph
    from lakeworks.spec.loader import load_workspace
    from lakeworks.store.database import Database, default_database_url

    root = Path(tempfile.mkdtemp(prefix="lw-bench-"))
    try:
        statements = generate(root, nodes)
        started = time.perf_counter()
        ws = load_workspace(root)
        graph = build_graph(ws)
        validate_s = time.perf_counter() - started

        db = Database.open(default_database_url(ws.state_dir))
        engine = engine_for(ws, "dev")
        runner = ManualRunner(ws, db, engine, "dev", max_parallel=2)
        started = time.perf_counter()
        summary = runner.run(date(2026, 4, 11))
        run_s = time.perf_counter() - started
        db.close()
        if not summary.ok:
            print(f"run failed: {summary.failed[0].node_key}: {summary.failed[0].reason}")
            return 1
        direct_s = time_direct(statements)
        overhead_ms = (run_s - direct_s) / nodes * 1000

        print(f"{'measure':<34}{'seconds':>10}")
        print(f"{'validate (' + str(nodes) + ' nodes)':<34}{validate_s:>10.3f}")
        print(f"{'run (' + str(nodes) + ' nodes)':<34}{run_s:>10.3f}")
        print(f"{'direct DuckDB loop':<34}{direct_s:>10.3f}")
        print(f"{'edges in graph':<34}{len(graph.edges):>10}")
        print(f"RESULT validate_{nodes}_nodes {validate_s:.3f} s (target < 3)")
        print(f"RESULT run_overhead_per_node {overhead_ms:.2f} ms (target < 5)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
