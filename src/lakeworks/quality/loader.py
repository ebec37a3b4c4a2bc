"""Load ``*.quality.yml`` files into checked rules; every problem names file and line.

Rule files may live anywhere in a workspace (beside a workflow, or in a ``quality/``
folder for tables no workflow writes). Layout of one file::

    table: sales_daily                   # defaults for the rules below (optional)
    partition: "biz_date = '${yyyy-mm-dd}'"
    owner: data-eng
    strength: strong
    rules:
      - name: sales_daily_not_empty
        template: not_empty
      - name: revenue_nulls
        template: null_ratio
        column: revenue_total
        warn: {max: 1}
        fail: {max: 5}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

import lakeworks.sql.dialect  # noqa: F401  (registers the maxcompute dialect)
from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.quality.files import RULE_FILE_SUFFIXES
from lakeworks.quality.files import find_rule_files as find_rule_files
from lakeworks.quality.models import (
    DEFAULT_SAMPLE_SIZE,
    Bound,
    NullKeys,
    QualityFileConfig,
    Returns,
    Rule,
    RuleConfig,
    RuleSet,
    Strength,
    Template,
    Threshold,
    ThresholdConfig,
)
from lakeworks.quality.templates import Columns, Unit, metric_unit, spec_of
from lakeworks.spec.yaml_source import LineMap, parse_yaml, validate_model

RULE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: Keys that only some templates accept, and which ones.
_TEMPLATE_KEYS: dict[str, frozenset[Template]] = {
    "values": frozenset({Template.ACCEPTED_VALUES}),
    "pattern": frozenset({Template.REGEX}),
    "expression": frozenset({Template.EXPRESSION}),
    "sql": frozenset({Template.CUSTOM_SQL}),
    "returns": frozenset({Template.CUSTOM_SQL}),
    "null_keys": frozenset({Template.UNIQUE}),
    "ref_table": frozenset({Template.REFERENTIAL_INTEGRITY}),
    "ref_columns": frozenset({Template.REFERENTIAL_INTEGRITY}),
    "ref_partition": frozenset({Template.REFERENTIAL_INTEGRITY}),
}

IndexedRules = list[tuple[int, RuleConfig]]
"""Rules that passed schema validation, with their position in the file."""

SqlCheck = Callable[[str, str, Location], None]
"""Checks a SQL text (rendered for a sample date) in a dialect; raises ``UserError``."""


def parse_duration(value: Bound) -> float | None:
    """Seconds in ``value``: a number of seconds or ``90s``, ``15m``, ``26h``, ``2d``, ``1w``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        return None
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def is_rule_file(path: Path) -> bool:
    """Whether ``path`` is a quality rule file by its name."""
    return path.name.endswith(RULE_FILE_SUFFIXES)


class _FileChecker:
    """Turns the validated config of one file into rules, collecting problems."""

    def __init__(
        self,
        config: QualityFileConfig,
        indexed: IndexedRules,
        lines: LineMap,
        default_dialect: str,
        sql_check: SqlCheck | None,
    ) -> None:
        self.config = config
        self.indexed = indexed
        self.lines = lines
        self.default_dialect = default_dialect
        self.sql_check = sql_check
        self.problems: list[UserError] = []

    def _where(self, index: int, *keys: str | int) -> Location:
        return self.lines.location(("rules", index, *keys))

    def _problem(self, message: str, where: Location, hint: str | None = None) -> None:
        self.problems.append(UserError(message, location=where, hint=hint))

    def rules(self) -> list[Rule]:
        out: list[Rule] = []
        for index, rc in self.indexed:
            before = len(self.problems)
            rule = self._rule(index, rc)
            if rule is not None and len(self.problems) == before:
                out.append(rule)
        return out

    def _rule(self, i: int, rc: RuleConfig) -> Rule | None:
        spec = spec_of(rc.template)
        name_ok = bool(RULE_NAME.match(rc.name))
        if not name_ok:
            self._problem(
                f"invalid rule name '{rc.name}'",
                self._where(i, "name"),
                "use letters, digits, '_', '-' and '.' only",
            )
        table = rc.table or self.config.table
        if not table:
            self._problem(
                f"rule '{rc.name}' names no table",
                self._where(i),
                "set 'table:' on the rule or at the top of the file",
            )
            return None
        if not TABLE_NAME.match(table):
            key = "table" if rc.table else None
            where = self._where(i, "table") if key else self.lines.location(("table",))
            self._problem(f"invalid table name '{table}'", where)
        self._check_template_keys(i, rc)
        columns = self._columns(i, rc, spec.columns)
        if rc.compare is not None and not (spec.comparable and rc.returns is not Returns.ROWS):
            self._problem(
                f"template '{rc.template}' cannot be compared with history",
                self._where(i, "compare"),
                "compare works with row_count, null_count, distinct_count, min, max, avg, "
                "sum, expression and custom_sql returning a value",
            )
        for key in spec.requires:
            if getattr(rc, key) in (None, [], ""):
                self._problem(
                    f"template '{rc.template}' needs '{key}'",
                    self._where(i),
                    _REQUIRES_HINT.get(key),
                )
        dialect = rc.dialect or self.config.dialect or self.default_dialect
        partition = rc.partition if rc.partition is not None else self.config.partition
        self._check_sql_parts(i, rc, dialect, partition)
        returns = rc.returns or Returns.VALUE
        unit = metric_unit(
            rc.template, compared=rc.compare is not None, returns_rows=returns is Returns.ROWS
        )
        warn = self._threshold(i, "warn", rc.warn, unit)
        fail = self._threshold(i, "fail", rc.fail, unit)
        if not (_given(rc.warn) or _given(rc.fail)):
            default = spec.default_fail
            if returns is Returns.ROWS:
                default = Threshold(max=0)
            if default is None or rc.compare is not None:
                self._problem(
                    f"rule '{rc.name}' sets no thresholds",
                    self._where(i),
                    "set 'warn:' and/or 'fail:' with 'min:' and/or 'max:'",
                )
            else:
                fail = default
        self._check_order(i, warn, fail)
        ref_columns = tuple(rc.ref_columns or columns)
        if rc.template is Template.REFERENTIAL_INTEGRITY and len(ref_columns) != len(columns):
            self._problem(
                f"'ref_columns' has {len(ref_columns)} columns but 'columns' has {len(columns)}",
                self._where(i, "ref_columns"),
                "list one referenced column per checked column, in the same order",
            )
        return Rule(
            name=rc.name,
            template=rc.template,
            table=table.lower(),
            strength=rc.strength or self.config.strength or Strength.STRONG,
            warn=warn,
            fail=fail,
            location=self._where(i),
            partition=partition or None,
            columns=columns,
            values=tuple(rc.values or ()),
            pattern=rc.pattern,
            expression=rc.expression,
            sql=rc.sql,
            returns=returns,
            dialect=dialect,
            compare=rc.compare,
            null_keys=rc.null_keys or NullKeys.INVALID,
            ref_table=rc.ref_table.lower() if rc.ref_table else None,
            ref_columns=ref_columns,
            ref_partition=rc.ref_partition,
            owner=rc.owner or self.config.owner,
            description=rc.description,
            sample_size=_first(rc.sample_size, self.config.sample_size, DEFAULT_SAMPLE_SIZE),
            enabled=rc.enabled,
            scheduled=self.config.schedule is not None,
        )

    def _check_template_keys(self, i: int, rc: RuleConfig) -> None:
        for key, templates in _TEMPLATE_KEYS.items():
            if getattr(rc, key) is not None and rc.template not in templates:
                allowed = ", ".join(sorted(t.value for t in templates))
                self._problem(
                    f"key '{key}' does not apply to template '{rc.template}'",
                    self._where(i, key),
                    f"'{key}' is used by: {allowed}",
                )

    def _columns(self, i: int, rc: RuleConfig, wants: Columns) -> tuple[str, ...]:
        if rc.column is not None and rc.columns is not None:
            self._problem("set either 'column' or 'columns', not both", self._where(i, "columns"))
            return ()
        given = [rc.column] if rc.column is not None else list(rc.columns or [])
        if wants is Columns.NONE:
            if given:
                key = "column" if rc.column is not None else "columns"
                self._problem(f"template '{rc.template}' takes no column", self._where(i, key))
            return ()
        if not given:
            which = "'column'" if wants is Columns.ONE else "'column' or 'columns'"
            self._problem(f"template '{rc.template}' needs {which}", self._where(i))
            return ()
        if wants is Columns.ONE and len(given) > 1:
            self._problem(
                f"template '{rc.template}' takes one column, got {len(given)}",
                self._where(i, "columns"),
            )
        for column in given:
            if not column.strip():
                self._problem("empty column name", self._where(i, "columns"))
        if len({c.lower() for c in given}) != len(given):
            self._problem("a column is listed twice", self._where(i, "columns"))
        return tuple(given)

    def _check_sql_parts(self, i: int, rc: RuleConfig, dialect: str, partition: str | None) -> None:
        if rc.pattern is not None:
            try:
                re.compile(rc.pattern)
            except re.error as exc:
                self._problem(f"invalid regular expression: {exc}", self._where(i, "pattern"))
        if partition:
            where = (
                self._where(i, "partition")
                if rc.partition is not None
                else self.lines.location(("partition",))
            )
            self._check_condition(partition, dialect, where)
        if rc.ref_partition:
            self._check_condition(rc.ref_partition, dialect, self._where(i, "ref_partition"))
        if rc.expression is not None:
            self._check_expression(rc.expression, dialect, self._where(i, "expression"))
        if rc.sql is not None and self.sql_check is not None:
            try:
                self.sql_check(rc.sql, dialect, self._where(i, "sql"))
            except UserError as exc:
                self.problems.append(exc)

    def _check_condition(self, text: str, dialect: str, where: Location) -> None:
        if self.sql_check is not None:
            try:
                self.sql_check(f"SELECT 1 WHERE {text}", dialect, where)
            except UserError as exc:
                self.problems.append(exc)

    def _check_expression(self, text: str, dialect: str, where: Location) -> None:
        try:
            parsed = sqlglot.parse_one(text, read=dialect)
        except (ParseError, ValueError) as exc:
            self._problem(f"cannot parse expression: {_first_line(exc)}", where)
            return
        if parsed.find(exp.AggFunc) is None:
            self._problem(
                f"expression '{text}' has no aggregate function",
                where,
                "the expression is computed over the whole partition, e.g. "
                "'sum(amount) / count(*)'",
            )

    def _threshold(self, i: int, level: str, tc: ThresholdConfig | None, unit: Unit) -> Threshold:
        if tc is None:
            return Threshold()
        bounds: dict[str, float | None] = {}
        for end in ("min", "max"):
            raw: Bound = getattr(tc, end)
            where = self._where(i, level, end)
            value = parse_duration(raw) if unit is Unit.SECONDS else _number(raw)
            if raw is not None and value is None:
                expected = (
                    "a duration such as 90s, 15m, 26h or 2d" if unit is Unit.SECONDS else "a number"
                )
                self._problem(f"'{level}.{end}' must be {expected}, got {raw!r}", where)
            bounds[end] = value
            self._check_bound(value, unit, level, end, where)
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None and low > high:
            self._problem(
                f"impossible threshold: {level} min {_fmt(low)} is above max {_fmt(high)}",
                self._where(i, level),
                "no value could pass; swap min and max",
            )
        return Threshold(low, high)

    def _check_bound(
        self, value: float | None, unit: Unit, level: str, end: str, where: Location
    ) -> None:
        if value is None:
            return
        if unit is Unit.RATIO and not 0 <= value <= 100:
            self._problem(
                f"impossible threshold: {level}.{end} {_fmt(value)} is outside 0..100",
                where,
                "ratios are percentages: write 5 for 5 %",
            )
        elif unit in (Unit.COUNT, Unit.SECONDS) and value < 0:
            what = "a count" if unit is Unit.COUNT else "an age"
            self._problem(
                f"impossible threshold: {level}.{end} {_fmt(value)} is negative,"
                f" and {what} never is",
                where,
            )

    def _check_order(self, i: int, warn: Threshold, fail: Threshold) -> None:
        if warn.max is not None and fail.max is not None and warn.max > fail.max:
            self._problem(
                f"warn max {_fmt(warn.max)} is above fail max {_fmt(fail.max)}:"
                " the warning could never fire",
                self._where(i, "warn", "max"),
                "warn thresholds must be stricter than fail thresholds",
            )
        if warn.min is not None and fail.min is not None and warn.min < fail.min:
            self._problem(
                f"warn min {_fmt(warn.min)} is below fail min {_fmt(fail.min)}:"
                " the warning could never fire",
                self._where(i, "warn", "min"),
                "warn thresholds must be stricter than fail thresholds",
            )


_REQUIRES_HINT = {
    "values": "list the accepted values, e.g. values: [paid, refunded]",
    "pattern": "give a regular expression the whole value must match",
    "expression": "give an aggregate SQL expression, e.g. 'sum(amount) / count(*)'",
    "sql": "give a query returning one number, or the bad rows with 'returns: rows'",
    "ref_table": "name the table whose key the column must match",
}


def _given(config: ThresholdConfig | None) -> bool:
    return config is not None and (config.min is not None or config.max is not None)


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _number(raw: Bound) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(raw)
    except ValueError:
        return None


def _fmt(value: float) -> str:
    return f"{value:g}"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _validate_rules(
    data: Any, lines: LineMap
) -> tuple[QualityFileConfig, IndexedRules, list[UserError]]:
    """The file's config, each rule validated on its own so that a bad key in one rule
    does not hide the problems of the others. Rules that fail are left out."""
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(raw_rules, list):
        config = validate_model(QualityFileConfig, data, lines)
        return config, list(enumerate(config.rules)), []
    config = validate_model(QualityFileConfig, {**data, "rules": []}, lines)
    problems: list[UserError] = []
    rules: IndexedRules = []
    for index, item in enumerate(raw_rules):
        sub = LineMap(
            lines.path,
            lines.first_line,
            {k[2:]: v for k, v in lines.lines.items() if k[:2] == ("rules", index)},
        )
        try:
            rules.append((index, validate_model(RuleConfig, item, sub)))
        except ValidationFailed as exc:
            problems.extend(_prefixed(e, index) for e in exc.errors)
        except UserError as exc:
            problems.append(_prefixed(exc, index))
    return config, rules, problems


def _prefixed(error: UserError, index: int) -> UserError:
    key = f"rules.{index}" + (f".{error.location.key}" if error.location.key else "")
    where = Location(error.location.file, error.location.line, error.location.column, key)
    return UserError(error.message, location=where, hint=error.hint)


def load_rule_text(
    text: str,
    path: Path | str,
    *,
    default_dialect: str = "maxcompute",
    sql_check: SqlCheck | None = None,
) -> list[Rule]:
    """Rules from the text of one rule file; raises ``UserError``/``ValidationFailed``."""
    data, lines = parse_yaml(text, path)
    config, indexed, problems = _validate_rules(data, lines)
    checker = _FileChecker(config, indexed, lines, default_dialect, sql_check)
    rules = checker.rules()
    problems.extend(checker.problems)
    if problems:
        problems.sort(key=lambda e: e.location.line or 0)
        if len(problems) == 1:
            raise problems[0]
        raise ValidationFailed(problems)
    return rules


def load_rules(
    files: Iterable[Path],
    *,
    default_dialect: str = "maxcompute",
    sql_check: SqlCheck | None = None,
) -> RuleSet:
    """Load and check rule files together; rule names must be unique across them.

    Every problem of every file is collected and raised at once as ``ValidationFailed``.
    """
    problems: list[UserError] = []
    rules: list[Rule] = []
    paths = list(files)
    seen: dict[str, Rule] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
            loaded = load_rule_text(
                text, path, default_dialect=default_dialect, sql_check=sql_check
            )
        except ValidationFailed as exc:
            problems.extend(exc.errors)
            continue
        except UserError as exc:
            problems.append(exc)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(UserError(f"cannot read rule file: {exc}", location=Location(path)))
            continue
        for rule in loaded:
            if rule.name in seen:
                first = seen[rule.name].location
                problems.append(
                    UserError(
                        f"rule name '{rule.name}' is already used at {first}",
                        location=rule.location,
                        hint="rule names are unique in a workspace",
                    )
                )
                continue
            seen[rule.name] = rule
            rules.append(rule)
    if problems:
        raise ValidationFailed(problems)
    return RuleSet(rules=tuple(rules), files=tuple(paths))
