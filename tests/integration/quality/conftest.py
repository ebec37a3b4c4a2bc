"""Fixtures for quality tests: a real DuckDB warehouse and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from lakeworks.engines.base import Engine
from lakeworks.engines.duckdb_engine import DuckDBEngine
from lakeworks.quality.evaluator import Evaluator, RuleResult
from lakeworks.quality.loader import load_rule_text
from lakeworks.sql.params import ParamContext
from lakeworks.store.database import Database

CYCLE = datetime(2026, 4, 11, 2, 0)
"""Cycle time of the checks: business date 2026-04-10."""
NOW = datetime(2026, 4, 11, 12, 0)

COLUMNS = "id, email, status, amount, ts, customer_id, ds"
Row = tuple[object, ...]


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    return DuckDBEngine(tmp_path / "warehouse.duckdb", "dev")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield database
    database.close()


def sql_value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def create_table(engine: Engine, name: str, rows: Sequence[Row], columns: str = COLUMNS) -> None:
    """``name`` with ``columns`` (orders-like by default) holding ``rows``."""
    session = engine.session()
    try:
        session.execute(f"DROP TABLE IF EXISTS {name}")
        if columns == COLUMNS:
            session.execute(
                f"CREATE TABLE {name} (id INTEGER, email VARCHAR, status VARCHAR,"
                " amount DOUBLE, ts TIMESTAMP, customer_id INTEGER, ds VARCHAR)"
            )
        else:
            session.execute(f"CREATE TABLE {name} ({columns})")
        if rows:
            values = ", ".join("(" + ", ".join(sql_value(v) for v in row) + ")" for row in rows)
            session.execute(f"INSERT INTO {name} VALUES {values}")
    finally:
        session.close()


def evaluate(
    engine: DuckDBEngine, rules_yaml: str, *, cycle: datetime = CYCLE, now: datetime = NOW
) -> list[RuleResult]:
    rules = load_rule_text(rules_yaml, "test.quality.yml")
    return Evaluator(engine, ParamContext(cycle_time=cycle), now=now).evaluate(rules)
