"""Checks outside the runner: tables no node writes, broken rule files."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from lakeworks.engines.registry import engine_for
from lakeworks.errors import NotFound
from lakeworks.quality.gate import check_after_write
from lakeworks.quality.manual import run_table
from lakeworks.quality.models import Verdict
from lakeworks.quality.repository import QualityResultRepository
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import Workspace
from lakeworks.sql.params import ParamContext
from lakeworks.store.database import Database
from tests.integration.quality.conftest import create_table


def _workspace(root: Path, rules: str) -> Workspace:
    (root / "quality").mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: on-demand\nparameters:\n  region: eu\n")
    (root / "quality" / "ext_rates.quality.yml").write_text(rules)
    return load_workspace(root)


RULES = """\
table: ext_rates
partition: "ds = '${yyyymmdd}' and region = '${region}'"
rules:
  - {name: rates_present, template: not_empty}
  - {name: rate_positive, template: min, column: rate, fail: {min: 0.0001}}
"""


def test_rules_on_a_table_no_node_writes(tmp_path: Path, db: Database) -> None:
    workspace = _workspace(tmp_path / "ws", RULES)
    engine = engine_for(workspace, "dev")
    create_table(
        engine,
        "ext_rates",
        [("20260410", "eu", 1.1), ("20260410", "us", -1.0), ("20260409", "eu", 0.0)],
        columns="ds VARCHAR, region VARCHAR, rate DOUBLE",
    )
    results = run_table(workspace, engine, db, "EXT_RATES", date(2026, 4, 10))
    assert [r.verdict for r in results] == [Verdict.PASS, Verdict.PASS]
    assert results[0].partition == "ds = '20260410' and region = 'eu'"
    stored = QualityResultRepository(db, "on-demand", "dev").list(table="ext_rates")
    assert {s.bizdate for s in stored} == {"20260410"}
    assert {s.cycle_time for s in stored} == {datetime(2026, 4, 11, 0, 0)}

    with pytest.raises(NotFound, match="no rule named 'nope'"):
        run_table(workspace, engine, db, "ext_rates", date(2026, 4, 10), rule="nope")


def test_a_broken_rule_file_fails_the_gate_with_file_and_line(tmp_path: Path) -> None:
    workspace = _workspace(
        tmp_path / "ws", RULES.replace("fail: {min: 0.0001}", "fail: {min: 5, max: 1}")
    )
    outcome = check_after_write(
        workspace,
        engine_for(workspace, "dev"),
        None,
        None,
        ["ext_rates"],
        ParamContext(cycle_time=datetime(2026, 4, 11)),
    )
    assert outcome.failure is not None
    assert outcome.failure.startswith("quality rules cannot be loaded:")
    assert "ext_rates.quality.yml:5" in outcome.failure
    assert "min 5 is above max 1" in outcome.failure


def test_an_unknown_parameter_in_a_partition_is_reported_when_loading(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws", RULES.replace("${region}", "${regoin}"))
    outcome = check_after_write(
        workspace,
        engine_for(workspace, "dev"),
        None,
        None,
        ["ext_rates"],
        ParamContext(cycle_time=datetime(2026, 4, 11)),
    )
    assert outcome.failure is not None
    assert "ext_rates.quality.yml:2" in outcome.failure
    assert "regoin" in outcome.failure


def test_tables_without_rules_pass_untouched(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws", RULES)
    outcome = check_after_write(
        workspace,
        engine_for(workspace, "dev"),
        None,
        None,
        ["other_table"],
        ParamContext(cycle_time=datetime(2026, 4, 11)),
    )
    assert outcome.passed and outcome.results == ()
