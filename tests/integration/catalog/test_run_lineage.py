"""Run lineage and the runtime listener: a real run of the tutorial workspace on DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakeworks.catalog import run_lineage
from lakeworks.catalog.listener import DataMapListener
from lakeworks.catalog.openlineage import Emitter, EmitterConfig, validate
from lakeworks.catalog.recorder import DataMapRecorder
from lakeworks.catalog.service import DataMap
from lakeworks.catalog.tables import lineage_column_edges
from lakeworks.engines.base import Engine
from lakeworks.engines.registry import engine_for
from lakeworks.runtime import hooks
from lakeworks.runtime.runner import ManualRunner
from lakeworks.spec.init import init_workspace
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database

BAD_NODE = """-- ---
-- retries: 0
-- ---
INSERT INTO sales_missing SELECT order_id FROM sales_raw;
"""


@pytest.fixture
def events_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only the Data Map listener is registered, writing events to a file."""
    path = tmp_path / "events.jsonl"
    monkeypatch.setattr(hooks, "_listeners", [])
    monkeypatch.setattr(hooks, "_checks", [])
    monkeypatch.setattr(hooks, "_batch_listeners", [])
    emitter = Emitter(EmitterConfig(file=path))
    hooks.register_listener(DataMapListener(emitter=emitter))
    hooks.register_batch_listener(DataMapRecorder(emitter=emitter))
    return path


@pytest.fixture
def tutorial(tmp_path: Path) -> Workspace:
    root = init_workspace(tmp_path / "lab", example="sales")
    return load_workspace(root)


@pytest.fixture
def setup(tutorial: Workspace) -> Iterator[tuple[Workspace, Database, Engine]]:
    db = Database.open(f"sqlite:///{tutorial.state_dir / 'meta.db'}")
    engine = engine_for(tutorial, "dev")
    yield tutorial, db, engine
    engine.close()
    db.close()


def test_a_run_records_run_lineage_refreshes_the_catalog_and_emits_events(
    setup: tuple[Workspace, Database, Engine], events_file: Path
) -> None:
    ws, db, engine = setup
    summary = ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11))
    assert summary.ok
    by_node = {i.node_key: i for i in summary.instances}
    daily_instance = by_node["sales_pipeline.02_build_sales_daily"]

    [entry] = run_lineage.history(db, ws.name, "dev", "sales_daily")
    assert entry.instance_id == daily_instance.id
    assert entry.partition == ""
    reads = [
        e.table for e in run_lineage.for_instance(db, daily_instance.id) if e.direction == "read"
    ]
    assert reads == ["sales_raw"]

    dm = DataMap(db, ws, "dev")
    daily = dm.table("sales_daily")
    assert daily.present and daily.row_count == 3 and daily.last_modified is not None
    assert daily.owner == "data-eng" and daily.writer_node == daily_instance.node_key
    assert dm.table("sales_raw").row_count == 5

    # the run alone made the lineage known, each edge with the node version that made it
    with db.read() as conn:
        versions = {
            row.node_version
            for row in conn.execute(
                sa.select(lineage_column_edges.c.node_version).where(
                    lineage_column_edges.c.node_key == daily_instance.node_key
                )
            )
        }
    assert versions == {daily_instance.node_version} and daily_instance.node_version == 1
    report = dm.impact("sales_raw.amount")
    assert [(c.table, c.column, c.kind) for c in report.columns][1:] == [
        ("sales_daily", "revenue_total", "transform")
    ]

    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = sorted((e["job"]["name"].split(".")[1], e["eventType"]) for e in events)
    assert kinds == [
        ("01_create_and_load_sales_raw", "COMPLETE"),
        ("01_create_and_load_sales_raw", "START"),
        ("02_build_sales_daily", "COMPLETE"),
        ("02_build_sales_daily", "START"),
    ]
    for event in events:
        assert validate(event) == []
    complete = next(e for e in events if e["eventType"] == "COMPLETE" and "02_" in e["job"]["name"])
    assert [d["name"] for d in complete["inputs"]] == ["sales_raw"]
    fields = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert fields["revenue_total"]["inputFields"][0]["field"] == "amount"


def test_a_second_run_adds_history_newest_first(
    setup: tuple[Workspace, Database, Engine], events_file: Path
) -> None:
    ws, db, engine = setup
    runner = ManualRunner(ws, db, engine, "dev")
    first = runner.run(date(2026, 4, 10))
    second = runner.run(date(2026, 4, 11))
    assert first.ok and second.ok
    history = run_lineage.history(db, ws.name, "dev", "sales_raw")
    assert len(history) == 2
    assert history[0].instance_id > history[1].instance_id
    assert history[0].rows is None or history[0].rows >= 0


def test_a_failed_instance_emits_fail_and_records_no_run_lineage(
    tutorial: Workspace, events_file: Path
) -> None:
    node_file = tutorial.root / "workflows" / "sales_pipeline" / "03_broken.sql"
    node_file.write_text(BAD_NODE)
    ws = load_workspace(tutorial.root)
    db = Database.open(f"sqlite:///{ws.state_dir / 'meta.db'}")
    engine = engine_for(ws, "dev")
    try:
        summary = ManualRunner(ws, db, engine, "dev").run(
            date(2026, 4, 11), ["03_broken", "01_create_and_load_sales_raw"]
        )
        assert not summary.ok
        broken = next(i for i in summary.instances if i.node_key.endswith("03_broken"))
        assert run_lineage.for_instance(db, broken.id) == []
    finally:
        engine.close()
        db.close()
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    [fail] = [e for e in events if e["eventType"] == "FAIL"]
    assert fail["job"]["name"].endswith("03_broken")
    assert fail["run"]["facets"]["errorMessage"]["message"]
    assert validate(fail) == []


def test_a_run_analyses_a_changed_node_against_the_harvested_catalog(
    tutorial: Workspace, events_file: Path
) -> None:
    db = Database.open(f"sqlite:///{tutorial.state_dir / 'meta.db'}")
    engine = engine_for(tutorial, "dev")
    try:
        assert ManualRunner(tutorial, db, engine, "dev").run(date(2026, 4, 11)).ok
        # a new node copies sales_raw with SELECT *: only the catalog knows its columns
        copy = tutorial.root / "workflows" / "sales_pipeline" / "03_copy.sql"
        copy.write_text("CREATE TABLE IF NOT EXISTS sales_copy AS SELECT * FROM sales_raw;\n")
        ws = load_workspace(tutorial.root)
        assert ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11), ["03_copy"]).ok
        report = DataMap(db, ws, "dev").impact("sales_raw.customer_id")
        assert [(c.table, c.column, c.kind) for c in report.columns][1:] == [
            ("sales_copy", "customer_id", "direct")
        ]
    finally:
        engine.close()
        db.close()


def test_a_run_makes_each_written_table_searchable_by_columns_and_annotations(
    setup: tuple[Workspace, Database, Engine], events_file: Path
) -> None:
    ws, db, engine = setup
    assert ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11)).ok
    dm = DataMap(db, ws, "dev")
    # a harvested column and the writing node's description land in one search document
    by_column = {h.ref: h for h in dm.search("revenue_total")}
    assert "columns" in by_column["sales_daily"].matched
    by_docs = {h.ref: h for h in dm.search("daily order count")}
    assert "docs" in by_docs["sales_daily"].matched
    assert {h.ref for h in dm.search("data-eng")} >= {"sales_raw", "sales_daily"}


def test_a_failing_column_lineage_still_records_the_harvest_and_says_why(
    setup: tuple[Workspace, Database, Engine],
    events_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lakeworks.catalog import recorder
    from lakeworks.store.logs import LogRepository

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("lineage exploded")

    monkeypatch.setattr(recorder, "analyse_workspace", broken)
    ws, db, engine = setup
    summary = ManualRunner(ws, db, engine, "dev").run(date(2026, 4, 11))
    assert summary.ok  # the Data Map never fails the instance it observes
    dm = DataMap(db, ws, "dev")
    daily = dm.table("sales_daily")
    assert daily.present and daily.row_count == 3
    assert "revenue_total" in {c.name for c in daily.columns}
    assert "sales_daily" in {h.ref for h in dm.search("revenue_total")}
    instance = next(i for i in summary.instances if i.node_key.endswith("02_build_sales_daily"))
    lines = [line.text for line in LogRepository(db).read(instance.id)]
    assert any("Data Map failed" in t and "lineage exploded" in t for t in lines)
