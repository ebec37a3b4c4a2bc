"""`lakeworks run` overhead on the path users run: whole processes, default hooks on.

For each generated shape of trivial SQL nodes (one workflow of N nodes in 10 layers,
each reading 1-3 tables of the layer above; the same spread over 10 workflows; a random
DAG where each node reads 1-3 earlier tables), it runs ``lakeworks run -w WS --bizdate
20260411 -q`` as a user does (a new process: start-up, validation, the run, the quality
gate and the Data Map, which is complete when the command returns) and the same
statements in one DuckDB loop, and prints the overhead per node, in wall-clock time
(the target) and in CPU time (what the run costs whatever else the machine is doing).
The worst shape is the result.

    .venv/bin/python benchmarks/run_overhead.py            # 200 and 1,000 nodes
    .venv/bin/python benchmarks/run_overhead.py --quick    # smoke size (20 nodes)
    .venv/bin/python benchmarks/run_overhead.py --nodes 1000 --shape layered

Prints a table, then ``RESULT`` lines. Exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
SHAPES = ("layered", "layered-10wf", "random")


@dataclass(frozen=True)
class Figures:
    shape: str
    nodes: int
    run_s: float
    direct_s: float
    run_cpu_s: float
    direct_cpu_s: float
    catalog_tables: int

    @property
    def overhead_ms(self) -> float:
        return (self.run_s - self.direct_s) / self.nodes * 1000

    @property
    def cpu_overhead_ms(self) -> float:
        """The same in CPU seconds: what the run costs, whatever else the machine runs."""
        return (self.run_cpu_s - self.direct_cpu_s) / self.nodes * 1000


def generate(root: Path, shape: str, nodes: int, seed: int = 7) -> list[str]:
    """Write the workspace; the statements in a dependency order."""
    rng = random.Random(seed)
    (root / "lakeworks.yml").write_text(
        "name: overhead\nsql_dialect: maxcompute\n", encoding="utf-8"
    )
    workflows = 10 if shape == "layered-10wf" else 1
    statements: list[str] = []
    per_workflow = nodes // workflows
    for w in range(workflows):
        folder = root / "workflows" / f"wf{w:02d}"
        folder.mkdir(parents=True)
        (folder / "workflow.yml").write_text(
            'schedule:\n  cycle: day\n  at: "02:00"\n', encoding="utf-8"
        )
        base = w * per_workflow
        per_layer = max(1, per_workflow // 10)
        for j in range(per_workflow):
            i = base + j
            if shape == "random":
                parents = [base + p for p in rng.sample(range(j), k=min(3, j))] if j else []
            else:
                layer = j // per_layer
                low = (layer - 1) * per_layer
                parents = (
                    [base + p for p in rng.sample(range(low, low + per_layer), k=min(3, per_layer))]
                    if layer
                    else []
                )
            if parents:
                body = " UNION ALL ".join(f"SELECT k, v + 1 AS v FROM t_{p}" for p in parents)
                sql = f"CREATE TABLE t_{i} AS SELECT MAX(k) AS k, SUM(v) AS v FROM ({body}) s"
            else:
                sql = f"CREATE TABLE t_{i} AS SELECT {i} AS k, {i % 7} AS v"
            (folder / f"n{i:04d}.sql").write_text(sql + ";\n", encoding="utf-8")
            statements.append(sql)
    return statements


def time_direct(root: Path, statements: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of the statements in one DuckDB loop."""
    conn = duckdb.connect(str(root / "direct.duckdb"))
    started, cpu = time.perf_counter(), time.process_time()
    for sql in statements:
        conn.execute(sql)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return elapsed, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(shape: str, nodes: int) -> Figures:
    root = Path(tempfile.mkdtemp(prefix="lw-overhead-"))
    try:
        ws = root / "ws"
        ws.mkdir()
        statements = generate(ws, shape, nodes)
        started, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run(
            [LAKEWORKS, "run", "-w", str(ws), "--bizdate", "20260411", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        run_s, run_cpu = time.perf_counter() - started, _children_cpu() - cpu
        if done.returncode != 0:
            raise SystemExit(f"lakeworks run failed ({shape}, {nodes}):\n{done.stderr[-2000:]}")
        with sqlite3.connect(ws / ".lakeworks" / "meta.db") as meta:
            (tables,) = meta.execute(
                "SELECT count(*) FROM catalog_tables WHERE present AND env = 'dev'"
            ).fetchone()
            (queued,) = meta.execute("SELECT count(*) FROM instance_followups").fetchone()
        if queued:
            raise SystemExit(f"{queued} Data Map updates still queued after lakeworks run")
        direct_s, direct_cpu = time_direct(root, statements)
        return Figures(shape, nodes, run_s, direct_s, run_cpu, direct_cpu, int(tables))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bytecode_note() -> str:
    """How many of the package's modules start from up-to-date bytecode.

    Without it every start compiles them (``PYTHONDONTWRITEBYTECODE`` set and no
    ``make install``): about 0.15 CPU-s a user of a wheel install never pays.
    """
    spec = importlib.util.find_spec("lakeworks")
    if spec is None or not spec.submodule_search_locations:
        return "bytecode: lakeworks package not found"
    sources = [p for d in spec.submodule_search_locations for p in Path(d).rglob("*.py")]
    fresh = 0
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        if cached.exists() and cached.stat().st_mtime >= source.stat().st_mtime:
            fresh += 1
    note = f"bytecode: {fresh} of {len(sources)} lakeworks modules compiled"
    if fresh < len(sources) and os.environ.get("PYTHONDONTWRITEBYTECODE"):
        note += " (PYTHONDONTWRITEBYTECODE is set: run `make bytecode` for a user's start-up)"
    return note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size: 20 nodes per shape")
    parser.add_argument("--nodes", type=int, action="append", help="node counts (200, 1000)")
    parser.add_argument("--shape", choices=SHAPES, action="append", help="shapes (all)")
    args = parser.parse_args()
    counts = [20] if args.quick else (args.nodes or [200, 1000])
    shapes = args.shape or list(SHAPES)

    print(bytecode_note(), flush=True)
    print(
        f"{'shape':<14}{'nodes':>7}{'run s':>8}{'direct s':>10}{'ms/node':>9}"
        f"{'run cpu s':>11}{'direct cpu s':>14}{'cpu ms/node':>13}{'Data Map tables':>17}",
        flush=True,
    )
    load_before = os.getloadavg()[0]
    results = []
    for n in counts:
        for shape in shapes:  # each row as soon as it is measured: big runs take minutes
            f = measure(shape, n)
            results.append(f)
            print(
                f"{f.shape:<14}{f.nodes:>7}{f.run_s:>8.2f}{f.direct_s:>10.2f}"
                f"{f.overhead_ms:>9.1f}{f.run_cpu_s:>11.2f}{f.direct_cpu_s:>14.2f}"
                f"{f.cpu_overhead_ms:>13.1f}{f.catalog_tables:>17}",
                flush=True,
            )
    load_after = os.getloadavg()[0]
    print(f"load average (1 min): {load_before:.1f} at the start, {load_after:.1f} at the end")
    for f in results:
        if f.catalog_tables < f.nodes:
            print(f"Data Map incomplete for {f.shape}/{f.nodes}: {f.catalog_tables} tables")
    worst = max(results, key=lambda f: f.overhead_ms)
    for f in results:
        print(f"RESULT run_overhead_{f.shape}_{f.nodes} {f.overhead_ms:.1f} ms")
    cpu_worst = max(results, key=lambda f: f.cpu_overhead_ms)
    print(f"RESULT run_overhead_per_node_cpu {cpu_worst.cpu_overhead_ms:.1f} ms")
    print(f"RESULT run_overhead_per_node_cli {worst.overhead_ms:.1f} ms (target < 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
