"""``lakeworks quality`` as a user runs it.

The first test starts a real ``lakeworks`` process per step; the others, about what the
commands say, run their steps in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.in_process import lakeworks
from tests.integration.quality.test_gate import NODES, RULES


def _lakeworks(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("LAKEWORKS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "from lakeworks.cli.app import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _workspace(root: Path, max_ratio: float = 5) -> Path:
    folder = root / "workflows" / "orders"
    folder.mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: cli-test\n")
    for name, code in NODES.items():
        (folder / name).write_text(code)
    (folder / "ods_orders.quality.yml").write_text(
        RULES.format(strength="strong", max_ratio=max_ratio)
    )
    return root


def test_run_then_check_on_demand_and_read_the_trend(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws")
    run = _lakeworks("run", "--bizdate", "20260410", "-q", cwd=root)
    assert run.returncode == 1
    assert "quality rule ods_orders_email_nulls failed" in run.stdout

    rules = _lakeworks("quality", "rules", cwd=root)
    assert rules.returncode == 0, rules.stderr
    assert "ods_orders_email_nulls" in rules.stdout
    assert "workflows/orders/ods_orders.quality.yml:4" in rules.stdout

    check = _lakeworks("quality", "run", "ods_orders", "--bizdate", "20260410", cwd=root)
    assert check.returncode == 1
    assert "null ratio 12.5 % > 5 %" in check.stdout
    assert "quality rule ods_orders_email_nulls failed: null ratio 12.5 % > 5 %" in check.stderr
    assert "sample of bad rows for ods_orders_email_nulls" in check.stdout

    results = _lakeworks("quality", "results", "ods_orders", cwd=root)
    assert results.returncode == 0, results.stderr
    assert "trend" in results.stdout
    assert "FF" in results.stdout  # the gate's failure, then the on-demand one

    as_json = _lakeworks("quality", "results", "ods_orders", "--json", cwd=root)
    stored = json.loads(as_json.stdout)
    assert {s["rule"] for s in stored} == {"ods_orders_email_nulls", "ods_orders_not_empty"}
    nulls = [s for s in stored if s["rule"] == "ods_orders_email_nulls"]
    assert [s["value"] for s in nulls] == [12.5, 12.5]
    assert nulls[-1]["instance_id"] is not None  # the first check ran in the gate
    assert nulls[0]["instance_id"] is None  # the on-demand one did not
    assert all(s["bizdate"] == "20260410" for s in nulls)
    assert nulls[0]["cycle_time"] == nulls[1]["cycle_time"]  # the same cycle as the writer
    # the strong rule failed the writing node; the on-demand check blocked nothing
    assert [(s["strength"], s["blocked"]) for s in nulls] == [("strong", False), ("strong", True)]
    assert "strength" in results.stdout and "blocked" in results.stdout


def test_a_weak_rule_that_fails_is_shown_as_not_blocking(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _workspace(root)
    rules_file = root / "workflows" / "orders" / "ods_orders.quality.yml"
    rules_file.write_text(RULES.format(strength="weak", max_ratio=5))
    assert lakeworks("run", "--bizdate", "20260410", "-q", cwd=root).returncode == 0
    stored = json.loads(lakeworks("quality", "results", "ods_orders", "--json", cwd=root).stdout)
    nulls = [s for s in stored if s["rule"] == "ods_orders_email_nulls"]
    assert [(s["verdict"], s["strength"], s["blocked"]) for s in nulls] == [("fail", "weak", False)]


def test_passing_check_exits_zero(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", max_ratio=50)
    assert lakeworks("run", "--bizdate", "20260410", "-q", cwd=root).returncode == 0
    check = lakeworks(
        "quality",
        "run",
        "ods_orders",
        "-d",
        "20260410",
        "--json",
        "--rule",
        "ods_orders_not_empty",
        cwd=root,
    )
    assert check.returncode == 0, check.stderr
    (result,) = json.loads(check.stdout)
    assert result["verdict"] == "pass"
    assert result["message"] == "row count 16"


def test_bad_rule_file_and_unknown_table_are_clear_errors(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws")
    unknown = lakeworks("quality", "run", "nowhere", cwd=root)
    assert unknown.returncode == 1
    assert "no quality rules are attached to table 'nowhere'" in unknown.stderr
    assert "tables with rules: ods_orders" in unknown.stderr

    rules_file = root / "workflows" / "orders" / "ods_orders.quality.yml"
    rules_file.write_text(
        rules_file.read_text().replace("fail: {max: 5}", "fail: {max: 500}") + "    colum: x\n"
    )
    broken = lakeworks("quality", "rules", cwd=root)
    assert broken.returncode == 2
    assert "ods_orders.quality.yml:11 (key 'rules.1.colum'): unknown key 'colum'" in broken.stderr
    assert "ods_orders.quality.yml:8 (key 'rules.0.fail.max')" in broken.stderr
    assert "outside 0..100" in broken.stderr
