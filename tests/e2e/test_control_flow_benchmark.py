"""The for-each benchmark runs (smoke size, real processes) and checks its loop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "control_flow.py"


@pytest.mark.slow
def test_the_for_each_benchmark_runs_at_smoke_size() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "RESULT foreach_iteration_overhead " in done.stdout
    assert "(target < 50)" in done.stdout
    assert "     20" in done.stdout  # the 20-item loop ran, every iteration succeeded
