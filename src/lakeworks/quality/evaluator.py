"""Evaluate rules against a warehouse engine: one scan per table and partition.

A rule that cannot run (missing table or column, bad SQL) gets an ``error`` result
with a clear message; it never stops the other rules. Volatility rules take their
baseline from stored history through a ``HistorySource``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from lakeworks.engines.base import Engine, Session
from lakeworks.errors import LakeworksError, UserError
from lakeworks.quality import compiler
from lakeworks.quality.history import HistorySource, SeriesKey, baseline, lookback
from lakeworks.quality.judge import (
    aggregate_value,
    format_value,
    judge_rule,
    metric_key,
    percent_change,
    rule_label,
    rule_unit,
)
from lakeworks.quality.models import Returns, Rule, Template, Verdict
from lakeworks.quality.templates import spec_of
from lakeworks.sql.params import ParamContext, render

SampleRow = dict[str, object]


@dataclass(frozen=True)
class RuleResult:
    """One evaluation of one rule."""

    rule: Rule
    partition: str | None
    verdict: Verdict
    message: str
    value: float | None = None
    observed: float | None = None
    baseline: float | None = None
    sample: tuple[SampleRow, ...] = ()
    duration_seconds: float = 0.0

    @property
    def metric_key(self) -> str:
        return metric_key(self.rule)

    @property
    def breached(self) -> bool:
        """Whether the rule did not pass (warn, fail or could not run)."""
        return self.verdict in (Verdict.WARN, Verdict.FAIL, Verdict.ERROR)


@dataclass(frozen=True)
class _Measured:
    """A rule's raw metric (or why there is none) before judging."""

    observed: float | None
    note: str | None = None
    sample: tuple[SampleRow, ...] = ()


def series_key(rule: Rule) -> SeriesKey:
    """The history series ``rule`` reads and writes."""
    return SeriesKey(rule.table, rule.partition or "", metric_key(rule))


class Evaluator:
    """Runs rules on one engine for one cycle (parameters), at a given wall-clock time."""

    def __init__(
        self,
        engine: Engine,
        params: ParamContext,
        *,
        now: datetime,
        history: HistorySource | None = None,
    ) -> None:
        self.engine = engine.interactive()
        self.params = params
        self.now = now
        self.history = history
        self.dialect = self.engine.capabilities.dialect

    def evaluate(self, rules: Iterable[Rule]) -> list[RuleResult]:
        """Evaluate ``rules`` (any tables); results come back in the rules' order."""
        ordered = list(rules)
        by_table: dict[str, list[Rule]] = {}
        for rule in ordered:
            by_table.setdefault(rule.table, []).append(rule)
        results: dict[str, RuleResult] = {}
        session = self.engine.session()
        try:
            for table, table_rules in by_table.items():
                for result in self._table(session, table, table_rules):
                    results[result.rule.name] = result
        finally:
            session.close()
        return [results[r.name] for r in ordered]

    # -- one table -------------------------------------------------------------------

    def _table(self, session: Session, table: str, rules: list[Rule]) -> list[RuleResult]:
        columns = self._columns(session, table)
        if columns is None:
            message = f"table '{table}' does not exist in the {self.engine.environment} warehouse"
            return [_error(r, None, message) for r in rules]
        out: list[RuleResult] = []
        scans: dict[tuple[str | None, str], list[Rule]] = {}
        for rule in rules:
            try:
                partition = self._render(rule, rule.partition)
                resolved = self._resolve(rule, table, columns)
            except UserError as exc:
                out.append(_error(rule, None, exc.message))
                continue
            if spec_of(rule.template).aggregate:
                scans.setdefault((partition, rule.dialect), []).append(resolved)
            else:
                out.append(self._row_rule(session, resolved, partition))
        for (partition, _dialect), group in scans.items():
            out.extend(self._scan(session, table, partition, group))
        return out

    def _columns(self, session: Session, table: str) -> dict[str, str] | None:
        if not self.engine.table_exists(table):
            return None
        ref = compiler.table_ref(table).sql(dialect=self.dialect)
        result = session.execute(f"SELECT * FROM {ref} LIMIT 0")
        return {c.lower(): c for c in result.columns}

    def _render(self, rule: Rule, text: str | None) -> str | None:
        if not text:
            return None
        return render(text, self.params, path=rule.location.file, first_line=1).strip() or None

    def _resolve(self, rule: Rule, table: str, columns: dict[str, str]) -> Rule:
        """``rule`` with its column names as the table spells them; missing ones raise."""
        wanted = list(rule.columns)
        if rule.template is Template.EXPRESSION:
            parsed = compiler.parse_aggregate(rule.expression or "", rule.dialect)
            wanted += compiler.referenced_columns(parsed)
        missing = [c for c in wanted if c.lower() not in columns]
        if missing:
            names = ", ".join(f"'{c}'" for c in missing)
            noun = "column" if len(missing) == 1 else "columns"
            verb = "does" if len(missing) == 1 else "do"
            raise UserError(
                f"{noun} {names} {verb} not exist in table '{table}'"
                f" (columns: {', '.join(columns.values())})"
            )
        return replace(rule, columns=tuple(columns[c.lower()] for c in rule.columns))

    # -- the one scan ----------------------------------------------------------------

    def _scan(
        self, session: Session, table: str, partition: str | None, rules: list[Rule]
    ) -> list[RuleResult]:
        started = time.perf_counter()
        try:
            plan = compiler.compile_scan(
                table,
                partition,
                rules,
                dialect=self.dialect,
                partition_dialect=rules[0].dialect,
            )
            row = session.execute(plan.sql).rows[0]
        except LakeworksError as exc:
            if len(rules) > 1:  # find the rule that breaks the scan; the others still run
                return [r for rule in rules for r in self._scan(session, table, partition, [rule])]
            return [_error(rules[0], partition, exc.message)]
        elapsed = time.perf_counter() - started
        values = dict(zip(plan.aliases, row, strict=True))
        out: list[RuleResult] = []
        for item in plan.rules:
            measured = {role: values[alias] for role, alias in item.roles.items()}
            observed = aggregate_value(item.rule, measured, self.now)
            note = _missing_note(item.rule, observed)
            result = self._judge(item.rule, partition, _Measured(observed, note), elapsed)
            if result.verdict in (Verdict.WARN, Verdict.FAIL) and item.rule.sample_size > 0:
                result = replace(result, sample=self._bad_rows(session, item.rule, partition))
            out.append(result)
        return out

    def _bad_rows(
        self, session: Session, rule: Rule, partition: str | None
    ) -> tuple[SampleRow, ...]:
        try:
            sql = compiler.compile_bad_rows(rule, partition, dialect=self.dialect)
            if sql is None:
                return ()
            result = session.execute(sql)
        except LakeworksError:
            return ()
        return tuple(_row(result.columns, r) for r in result.rows)

    # -- rules with a query of their own ---------------------------------------------

    def _row_rule(self, session: Session, rule: Rule, partition: str | None) -> RuleResult:
        started = time.perf_counter()
        try:
            measured = self._measure_row_rule(session, rule, partition)
        except LakeworksError as exc:
            return _error(rule, partition, exc.message, time.perf_counter() - started)
        return self._judge(rule, partition, measured, time.perf_counter() - started)

    def _measure_row_rule(self, session: Session, rule: Rule, partition: str | None) -> _Measured:
        if rule.template is Template.REFERENTIAL_INTEGRITY:
            ref_table = rule.ref_table or ""
            ref_columns = self._columns(session, ref_table)
            if ref_columns is None:
                raise UserError(f"referenced table '{ref_table}' does not exist")
            missing = [c for c in rule.ref_columns if c.lower() not in ref_columns]
            if missing:
                raise UserError(
                    f"column '{missing[0]}' does not exist in referenced table '{ref_table}'"
                )
            resolved = replace(
                rule, ref_columns=tuple(ref_columns[c.lower()] for c in rule.ref_columns)
            )
            sql = compiler.compile_referential(
                resolved, partition, self._render(rule, rule.ref_partition), dialect=self.dialect
            )
            return self._count_and_sample(session, sql, rule.sample_size)
        text = render(rule.sql or "", self.params, path=rule.location.file, first_line=1)
        if rule.returns is Returns.ROWS:
            sql = compiler.compile_custom_rows(rule, text, dialect=self.dialect)
            return self._count_and_sample(session, sql, rule.sample_size)
        result = session.execute(compiler.compile_custom_value(rule, text, dialect=self.dialect))
        if len(result.rows) != 1 or len(result.rows[0]) != 1:
            shape = f"{len(result.rows)} rows of {len(result.columns)} columns"
            raise UserError(
                f"custom SQL must return one row with one number, got {shape}",
                hint="use 'returns: rows' for a query that returns the bad rows",
            )
        raw = result.rows[0][0]
        number = _number(raw)
        if raw is not None and number is None:
            raise UserError(f"custom SQL returned {raw!r}, which is not a number")
        return _Measured(number, None if number is not None else "the query returned NULL")

    def _count_and_sample(self, session: Session, sql: str, size: int) -> _Measured:
        result = session.execute(sql)
        if not result.rows:
            return _Measured(0.0)
        total_at = result.columns.index(compiler.TOTAL_COLUMN)
        total = float(str(result.rows[0][total_at]))
        keep = [c for c in result.columns if c != compiler.TOTAL_COLUMN]
        sample = tuple(
            _row(keep, [v for i, v in enumerate(r) if i != total_at]) for r in result.rows[:size]
        )
        return _Measured(total, sample=sample)

    # -- verdicts --------------------------------------------------------------------

    def _judge(
        self, rule: Rule, partition: str | None, measured: _Measured, elapsed: float
    ) -> RuleResult:
        def result(verdict: Verdict, message: str, **values: float | None) -> RuleResult:
            return RuleResult(
                rule=rule,
                partition=partition,
                verdict=verdict,
                message=message,
                sample=measured.sample,
                duration_seconds=elapsed,
                **values,
            )

        observed = measured.observed
        label = rule_label(rule)
        if observed is None:
            verdict = Verdict.FAIL if rule.template is Template.FRESHNESS else Verdict.SKIPPED
            return result(verdict, f"{label}: {measured.note or 'no value'}")
        if rule.compare is None:
            judgement = judge_rule(rule, observed)
            return result(judgement.verdict, judgement.message, value=observed, observed=observed)
        reference, _cycles = self._baseline(rule)
        raw = _raw(rule, observed)
        if reference is None:
            return result(
                Verdict.SKIPPED,
                f"{label}: no history to compare with yet ({raw})",
                observed=observed,
            )
        change = percent_change(observed, reference)
        if change is None:
            return result(
                Verdict.SKIPPED,
                f"{label}: baseline is 0 ({raw})",
                observed=observed,
                baseline=reference,
            )
        judgement = judge_rule(rule, change)
        return result(
            judgement.verdict,
            f"{judgement.message} ({raw} vs {_raw(rule, reference)})",
            value=change,
            observed=observed,
            baseline=reference,
        )

    def _baseline(self, rule: Rule) -> tuple[float | None, int]:
        if self.history is None or rule.compare is None:
            return None, 0
        cycle = self.params.cycle_time
        found = self.history.observations(
            series_key(rule), since=lookback(rule.compare, cycle), before=cycle
        )
        return baseline(rule.compare, cycle, found)


def _raw(rule: Rule, observed: float) -> str:
    return format_value(observed, rule_unit(replace(rule, compare=None)))


def _missing_note(rule: Rule, observed: float | None) -> str | None:
    if observed is not None:
        return None
    if rule.template is Template.FRESHNESS:
        return f"no timestamps in column '{rule.column}'"
    if rule.template in (Template.NULL_RATIO, Template.DUPLICATE_RATIO):
        return "no rows"
    if rule.template is Template.REGEX:
        return f"no non-NULL values in column '{rule.column}'"
    return "no values"


def _error(rule: Rule, partition: str | None, message: str, elapsed: float = 0.0) -> RuleResult:
    return RuleResult(
        rule=rule,
        partition=partition,
        verdict=Verdict.ERROR,
        message=message.strip().splitlines()[0] if message.strip() else "failed",
        duration_seconds=elapsed,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _row(columns: Sequence[str], values: Sequence[object]) -> SampleRow:
    return {c: _jsonable(v) for c, v in zip(columns, values, strict=False)}
