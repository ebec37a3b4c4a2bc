"""What the gate decides from results: strong failures fail, the rest warns."""

from __future__ import annotations

from dataclasses import replace

from lakeworks.quality.evaluator import RuleResult
from lakeworks.quality.gate import decide
from lakeworks.quality.loader import load_rule_text
from lakeworks.quality.models import Strength, Verdict

(STRONG,) = load_rule_text(
    "table: t\nrules:\n  - {name: email_nulls, template: null_ratio, column: email,"
    " fail: {max: 5}}\n",
    "t.quality.yml",
)
WEAK = replace(STRONG, name="email_nulls_weak", strength=Strength.WEAK)


def _result(rule: object, verdict: Verdict, message: str) -> RuleResult:
    return RuleResult(rule=rule, partition=None, verdict=verdict, message=message)  # type: ignore[arg-type]


def test_a_strong_failure_fails_with_the_rule_and_the_numbers() -> None:
    outcome = decide([_result(STRONG, Verdict.FAIL, "null ratio 12.5 % > 5 %")])
    assert outcome.failure == "quality rule email_nulls failed: null ratio 12.5 % > 5 %"
    assert not outcome.passed


def test_a_weak_failure_is_only_a_warning() -> None:
    outcome = decide([_result(WEAK, Verdict.FAIL, "null ratio 12.5 % > 5 %")])
    assert outcome.passed
    assert outcome.warnings == ("quality rule email_nulls_weak failed: null ratio 12.5 % > 5 %",)


def test_a_strong_rule_that_cannot_run_fails_and_warn_levels_only_warn() -> None:
    outcome = decide(
        [
            _result(STRONG, Verdict.ERROR, "column 'email' does not exist in table 't'"),
            _result(replace(STRONG, name="other"), Verdict.WARN, "null ratio 2 % > 1 %"),
            _result(replace(STRONG, name="fine"), Verdict.PASS, "null ratio 0 %"),
        ]
    )
    assert outcome.failure == (
        "quality rule email_nulls could not run: column 'email' does not exist in table 't'"
    )
    assert outcome.warnings == ("quality rule other warned: null ratio 2 % > 1 %",)
    assert len(outcome.log_lines) == 3


def test_no_results_pass() -> None:
    assert decide([]).passed
