"""While a scheduler holds the embedded warehouse, other commands go through it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.test_cli import LAKEWORKS, lw


def test_query_map_build_and_quality_run_beside_a_running_scheduler(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    assert lw("init", str(root), "--example", "sales").returncode == 0
    ran = lw("run", "-w", str(root), "--bizdate", "20260411", "--env", "prod", "-q")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    socket_file = root / ".lakeworks" / "warehouse" / "prod.duckdb.sock"
    log = (tmp_path / "scheduler.log").open("wb")
    scheduler = subprocess.Popen(
        [LAKEWORKS, "scheduler", "-w", str(root), "--definition", "folder"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not socket_file.exists():
            assert scheduler.poll() is None, (tmp_path / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not serve its warehouse"
            time.sleep(0.1)
        query = lw(
            "query", "-w", str(root), "--env", "prod", "--format", "csv",
            "SELECT COUNT(*) AS n FROM sales_raw",
        )  # fmt: skip
        assert query.returncode == 0, query.stderr
        assert query.stdout.splitlines() == ["n", "5"]
        built = lw("map", "build", "-w", str(root), "--env", "prod")
        assert built.returncode == 0, built.stderr
        assert "2 tables harvested" in built.stdout
        checked = lw(
            "quality", "run", "sales_daily", "-w", str(root), "--env", "prod",
            "--bizdate", "20260411",
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        for result in (query, built, checked):
            assert "lock" not in result.stderr.lower()
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=60)
        log.close()
    assert not socket_file.exists()
