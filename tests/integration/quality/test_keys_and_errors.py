"""Composite keys with NULLs, and rules that cannot run (clear errors, never a crash)."""

from __future__ import annotations

from lakeworks.engines.duckdb_engine import DuckDBEngine
from lakeworks.quality.models import Verdict
from tests.integration.quality.conftest import create_table, evaluate

PAIRS = [(1, None), (1, None), (1, 2), (1, 2), (None, None), (2, 3)]


def test_composite_key_uniqueness_with_nulls(engine: DuckDBEngine) -> None:
    create_table(engine, "pairs", PAIRS, columns="a INTEGER, b INTEGER")
    results = evaluate(
        engine,
        """\
table: pairs
rules:
  - {name: invalid, template: unique, columns: [a, b]}
  - {name: sql_unique, template: unique, columns: [a, b], null_keys: distinct}
  - {name: nulls_equal, template: unique, columns: [a, b], null_keys: equal}
  - {name: dups, template: duplicate_count, columns: [a, b], fail: {max: 5}}
  - {name: distinct, template: distinct_count, columns: [a, b], fail: {min: 1}}
""",
    )
    values = {r.rule.name: r.value for r in results}
    # 3 rows have a NULL key part and (1, 2) appears twice
    assert values["invalid"] == 4
    # NULLs never collide: only the second (1, 2) violates
    assert values["sql_unique"] == 1
    # NULLs equal: the second (1, NULL) and the second (1, 2) violate
    assert values["nulls_equal"] == 2
    assert values["dups"] == 1
    assert values["distinct"] == 2
    assert all(r.verdict is Verdict.FAIL for r in results[:3])
    sample = results[0].sample
    assert sample == ({"a": 1, "b": 2, "row_count": 2},)


def test_a_unique_complete_key_passes(engine: DuckDBEngine) -> None:
    create_table(engine, "pairs", [(1, 1), (1, 2), (2, 1)], columns="a INTEGER, b INTEGER")
    (result,) = evaluate(
        engine, "table: pairs\nrules:\n  - {name: k, template: unique, columns: [a, b]}\n"
    )
    assert result.verdict is Verdict.PASS
    assert result.value == 0


def test_rule_on_a_missing_column_is_a_clear_error_and_the_others_still_run(
    engine: DuckDBEngine,
) -> None:
    create_table(engine, "orders", [(1, "a@x.com", "paid", 1.0, None, 1, "d")])
    results = evaluate(
        engine,
        """\
table: orders
rules:
  - {name: rows, template: not_empty}
  - {name: typo, template: null_ratio, column: emial, fail: {max: 5}}
  - {name: expr, template: expression, expression: 'sum(amout)', fail: {max: 5}}
  - {name: ok, template: max, column: AMOUNT, fail: {max: 5}}
""",
    )
    verdicts = {r.rule.name: r.verdict for r in results}
    assert verdicts == {
        "rows": Verdict.PASS,
        "typo": Verdict.ERROR,
        "expr": Verdict.ERROR,
        "ok": Verdict.PASS,
    }
    assert results[1].message.startswith("column 'emial' does not exist in table 'orders'")
    assert "columns: id, email, status" in results[1].message
    assert results[2].message.startswith("column 'amout' does not exist")


def test_rule_on_a_missing_table(engine: DuckDBEngine) -> None:
    (result,) = evaluate(engine, "table: nowhere\nrules:\n  - {name: r, template: not_empty}\n")
    assert result.verdict is Verdict.ERROR
    assert result.message == "table 'nowhere' does not exist in the dev warehouse"


def test_a_rule_that_breaks_the_scan_does_not_take_the_others_down(
    engine: DuckDBEngine,
) -> None:
    create_table(engine, "orders", [(1, "a@x.com", "paid", 1.0, None, 1, "d")])
    results = evaluate(
        engine,
        """\
table: orders
rules:
  - {name: rows, template: not_empty}
  - {name: bad_type, template: accepted_values, column: amount, values: [cheap, dear]}
  - {name: bad_sql, template: custom_sql, sql: 'select count(*) from nowhere', fail: {max: 1}}
  - {name: two_columns, template: custom_sql, sql: 'select 1, 2', fail: {max: 1}}
""",
    )
    verdicts = [r.verdict for r in results]
    assert verdicts == [Verdict.PASS, Verdict.ERROR, Verdict.ERROR, Verdict.ERROR]
    assert "nowhere" in results[2].message
    assert (
        results[3].message
        == "custom SQL must return one row with one number, got 1 rows of 2 columns"
    )
