"""The sync throughput benchmark still runs (smoke size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import require_mysql, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.mysql, pytest.mark.slow]


def test_sync_throughput_quick() -> None:
    require_postgres()
    require_mysql()
    script = Path(__file__).parents[3] / "benchmarks" / "sync_throughput.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert [r.split()[1] for r in results] == [
        "pg_to_duckdb_vs_limit",
        "pg_to_duckdb_peak_rss",
        "mysql_to_duckdb_vs_client",
    ]
