"""Volatility and drift rules read their baseline from stored results (8 days of history)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from lakeworks.engines.duckdb_engine import DuckDBEngine
from lakeworks.quality.evaluator import RuleResult
from lakeworks.quality.gate import run_rules
from lakeworks.quality.loader import load_rule_text
from lakeworks.quality.models import Rule, Verdict
from lakeworks.quality.repository import QualityResultRepository
from lakeworks.spec.models import Workspace, WorkspaceConfig
from lakeworks.sql.params import ParamContext
from lakeworks.store.database import Database

RULES = """\
table: events
partition: "ds = '${yyyymmdd}'"
rules:
  - {name: rows_vs_week, template: row_count, compare: avg_7d, warn: {min: -20, max: 20},
     fail: {min: -50, max: 50}}
  - {name: rows_vs_yesterday, template: row_count, compare: previous_cycle,
     fail: {min: -50, max: 50}}
  - {name: amount_drift, template: sum, column: amount, compare: avg_7d, fail: {max: 30}}
"""
FIRST_CYCLE = datetime(2026, 4, 1, 2, 0)


def _load_day(engine: DuckDBEngine, day: int, rows: int) -> None:
    ds = f"{(FIRST_CYCLE + timedelta(days=day - 1)).date():%Y%m%d}"
    session = engine.session()
    try:
        session.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER, amount DOUBLE, ds VARCHAR)")
        session.execute(f"INSERT INTO events SELECT i, 10.0, '{ds}' FROM range({rows}) AS t(i)")
    finally:
        session.close()


def _check(
    workspace: Workspace, engine: DuckDBEngine, db: Database, rules: list[Rule], day: int
) -> dict[str, RuleResult]:
    params = ParamContext(cycle_time=FIRST_CYCLE + timedelta(days=day))
    results = run_rules(workspace, engine, db, rules, params, now=params.cycle_time)
    return {r.rule.name: r for r in results}


def test_volatility_against_eight_days_of_stored_history(
    engine: DuckDBEngine, db: Database, tmp_path: Path
) -> None:
    workspace = Workspace(root=tmp_path, config=WorkspaceConfig(name="vol"))
    rules = load_rule_text(RULES, "events.quality.yml")
    daily_rows = [1000, 104, 96, 100, 100, 100, 98, 102]  # day 0 is far off, 8 days back
    for day, rows in enumerate(daily_rows):
        _load_day(engine, day, rows)
        results = _check(workspace, engine, db, rules, day)
        if day == 0:
            assert results["rows_vs_week"].verdict is Verdict.SKIPPED  # nothing to compare
            assert "no history to compare with yet" in results["rows_vs_week"].message

    # History lives in the store: old partitions can go, the baseline stays.
    session = engine.session()
    session.execute("DELETE FROM events")
    session.close()
    _load_day(engine, 8, 260)
    results = _check(workspace, engine, db, rules, 8)

    week = results["rows_vs_week"]
    window = daily_rows[1:]  # the 7 days before the cycle; day 0 is outside the window
    expected_baseline = sum(window) / 7
    assert week.baseline == expected_baseline
    assert week.observed == 260
    assert week.value == (260 - expected_baseline) / expected_baseline * 100
    assert week.verdict is Verdict.FAIL
    assert week.message == "row count change vs 7-day average +160 % > 50 % (260 vs 100)"

    yesterday = results["rows_vs_yesterday"]
    assert yesterday.baseline == 102
    assert yesterday.verdict is Verdict.FAIL

    drift = results["amount_drift"]
    assert drift.baseline == expected_baseline * 10
    assert drift.verdict is Verdict.FAIL

    repo = QualityResultRepository(db, "vol", "dev")
    assert len(repo.list(table="events", limit=1000)) == 9 * 3


def test_a_rerun_replaces_its_cycle_in_the_baseline(
    engine: DuckDBEngine, db: Database, tmp_path: Path
) -> None:
    workspace = Workspace(root=tmp_path, config=WorkspaceConfig(name="rerun"))
    rules = load_rule_text(RULES, "events.quality.yml")[1:2]  # previous cycle
    _load_day(engine, 0, 10)
    _check(workspace, engine, db, rules, 0)
    _load_day(engine, 0, 90)  # the day is reloaded and checked again: 100 rows
    _check(workspace, engine, db, rules, 0)
    _load_day(engine, 1, 100)
    result = _check(workspace, engine, db, rules, 1)["rows_vs_yesterday"]
    assert result.baseline == 100
    assert result.verdict is Verdict.PASS
    assert result.message == "row count change vs previous cycle 0 % (100 vs 100)"


def test_history_is_kept_per_workspace_environment_and_partition(
    engine: DuckDBEngine, db: Database, tmp_path: Path
) -> None:
    rules = load_rule_text(RULES, "events.quality.yml")[1:2]
    other = Workspace(root=tmp_path, config=WorkspaceConfig(name="other"))
    mine = Workspace(root=tmp_path, config=WorkspaceConfig(name="mine"))
    _load_day(engine, 0, 10)
    _check(other, engine, db, rules, 0)
    _load_day(engine, 1, 10)
    result = _check(mine, engine, db, rules, 1)["rows_vs_yesterday"]
    assert result.verdict is Verdict.SKIPPED
