"""The `lakeworks run` overhead benchmark runs (smoke size, real processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run_overhead.py"


@pytest.mark.slow
def test_the_run_overhead_benchmark_runs_at_smoke_size() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--shape", "layered"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "RESULT run_overhead_per_node_cli " in done.stdout
    assert "(target < 5)" in done.stdout
    assert "Data Map incomplete" not in done.stdout
    assert "lakeworks modules compiled" in done.stdout
