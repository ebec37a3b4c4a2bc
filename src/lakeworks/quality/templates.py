"""What each rule template needs, measures and defaults to (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lakeworks.quality.models import Template, Threshold


class Unit(StrEnum):
    """The unit of a metric; it decides which thresholds are possible and how values read."""

    COUNT = "count"
    RATIO = "ratio"
    NUMBER = "number"
    SECONDS = "seconds"
    PERCENT_CHANGE = "percent_change"

    @property
    def suffix(self) -> str:
        """What follows a value when shown (``12.5 %``)."""
        return {"ratio": " %", "percent_change": " %", "seconds": " s"}.get(self.value, "")


class Columns(StrEnum):
    """How many columns a template takes."""

    NONE = "none"
    ONE = "one"
    MANY = "many"


@dataclass(frozen=True)
class TemplateSpec:
    """The static description of one template."""

    label: str
    unit: Unit
    columns: Columns = Columns.NONE
    aggregate: bool = True
    """Computed in the one scan of the table (else by a query of its own)."""
    comparable: bool = False
    """Accepts ``compare:`` (volatility / drift against stored history)."""
    default_fail: Threshold | None = None
    """The fail range used when the rule sets neither ``warn`` nor ``fail``."""
    requires: tuple[str, ...] = ()
    """Further keys the rule must set."""


_ZERO = Threshold(max=0)

SPECS: dict[Template, TemplateSpec] = {
    Template.ROW_COUNT: TemplateSpec("row count", Unit.COUNT, comparable=True),
    Template.NOT_EMPTY: TemplateSpec("row count", Unit.COUNT, default_fail=Threshold(min=1)),
    Template.NULL_COUNT: TemplateSpec(
        "null count", Unit.COUNT, Columns.ONE, comparable=True, default_fail=_ZERO
    ),
    Template.NULL_RATIO: TemplateSpec("null ratio", Unit.RATIO, Columns.ONE),
    Template.DISTINCT_COUNT: TemplateSpec(
        "distinct count", Unit.COUNT, Columns.MANY, comparable=True
    ),
    Template.DUPLICATE_COUNT: TemplateSpec(
        "duplicate count", Unit.COUNT, Columns.MANY, default_fail=_ZERO
    ),
    Template.DUPLICATE_RATIO: TemplateSpec("duplicate ratio", Unit.RATIO, Columns.MANY),
    Template.UNIQUE: TemplateSpec("key violations", Unit.COUNT, Columns.MANY, default_fail=_ZERO),
    Template.MIN: TemplateSpec("min", Unit.NUMBER, Columns.ONE, comparable=True),
    Template.MAX: TemplateSpec("max", Unit.NUMBER, Columns.ONE, comparable=True),
    Template.AVG: TemplateSpec("avg", Unit.NUMBER, Columns.ONE, comparable=True),
    Template.SUM: TemplateSpec("sum", Unit.NUMBER, Columns.ONE, comparable=True),
    Template.ACCEPTED_VALUES: TemplateSpec(
        "rows with other values",
        Unit.COUNT,
        Columns.ONE,
        default_fail=_ZERO,
        requires=("values",),
    ),
    Template.REGEX: TemplateSpec(
        "regex match ratio",
        Unit.RATIO,
        Columns.ONE,
        default_fail=Threshold(min=100),
        requires=("pattern",),
    ),
    Template.FRESHNESS: TemplateSpec("age", Unit.SECONDS, Columns.ONE),
    Template.EXPRESSION: TemplateSpec(
        "value", Unit.NUMBER, comparable=True, requires=("expression",)
    ),
    Template.REFERENTIAL_INTEGRITY: TemplateSpec(
        "rows without a match",
        Unit.COUNT,
        Columns.MANY,
        aggregate=False,
        default_fail=_ZERO,
        requires=("ref_table",),
    ),
    Template.CUSTOM_SQL: TemplateSpec(
        "value", Unit.NUMBER, aggregate=False, comparable=True, requires=("sql",)
    ),
}

BAD_ROWS_LABEL = "bad rows"


def spec_of(template: Template) -> TemplateSpec:
    """The static description of ``template``."""
    return SPECS[template]


def metric_unit(template: Template, *, compared: bool, returns_rows: bool) -> Unit:
    """The unit of a rule's value: a % change when compared with history."""
    if compared:
        return Unit.PERCENT_CHANGE
    if returns_rows:
        return Unit.COUNT
    return SPECS[template].unit


def metric_label(template: Template, *, compare_label: str | None, returns_rows: bool) -> str:
    """How a rule's value is named in messages (``null ratio``, ``row count change …``)."""
    label = BAD_ROWS_LABEL if returns_rows else SPECS[template].label
    if compare_label:
        return f"{label} change vs {compare_label}"
    return label
