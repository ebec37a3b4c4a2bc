"""The follow-up queue: the Data Map is kept off the instances' critical path, and
nothing is lost when a process dies before the work is done or a listener fails."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakeworks.catalog import run_lineage
from lakeworks.catalog.recorder import DataMapRecorder
from lakeworks.catalog.service import DataMap
from lakeworks.catalog.tables import lineage_column_edges
from lakeworks.engines.base import Engine
from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.runtime import hooks
from lakeworks.runtime.followups import FollowupDrainer
from lakeworks.runtime.runner import ManualRunner
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import Workspace
from lakeworks.store import followups
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.models import InstanceState
from lakeworks.store.repositories import LogRepository


@pytest.fixture(autouse=True)
def _data_map_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(hooks, "_batch_listeners", [DataMapRecorder()])
    yield
    close_all()


def workspace(root: Path) -> Workspace:
    wf = root / "workflows" / "wf"
    wf.mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: t\n", encoding="utf-8")
    (wf / "a.sql").write_text("CREATE TABLE a AS SELECT 1 AS k, 2 AS v;\n", encoding="utf-8")
    (wf / "b.sql").write_text("CREATE TABLE b AS SELECT k, v * 2 AS w FROM a;\n", encoding="utf-8")
    return load_workspace(root)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Workspace, Database, Engine]]:
    ws = workspace(tmp_path / "ws")
    db = Database.open(default_database_url(ws.state_dir))
    yield ws, db, engine_for(ws, "dev")
    db.close()


def test_the_data_map_is_complete_when_a_run_returns(
    setup: tuple[Workspace, Database, Engine],
) -> None:
    ws, db, engine = setup
    summary = ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11))
    assert summary.ok
    assert followups.pending(db, ws.name, "dev") == 0
    dm = DataMap(db, ws, "dev")
    b = dm.table("b")
    assert b.row_count == 1 and [c.name for c in b.columns] == ["k", "w"]
    assert b.writer_node == "wf.b"
    [entry] = run_lineage.history(db, ws.name, "dev", "b")
    assert entry.node_key == "wf.b"
    with db.read() as conn:  # the column lineage of the new code is known
        edges = conn.execute(
            sa.select(
                lineage_column_edges.c.source_table, lineage_column_edges.c.target_column
            ).where(lineage_column_edges.c.node_key == "wf.b")
        ).all()
    assert ("a", "w") in {(e.source_table, e.target_column) for e in edges}


def test_work_left_by_a_process_that_died_is_done_by_the_next_one(
    setup: tuple[Workspace, Database, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, db, engine = setup
    # the process "dies" right after its instances ended: no follow-up work is done
    monkeypatch.setattr(FollowupDrainer, "notify", lambda self: None)
    monkeypatch.setattr(FollowupDrainer, "drain", lambda self, timeout=None: True)
    summary = ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11))
    assert summary.ok
    assert followups.pending(db, ws.name, "dev") == 2  # written with the instances' end
    assert run_lineage.history(db, ws.name, "dev", "b") == []
    monkeypatch.undo()
    monkeypatch.setattr(hooks, "_batch_listeners", [DataMapRecorder()])

    later = FollowupDrainer(db, lambda: ws, engine, "dev", owner="local")
    assert later.drain(30.0)
    assert followups.pending(db, ws.name, "dev") == 0
    assert [e.node_key for e in run_lineage.history(db, ws.name, "dev", "b")] == ["wf.b"]
    assert DataMap(db, ws, "dev").table("b").row_count == 1


class Broken:
    name = "broken listener"

    def on_finished(
        self, batch: Sequence[hooks.FinishedInstance], *, db: Database, engine: Engine
    ) -> None:
        if any(i.node.name == "b" for i in batch):
            raise RuntimeError("cannot describe b")


def test_a_failing_listener_never_fails_the_instance_and_is_logged_once(
    setup: tuple[Workspace, Database, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, db, engine = setup
    monkeypatch.setattr(hooks, "_batch_listeners", [Broken(), DataMapRecorder()])
    summary = ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11))
    assert summary.ok
    assert {i.state for i in summary.instances} == {InstanceState.SUCCESS}
    b = next(i for i in summary.instances if i.node_key == "wf.b")
    lines = [line.text for line in LogRepository(db).read(b.id)]
    failed = [line for line in lines if "broken listener failed" in line]
    assert failed == ["broken listener failed for wf.b: RuntimeError: cannot describe b"]
    a = next(i for i in summary.instances if i.node_key == "wf.a")
    assert not any("failed" in line.text for line in LogRepository(db).read(a.id))
    # the other listener still did its work for both
    assert DataMap(db, ws, "dev").table("b").row_count == 1
    assert followups.pending(db, ws.name, "dev") == 0


class BrokenAhead(Broken):
    name = "eager listener"

    def before_run(
        self, workspace: Workspace, env: str, keys: Sequence[str], *, db: Database
    ) -> None:
        raise RuntimeError("cannot begin")


def test_a_listener_that_cannot_begin_ahead_never_stops_the_run(
    setup: tuple[Workspace, Database, Engine],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws, db, engine = setup
    monkeypatch.setattr(hooks, "_batch_listeners", [BrokenAhead(), DataMapRecorder()])
    with caplog.at_level(logging.WARNING, logger="lakeworks.followups"):
        summary = ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11))
    assert summary.ok
    reports = [r.getMessage() for r in caplog.records if "ahead of the run" in r.getMessage()]
    assert reports == ["eager listener could not begin ahead of the run: cannot begin"]
    assert DataMap(db, ws, "dev").table("b").row_count == 1


def test_an_unavailable_store_is_reported_and_the_work_kept(
    setup: tuple[Workspace, Database, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    ws, _, engine = setup
    down = Database(sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    drainer = FollowupDrainer(down, lambda: ws, engine, "dev", owner="local")
    with caplog.at_level(logging.WARNING, logger="lakeworks.followups"):
        assert not drainer.drain(1.5)
    assert drainer.outage is not None and "unavailable" in drainer.outage
    reports = [r for r in caplog.records if "metadata store is unavailable" in r.message]
    assert len(reports) == 1  # reported once per outage, retried meanwhile
    down.engine.dispose()
