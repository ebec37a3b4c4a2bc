"""Running a workspace for a business date, in-process, on real SQLite and DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.errors import ValidationFailed
from lakeworks.runtime.runner import ManualRunner, RunSummary
from lakeworks.spec.init import init_workspace
from lakeworks.spec.loader import load_workspace
from lakeworks.store.attempts import AttemptRepository
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.leases import RunEnd
from lakeworks.store.models import Attempt, Instance, InstanceEvent, InstanceState
from lakeworks.store.repositories import InstanceRepository, LogRepository

BIZDATE = date(2026, 4, 11)


@pytest.fixture(autouse=True)
def _close_warehouses() -> Iterator[None]:
    yield
    close_all()


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def run(root: Path, targets: list[str] | None = None, env: str = "dev") -> RunSummary:
    ws = load_workspace(root)
    db = Database.open(default_database_url(ws.state_dir))
    try:
        runner = ManualRunner(ws, db, engine_for(ws, env), env)
        return runner.run(BIZDATE, targets or [])
    finally:
        db.close()


def query(root: Path, sql: str, env: str = "dev") -> list[tuple[object, ...]]:
    ws = load_workspace(root)
    session = engine_for(ws, env).session()
    try:
        return session.execute(sql).rows
    finally:
        session.close()


def states(summary: RunSummary) -> dict[str, str]:
    return {i.node_key.split(".")[-1]: str(i.state) for i in summary.instances}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    write(tmp_path, "lakeworks.yml", "name: t\nparameters:\n  region: east\n")
    return tmp_path


def test_tutorial_pipeline_runs_verbatim_and_is_repeatable(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "lab", "sales")
    for _ in range(2):
        summary = run(root)
        assert summary.ok, [i.reason for i in summary.instances]
        assert query(root, "SELECT count(*) FROM sales_raw") == [(5,)]
        rows = query(
            root,
            "SELECT biz_date, order_count, round(revenue_total, 2) FROM sales_daily "
            "ORDER BY biz_date",
        )
        assert rows == [
            ("2026-04-09", 2, 200.5),
            ("2026-04-10", 2, 65.25),
            ("2026-04-11", 1, 99.99),
        ]
    assert [i.node_key for i in summary.instances] == [
        "sales_pipeline.01_create_and_load_sales_raw",
        "sales_pipeline.02_build_sales_daily",
    ]


def test_instances_record_rendered_code_attempts_and_logs(ws: Path) -> None:
    write(
        ws,
        "workflows/wf/daily.sql",
        "CREATE TABLE IF NOT EXISTS daily (ds STRING, region STRING);\n"
        "INSERT INTO daily VALUES ('${bizdate}', '${region}');\n",
    )
    summary = run(ws)
    (instance,) = summary.instances
    assert instance.state is InstanceState.SUCCESS
    assert instance.bizdate == "20260411"
    assert instance.attempts == 1
    assert instance.rendered_code is not None and "'20260411', 'east'" in instance.rendered_code
    assert query(ws, "SELECT * FROM daily") == [("20260411", "east")]
    db = Database.open(default_database_url(ws / ".lakeworks"))
    try:
        lines = [line.text for line in LogRepository(db).read(instance.id)]
        events = InstanceRepository(db).events(instance.id)
    finally:
        db.close()
    assert any("line 2" in line for line in lines)
    assert lines[-1] == "succeeded"
    assert [str(e.to_state) for e in events][-2:] == ["running", "success"]


def test_missing_table_fails_node_and_blocks_downstream(ws: Path) -> None:
    write(ws, "workflows/wf/a.sql", "\n\nCREATE TABLE a AS SELECT * FROM no_such_table;\n")
    write(ws, "workflows/wf/b.sql", "CREATE TABLE b AS SELECT * FROM a;\n")
    write(ws, "workflows/wf/other.sql", "CREATE TABLE IF NOT EXISTS other AS SELECT 1 AS x;\n")
    summary = run(ws)
    assert states(summary) == {"a": "failed", "b": "blocked", "other": "success"}
    failed = next(i for i in summary.instances if i.node_key == "wf.a")
    assert failed.reason is not None
    assert "a.sql:3" in failed.reason and "no_such_table" in failed.reason
    blocked = next(i for i in summary.instances if i.node_key == "wf.b")
    assert blocked.reason == "upstream wf.a failed"
    assert not summary.ok


def test_failed_insert_overwrite_keeps_the_old_rows(ws: Path) -> None:
    write(
        ws,
        "workflows/wf/t.sql",
        "CREATE TABLE IF NOT EXISTS t (v STRING);\nINSERT OVERWRITE TABLE t SELECT 'good' AS v;\n",
    )
    assert run(ws).ok
    write(
        ws,
        "workflows/wf/t.sql",
        "CREATE TABLE IF NOT EXISTS t (v STRING);\n"
        "INSERT OVERWRITE TABLE t SELECT no_such_column AS v FROM t;\n",
    )
    summary = run(ws)
    assert states(summary) == {"t": "failed"}
    assert query(ws, "SELECT v FROM t") == [("good",)]


def test_failed_partition_overwrite_keeps_the_partition(ws: Path) -> None:
    write(
        ws,
        "workflows/wf/p.sql",
        "CREATE TABLE IF NOT EXISTS p (v BIGINT) PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE p PARTITION (ds='${bizdate}') SELECT 1 AS v;\n",
    )
    assert run(ws).ok
    assert run(ws).ok  # rerun is idempotent
    assert query(ws, "SELECT v, ds FROM p") == [(1, "20260411")]


def test_unknown_parameter_is_reported_before_anything_runs(ws: Path) -> None:
    write(ws, "workflows/wf/a.sql", "SELECT 1;\nSELECT '${nope}';\n")
    with pytest.raises(ValidationFailed) as caught:
        run(ws)
    text = caught.value.render()
    assert "nope" in text and "a.sql:2" in text


def test_python_node_gets_parameters_and_failure_is_recorded(ws: Path) -> None:
    write(
        ws,
        "workflows/wf/export.py",
        "import os\nprint('got', os.environ['bizdate'], os.environ['region'])\n",
    )
    write(ws, "workflows/wf/boom.py", "raise RuntimeError('bad data in row 7')\n")
    summary = run(ws)
    assert states(summary) == {"export": "success", "boom": "failed"}
    export = next(i for i in summary.instances if i.node_key == "wf.export")
    boom = next(i for i in summary.instances if i.node_key == "wf.boom")
    assert boom.reason is not None and "exited with code 1" in boom.reason
    db = Database.open(default_database_url(ws / ".lakeworks"))
    try:
        log = "\n".join(line.text for line in LogRepository(db).read(boom.id))
        exported = "\n".join(line.text for line in LogRepository(db).read(export.id))
    finally:
        db.close()
    assert "RuntimeError: bad data in row 7" in log
    assert "got 20260411 east" in exported


def test_shell_node_exit_code_is_the_reason(ws: Path) -> None:
    write(ws, "workflows/wf/check.sh", "echo checking $bizdate\nexit 3\n")
    summary = run(ws)
    (instance,) = summary.instances
    assert instance.state is InstanceState.FAILED
    assert instance.reason is not None and "exited with code 3" in instance.reason


def test_timeout_kills_the_node(ws: Path) -> None:
    write(
        ws,
        "workflows/wf/slow.py",
        "# ---\n# timeout_seconds: 0.5\n# ---\nimport time\ntime.sleep(30)\n",
    )
    summary = run(ws)
    (instance,) = summary.instances
    assert instance.state is InstanceState.FAILED
    assert instance.reason == "timed out after 0.5 s"
    assert instance.duration_seconds is not None and instance.duration_seconds < 10


def test_dry_run_node_is_skipped_and_frozen_node_blocks(ws: Path) -> None:
    write(ws, "workflows/wf/dry.sql", "-- ---\n-- run_mode: dry_run\n-- ---\nSELECT 1;\n")
    write(ws, "workflows/wf/after_dry.sql", "-- ---\n-- depends_on: [dry]\n-- ---\nSELECT 1;\n")
    write(ws, "workflows/wf/cold.sql", "-- ---\n-- run_mode: frozen\n-- ---\nSELECT 1;\n")
    write(ws, "workflows/wf/after_cold.sql", "-- ---\n-- depends_on: [cold]\n-- ---\nSELECT 1;\n")
    summary = run(ws)
    assert states(summary) == {
        "dry": "skipped",
        "after_dry": "success",
        "cold": "frozen",
        "after_cold": "blocked",
    }


def test_selecting_a_node_runs_only_that_node(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "lab", "sales")
    summary = run(root, ["01_create_and_load_sales_raw"])
    assert states(summary) == {"01_create_and_load_sales_raw": "success"}
    assert query(root, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sales_daily'") == [
        (0,)
    ]


def test_dev_and_prod_have_separate_warehouses(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "lab", "sales")
    assert run(root, env="dev").ok
    assert query(root, "SELECT count(*) FROM sales_raw", env="dev") == [(5,)]
    prod_tables = query(
        root, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sales_raw'", env="prod"
    )
    assert prod_tables == [(0,)]


def test_known_secrets_never_reach_the_instance_log(ws: Path) -> None:
    from lakeworks.connectors.credentials import remember

    remember("hunter2-very-secret")
    write(
        ws,
        "workflows/wf/leak.py",
        "print('connecting with hunter2-very-secret')\nprint('url postgresql://app:pw123@db/x')\n",
    )
    summary = run(ws)
    (instance,) = summary.instances
    db = Database.open(default_database_url(ws / ".lakeworks"))
    try:
        log = "\n".join(line.text for line in LogRepository(db).read(instance.id))
    finally:
        db.close()
    assert "connecting with ***" in log and "hunter2" not in log
    assert "postgresql://app:***@db/x" in log and "pw123" not in log


def test_only_a_run_that_ends_its_process_changes_garbage_collection(ws: Path) -> None:
    # a service runs many runs: freezing objects there would keep its garbage forever
    import gc

    write(ws, "workflows/wf/a.sql", "CREATE TABLE IF NOT EXISTS a AS SELECT 1 AS x;\n")
    write(ws, "workflows/wf/b.sql", "CREATE TABLE IF NOT EXISTS b AS SELECT x FROM a;\n")
    before = (gc.get_freeze_count(), gc.get_threshold())
    assert run(ws).ok
    assert (gc.get_freeze_count(), gc.get_threshold()) == before
    loaded = load_workspace(ws)
    db = Database.open(default_database_url(loaded.state_dir))
    try:
        runner = ManualRunner(loaded, db, engine_for(loaded, "dev"), "dev", exits_after=True)
        summary = runner.run(BIZDATE, [])
        assert summary.ok
        assert gc.get_freeze_count() > before[0]
        assert [str(i.state) for i in summary.instances] == ["success", "success"]
    finally:
        db.close()
        gc.unfreeze()
        gc.set_threshold(*before[1])


def _records(root: Path, instance_id: int) -> tuple[list[InstanceEvent], list[Attempt]]:
    db = Database.open(default_database_url(root / ".lakeworks"))
    try:
        return (
            InstanceRepository(db).events(instance_id),
            AttemptRepository(db).for_instance(instance_id),
        )
    finally:
        db.close()


def test_each_instance_started_in_anothers_end_has_its_full_record(ws: Path) -> None:
    for n in range(8):
        write(ws, f"workflows/wf/n{n}.sql", f"CREATE TABLE t{n} AS SELECT {n} AS k;\n")
    write(
        ws,
        "workflows/wf/total.sql",
        "CREATE TABLE total AS SELECT k FROM t0 UNION ALL SELECT k FROM t7;\n",
    )
    ws_ = load_workspace(ws)
    db = Database.open(default_database_url(ws_.state_dir))
    try:
        summary = ManualRunner(ws_, db, engine_for(ws_, "dev"), "dev", max_parallel=2).run(BIZDATE)
    finally:
        db.close()
    assert summary.ok, [i.reason for i in summary.instances]
    assert query(ws, "SELECT sum(k) FROM total") == [(7,)]
    for instance in summary.instances:
        events, attempts = _records(ws, instance.id)
        assert [(str(e.to_state), e.actor) for e in events][-2:] == [
            ("running", "system"),
            ("success", "system"),
        ]
        (attempt,) = attempts
        assert (attempt.number, str(attempt.state), attempt.worker) == (1, "success", "local")
        assert instance.started_at is not None and instance.finished_at is not None
        assert attempt.started_at == instance.started_at <= instance.finished_at


def test_a_ready_node_an_operator_settles_meanwhile_is_not_run(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(ws, "workflows/wf/a.sql", "CREATE TABLE a AS SELECT 1 AS k;\n")
    write(ws, "workflows/wf/b.sql", "CREATE TABLE b AS SELECT 2 AS k;\n")
    ws_ = load_workspace(ws)
    db = Database.open(default_database_url(ws_.state_dir))
    try:
        runner = ManualRunner(ws_, db, engine_for(ws_, "dev"), "dev", max_parallel=1)
        ends = runner.executor.ends
        write_end = ends.finish
        instances = InstanceRepository(db)

        def finish(end: RunEnd) -> Instance | None:
            # while a ends, b (ready, next in line) is marked succeeded by an operator
            (b,) = instances.list(workspace=ws_.name, env="dev", node_keys=["wf.b"])
            if b.state is InstanceState.NOT_RUN:
                instances.transition(b.id, InstanceState.SUCCESS, reason="set", actor="alice")
            return write_end(end)

        monkeypatch.setattr(ends, "finish", finish)
        summary = runner.run(BIZDATE)
    finally:
        db.close()
    assert states(summary) == {"a": "success", "b": "success"}
    b = next(i for i in summary.instances if i.node_key == "wf.b")
    events, attempts = _records(ws, b.id)
    assert attempts == []  # never run
    assert [(str(e.to_state), e.actor) for e in events][-1] == ("success", "alice")
    assert query(ws, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'b'") == [(0,)]
