"""``lakeworks sync run`` and ``lakeworks sync runs`` as a user runs them."""

from __future__ import annotations

import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
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


def _workspace(root: Path, rows: int = 250) -> None:
    conn = sqlite3.connect(root / "src.db")
    conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x") for i in range(rows)])
    conn.commit()
    conn.close()
    (root / "lakeworks.yml").write_text(
        yaml.safe_dump(
            {"name": "cli", "data_sources": {"src": {"type": "sqlite", "path": "src.db"}}}
        )
    )
    flow = root / "workflows" / "ingest"
    flow.mkdir(parents=True)
    (flow / "ods_t.sync.yml").write_text(
        "source: {data_source: src, table: t}\n"
        "target: {table: ods_t, mode: overwrite_partition, partition: {ds: '${bizdate}'}}\n"
    )


def test_sync_run_prints_totals_and_lists_runs(tmp_path: Path) -> None:
    _workspace(tmp_path)
    done = _lakeworks("sync", "run", "ods_t", "--bizdate", "20240105", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ingest.ods_t: 250 rows written, 0 dirty" in done.stdout
    assert "sync src.t -> warehouse.ods_t (overwrite_partition ds=20240105)" in done.stderr
    listed = _lakeworks("sync", "runs", cwd=tmp_path)
    assert "ingest.ods_t" in listed.stdout and "success" in listed.stdout
    missing = _lakeworks("sync", "run", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "no sync node named 'nope'" in missing.stderr


def _on_a_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Run ``lakeworks`` with a pseudo-terminal as its output; its exit code and screen."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "lakeworks"), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        screen += data
    os.close(main)
    return process.wait(timeout=30), screen.decode()


def test_on_a_terminal_the_bar_ends_its_line_before_sync_done(tmp_path: Path) -> None:
    _workspace(tmp_path)
    code, screen = _on_a_terminal("sync", "run", "ods_t", "--bizdate", "20240105", cwd=tmp_path)
    assert code == 0, screen
    lines = screen.replace("\r\n", "\n").split("\n")
    assert any(line.startswith("\r[") and "rows/s" in line for line in lines), screen
    (done,) = [line for line in lines if "sync done:" in line]
    assert done.startswith("sync done: 250 rows written"), screen
    assert not any("progress:" in line for line in lines)


def test_validate_and_run_name_the_line_of_an_unknown_column_type(tmp_path: Path) -> None:
    _workspace(tmp_path)
    (tmp_path / "workflows" / "ingest" / "ods_t.sync.yml").write_text(
        "source: {data_source: src, table: t}\n"
        "target: {table: ods_t}\n"
        "columns:\n"
        "  - id\n"
        "  - {source: v, type: nonsense}\n"
    )
    where = "ods_t.sync.yml:5 (key 'columns.1.type'): column 'v': unknown type 'nonsense'"
    checked = _lakeworks("validate", cwd=tmp_path)
    assert checked.returncode == 2
    assert where in checked.stderr and "timestamptz" in checked.stderr
    ran = _lakeworks("sync", "run", "ods_t", cwd=tmp_path)
    assert ran.returncode == 2
    assert where in ran.stderr
