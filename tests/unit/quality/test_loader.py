"""Loading ``*.quality.yml``: defaults, and every bad input named with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import UserError, ValidationFailed
from lakeworks.quality.loader import (
    find_rule_files,
    load_rule_text,
    load_rules,
    parse_duration,
)
from lakeworks.quality.models import Compare, NullKeys, Strength, Template, Threshold


def _errors(text: str) -> list[UserError]:
    with pytest.raises(UserError) as caught:
        load_rule_text(text, "orders.quality.yml")
    exc = caught.value
    return exc.errors if isinstance(exc, ValidationFailed) else [exc]


def _one_error(text: str) -> UserError:
    errors = _errors(text)
    assert len(errors) == 1, [e.render() for e in errors]
    return errors[0]


def test_file_defaults_apply_to_rules_and_rules_override_them() -> None:
    rules = load_rule_text(
        """\
table: Sales_Daily
partition: "ds = '${bizdate}'"
owner: data-eng
strength: weak
rules:
  - name: not_empty
    template: not_empty
  - name: revenue_nulls
    template: null_ratio
    column: revenue_total
    strength: strong
    owner: alice
    partition: "biz_date = '${yyyy-mm-dd}'"
    warn: {max: 1}
    fail: {max: 5}
""",
        "sales.quality.yml",
    )
    first, second = rules
    assert first.table == "sales_daily"
    assert first.strength is Strength.WEAK
    assert first.owner == "data-eng"
    assert first.partition == "ds = '${bizdate}'"
    assert first.fail == Threshold(min=1)  # the template's default
    assert second.strength is Strength.STRONG
    assert second.owner == "alice"
    assert second.partition == "biz_date = '${yyyy-mm-dd}'"
    assert second.warn == Threshold(max=1)
    assert second.fail == Threshold(max=5)
    assert second.column == "revenue_total"
    assert second.location.line == 8


def test_strength_defaults_to_strong_and_unique_nulls_to_invalid() -> None:
    (rule,) = load_rule_text(
        "rules:\n  - {name: k, table: t, template: unique, columns: [a, b]}\n", "f.quality.yml"
    )
    assert rule.strength is Strength.STRONG
    assert rule.null_keys is NullKeys.INVALID
    assert rule.columns == ("a", "b")
    assert rule.fail == Threshold(max=0)


def test_unknown_key_names_file_and_line() -> None:
    error = _one_error("table: t\nrules:\n  - name: a\n    template: null_count\n    colum: x\n")
    assert "unknown key 'colum'" in error.message
    assert error.location.line == 5
    assert str(error.location.file) == "orders.quality.yml"


def test_unknown_template_is_an_error_with_its_line() -> None:
    error = _one_error("table: t\nrules:\n  - name: a\n    template: row_cnt\n")
    assert "template" in error.message
    assert error.location.line == 4


def test_min_above_max_is_impossible() -> None:
    error = _one_error(
        "table: t\nrules:\n  - name: a\n    template: row_count\n"
        "    fail:\n      min: 10\n      max: 5\n"
    )
    assert "impossible threshold" in error.message
    assert "min 10 is above max 5" in error.message
    assert error.location.line == 5


def test_ratio_threshold_outside_0_to_100_is_impossible() -> None:
    error = _one_error(
        "table: t\nrules:\n  - name: a\n    template: null_ratio\n    column: c\n"
        "    fail: {max: 150}\n"
    )
    assert "outside 0..100" in error.message
    assert error.location.line == 6
    assert error.hint and "percentages" in error.hint


def test_negative_count_threshold_is_impossible() -> None:
    error = _one_error(
        "table: t\nrules:\n  - {name: a, template: null_count, column: c, fail: {max: -1}}\n"
    )
    assert "negative" in error.message


def test_warn_looser_than_fail_is_reported() -> None:
    error = _one_error(
        "table: t\nrules:\n  - name: a\n    template: null_ratio\n    column: c\n"
        "    warn:\n      max: 10\n    fail:\n      max: 5\n"
    )
    assert "warn max 10 is above fail max 5" in error.message
    assert error.location.line == 7


def test_rule_without_thresholds_is_an_error_when_the_template_has_no_default() -> None:
    error = _one_error("table: t\nrules:\n  - {name: a, template: avg, column: c}\n")
    assert "sets no thresholds" in error.message
    assert error.location.line == 3


def test_rule_without_a_table() -> None:
    error = _one_error("rules:\n  - {name: a, template: row_count, fail: {min: 1}}\n")
    assert "names no table" in error.message
    assert error.location.line == 2


def test_template_needs_its_column_and_keys() -> None:
    errors = _errors(
        "table: t\nrules:\n"
        "  - {name: a, template: null_ratio, fail: {max: 1}}\n"
        "  - {name: b, template: accepted_values, column: s}\n"
        "  - {name: c, template: row_count, column: x, fail: {min: 1}}\n"
    )
    messages = [e.message for e in errors]
    assert "template 'null_ratio' needs 'column'" in messages
    assert "template 'accepted_values' needs 'values'" in messages
    assert "template 'row_count' takes no column" in messages
    assert [e.location.line for e in errors] == [3, 4, 5]


def test_keys_of_other_templates_are_rejected() -> None:
    error = _one_error(
        "table: t\nrules:\n  - {name: a, template: null_count, column: c, pattern: 'x'}\n"
    )
    assert "key 'pattern' does not apply to template 'null_count'" in error.message
    assert error.hint and "regex" in error.hint


def test_compare_only_on_comparable_templates() -> None:
    error = _one_error(
        "table: t\nrules:\n  - {name: a, template: null_ratio, column: c, compare: avg_7d,"
        " fail: {max: 5}}\n"
    )
    assert "cannot be compared with history" in error.message


def test_volatility_rule_loads_with_signed_thresholds() -> None:
    (rule,) = load_rule_text(
        "table: t\nrules:\n  - {name: a, template: row_count, compare: avg_7d,"
        " fail: {min: -50, max: 50}}\n",
        "f.quality.yml",
    )
    assert rule.compare is Compare.AVG_7D
    assert rule.fail == Threshold(-50, 50)


def test_freshness_takes_durations() -> None:
    (rule,) = load_rule_text(
        "table: t\nrules:\n  - {name: a, template: freshness, column: ts,"
        " warn: {max: 90m}, fail: {max: 26h}}\n",
        "f.quality.yml",
    )
    assert rule.warn.max == 5400
    assert rule.fail.max == 26 * 3600
    error = _one_error(
        "table: t\nrules:\n  - {name: a, template: freshness, column: ts, fail: {max: soon}}\n"
    )
    assert "a duration such as" in error.message


def test_bad_regex_and_aggregate_free_expression() -> None:
    errors = _errors(
        "table: t\nrules:\n"
        "  - {name: a, template: regex, column: c, pattern: '([a-z'}\n"
        "  - {name: b, template: expression, expression: 'amount * 2', fail: {max: 1}}\n"
    )
    assert "invalid regular expression" in errors[0].message
    assert "has no aggregate function" in errors[1].message


def test_referential_integrity_column_counts_must_match() -> None:
    error = _one_error(
        "table: t\nrules:\n  - {name: a, template: referential_integrity, columns: [a, b],"
        " ref_table: r, ref_columns: [x]}\n"
    )
    assert "'ref_columns' has 1 columns but 'columns' has 2" in error.message


def test_malformed_yaml_names_its_line() -> None:
    error = _one_error("table: t\nrules:\n  - name: a\n   template: x\n")
    assert error.location.line is not None


def test_sql_check_errors_are_reported_at_the_key(tmp_path: Path) -> None:
    def check(text: str, dialect: str, where: object) -> None:
        raise UserError("unknown parameter 'nope'", location=where)  # type: ignore[arg-type]

    with pytest.raises(UserError) as caught:
        load_rule_text(
            "table: t\nrules:\n  - name: a\n    template: not_empty\n"
            "    partition: \"ds = '${nope}'\"\n",
            "f.quality.yml",
            sql_check=check,
        )
    assert caught.value.location.line == 5


def test_rule_names_are_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.quality.yml").write_text(
        "table: t\nrules:\n  - {name: same, template: not_empty}\n"
    )
    (tmp_path / "b.quality.yml").write_text(
        "table: u\nrules:\n  - {name: same, template: not_empty}\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        load_rules(find_rule_files(tmp_path))
    (error,) = caught.value.errors
    assert "rule name 'same' is already used" in error.message
    assert str(error.location.file).endswith("b.quality.yml")


def test_find_rule_files_skips_hidden_folders(tmp_path: Path) -> None:
    (tmp_path / "workflows" / "wf").mkdir(parents=True)
    (tmp_path / ".lakeworks").mkdir()
    (tmp_path / "workflows" / "wf" / "orders.quality.yml").write_text("rules: []\n")
    (tmp_path / ".lakeworks" / "old.quality.yml").write_text("rules: []\n")
    (tmp_path / "orders.sql").write_text("select 1")
    assert [p.name for p in find_rule_files(tmp_path)] == ["orders.quality.yml"]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.quality.yml").write_text("rules:\n  - {name: a, template: not_empty}\n")
    (tmp_path / "b.quality.yml").write_text("table: t\nbogus: 1\n")
    with pytest.raises(ValidationFailed) as caught:
        load_rules(find_rule_files(tmp_path))
    assert len(caught.value.errors) == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), ("90s", 90.0), ("15m", 900.0), ("26h", 93600.0), ("2d", 172800.0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_templates_parse_from_their_names() -> None:
    assert Template("referential_integrity") is Template.REFERENTIAL_INTEGRITY


def test_a_bad_key_in_one_rule_does_not_hide_problems_of_the_others() -> None:
    errors = _errors(
        "table: t\nrules:\n"
        "  - {name: a, template: null_ratio, column: c, fail: {max: 500}}\n"
        "  - {name: b, template: not_empty, colum: x}\n"
        "  - {name: c, template: not_empty}\n"
    )
    assert [(e.location.line, e.location.key) for e in errors] == [
        (3, "rules.0.fail.max"),
        (4, "rules.1.colum"),
    ]
