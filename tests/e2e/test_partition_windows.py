"""Partition windows inferred from SQL, as ``lakeworks validate`` and ``render`` show them.

The commands run in this process (``tests/e2e/test_cli.py`` and the backfill benchmark
test start them as real processes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.in_process import lakeworks
from tests.integration.scheduler.test_partition_backfill import NODES


def lw(*args: str) -> subprocess.CompletedProcess[str]:
    """``lakeworks ARGS`` (each names its workspace with ``-w``)."""
    return lakeworks(*args, cwd=Path.cwd())


def pipeline(root: Path, ads_header: str = "") -> Path:
    folder = root / "workflows" / "sales"
    folder.mkdir(parents=True)
    (root / "lakeworks.yml").write_text(json.dumps({"name": "layers"}))
    (folder / "workflow.yml").write_text("{}")
    for name, code in NODES.items():
        header = ads_header if name == "ads_week" else ""
        (folder / f"{name}.sql").write_text(header + code.lstrip())
    return root


def test_validate_and_render_show_the_inferred_window(tmp_path: Path) -> None:
    root = pipeline(tmp_path / "ws")
    ok = lw("validate", "-w", str(root))
    assert ok.returncode == 0, ok.stderr
    assert "sales.ads_week waits for sales.dws_daily at bizdate-6..bizdate" in ok.stdout
    rendered = lw("render", "ads_week", "--bizdate", "20260411", "-w", str(root))
    assert "WHERE ds BETWEEN '20260405' AND '20260411'" in rendered.stdout
    assert "waits for" not in rendered.stdout  # stdout stays the code
    assert (
        "-- waits for sales.dws_daily at bizdate-6..bizdate = business dates"
        " 20260405..20260411" in rendered.stderr
    )


def test_a_header_key_overrides_or_disables_the_window(tmp_path: Path) -> None:
    header = "-- ---\n-- partition_windows: {dws_daily: '-2..0'}\n-- ---\n"
    root = pipeline(tmp_path / "one", header)
    ok = lw("validate", "-w", str(root))
    assert "waits for sales.dws_daily at bizdate-2..bizdate" in ok.stdout
    root = pipeline(tmp_path / "off", "-- ---\n-- partition_dependencies: false\n-- ---\n")
    ok = lw("validate", "-w", str(root))
    assert ok.returncode == 0 and "waits for" not in ok.stdout
    header = "-- ---\n-- partition_windows: {dws_daily: 'week'}\n-- ---\n"
    root = pipeline(tmp_path / "bad", header)
    bad = lw("validate", "-w", str(root))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "ads_week.sql:2" in bad.stderr
    assert "'week' is not a window of days" in bad.stderr


def test_backfill_preview_of_a_whole_pipeline(tmp_path: Path) -> None:
    root = pipeline(tmp_path / "ws")
    dates = "20260301-20260331"
    everything = lw(
        "backfill", "start", "--all", "-d", dates, "-p", "4", "--dry-run", "-w", str(root)
    )
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.startswith("Backfill of 4 nodes (workspace), 31 business dates")
    assert "124 instances to create" in everything.stdout
    # the first days of the 7-day window lie before the backfill and were never produced
    assert "waits for 6 instances outside the backfill:" in everything.stdout
    assert (
        "sales.dws_daily cycle 2026-02-24 00:00  [partition]  (not created yet)"
        in everything.stdout
    )
    assert "reads partitions of sales.dws_daily that this backfill does not produce" in (
        everything.stderr
    )
    upstream = lw(
        "backfill", "start", "ads_week", "--upstream", "--depth", "1", "-d", "20260301",
        "--dry-run", "-w", str(root),
    )  # fmt: skip
    assert "Backfill of 2 nodes (upstream of ads_week (1 level))" in upstream.stdout
    bad = lw("backfill", "start", "-d", dates, "-w", str(root))
    assert bad.returncode != 0 and "name the nodes to backfill" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_validate_reports_a_misspelt_column_at_its_line(tmp_path: Path) -> None:
    root = pipeline(tmp_path / "ws")
    ads = root / "workflows" / "sales" / "ads_week.sql"
    ads.write_text(ads.read_text().replace("SUM(total) AS total", "SUM(totl) AS total"))
    bad = lw("validate", "-w", str(root))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "ads_week.sql:3:12: unknown column 'totl'" in bad.stderr
    assert "did you mean 'total'?" in bad.stderr
