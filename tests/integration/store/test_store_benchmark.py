"""The store benchmark still runs (smoke size); its figures are not judged here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "store_metadata.py"


def test_store_benchmark_quick_run_prints_results() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert any(line.startswith("RESULT sqlite_create_many_rows_per_s ") for line in results)
    assert all("(target " in line for line in results)
