"""Every template on real DuckDB data, passing and failing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lakeworks.engines.duckdb_engine import DuckDBEngine
from lakeworks.quality.models import Verdict
from tests.integration.quality.conftest import Row, create_table, evaluate

GOOD: list[Row] = [
    (1, "a@x.com", "paid", 10.0, "2026-04-11 08:00:00", 1, "2026-04-10"),
    (2, "b@x.com", "refunded", 20.0, "2026-04-11 09:00:00", 2, "2026-04-10"),
    (3, "c@x.com", "paid", 15.0, "2026-04-11 07:00:00", 1, "2026-04-10"),
]
OTHER_PARTITION: list[Row] = [
    # breaks every rule, but lies outside the checked partition
    (1, None, "bogus", -100.0, "2020-01-01 00:00:00", 99, "2026-04-09"),
    (None, "nope", "pending", 900.0, "2020-01-01 00:00:00", 98, "2026-04-09"),
]


def _extra(**changes: object) -> list[Row]:
    names = ["id", "email", "status", "amount", "ts", "customer_id", "ds"]
    row = dict(
        zip(
            names, (4, "d@x.com", "paid", 15.0, "2026-04-11 10:00:00", 2, "2026-04-10"), strict=True
        )
    )
    row.update(changes)
    return [*GOOD, tuple(row[n] for n in names)]


@dataclass(frozen=True)
class Case:
    rule: str
    bad_rows: list[Row]
    message: str


CASES: dict[str, Case] = {
    "row_count": Case("template: row_count, fail: {max: 3}", _extra(), "row count 4 > 3"),
    "not_empty": Case("template: not_empty", [], "row count 0 < 1"),
    "null_count": Case(
        "template: null_count, column: email", _extra(email=None), "null count 1 > 0"
    ),
    "null_ratio": Case(
        "template: null_ratio, column: email, fail: {max: 20}",
        _extra(email=None),
        "null ratio 25 % > 20 %",
    ),
    "distinct_count": Case(
        "template: distinct_count, column: status, fail: {max: 2}",
        _extra(status="pending"),
        "distinct count 3 > 2",
    ),
    "duplicate_count": Case(
        "template: duplicate_count, column: id", _extra(id=1), "duplicate count 1 > 0"
    ),
    "duplicate_ratio": Case(
        "template: duplicate_ratio, column: id, fail: {max: 10}",
        _extra(id=1),
        "duplicate ratio 25 % > 10 %",
    ),
    "unique": Case("template: unique, columns: [id]", _extra(id=None), "key violations 1 > 0"),
    "min": Case(
        "template: min, column: amount, fail: {min: 0}",
        _extra(amount=-5.0),
        "min(amount) -5 < 0",
    ),
    "max": Case(
        "template: max, column: amount, fail: {max: 100}",
        _extra(amount=500.0),
        "max(amount) 500 > 100",
    ),
    "avg": Case(
        "template: avg, column: amount, fail: {min: 10, max: 20}",
        _extra(amount=100.0),
        "avg(amount) 36.25 > 20",
    ),
    "sum": Case(
        "template: sum, column: amount, fail: {max: 100}",
        _extra(amount=80.0),
        "sum(amount) 125 > 100",
    ),
    "accepted_values": Case(
        "template: accepted_values, column: status, values: [paid, refunded]",
        _extra(status="bogus"),
        "rows with other values 1 > 0",
    ),
    "regex": Case(
        "template: regex, column: email, pattern: '[a-z]+@[a-z]+[.]com'",
        _extra(email="nope"),
        "regex match ratio 75 % < 100 %",
    ),
    "freshness": Case(
        "template: freshness, column: ts, fail: {max: 1d}",
        [(*r[:4], "2026-04-09 09:00:00", *r[5:]) for r in GOOD],
        "age 51 h > 24 h",
    ),
    "expression": Case(
        "template: expression, expression: 'sum(amount) / count(*)', fail: {max: 20}",
        _extra(amount=100.0),
        "value 36.25 > 20",
    ),
    "referential_integrity": Case(
        "template: referential_integrity, column: customer_id, ref_table: customers,"
        " ref_columns: [id]",
        _extra(customer_id=9),
        "rows without a match 1 > 0",
    ),
    "custom_sql_value": Case(
        'template: custom_sql, sql: "select count(*) from {table} where nvl(amount, 0) < 0'
        " and ds = '${yyyy-mm-dd}'\", fail: {max: 0}",
        _extra(amount=-1.0),
        "value 1 > 0",
    ),
    "custom_sql_rows": Case(
        "template: custom_sql, returns: rows,"
        " sql: \"select id, amount from {table} where amount < 0 and ds = '${yyyy-mm-dd}'\"",
        _extra(amount=-1.0),
        "bad rows 1 > 0",
    ),
}


def _rules(table: str, case: Case) -> str:
    rule = case.rule.replace("{table}", table)
    return (
        f"table: {table}\npartition: \"ds = '${{yyyy-mm-dd}}'\"\nrules:\n  - {{name: r, {rule}}}\n"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_template_passes_good_data_and_fails_bad_data(engine: DuckDBEngine, name: str) -> None:
    case = CASES[name]
    create_table(engine, "customers", [(1,), (2,)], columns="id INTEGER")
    create_table(engine, "good_orders", [*GOOD, *OTHER_PARTITION])
    create_table(engine, "bad_orders", [*case.bad_rows, *OTHER_PARTITION])

    (good,) = evaluate(engine, _rules("good_orders", case))
    assert good.verdict is Verdict.PASS, good.message

    (bad,) = evaluate(engine, _rules("bad_orders", case))
    assert bad.verdict is Verdict.FAIL, bad.message
    assert bad.message == case.message
    assert bad.partition == "ds = '2026-04-10'"


def test_failing_row_rules_keep_a_sample_of_bad_rows(engine: DuckDBEngine) -> None:
    bad = [(10 + i, None, "bogus", -1.0, "2026-04-11 08:00:00", 9, "2026-04-10") for i in range(30)]
    create_table(engine, "orders", [*GOOD, *bad])
    create_table(engine, "customers", [(1,), (2,)], columns="id INTEGER")
    results = evaluate(
        engine,
        """\
table: orders
partition: "ds = '${yyyy-mm-dd}'"
sample_size: 5
rules:
  - {name: nulls, template: null_count, column: email}
  - {name: status, template: accepted_values, column: status, values: [paid, refunded]}
  - {name: customers, template: referential_integrity, column: customer_id,
     ref_table: customers, ref_columns: [id]}
  - {name: negative, template: custom_sql, returns: rows, sample_size: 3,
     sql: "select id, amount from orders where amount < 0"}
  - {name: ids, template: unique, column: id}
""",
    )
    by_name = {r.rule.name: r for r in results}
    for name in ("nulls", "status", "customers"):
        assert by_name[name].verdict is Verdict.FAIL
        assert by_name[name].value == 30
        assert len(by_name[name].sample) == 5
        assert all(row["status"] == "bogus" for row in by_name[name].sample)
    negative = by_name["negative"]
    assert negative.value == 30
    assert [set(row) for row in negative.sample] == [{"id", "amount"}] * 3
    assert by_name["ids"].verdict is Verdict.PASS and by_name["ids"].sample == ()


def test_a_passing_rule_keeps_no_sample(engine: DuckDBEngine) -> None:
    create_table(engine, "orders", GOOD)
    (result,) = evaluate(
        engine, "table: orders\nrules:\n  - {name: n, template: null_count, column: email}\n"
    )
    assert result.verdict is Verdict.PASS
    assert result.sample == ()


def test_warn_level_between_warn_and_fail(engine: DuckDBEngine) -> None:
    create_table(engine, "orders", _extra(email=None))
    (result,) = evaluate(
        engine,
        "table: orders\nrules:\n  - {name: n, template: null_ratio, column: email,"
        " warn: {max: 10}, fail: {max: 50}}\n",
    )
    assert result.verdict is Verdict.WARN
    assert result.message == "null ratio 25 % > 10 %"


def test_empty_partition_skips_ratios_and_fails_freshness(engine: DuckDBEngine) -> None:
    create_table(engine, "orders", [])
    results = evaluate(
        engine,
        "table: orders\nrules:\n"
        "  - {name: ratio, template: null_ratio, column: email, fail: {max: 5}}\n"
        "  - {name: fresh, template: freshness, column: ts, fail: {max: 1d}}\n",
    )
    assert [r.verdict for r in results] == [Verdict.SKIPPED, Verdict.FAIL]
    assert results[1].message == "age: no timestamps in column 'ts'"
