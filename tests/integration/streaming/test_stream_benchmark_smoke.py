"""The stream throughput benchmark still runs (smoke size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import require_postgres

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


def test_stream_throughput_quick(kafka_broker: str) -> None:
    require_postgres()
    script = Path(__file__).parents[3] / "benchmarks" / "stream_throughput.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert results == ["kafka_stream_vs_drain", "cdc_vs_drain", "stream_freshness_p95"]
