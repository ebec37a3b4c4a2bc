"""Column lineage analysed as a run starts: the Data Map a run leaves is the same."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakeworks.catalog.lineage_ahead import Analysis, LineageAhead
from lakeworks.catalog.lineage_index import (
    UNSEEN,
    ColumnsOverlay,
    Lookups,
    NodeLineage,
    SqlTask,
    analyse_tasks,
    sql_tasks,
)
from lakeworks.catalog.lineage_worker import LineageWorker
from lakeworks.catalog.recorder import DataMapRecorder
from lakeworks.catalog.tables import lineage_column_edges, lineage_nodes
from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.runtime import hooks
from lakeworks.runtime.runner import ManualRunner
from lakeworks.spec.models import NodeKind
from lakeworks.store.database import Database
from tests.integration.catalog.conftest import write_workspace

LAYERS = 6
WIDE = 4


def _layers() -> dict[str, str]:
    """Layers of nodes over a catalogued table; some use ``SELECT *``, one inserts."""
    files = {
        "lakeworks.yml": "name: ahead\n",
        "workflows/s/catalogued.sql": "CREATE TABLE catalogued AS SELECT 1 AS id, 'x' AS label;\n",
    }
    for i in range(WIDE):
        files[f"workflows/w/l0_{i}.sql"] = (
            f"CREATE TABLE l0_{i} AS SELECT *, id * {i} AS k FROM catalogued;\n"
        )
    for layer in range(1, LAYERS):
        for i in range(WIDE):
            up = f"l{layer - 1}_{(i + 1) % WIDE}"
            body = f"SELECT * FROM {up}" if i % 2 else f"SELECT id, k + 1 AS k FROM {up}"
            files[f"workflows/w/l{layer}_{i}.sql"] = f"CREATE TABLE l{layer}_{i} AS {body};\n"
    files["workflows/w/sink.sql"] = (
        "CREATE TABLE IF NOT EXISTS sink (id BIGINT, k BIGINT);\n"
        f"INSERT INTO sink SELECT id, k FROM l{LAYERS - 1}_0;\n"
    )
    return files


class _CountingAhead(LineageAhead):
    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled
        self.reused = 0

    def start(self, scope: tuple[str, str], analysis: Analysis) -> None:  # type: ignore[override]
        if self.enabled:
            super().start(scope, analysis).join()  # the run waits: every batch can reuse

    def reuse(
        self, scope: tuple[str, str], tasks: Sequence[SqlTask], view: Mapping[str, Sequence[str]]
    ) -> tuple[dict[str, NodeLineage], list[SqlTask]]:
        reused, rest = super().reuse(scope, tasks, view)
        self.reused += len(reused)
        return reused, rest


@pytest.fixture
def only_the_data_map(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(hooks, "_listeners", [])
    monkeypatch.setattr(hooks, "_checks", [])
    monkeypatch.setattr(hooks, "_batch_listeners", [])
    yield
    close_all()


def _run_and_read(root: Path, ahead: _CountingAhead) -> tuple[list[tuple[object, ...]], ...]:
    workspace = write_workspace(root, _layers())
    worker = LineageWorker(min_nodes=1)
    recorder = DataMapRecorder(helper=worker, ahead=ahead)
    hooks.register_batch_listener(recorder)
    db = Database.open(f"sqlite:///{workspace.state_dir / 'meta.db'}")
    engine = engine_for(workspace, "dev")
    try:
        # a run of its own puts `catalogued` in the catalog; the run of `w` reads it
        assert ManualRunner(workspace, db, engine, "dev").run(date(2026, 4, 11), ["s"]).ok
        assert ManualRunner(workspace, db, engine, "dev").run(date(2026, 4, 11), ["w"]).ok
        with db.read() as conn:
            edges = sorted(
                tuple(r)
                for r in conn.execute(
                    sa.select(
                        lineage_column_edges.c.node_key,
                        lineage_column_edges.c.source_table,
                        lineage_column_edges.c.source_column,
                        lineage_column_edges.c.target_table,
                        lineage_column_edges.c.target_column,
                        lineage_column_edges.c.kind,
                    )
                )
            )
            nodes = sorted(
                tuple(r)
                for r in conn.execute(
                    sa.select(lineage_nodes.c.node_key, lineage_nodes.c.code_hash).where(
                        lineage_nodes.c.node_key.like("w.%")
                    )
                )
            )
        return edges, nodes
    finally:
        hooks._batch_listeners.remove(recorder)
        worker.close()
        engine.close()
        db.close()
        close_all()


def test_lineage_analysed_ahead_is_the_lineage_batches_record(
    tmp_path: Path, only_the_data_map: None
) -> None:
    ahead, batches = _CountingAhead(enabled=True), _CountingAhead(enabled=False)
    with_ahead = _run_and_read(tmp_path / "ahead", ahead)
    without = _run_and_read(tmp_path / "batches", batches)
    assert with_ahead == without
    edges, nodes = with_ahead
    assert len(nodes) == LAYERS * WIDE + 1
    # SELECT * over the catalogued table was expanded, down the layers
    assert ("w.l0_1", "catalogued", "label", "l0_1", "label", "direct") in edges
    assert ("w.l1_1", "l0_2", "label", "l1_1", "label", "direct") in edges
    assert ahead.reused == LAYERS * WIDE + 2  # every node of both runs came from it
    assert batches.reused == 0


def _tasks(tmp_path: Path) -> list[SqlTask]:
    workspace = write_workspace(
        tmp_path,
        {
            "lakeworks.yml": "name: t\n",
            "workflows/w/a.sql": "CREATE TABLE a AS SELECT * FROM ext;\n",
            "workflows/w/b.sql": "CREATE TABLE b AS SELECT id FROM a;\n",
        },
    )
    nodes = [n for n in workspace.nodes() if n.kind is NodeKind.SQL]
    tasks, failed = sql_tasks(workspace, nodes, {})
    assert not failed
    return tasks


def _ahead_of(tasks: list[SqlTask], catalog: Mapping[str, Sequence[str]]) -> LineageAhead:
    ahead = LineageAhead()

    def analysis() -> tuple[dict[str, NodeLineage], dict[str, Lookups]]:
        lookups: dict[str, Lookups] = {}
        return analyse_tasks(tasks, catalog, lookups=lookups), lookups

    ahead.start(("t", "dev"), analysis).join()
    return ahead


def test_a_node_whose_tables_changed_columns_since_is_analysed_again(tmp_path: Path) -> None:
    tasks = _tasks(tmp_path)
    ahead = _ahead_of(tasks, {"ext": ("id",)})
    # as a batch sees them: ext from the catalog, a as harvested after its run
    now: dict[str, Sequence[str]] = {"ext": ("id",), "a": ("id",)}
    same, rest = ahead.reuse(("t", "dev"), tasks, ColumnsOverlay(now))
    assert set(same) == {"w.a", "w.b"} and rest == []
    assert [str(e) for e in same["w.a"].edges] == ["ext.id -> a.id direct"]

    # ext gained a column: a (SELECT * over it) must be analysed again; b reads a,
    # whose columns the view still gives as analysed ahead, so b holds
    now = {"ext": ("id", "extra"), "a": ("id",)}
    reused, rest = ahead.reuse(("t", "dev"), tasks, ColumnsOverlay(now))
    assert [t.base.node_key for t in rest] == ["w.a"]
    assert set(reused) == {"w.b"}


def test_changed_code_or_a_listed_schema_is_analysed_again(tmp_path: Path) -> None:
    tasks = _tasks(tmp_path)
    ahead = _ahead_of(tasks, {"ext": ("id",)})
    edited = [
        SqlTask(
            NodeLineage(t.base.node_key, t.base.kind, "another digest"),
            t.sql,
            t.dialect,
            t.path,
            t.first_code_line,
        )
        for t in tasks
    ]
    now = ColumnsOverlay({"ext": ("id",), "a": ("id",)})
    reused, rest = ahead.reuse(("t", "dev"), edited, now)
    assert reused == {} and len(rest) == 2

    listed = _ahead_of(tasks, {"ext": ("id",)})
    for lookups in listed._runs[("t", "dev")].lookups.values():
        lookups[UNSEEN] = None
    reused, rest = listed.reuse(("t", "dev"), tasks, now)
    assert reused == {} and len(rest) == 2


def test_a_batch_of_another_workspace_or_before_any_analysis_analyses_everything(
    tmp_path: Path,
) -> None:
    tasks = _tasks(tmp_path)
    assert LineageAhead().reuse(("t", "dev"), tasks, {}) == ({}, tasks)
    ahead = _ahead_of(tasks, {"ext": ("id",)})
    assert ahead.reuse(("t", "prod"), tasks, {"ext": ("id",)}) == ({}, tasks)
