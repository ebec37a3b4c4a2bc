"""The scheduler throughput benchmark still runs (smoke size, real processes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import POSTGRES_URL, require_postgres

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "scheduler_throughput.py"


@pytest.mark.postgres
def test_scheduler_throughput_benchmark_runs_quick() -> None:
    require_postgres()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "LAKEWORKS_TEST_POSTGRES_URL": POSTGRES_URL},
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "RESULT scheduler_throughput " in done.stdout
    assert "(target >= 300)" in done.stdout
    assert "RESULT dispatch_latency_p95 " in done.stdout
    assert re.search(r"^failed instances\s+0\s*$", done.stdout, re.MULTILINE), done.stdout
