"""The scheduling benchmark still runs (smoke size); its figures are not judged here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "schedule_planning.py"


def test_benchmark_quick_run(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_schedule_planning", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "RESULT plan_20_nodes_3_days " in out and "(target < 1)" in out
    assert "RESULT simulate_20_nodes_3_days " in out
