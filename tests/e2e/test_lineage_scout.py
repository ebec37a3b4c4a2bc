"""The scout of `lakeworks run`: column lineage analysed while the command starts
(real processes: the scout is forked by the command itself, never by a test runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
NODES = 20


def _workspace(root: Path) -> Path:
    """A chain of SQL nodes over a first one; every third node uses ``SELECT *``."""
    wf = root / "workflows" / "chain"
    wf.mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: scout\n", encoding="utf-8")
    (wf / "n00.sql").write_text("CREATE TABLE t00 AS SELECT 1 AS id, 2 AS amount;\n")
    for i in range(1, NODES):
        columns = "*" if i % 3 == 0 else "id, amount + 1 AS amount"
        (wf / f"n{i:02d}.sql").write_text(
            f"CREATE TABLE t{i:02d} AS SELECT {columns} FROM t{i - 1:02d};\n", encoding="utf-8"
        )
    return root


_ASK = """
import json, sys
from pathlib import Path
from lakeworks.catalog import lineage_scout
root = Path(sys.argv[1])
lineage_scout.begin(root, [], "dev")
wait = lineage_scout.answer_for(root, "dev")
answer = wait() if wait else None
if answer is None:
    print(json.dumps(None))
else:
    results, lookups = answer
    print(json.dumps({
        "nodes": sorted(results),
        "edges": sorted(str(e) for e in results["chain.n03"].edges),
        "lookups": {k: list(v) if v else v for k, v in lookups["chain.n03"].items()},
    }))
"""


def _ask_scout(root: Path) -> object:
    done = subprocess.run(
        [sys.executable, "-c", _ASK, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_scout_analyses_the_changed_nodes_and_says_what_it_was_given(
    tmp_path: Path,
) -> None:
    root = _workspace(tmp_path / "ws")
    answer = _ask_scout(root)
    assert isinstance(answer, dict)
    assert answer["nodes"] == [f"chain.n{i:02d}" for i in range(NODES)]
    # n03 is SELECT * over t02: expanded with the columns n02 defines
    assert answer["edges"] == ["t02.amount -> t03.amount direct", "t02.id -> t03.id direct"]
    assert answer["lookups"] == {"t02": ["id", "amount"]}
    assert not (root / ".lakeworks" / "meta.db").exists()  # the scout creates no store

    # once a run stored the lineage of this code, there is nothing left to analyse
    assert _run(root).returncode == 0
    assert _ask_scout(root) is None


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LAKEWORKS, "run", "-w", str(root), "--bizdate", "20260411", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def test_a_run_records_the_lineage_and_leaves_no_process_behind(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws")
    run = _run(root)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # the scout writes nothing
    impact = subprocess.run(
        [LAKEWORKS, "map", "impact", "t00.id", "-w", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert impact.returncode == 0, impact.stderr
    downstream = {word.split(".")[0] for word in impact.stdout.split() if word.endswith(".id")}
    assert downstream >= {f"t{i:02d}" for i in range(1, NODES)}
    deadline = time.monotonic() + 5
    while _processes_naming(str(root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_naming(str(root)) == []
