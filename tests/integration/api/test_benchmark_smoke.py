"""The API latency and ad-hoc query benchmarks run (smoke size) and print their RESULT
lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "api_latency.py"


@pytest.mark.slow
def test_the_benchmark_runs_at_smoke_size() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT instances_list_p99 " in done.stdout
    assert "(target < 50)" in done.stdout
    assert " 0 failed" in done.stdout


@pytest.mark.slow
def test_the_adhoc_query_benchmark_runs_at_smoke_size() -> None:
    script = SCRIPT.parent / "adhoc_query.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "RESULT adhoc_masked_query_p99 " in done.stdout
    assert "RESULT adhoc_failed_requests 0 requests (target = 0)" in done.stdout
