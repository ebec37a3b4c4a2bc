"""The one-scan compiler: shared measures, one SELECT, the engine's dialect."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from lakeworks.quality.compiler import (
    TOTAL_COLUMN,
    compile_bad_rows,
    compile_custom_rows,
    compile_referential,
    compile_scan,
)
from lakeworks.quality.loader import load_rule_text
from lakeworks.quality.models import Rule

RULES = """\
table: orders
rules:
  - {name: rows, template: row_count, fail: {min: 1}}
  - {name: not_empty, template: not_empty}
  - {name: email_nulls, template: null_ratio, column: email, fail: {max: 5}}
  - {name: email_null_count, template: null_count, column: email}
  - {name: id_unique, template: unique, column: id}
  - {name: id_dups, template: duplicate_count, column: id}
  - {name: amount_sum, template: sum, column: amount, fail: {min: 0}}
  - {name: amount_max, template: max, column: amount, fail: {max: 1000}}
  - {name: status_ok, template: accepted_values, column: status, values: [paid, refunded]}
  - {name: email_format, template: regex, column: email, pattern: '[^@]+@[^@]+'}
  - {name: fresh, template: freshness, column: ts, fail: {max: 1d}}
  - {name: ticket, template: expression, expression: 'sum(amount) / count(*)', fail: {max: 9}}
"""


def _rules(text: str = RULES) -> list[Rule]:
    return load_rule_text(text, "orders.quality.yml")


def test_all_aggregate_rules_compile_to_one_select_with_shared_measures() -> None:
    plan = compile_scan("orders", "ds = '2026-04-10'", _rules(), dialect="duckdb")
    statements = sqlglot.parse(plan.sql, read="duckdb")
    assert len(statements) == 1
    select = statements[0]
    assert isinstance(select, exp.Select)
    assert select.find(exp.Subquery) is None  # a flat scan, no nested queries
    assert plan.sql.count("COUNT(*)") == 2  # one measure, plus once inside the expression
    assert plan.sql.count('COUNT(DISTINCT "id")') == 1  # unique and duplicates share it
    assert plan.sql.count('COUNT("email")') == 1
    assert len(plan.aliases) == len(select.expressions)
    assert "WHERE ds = '2026-04-10'" in plan.sql
    assert len(plan.rules) == 12


def test_partition_filter_is_translated_from_maxcompute() -> None:
    (rule,) = _rules("table: t\nrules:\n  - {name: r, template: not_empty}\n")
    plan = compile_scan("t", "TO_CHAR(ts, 'yyyymmdd') = '20260410'", [rule], dialect="duckdb")
    assert "STRFTIME" in plan.sql
    assert "'%Y%m%d'" in plan.sql


def test_other_engine_dialects_get_their_own_spelling() -> None:
    plan = compile_scan("orders", None, _rules(), dialect="postgres")
    assert "COUNT_IF" not in plan.sql  # PostgreSQL has no COUNT_IF
    assert " ~ " in plan.sql  # its regular expression operator
    assert "WHERE" not in plan.sql


def test_composite_keys_count_distinct_tuples() -> None:
    text = (
        "table: t\nrules:\n"
        "  - {name: k, template: unique, columns: [a, b], null_keys: equal}\n"
        "  - {name: d, template: duplicate_count, columns: [a, b]}\n"
    )
    plan = compile_scan("t", None, _rules(text), dialect="duckdb")
    assert 'COUNT(DISTINCT ("a", "b"))' in plan.sql
    assert 'CASE WHEN NOT "a" IS NULL AND NOT "b" IS NULL THEN ("a", "b") END' in plan.sql


def test_regex_must_match_the_whole_value() -> None:
    (rule,) = _rules(
        "table: t\nrules:\n  - {name: r, template: regex, column: c, pattern: '[0-9]{3}'}\n"
    )
    plan = compile_scan("t", None, [rule], dialect="duckdb")
    assert "'^(?:[0-9]{3})$'" in plan.sql


def test_referential_integrity_returns_count_and_limited_sample() -> None:
    (rule,) = _rules(
        "table: orders\nrules:\n  - {name: r, template: referential_integrity,"
        " column: customer_id, ref_table: customers, ref_columns: [id], sample_size: 5,"
        " ref_partition: \"ds = '1'\"}\n"
    )
    sql = compile_referential(rule, "ds = '2026'", "ds = '1'", dialect="duckdb")
    assert TOTAL_COLUMN in sql
    assert "LIMIT 5" in sql
    assert "NOT EXISTS" in sql or "NOT (EXISTS" in sql
    assert 'r."id" = t."customer_id"' in sql.replace('"r"', "r").replace('"t"', "t")
    assert "r.ds = '1'" in sql


def test_custom_rows_are_wrapped_with_the_total() -> None:
    (rule,) = _rules(
        "table: t\nrules:\n  - {name: r, template: custom_sql, sql: 'select 1', returns: rows}\n"
    )
    sql = compile_custom_rows(rule, "SELECT * FROM t WHERE NVL(x, 0) < 0", dialect="duckdb")
    assert "COALESCE" in sql  # translated from MaxCompute
    assert TOTAL_COLUMN in sql
    assert sql.endswith("LIMIT 10")


def test_bad_row_samples_exist_only_for_row_level_templates() -> None:
    rules = {r.name: r for r in _rules()}
    assert compile_bad_rows(rules["email_nulls"], None, dialect="duckdb") is not None
    assert "GROUP BY" in (compile_bad_rows(rules["id_unique"], None, dialect="duckdb") or "")
    assert compile_bad_rows(rules["amount_sum"], None, dialect="duckdb") is None
