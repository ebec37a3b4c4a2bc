"""The instance listing benchmark still runs (smoke size)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import POSTGRES_URL, require_postgres

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "instance_listing.py"


@pytest.mark.postgres
def test_instance_listing_benchmark_runs_quick() -> None:
    require_postgres()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LAKEWORKS_TEST_POSTGRES_URL": POSTGRES_URL},
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "RESULT instance_list_slowest_ms " in done.stdout
    assert "rare owner (a few rows)" in done.stdout
