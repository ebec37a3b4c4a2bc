"""The Spark engine benchmark still runs (smoke size)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "spark_engine.py"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_spark_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"^RESULT spark_overhead_per_node -?\d+ ms \(target < 200\)$", out, re.M)
    assert re.search(
        r"^RESULT duckdb_lakehouse_vs_native [\d.]+ ratio \(target <= 1.5\)$", out, re.M
    )
    assert "rows differ" not in out
