"""The partition backfill benchmark still runs (smoke size) and finds no wrong partition."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "partition_backfill.py"


def test_partition_backfill_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dates", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"^RESULT partition_backfill_wrong_partitions 0 partitions \(target == 0\)$",
        done.stdout,
        re.M,
    )
    assert re.search(
        r"^RESULT partition_backfill_throughput [\d.]+ inst/s \(target > 1\)$", done.stdout, re.M
    )
