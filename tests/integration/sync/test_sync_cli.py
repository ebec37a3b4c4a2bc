"""``lakeworks sync run`` and ``lakeworks sync runs`` as a user runs them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml


def _lakeworks(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lakeworks"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sync_run_prints_totals_and_lists_runs(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "src.db")
    conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x") for i in range(250)])
    conn.commit()
    conn.close()
    (tmp_path / "lakeworks.yml").write_text(
        yaml.safe_dump(
            {"name": "cli", "data_sources": {"src": {"type": "sqlite", "path": "src.db"}}}
        )
    )
    flow = tmp_path / "workflows" / "ingest"
    flow.mkdir(parents=True)
    (flow / "ods_t.sync.yml").write_text(
        "source: {data_source: src, table: t}\n"
        "target: {table: ods_t, mode: overwrite_partition, partition: {ds: '${bizdate}'}}\n"
    )
    done = _lakeworks("sync", "run", "ods_t", "--bizdate", "20240105", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ingest.ods_t: 250 rows written, 0 dirty" in done.stdout
    assert "sync src.t -> warehouse.ods_t (overwrite_partition ds=20240105)" in done.stderr
    listed = _lakeworks("sync", "runs", cwd=tmp_path)
    assert "ingest.ods_t" in listed.stdout and "success" in listed.stdout
    missing = _lakeworks("sync", "run", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "no sync node named 'nope'" in missing.stderr
