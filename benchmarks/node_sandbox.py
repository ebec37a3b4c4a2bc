"""What confining Python and shell nodes costs: ``lakeworks run`` of N trivial shell nodes
with the sandbox off and with the default (``auto``: bubblewrap where usable).

Each configuration runs the whole workspace as a user does (one ``lakeworks run``
process, nodes one at a time), twice, interleaved; the faster run of each counts. The
run's own time (from its JSON summary: process start-up excluded) divided by the nodes
gives the time per node in each mode, and their difference the sandbox's overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))


def generate(root: Path, nodes: int) -> None:
    """A workspace of ``nodes`` independent shell nodes that print one line."""
    root.mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: sandbox-bench\nmax_parallel: 1\n")
    flow = root / "workflows" / "noop"
    flow.mkdir(parents=True)
    (flow / "workflow.yml").write_text("description: trivial shell nodes\n")
    for n in range(nodes):
        (flow / f"n{n:03d}.sh").write_text('echo "node $LAKEWORKS_NODE for $bizdate"\n')


def run_once(root: Path, mode: str) -> float:
    env = {**os.environ, "LAKEWORKS_SANDBOX": mode}
    done = subprocess.run(
        [LAKEWORKS, "run", "-w", str(root), "--bizdate", "20260411", "-q", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"lakeworks run failed ({mode}):\n{done.stdout}\n{done.stderr}")
    return float(json.loads(done.stdout)["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="smoke run with 5 nodes")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per mode; the best one counts (default 2)"
    )
    args = parser.parse_args()
    nodes = 5 if args.quick else args.nodes
    from lakeworks.runtime.sandbox import current

    box = current()
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="lakeworks-sandbox-bench-") as tmp:
        root = Path(tmp) / "ws"
        generate(root, nodes)
        for _ in range(args.repeats):
            for mode in ("off", "auto"):
                elapsed = run_once(root, mode)
                best[mode] = min(best.get(mode, elapsed), elapsed)
    off, auto = best["off"] / nodes, best["auto"] / nodes
    overhead_ms = (auto - off) * 1000
    print(f"nodes: {nodes}, default sandbox here: {box.describe()}")
    print("(timings on a machine shared with other work vary widely)")
    print(f"{'mode':<8}{'run s':>10}{'s/node':>10}")
    for mode in ("off", "auto"):
        print(f"{mode:<8}{best[mode]:>10.2f}{best[mode] / nodes:>10.3f}")
    print(f"RESULT sandbox_overhead_per_node {overhead_ms:.1f} ms (target < 100)")
    print(f"RESULT sandboxed_node_seconds {auto:.3f} s (target < 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
