"""The quality benchmark still runs (smoke size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "quality_scan.py"


def test_quality_scan_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT quality_vs_single_select " in done.stdout
    assert "(target <= 1.2)" in done.stdout
