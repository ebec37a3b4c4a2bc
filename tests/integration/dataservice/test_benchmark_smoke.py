"""The DataService benchmark runs at smoke size and prints its RESULT lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import require_postgres

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "dataservice.py"


@pytest.mark.slow
def test_the_benchmark_runs_at_smoke_size() -> None:
    require_postgres()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT dataservice_vs_minimal " in done.stdout
    assert "(target >= 0.7)" in done.stdout
    assert "RESULT dataservice_cached_rps " in done.stdout
    lines = done.stdout.splitlines()
    table = [line.split() for line in lines if line.startswith(("minimal", "data"))]
    assert [row[2] for row in table] == ["0", "0", "0"]  # no request failed
