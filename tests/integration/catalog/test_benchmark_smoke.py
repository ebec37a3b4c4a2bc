"""The Data Map benchmark still runs (smoke size)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "lineage.py"


def test_lineage_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^RESULT lineage_2000_nodes [\d.]+ s \(target < 20\)$", done.stdout, re.M)
    assert re.search(r"^RESULT impact_root [\d.]+ ms \(target < 200\)$", done.stdout, re.M)
    assert " 0 unresolved" in done.stdout
