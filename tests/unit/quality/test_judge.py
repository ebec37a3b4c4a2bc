"""Verdicts and the messages a person reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from lakeworks.quality.judge import (
    age_seconds,
    aggregate_value,
    format_value,
    judge,
    judge_rule,
    metric_key,
    percent_change,
)
from lakeworks.quality.loader import load_rule_text
from lakeworks.quality.models import NullKeys, Rule, Threshold, Verdict
from lakeworks.quality.templates import Unit


def _rule(line: str) -> Rule:
    (rule,) = load_rule_text(f"table: t\nrules:\n  - {line}\n", "t.quality.yml")
    return rule


def test_fail_wins_over_warn() -> None:
    warn, fail = Threshold(max=1), Threshold(max=5)
    assert judge(0.5, warn, fail) is Verdict.PASS
    assert judge(1.5, warn, fail) is Verdict.WARN
    assert judge(5.5, warn, fail) is Verdict.FAIL
    assert judge(5.0, warn, fail) is Verdict.WARN  # bounds are inclusive


def test_messages_read_like_the_issue() -> None:
    rule = _rule("{name: r, template: null_ratio, column: c, warn: {max: 1}, fail: {max: 5}}")
    assert judge_rule(rule, 12.5).message == "null ratio 12.5 % > 5 %"
    assert judge_rule(rule, 2).message == "null ratio 2 % > 1 %"
    assert judge_rule(rule, 0.25).message == "null ratio 0.25 %"
    low = _rule("{name: r, template: row_count, fail: {min: 1}}")
    assert judge_rule(low, 0).message == "row count 0 < 1"
    drift = _rule("{name: r, template: sum, column: amount, compare: avg_7d, fail: {max: 20}}")
    assert judge_rule(drift, 35.2).message == "sum(amount) change vs 7-day average +35.2 % > 20 %"


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (193600, Unit.SECONDS, "2.24 d"),
        (93600, Unit.SECONDS, "26 h"),
        (7200, Unit.SECONDS, "2 h"),
        (150, Unit.SECONDS, "2.5 min"),
        (12, Unit.SECONDS, "12 s"),
        (-12.345, Unit.PERCENT_CHANGE, "-12.35 %"),
        (1234567.0, Unit.COUNT, "1234567"),
        (0.0123, Unit.RATIO, "0.0123 %"),
    ],
)
def test_format_value(value: float, unit: Unit, shown: str) -> None:
    assert format_value(value, unit) == shown


def test_percent_change_against_zero_baseline() -> None:
    assert percent_change(150, 100) == 50
    assert percent_change(0, 0) == 0
    assert percent_change(5, 0) is None


def test_unique_modes_from_measures() -> None:
    base = _rule("{name: r, template: unique, columns: [a, b]}")
    measures = {"rows": 6, "nonnull": 3, "distinct": 2, "distinct_all": 4}
    now = datetime(2026, 1, 1)
    assert aggregate_value(base, measures, now) == 4  # 3 rows with a NULL part + 1 dup
    distinct = replace(base, null_keys=NullKeys.DISTINCT)
    assert aggregate_value(distinct, measures, now) == 1
    equal = replace(base, null_keys=NullKeys.EQUAL)
    assert aggregate_value(equal, measures, now) == 2


def test_freshness_age_from_timestamps_dates_and_text() -> None:
    now = datetime(2026, 4, 11, 12, 0)
    assert age_seconds(datetime(2026, 4, 11, 10, 0), now) == 7200
    assert age_seconds("2026-04-11 11:00:00", now) == 3600
    assert age_seconds(None, now) is None
    assert age_seconds("not a time", now) is None


def test_rules_on_the_same_metric_share_a_history_series() -> None:
    a = _rule("{name: a, template: row_count, fail: {min: 1}}")
    b = _rule("{name: b, template: not_empty}")
    c = _rule("{name: c, template: sum, column: Amount, fail: {min: 0}}")
    assert metric_key(a) == metric_key(b) == "row_count"
    assert metric_key(c) == "sum:amount"
