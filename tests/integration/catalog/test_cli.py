"""``lakeworks map`` as a user runs it: after a run, the map answers at once.

The first test starts a real ``lakeworks`` process per step; the second, about what the
commands say, runs its steps in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lakeworks.spec.init import init_workspace
from tests.in_process import lakeworks


def _lakeworks(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    for name in ("LAKEWORKS_DATABASE_URL", "LAKEWORKS_OPENLINEAGE_URL"):
        env.pop(name, None)
    env["LAKEWORKS_OPENLINEAGE_FILE"] = str(cwd / "events.jsonl")
    return subprocess.run(
        [sys.executable, "-c", "from lakeworks.cli.app import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_run_then_show_impact_lineage_and_search(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "lab", example="sales")
    ran = _lakeworks("run", "--bizdate", "20260411", "-q", cwd=root)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith("2 instances (2 success)")  # -q: no table
    events = [json.loads(x) for x in (root / "events.jsonl").read_text().splitlines()]
    assert sorted(e["eventType"] for e in events) == ["COMPLETE", "COMPLETE", "START", "START"]

    shown = _lakeworks("map", "show", "sales_daily", cwd=root)
    assert shown.returncode == 0, shown.stderr
    assert "rows         3" in shown.stdout
    assert "written by   sales_pipeline.02_build_sales_daily" in shown.stdout

    impact = _lakeworks("map", "impact", "sales_raw.amount", "--json", cwd=root)
    assert impact.returncode == 0, impact.stderr
    report = json.loads(impact.stdout)
    assert [(c["table"], c["column"]) for c in report["columns"]][1:] == [
        ("sales_daily", "revenue_total")
    ]
    assert report["owners"] == ["data-eng"]

    lineage = _lakeworks("map", "lineage", "sales_daily.biz_date", cwd=root)
    assert "sales_raw.order_ts -> sales_daily.biz_date  [transform" in lineage.stdout

    found = _lakeworks("map", "search", "revenue", cwd=root)
    assert found.stdout.splitlines()[0].startswith("table  sales_daily")


def test_an_empty_map_is_built_on_first_use_and_errors_are_clear(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "lab", example="sales")
    impact = lakeworks("map", "impact", "sales_raw", cwd=root)
    assert impact.returncode == 0, impact.stderr
    assert "building it first" in impact.stderr
    assert "sales_daily" in impact.stdout

    missing = lakeworks("map", "impact", "no_such_table", cwd=root)
    assert missing.returncode == 1
    assert "no table 'no_such_table'" in missing.stderr
    assert "hint: build the map first" in missing.stderr

    built = lakeworks("map", "build", "--json", cwd=root)
    assert json.loads(built.stdout)["nodes"] == 2
