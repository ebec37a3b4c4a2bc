"""Column lineage in the helper process: the same lineage as in the run's own process."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import pytest

from lakeworks.catalog.lineage_index import analyse_tasks, sql_tasks
from lakeworks.catalog.lineage_worker import LineageWorker
from lakeworks.catalog.recorder import DataMapRecorder
from lakeworks.catalog.service import DataMap
from lakeworks.engines.registry import engine_for
from lakeworks.runtime import hooks
from lakeworks.runtime.runner import ManualRunner
from lakeworks.spec.models import NodeKind
from lakeworks.store.database import Database
from tests.integration.catalog.conftest import write_workspace

NODES = 10


def _chain(root: Path, extra: str = "") -> dict[str, str]:
    """``src`` copied down a chain; every fourth node uses ``SELECT *``."""
    files = {"lakeworks.yml": "name: chain\n"}
    files["workflows/w/n00.sql"] = (
        f"CREATE TABLE IF NOT EXISTS t00 AS SELECT 1 AS id, 2 AS a, 3 AS b{extra};\n"
    )
    for i in range(1, NODES):
        columns = "*" if i % 4 == 0 else "id, a * 2 AS a, b"
        files[f"workflows/w/n{i:02d}.sql"] = (
            f"CREATE TABLE IF NOT EXISTS t{i:02d} AS SELECT {columns} FROM t{i - 1:02d}{extra};\n"
        )
    return files


def test_the_helper_gives_the_lineage_of_this_process(tmp_path: Path) -> None:
    files = _chain(tmp_path)
    files["workflows/w/n01.sql"] = "CREATE TABLE t01 AS SELECT * FROM catalogued;\n"
    workspace = write_workspace(tmp_path, files)
    catalog = {"catalogued": ("id", "a", "b")}
    nodes = [n for n in workspace.nodes() if n.kind is NodeKind.SQL]
    tasks, failed = sql_tasks(workspace, nodes, {})
    assert not failed
    asked: list[str] = []

    def columns_of(names: Iterable[str]) -> dict[str, tuple[str, ...] | None]:
        wanted = list(names)
        asked.extend(wanted)
        return {name: catalog.get(name) for name in wanted}

    worker = LineageWorker()
    try:
        there = worker.analyse(tasks, {}, [], columns_of)
    finally:
        worker.close()

    here = analyse_tasks(tasks, catalog)
    assert there == here
    # the helper asked for the table only the catalog knows, and expanded its columns
    assert "catalogued" in asked
    assert {str(e) for e in there["w.n01"].edges} >= {"catalogued.a -> t01.a direct"}


@pytest.fixture
def helper(monkeypatch: pytest.MonkeyPatch) -> Iterator[LineageWorker]:
    """Only the Data Map recorder is registered, with a helper of its own that takes
    every batch (however few nodes the timing puts in it)."""
    monkeypatch.setattr(hooks, "_listeners", [])
    monkeypatch.setattr(hooks, "_checks", [])
    monkeypatch.setattr(hooks, "_batch_listeners", [])
    worker = LineageWorker(min_nodes=1)
    hooks.register_batch_listener(DataMapRecorder(helper=worker))
    yield worker
    worker.close()


def test_a_run_records_complete_lineage_with_or_without_the_helper(
    tmp_path: Path, helper: LineageWorker
) -> None:
    workspace = write_workspace(tmp_path, _chain(tmp_path))
    db = Database.open(f"sqlite:///{workspace.state_dir / 'meta.db'}")
    engine = engine_for(workspace, "dev")
    try:
        assert ManualRunner(workspace, db, engine, "dev").run(date(2026, 4, 11)).ok
        assert helper.running
        report = DataMap(db, workspace, "dev").impact("t00.a")
        assert {c.table for c in report.columns} == {f"t{i:02d}" for i in range(NODES)}

        # the helper dies: the next run's changed code is analysed in the run's process
        assert helper._pid is not None
        os.kill(helper._pid, signal.SIGKILL)
        changed = write_workspace(tmp_path, _chain(tmp_path, extra=" WHERE 1 = 1"))
        assert ManualRunner(changed, db, engine, "dev").run(date(2026, 4, 12)).ok
        report = DataMap(db, changed, "dev").impact("t00.a")
        assert {c.table for c in report.columns} == {f"t{i:02d}" for i in range(NODES)}
    finally:
        engine.close()
        db.close()
