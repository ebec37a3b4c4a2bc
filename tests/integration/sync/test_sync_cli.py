"""``lakeworks sync`` commands as a user runs them.

The run, validate and terminal tests start a real ``lakeworks`` process per step; the
cursor and dirty-row tests, about what the commands say, run their steps in this process.
"""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.in_process import lakeworks


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


def test_sync_dirty_shows_a_runs_quarantined_rows(tmp_path: Path) -> None:
    _workspace(tmp_path, rows=10)
    conn = sqlite3.connect(tmp_path / "src.db")
    conn.execute("UPDATE t SET v = CASE WHEN id IN (3, 7) THEN 'bad' ELSE id END")
    conn.commit()
    conn.close()
    (tmp_path / "workflows" / "ingest" / "ods_t.sync.yml").write_text(
        "source: {data_source: src, table: t}\n"
        "target: {table: ods_t}\n"
        "columns: [id, {source: v, type: bigint}]\n"
        "dirty: {max_rows: 5}\n"
    )
    ran = lakeworks("sync", "run", "ods_t", cwd=tmp_path)
    assert "8 rows written, 2 dirty" in ran.stdout and "(run 1," in ran.stdout, ran.stderr
    shown = lakeworks("sync", "dirty", "1", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "run 1 ingest.ods_t (success): 2 dirty rows"
    assert lines[1].startswith("t row 4: column 'v'")  # rows count from 1: id 3 is row 4
    assert json.loads(lines[2]) == {"id": 3, "v": "bad"}
    assert lines[3].startswith("t row 8: column 'v'")
    first = lakeworks("sync", "dirty", "1", "--limit", "1", cwd=tmp_path)
    assert first.stdout.splitlines()[-1] == "showing the first 1 of 2"
    as_json = json.loads(lakeworks("sync", "dirty", "1", "--json", cwd=tmp_path).stdout)
    assert (as_json["run"], as_json["node"], as_json["rows_dirty"]) == (1, "ingest.ods_t", 2)
    assert [item["position"] for item in as_json["items"]] == ["t row 4", "t row 8"]
    assert json.loads(as_json["items"][1]["row"]) == {"id": 7, "v": "bad"}
    missing = lakeworks("sync", "dirty", "99", cwd=tmp_path)
    assert missing.returncode == 1 and "sync run 99 does not exist" in missing.stderr
    elsewhere = lakeworks("sync", "dirty", "1", "-e", "prod", cwd=tmp_path)
    assert elsewhere.returncode == 1


def test_sync_cursor_shows_sets_and_resets_the_mark(tmp_path: Path) -> None:
    _workspace(tmp_path)
    (tmp_path / "workflows" / "ingest" / "ods_t.sync.yml").write_text(
        "source: {data_source: src, table: t, cursor: id}\ntarget: {table: ods_t}\n"
    )
    assert "no cursor; the next run reads everything" in (
        lakeworks("sync", "cursor", "ods_t", cwd=tmp_path).stdout
    )
    lakeworks("sync", "run", "ods_t", cwd=tmp_path)
    shown = lakeworks("sync", "cursor", "ods_t", cwd=tmp_path)
    assert shown.stdout.startswith("ingest.ods_t (dev): cursor 249 (run 1, ")

    declined = lakeworks("sync", "cursor", "ods_t", "--set", "199", cwd=tmp_path, stdin="n\n")
    assert declined.returncode == 1
    assert "Set the cursor of ingest.ods_t (dev) from 249 to 199?" in declined.stdout
    assert "cursor 249 (run 1" in lakeworks("sync", "cursor", "ods_t", cwd=tmp_path).stdout

    confirmed = lakeworks("sync", "cursor", "ods_t", "--set", "199", cwd=tmp_path, stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "ingest.ods_t (dev): cursor 249 -> 199" in confirmed.stdout
    assert "cursor 199 (set by hand" in lakeworks("sync", "cursor", "ods_t", cwd=tmp_path).stdout
    again = lakeworks("sync", "run", "ods_t", cwd=tmp_path)
    assert "ingest.ods_t: 50 rows written" in again.stdout  # ids 200..249

    reset = lakeworks("sync", "cursor", "ods_t", "--reset", "--yes", cwd=tmp_path)
    assert reset.returncode == 0, reset.stderr
    assert "ingest.ods_t (dev): cursor 249 -> none; the next run reads everything" in reset.stdout
    assert (
        "ingest.ods_t: 250 rows written" in lakeworks("sync", "run", "ods_t", cwd=tmp_path).stdout
    )

    text = lakeworks("sync", "cursor", "ods_t", "--set", "2024-01-01 10:00", "-y", cwd=tmp_path)
    assert 'cursor 249 -> "2024-01-01 10:00"' in text.stdout
    both = lakeworks("sync", "cursor", "ods_t", "--reset", "--set", "1", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
    other = lakeworks("sync", "cursor", "nope", cwd=tmp_path)
    assert other.returncode == 2 and "no sync node named 'nope'" in other.stderr
