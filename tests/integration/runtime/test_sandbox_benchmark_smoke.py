"""The node sandbox benchmark still runs (smoke size, real ``lakeworks run`` processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "node_sandbox.py"


def test_node_sandbox_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--nodes", "2", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "RESULT sandbox_overhead_per_node " in done.stdout
    assert "(target < 100)" in done.stdout
    assert "RESULT sandboxed_node_seconds " in done.stdout
