"""The large-node validation benchmark runs (smoke size); its figures are not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "large_node.py"


def test_the_benchmark_runs_at_smoke_size() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT large_node_validate_quick " in done.stdout
    assert "(target < 10)" in done.stdout
