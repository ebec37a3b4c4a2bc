"""The console benchmark runs (smoke size) and prints its RESULT lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import require_chromium

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "console.py"


@pytest.mark.slow
@pytest.mark.browser
def test_the_console_benchmark_runs_at_smoke_size() -> None:
    require_chromium()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT console_list_p95 " in done.stdout
    assert "RESULT console_dag_1000_laid_out_and_drawn " in done.stdout
    assert " 0 failed" in done.stdout
