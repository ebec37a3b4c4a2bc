"""Data quality rules: the config users write and the checked rules the rest reads.

A ``*.quality.yml`` file holds defaults (table, partition, owner, strength) and a list
of rules. Each rule measures one metric of a table (optionally of one partition) and
compares it with a warn and a fail range. Strong rules fail the node that wrote the
table and block its downstream; weak rules only warn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pydantic import Field

from lakeworks.errors import Location
from lakeworks.spec.models import ScheduleSpec, Strict


class Template(StrEnum):
    """What a rule measures."""

    ROW_COUNT = "row_count"
    NOT_EMPTY = "not_empty"
    NULL_COUNT = "null_count"
    NULL_RATIO = "null_ratio"
    DISTINCT_COUNT = "distinct_count"
    DUPLICATE_COUNT = "duplicate_count"
    DUPLICATE_RATIO = "duplicate_ratio"
    UNIQUE = "unique"
    MIN = "min"
    MAX = "max"
    AVG = "avg"
    SUM = "sum"
    ACCEPTED_VALUES = "accepted_values"
    REGEX = "regex"
    FRESHNESS = "freshness"
    EXPRESSION = "expression"
    REFERENTIAL_INTEGRITY = "referential_integrity"
    CUSTOM_SQL = "custom_sql"


class Strength(StrEnum):
    """Strong rules fail the node and block downstream; weak ones only warn."""

    STRONG = "strong"
    WEAK = "weak"


class Compare(StrEnum):
    """What a volatility (drift) rule compares the metric with, from stored history."""

    PREVIOUS_CYCLE = "previous_cycle"
    AVG_1D = "avg_1d"
    AVG_7D = "avg_7d"
    AVG_30D = "avg_30d"

    @property
    def days(self) -> int | None:
        """The averaging window in days, or None for the previous cycle."""
        return {"avg_1d": 1, "avg_7d": 7, "avg_30d": 30}.get(self.value)

    @property
    def label(self) -> str:
        return {
            "previous_cycle": "previous cycle",
            "avg_1d": "1-day average",
            "avg_7d": "7-day average",
            "avg_30d": "30-day average",
        }[self.value]


class Returns(StrEnum):
    """What a custom SQL rule's query returns."""

    VALUE = "value"
    ROWS = "rows"


class NullKeys(StrEnum):
    """How the ``unique`` template treats keys with a NULL part.

    ``invalid``: such a row violates the key (a key may not be NULL);
    ``distinct``: NULLs never collide (SQL ``UNIQUE`` semantics);
    ``equal``: NULLs equal each other, so ``(1, NULL)`` twice is a duplicate.
    """

    INVALID = "invalid"
    DISTINCT = "distinct"
    EQUAL = "equal"


class Verdict(StrEnum):
    """The outcome of one rule evaluation."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"


Bound = float | int | str | None


class ThresholdConfig(Strict):
    """A range the metric must stay in; either end may be open."""

    min: Bound = None
    max: Bound = None


class RuleConfig(Strict):
    """One rule as written in a ``*.quality.yml`` file."""

    name: str = Field(min_length=1)
    template: Template
    table: str | None = None
    partition: str | None = None
    column: str | None = None
    columns: list[str] | None = None
    values: list[str | int | float | bool] | None = None
    pattern: str | None = None
    expression: str | None = None
    sql: str | None = None
    returns: Returns | None = None
    dialect: str | None = None
    compare: Compare | None = None
    null_keys: NullKeys | None = None
    ref_table: str | None = None
    ref_columns: list[str] | None = None
    ref_partition: str | None = None
    warn: ThresholdConfig | None = None
    fail: ThresholdConfig | None = None
    strength: Strength | None = None
    owner: str | None = None
    description: str | None = None
    sample_size: int | None = Field(default=None, ge=0, le=1000)
    enabled: bool = True


class QualityFileConfig(Strict):
    """A ``*.quality.yml`` file: defaults for its rules, then the rules."""

    table: str | None = None
    partition: str | None = None
    owner: str | None = None
    strength: Strength | None = None
    dialect: str | None = None
    sample_size: int | None = Field(default=None, ge=0, le=1000)
    description: str | None = None
    schedule: ScheduleSpec | None = None
    """With a schedule (in a workflow folder) the file is a node of its own: its rules
    run as its instances instead of after the node that writes the table."""
    retries: int | None = Field(default=None, ge=0, le=100)
    priority: int | None = None
    resource_group: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)


@dataclass(frozen=True)
class Threshold:
    """A checked range. ``None`` ends are open. Values are in the metric's unit."""

    min: float | None = None
    max: float | None = None

    @property
    def is_open(self) -> bool:
        return self.min is None and self.max is None


DEFAULT_SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Rule:
    """A checked rule, ready to compile and evaluate. Table names are lower case."""

    name: str
    template: Template
    table: str
    strength: Strength
    warn: Threshold
    fail: Threshold
    location: Location
    partition: str | None = None
    columns: tuple[str, ...] = ()
    values: tuple[str | int | float | bool, ...] = ()
    pattern: str | None = None
    expression: str | None = None
    sql: str | None = None
    returns: Returns = Returns.VALUE
    dialect: str = "maxcompute"
    compare: Compare | None = None
    null_keys: NullKeys = NullKeys.INVALID
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    ref_partition: str | None = None
    owner: str | None = None
    description: str | None = None
    sample_size: int = DEFAULT_SAMPLE_SIZE
    enabled: bool = True
    scheduled: bool = False
    """The rule's file has a schedule: it runs as that node's instances, not as a gate."""

    @property
    def column(self) -> str | None:
        """The single column of a one-column template."""
        return self.columns[0] if self.columns else None


@dataclass(frozen=True)
class RuleSet:
    """Every rule of a workspace, in file order."""

    rules: tuple[Rule, ...] = ()
    files: tuple[Path, ...] = ()
    _by_table: dict[str, tuple[Rule, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        grouped: dict[str, list[Rule]] = {}
        for rule in self.rules:
            grouped.setdefault(rule.table, []).append(rule)
        self._by_table.update({t: tuple(rs) for t, rs in grouped.items()})

    def for_table(self, table: str) -> tuple[Rule, ...]:
        """The enabled rules attached to ``table`` (case-insensitive)."""
        return tuple(r for r in self._by_table.get(table.lower(), ()) if r.enabled)

    def tables(self) -> list[str]:
        """Every table some rule is attached to, sorted."""
        return sorted(self._by_table)

    def find(self, name: str) -> Rule | None:
        """A rule by name."""
        return next((r for r in self.rules if r.name == name), None)
