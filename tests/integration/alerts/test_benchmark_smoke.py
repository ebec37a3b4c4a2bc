"""The alerts benchmark still runs (smoke size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "alerts.py"


def test_alerts_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--passes", "5"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "RESULT alert_eval_per_pass " in done.stdout
    assert "(2000 signals, " in done.stdout
