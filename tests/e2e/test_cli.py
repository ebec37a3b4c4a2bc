"""The ``lakeworks`` command as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))


def lw(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LAKEWORKS, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "lab"
    result = lw("init", str(root), "--example", "sales")
    assert result.returncode == 0, result.stderr
    return root


def test_tutorial_end_to_end(lab: Path) -> None:
    run = lw("run", "-w", str(lab), "--bizdate", "20260411")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "success" in run.stdout
    assert "[02_build_sales_daily]" in run.stderr  # node logs stream while running
    count = lw("query", "-w", str(lab), "--format", "csv", "SELECT COUNT(*) AS cnt FROM sales_raw")
    assert count.stdout.splitlines() == ["cnt", "5"]
    daily = lw(
        "query",
        "-w",
        str(lab),
        "--format",
        "json",
        "SELECT biz_date, order_count FROM sales_daily ORDER BY biz_date",
    )
    assert json.loads(daily.stdout) == [
        {"biz_date": "2026-04-09", "order_count": 2},
        {"biz_date": "2026-04-10", "order_count": 2},
        {"biz_date": "2026-04-11", "order_count": 1},
    ]


def test_validate_and_render(lab: Path) -> None:
    ok = lw("validate", cwd=lab)
    assert ok.returncode == 0 and "2 nodes" in ok.stdout and "1 dependencies" in ok.stdout
    rendered = lw("render", "02_build_sales_daily", "--bizdate", "20260411", "-w", str(lab))
    assert "INSERT OVERWRITE TABLE sales_daily" in rendered.stdout
    translated = lw(
        "render", "02_build_sales_daily", "--bizdate", "20260411", "-w", str(lab), "--translated"
    )
    assert "DELETE FROM sales_daily" in translated.stdout
    assert "-- atomic" in translated.stdout


def test_run_json_summary(lab: Path) -> None:
    result = lw("run", "sales_pipeline", "-w", str(lab), "-d", "20260410", "-q", "--format", "json")
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert [i["state"] for i in summary["instances"]] == ["success", "success"]


def test_bad_inputs_give_clear_errors_without_tracebacks(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    assert lw("init", str(root)).returncode == 0
    wf = root / "workflows" / "wf"
    wf.mkdir(parents=True)
    (wf / "a.sql").write_text("SELECT 1;\n\nSELECT x FROM t WHERE;\n", encoding="utf-8")
    (wf / "b.sql").write_text("-- ---\n-- retrys: 2\n-- ---\nSELECT 1;\n", encoding="utf-8")
    result = lw("validate", "-w", str(root))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "b.sql:2" in result.stderr and "retrys" in result.stderr
    # fix the header; the SQL error is now reported with line and column
    (wf / "b.sql").write_text("SELECT 1;\n", encoding="utf-8")
    result = lw("validate", "-w", str(root))
    assert result.returncode == 2
    assert "a.sql:3:" in result.stderr
    run = lw("run", "-w", str(root), "--bizdate", "20260411")
    assert run.returncode == 2 and "a.sql:3:" in run.stderr


def test_failed_run_exits_non_zero(tmp_path: Path) -> None:
    root = tmp_path / "fails"
    assert lw("init", str(root)).returncode == 0
    wf = root / "workflows" / "wf"
    wf.mkdir(parents=True)
    (wf / "check.sh").write_text("echo checking\nexit 3\n", encoding="utf-8")
    result = lw("run", "-w", str(root), "--bizdate", "20260411")
    assert result.returncode == 1
    assert "exited with code 3" in result.stdout


def test_not_a_workspace_and_bad_date(tmp_path: Path) -> None:
    missing = lw("run", "-w", str(tmp_path), "--bizdate", "20260411")
    assert missing.returncode == 2 and "not a Lakeworks workspace" in missing.stderr
    assert "hint:" in missing.stderr
    root = tmp_path / "ws"
    lw("init", str(root), "--example", "sales")
    bad_date = lw("run", "-w", str(root), "--bizdate", "2026-13-45")
    assert bad_date.returncode == 2 and "YYYYMMDD" in bad_date.stderr


def test_help_explains_commands() -> None:
    result = lw("--help")
    assert result.returncode == 0
    for command in ("init", "validate", "render", "run", "query"):
        assert command in result.stdout
    assert "--bizdate" in lw("run", "--help").stdout


def test_validate_checks_schedules(tmp_path: Path) -> None:
    root = tmp_path / "sched"
    assert lw("init", str(root)).returncode == 0
    wf = root / "workflows" / "wf"
    wf.mkdir(parents=True)
    (wf / "workflow.yml").write_text("schedule:\n  cycle: day\n  at: '25:99'\n", encoding="utf-8")
    (wf / "a.sql").write_text("SELECT 1;\n", encoding="utf-8")
    result = lw("validate", "-w", str(root))
    assert result.returncode == 2
    assert "workflow.yml" in result.stderr and "25:99" in result.stderr


def test_validate_checks_quality_rules(tmp_path: Path) -> None:
    root = tmp_path / "q"
    assert lw("init", str(root), "--example", "sales").returncode == 0
    ok = lw("validate", "-w", str(root))
    assert ok.returncode == 0 and "4 quality rules" in ok.stdout
    rules = root / "workflows" / "sales_pipeline" / "sales_daily.quality.yml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace("template: min", "template: minn"),
        encoding="utf-8",
    )
    bad = lw("validate", "-w", str(root))
    assert bad.returncode == 2 and "sales_daily.quality.yml" in bad.stderr and "minn" in bad.stderr


def test_run_retries_a_failed_node_per_its_policy(tmp_path: Path) -> None:
    root = tmp_path / "retries"
    assert lw("init", str(root)).returncode == 0
    wf = root / "workflows" / "wf"
    wf.mkdir(parents=True)
    header = "# ---\n# retries: 1\n# retry_delay_seconds: 0\n# ---\n"
    (wf / "flaky.sh").write_text(header + 'test "$LAKEWORKS_ATTEMPT" = 2\n', encoding="utf-8")
    result = lw("run", "-w", str(root), "--bizdate", "20260411", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    (instance,) = json.loads(result.stdout)["instances"]
    assert instance["state"] == "success"
    assert "attempt 1 of 2 failed, retry at" in result.stderr
