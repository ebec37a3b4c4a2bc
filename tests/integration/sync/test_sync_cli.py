"""``lakeworks sync`` commands as a user runs them.

The first tests start a real ``lakeworks`` process per step; the cursor and dirty-row
tests, which are about what the commands say rather than about separate processes, run
their many steps in this process.
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

import pytest
import yaml
from typer.testing import CliRunner, Result

from lakeworks.cli.app import _register_groups, app


def _lakeworks(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lakeworks"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """``lakeworks`` run in this process, in the current folder, with the services the
    suite installs (see ``tests/conftest.py``)."""
    monkeypatch.delenv("LAKEWORKS_DATABASE_URL", raising=False)
    monkeypatch.delenv("LAKEWORKS_SECRET_KEY", raising=False)
    _register_groups()
    return CliRunner()


def _invoke(runner: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


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


def test_sync_dirty_shows_a_runs_quarantined_rows(
    tmp_path: Path, in_process: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
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
    ran = _invoke(in_process, "sync", "run", "ods_t")
    assert "8 rows written, 2 dirty" in ran.stdout and "(run 1," in ran.stdout, ran.stderr
    shown = _invoke(in_process, "sync", "dirty", "1")
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "run 1 ingest.ods_t (success): 2 dirty rows"
    assert lines[1].startswith("t row 4: column 'v'")  # rows count from 1: id 3 is row 4
    assert json.loads(lines[2]) == {"id": 3, "v": "bad"}
    assert lines[3].startswith("t row 8: column 'v'")
    first = _invoke(in_process, "sync", "dirty", "1", "--limit", "1")
    assert first.stdout.splitlines()[-1] == "showing the first 1 of 2"
    as_json = json.loads(_invoke(in_process, "sync", "dirty", "1", "--json").stdout)
    assert (as_json["run"], as_json["node"], as_json["rows_dirty"]) == (1, "ingest.ods_t", 2)
    assert [item["position"] for item in as_json["items"]] == ["t row 4", "t row 8"]
    assert json.loads(as_json["items"][1]["row"]) == {"id": 7, "v": "bad"}
    missing = _invoke(in_process, "sync", "dirty", "99")
    assert missing.exit_code == 1 and "sync run 99 does not exist" in missing.stderr
    elsewhere = _invoke(in_process, "sync", "dirty", "1", "-e", "prod")
    assert elsewhere.exit_code == 1


def test_sync_cursor_shows_sets_and_resets_the_mark(
    tmp_path: Path, in_process: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _workspace(tmp_path)
    (tmp_path / "workflows" / "ingest" / "ods_t.sync.yml").write_text(
        "source: {data_source: src, table: t, cursor: id}\ntarget: {table: ods_t}\n"
    )
    assert "no cursor; the next run reads everything" in (
        _invoke(in_process, "sync", "cursor", "ods_t").stdout
    )
    _invoke(in_process, "sync", "run", "ods_t")
    shown = _invoke(in_process, "sync", "cursor", "ods_t")
    assert shown.stdout.startswith("ingest.ods_t (dev): cursor 249 (run 1, ")

    declined = _invoke(in_process, "sync", "cursor", "ods_t", "--set", "199", stdin="n\n")
    assert declined.exit_code == 1
    assert "Set the cursor of ingest.ods_t (dev) from 249 to 199?" in declined.stdout
    assert "cursor 249 (run 1" in _invoke(in_process, "sync", "cursor", "ods_t").stdout

    confirmed = _invoke(in_process, "sync", "cursor", "ods_t", "--set", "199", stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert "ingest.ods_t (dev): cursor 249 -> 199" in confirmed.stdout
    assert "cursor 199 (set by hand" in _invoke(in_process, "sync", "cursor", "ods_t").stdout
    again = _invoke(in_process, "sync", "run", "ods_t")
    assert "ingest.ods_t: 50 rows written" in again.stdout  # ids 200..249

    reset = _invoke(in_process, "sync", "cursor", "ods_t", "--reset", "--yes")
    assert reset.exit_code == 0, reset.stderr
    assert "ingest.ods_t (dev): cursor 249 -> none; the next run reads everything" in reset.stdout
    assert "ingest.ods_t: 250 rows written" in _invoke(in_process, "sync", "run", "ods_t").stdout

    text = _invoke(in_process, "sync", "cursor", "ods_t", "--set", "2024-01-01 10:00", "-y")
    assert 'cursor 249 -> "2024-01-01 10:00"' in text.stdout
    both = _invoke(in_process, "sync", "cursor", "ods_t", "--reset", "--set", "1")
    assert both.exit_code == 2 and "not both" in both.stderr
    other = _invoke(in_process, "sync", "cursor", "nope")
    assert other.exit_code == 2 and "no sync node named 'nope'" in other.stderr
