"""Partitioned tables on DuckDB: the row count a run prints, and parallel first writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeworks.engines.duckdb_engine import DuckDBEngine, close_all
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.repositories import LogRepository
from tests.integration.runtime.test_runner import query, run, write


@pytest.fixture(autouse=True)
def _close_warehouses() -> Iterator[None]:
    yield
    close_all()


def test_an_insert_overwrite_logs_the_statement_and_the_rows_it_wrote(tmp_path: Path) -> None:
    write(tmp_path, "lakeworks.yml", "name: t\n")
    write(
        tmp_path,
        "workflows/wf/p.sql",
        "CREATE TABLE IF NOT EXISTS p (v BIGINT) PARTITIONED BY (ds STRING);\n"
        "INSERT INTO p PARTITION (ds='${bizdate}') SELECT range AS v FROM range(5);\n"
        "INSERT OVERWRITE TABLE p PARTITION (ds='${bizdate}') SELECT 7 AS v;\n",
    )
    summary = run(tmp_path)
    assert summary.ok
    assert query(tmp_path, "SELECT v FROM p") == [(7,)]
    db = Database.open(default_database_url(tmp_path / ".lakeworks"))
    try:
        lines = [line.text for line in LogRepository(db).read(summary.instances[0].id)]
    finally:
        db.close()
    at = lines.index(next(x for x in lines if x.startswith("line 3:")))
    assert lines[at].startswith("line 3: INSERT OVERWRITE TABLE p PARTITION (ds='20260411')")
    assert lines[at + 1].endswith(", 1 rows)")  # not the 5 rows its DELETE step removed


def _first_write(
    engine: DuckDBEngine, table: str, day: int, gate: threading.Barrier, errors: list[str]
) -> None:
    """What a run of ``CREATE TABLE IF NOT EXISTS …; INSERT OVERWRITE … PARTITION`` does."""
    session = engine.session()
    try:
        gate.wait()
        session.execute(f"CREATE TABLE IF NOT EXISTS {table} (v BIGINT, ds VARCHAR)")
        engine.register_partitions(table, ["ds"])
        with engine.transaction() as tx:
            tx.execute(f"DELETE FROM {table} WHERE ds = ?", [str(day)])
            tx.execute(f"INSERT INTO {table} VALUES (1, ?)", [str(day)])
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        session.close()


def test_parallel_first_writes_of_a_new_partitioned_table_never_collide(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path / "w.duckdb", "dev")
    errors: list[str] = []
    for attempt in range(5):
        gate = threading.Barrier(4)
        table = f"t{attempt}"
        threads = [
            threading.Thread(target=_first_write, args=(engine, table, day, gate, errors))
            for day in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert engine.partition_columns(table) == ["ds"]
        assert query_count(engine, table) == 4
    assert errors == []


def query_count(engine: DuckDBEngine, table: str) -> int:
    session = engine.session()
    try:
        return int(str(session.execute(f"SELECT count(*) FROM {table}").rows[0][0]))
    finally:
        session.close()
