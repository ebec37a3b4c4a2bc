"""From measured numbers to a rule's value, verdict and message (pure).

Values are in the metric's unit: counts, percentages for ratios (12.5 means 12.5 %),
seconds for freshness, and a signed percentage change when a rule compares with its
history (``compare:``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from lakeworks.quality.models import NullKeys, Returns, Rule, Template, Threshold, Verdict
from lakeworks.quality.templates import Unit, metric_label, metric_unit


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    message: str


def rule_unit(rule: Rule) -> Unit:
    """The unit of ``rule``'s value."""
    return metric_unit(
        rule.template,
        compared=rule.compare is not None,
        returns_rows=rule.returns is Returns.ROWS,
    )


def rule_label(rule: Rule) -> str:
    """How ``rule``'s value is named in messages."""
    label = metric_label(
        rule.template,
        compare_label=rule.compare.label if rule.compare else None,
        returns_rows=rule.returns is Returns.ROWS,
    )
    if rule.template in (Template.MIN, Template.MAX, Template.AVG, Template.SUM):
        return label.replace(rule.template.value, f"{rule.template.value}({rule.column})", 1)
    return label


def metric_key(rule: Rule) -> str:
    """The name of the raw metric a rule observes; rules sharing it share history."""
    t = rule.template
    if t in (Template.ROW_COUNT, Template.NOT_EMPTY):
        return "row_count"
    if t is Template.EXPRESSION:
        return f"expression:{' '.join((rule.expression or '').split()).lower()}"
    if t is Template.CUSTOM_SQL:
        return f"custom_sql:{rule.name}"
    if t is Template.REFERENTIAL_INTEGRITY:
        return f"referential_integrity:{','.join(rule.columns)}->{rule.ref_table}"
    return f"{t.value}:{','.join(c.lower() for c in rule.columns)}"


def _num(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _ratio(part: float, whole: float) -> float | None:
    return None if whole == 0 else part / whole * 100.0


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def age_seconds(latest: object, now: datetime) -> float | None:
    """Seconds from ``latest`` (a timestamp, date or ISO text) to ``now``.

    An aware ``latest`` is compared with ``now`` in its own zone; naive values are taken
    to be in the same zone as ``now``.
    """
    moment = _as_datetime(latest)
    if moment is None:
        return None
    if moment.tzinfo is not None:
        reference = now if now.tzinfo is not None else now.astimezone()
        return (reference - moment).total_seconds()
    return (now.replace(tzinfo=None) - moment).total_seconds()


def aggregate_value(rule: Rule, measured: Mapping[str, object], now: datetime) -> float | None:
    """The raw metric of an aggregate rule from its measures (role -> value)."""
    t = rule.template
    rows = _num(measured.get("rows")) or 0.0
    nonnull = _num(measured.get("nonnull")) or 0.0
    distinct = _num(measured.get("distinct")) or 0.0
    if t in (Template.ROW_COUNT, Template.NOT_EMPTY):
        return rows
    if t is Template.NULL_COUNT:
        return rows - nonnull
    if t is Template.NULL_RATIO:
        return _ratio(rows - nonnull, rows)
    if t is Template.DISTINCT_COUNT:
        return distinct
    if t is Template.DUPLICATE_COUNT:
        return nonnull - distinct
    if t is Template.DUPLICATE_RATIO:
        return _ratio(nonnull - distinct, rows)
    if t is Template.UNIQUE:
        if rule.null_keys is NullKeys.INVALID:
            return rows - distinct
        if rule.null_keys is NullKeys.DISTINCT:
            return nonnull - distinct
        if "distinct_all" in measured:
            return rows - (_num(measured["distinct_all"]) or 0.0)
        return rows - distinct - (1.0 if rows > nonnull else 0.0)
    if t in (Template.MIN, Template.MAX, Template.AVG, Template.SUM, Template.EXPRESSION):
        return _num(measured.get("value"))
    if t is Template.ACCEPTED_VALUES:
        return _num(measured.get("bad")) or 0.0
    if t is Template.REGEX:
        return _ratio(_num(measured.get("matches")) or 0.0, nonnull)
    if t is Template.FRESHNESS:
        return age_seconds(measured.get("latest"), now)
    raise ValueError(f"template {t} is not an aggregate template")


def percent_change(current: float, baseline: float) -> float | None:
    """``current`` relative to ``baseline`` in %, None when the baseline is 0."""
    if baseline == 0:
        return 0.0 if current == 0 else None
    return (current - baseline) / abs(baseline) * 100.0


def judge(value: float, warn: Threshold, fail: Threshold) -> Verdict:
    """FAIL outside the fail range, else WARN outside the warn range, else PASS."""
    if _outside(value, fail):
        return Verdict.FAIL
    if _outside(value, warn):
        return Verdict.WARN
    return Verdict.PASS


def _outside(value: float, band: Threshold) -> bool:
    return (band.min is not None and value < band.min) or (
        band.max is not None and value > band.max
    )


def judge_rule(rule: Rule, value: float) -> Judgement:
    """The verdict of ``rule`` for ``value`` and a message such as
    ``null ratio 12.5 % > 5 %``."""
    verdict = judge(value, rule.warn, rule.fail)
    unit = rule_unit(rule)
    label = rule_label(rule)
    band = rule.fail if verdict is Verdict.FAIL else rule.warn
    bound_unit = Unit.RATIO if unit is Unit.PERCENT_CHANGE else unit  # bounds carry no sign
    if verdict is Verdict.PASS:
        return Judgement(verdict, f"{label} {format_value(value, unit)}")
    bound = band.max if band.max is not None and value > band.max else band.min
    assert bound is not None
    sign = ">" if bound == band.max and value > bound else "<"
    shown = format_value(value, unit, scale=bound)
    return Judgement(
        verdict, f"{label} {shown} {sign} {format_value(bound, bound_unit, scale=bound)}"
    )


def format_number(value: float) -> str:
    """A readable number: integers as such, others with up to two decimals."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) < 1:
        return f"{value:.3g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _duration_unit(reference: float) -> tuple[float, str]:
    for size, suffix in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(reference) >= 2 * size:
            return size, suffix
    return 1, "s"


def format_value(value: float, unit: Unit, *, scale: float | None = None) -> str:
    """``value`` with its unit: ``12.5 %``, ``+35 %``, ``27.5 h``, ``1200``.

    Durations are shown in d, h, min or s chosen from ``scale`` (default: the value),
    so that a value and its threshold read in the same unit.
    """
    if unit is Unit.SECONDS:
        size, suffix = _duration_unit(value if scale is None else scale)
        return f"{format_number(value / size)} {suffix}"
    text = format_number(value)
    if unit is Unit.PERCENT_CHANGE and value > 0:
        text = "+" + text
    return text + unit.suffix
