"""For-each overhead on the path users run: ``lakeworks run`` of a loop, default hooks on.

Writes a workspace with an assignment node (a SQL node publishing N items), a for-each
node over them (serial, the default) whose body is one trivial SQL node, and a node
after the loop. Runs ``lakeworks run -w WS --bizdate 20260411 -q`` as a user does (a
new process: start-up, validation, the run, the quality gate and the Data Map) for N
items and for 1 item; the difference divided by N - 1 is the cost of one iteration
(each is a run of its own: its record, its instance, the body node's run, the
iteration's record). Checks that the loop recorded N successful iterations.

    .venv/bin/python benchmarks/control_flow.py            # 200 iterations
    .venv/bin/python benchmarks/control_flow.py --quick    # smoke size (20)

Prints a table, then ``RESULT`` lines beside the limit. Exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
LIMIT_MS = 50.0
"""Wall-clock cost of one iteration that the benchmark holds the loop to."""


@dataclass(frozen=True)
class Timing:
    items: int
    wall_s: float
    cpu_s: float
    iterations_ok: int


def write(root: Path, items: int) -> None:
    (root / "lakeworks.yml").write_text("name: loops\nsql_dialect: duckdb\n", encoding="utf-8")
    flow = root / "workflows" / "loops"
    (flow / "body").mkdir(parents=True)
    (flow / "assign_items.sql").write_text(
        f"-- ---\n-- output: true\n-- ---\nSELECT 'item_' || i AS item FROM range({items}) t(i);\n",
        encoding="utf-8",
    )
    (flow / "each.foreach.yml").write_text(
        "inputs: {names: assign_items.outputs}\nitems: names\nbody: body\n", encoding="utf-8"
    )
    (flow / "body" / "touch.sql").write_text(
        "SELECT '${dag.foreach.current}' AS item, ${dag.offset} AS offset_no;\n", encoding="utf-8"
    )
    (flow / "after.sql").write_text(
        "-- ---\n-- depends_on: [each]\n-- ---\nSELECT 1 AS done;\n", encoding="utf-8"
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _lakeworks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAKEWORKS, *args], capture_output=True, text=True, check=False)


def measure(items: int) -> Timing:
    root = Path(tempfile.mkdtemp(prefix="lw-loops-"))
    try:
        write(root, items)
        started, cpu = time.perf_counter(), _children_cpu()
        done = _lakeworks("run", "-w", str(root), "--bizdate", "20260411", "-q", "--format", "json")
        wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
        if done.returncode != 0:
            raise SystemExit(f"lakeworks run failed ({items} items):\n{done.stderr[-2000:]}")
        summary = json.loads(done.stdout)
        loop = next(i for i in summary["instances"] if i["node"] == "loops.each")
        shown = _lakeworks("ops", "show", str(loop["id"]), "-w", str(root), "--json")
        if shown.returncode != 0:
            raise SystemExit(f"lakeworks ops show failed:\n{shown.stderr[-2000:]}")
        iterations = json.loads(shown.stdout)["iterations"]
        ok = sum(1 for it in iterations if it["state"] == "success")
        return Timing(items, wall, cpu, ok)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size: 20 iterations")
    parser.add_argument("--items", type=int, default=200, help="iterations (200)")
    args = parser.parse_args()
    items = 20 if args.quick else args.items
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    print(f"{'items':>7}{'run s':>9}{'cpu s':>9}{'iterations ok':>15}", flush=True)
    timings = []
    for n in (1, items):
        t = measure(n)
        timings.append(t)
        print(f"{t.items:>7}{t.wall_s:>9.2f}{t.cpu_s:>9.2f}{t.iterations_ok:>15}", flush=True)
    one, many = timings
    if many.iterations_ok != items or one.iterations_ok != 1:
        raise SystemExit(f"the loop did not succeed: {many.iterations_ok} of {items} iterations")
    per_wall = (many.wall_s - one.wall_s) / (items - 1) * 1000
    per_cpu = (many.cpu_s - one.cpu_s) / (items - 1) * 1000
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    print(f"RESULT foreach_iteration_cpu {per_cpu:.1f} ms")
    print(f"RESULT foreach_iteration_overhead {per_wall:.1f} ms (target < {LIMIT_MS:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
