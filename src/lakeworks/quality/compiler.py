"""Compile rules into SQL: all aggregate rules of one table and partition in one scan.

Each aggregate rule asks for a few *measures* (``COUNT(*)``, ``COUNT(c)``,
``COUNT(DISTINCT c)``…). Measures are shared between rules, so twenty rules on a table
usually need fewer than twenty aggregates, and all of them come from one ``SELECT``
built as a sqlglot tree and written in the engine's dialect. Row-returning rules
(referential integrity, custom SQL returning bad rows) get a query of their own that
returns the total count beside a sample of at most N rows.

Pure: no engine, no database. Column names given here are already resolved against
the table (see the evaluator); the compiler only quotes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

import lakeworks.sql.dialect  # noqa: F401  (registers the maxcompute dialect)
from lakeworks.errors import UserError
from lakeworks.quality.models import NullKeys, Rule, Template

TOTAL_COLUMN = "__lw_total"
"""The column a row query adds with the number of bad rows (before the sample limit)."""


@dataclass(frozen=True)
class AggregatePlan:
    """What one aggregate rule needs: measure roles mapped to the scan's column aliases."""

    rule: Rule
    roles: dict[str, str]


@dataclass(frozen=True)
class ScanPlan:
    """One ``SELECT`` computing every measure of some rules on one table and partition."""

    table: str
    partition: str | None
    sql: str
    aliases: tuple[str, ...]
    rules: tuple[AggregatePlan, ...]


@dataclass
class _Measures:
    """Collects measures, sharing identical ones."""

    dialect: str
    by_sql: dict[str, str] = field(default_factory=dict)
    selects: list[exp.Expr] = field(default_factory=list)

    def add(self, expression: exp.Expr) -> str:
        key = expression.sql(dialect=self.dialect)
        alias = self.by_sql.get(key)
        if alias is None:
            alias = f"m{len(self.by_sql)}"
            self.by_sql[key] = alias
            self.selects.append(exp.alias_(expression, alias, quoted=False))
        return alias


def quote_column(name: str) -> exp.Column:
    """A column reference with its name quoted (names were resolved against the table)."""
    return exp.column(name, quoted=True)


def table_ref(name: str) -> exp.Table:
    """A table reference (``schema.table`` allowed)."""
    parts = name.split(".")
    identifiers = [exp.to_identifier(p) for p in parts]
    if len(identifiers) == 1:
        return exp.Table(this=identifiers[0])
    if len(identifiers) == 2:
        return exp.Table(this=identifiers[1], db=identifiers[0])
    return exp.Table(this=identifiers[2], db=identifiers[1], catalog=identifiers[0])


def parse_condition(text: str, dialect: str) -> exp.Expr:
    """A rendered partition filter parsed in the rule's dialect."""
    try:
        parsed = sqlglot.parse_one(text, read=dialect)
    except (ParseError, ValueError) as exc:
        raise UserError(f"cannot parse partition filter {text!r}: {_first_line(exc)}") from None
    return parsed


def parse_aggregate(text: str, dialect: str) -> exp.Expr:
    """A rule's aggregate expression parsed in the rule's dialect."""
    try:
        return sqlglot.parse_one(text, read=dialect)
    except (ParseError, ValueError) as exc:
        raise UserError(f"cannot parse expression {text!r}: {_first_line(exc)}") from None


def _count_if(condition: exp.Expr) -> exp.Expr:
    return exp.CountIf(this=condition)


def _all_not_null(columns: Sequence[str]) -> exp.Expr:
    return exp.and_(*(exp.Not(this=quote_column(c).is_(exp.null())) for c in columns))


def _key(columns: Sequence[str]) -> exp.Expr:
    if len(columns) == 1:
        return quote_column(columns[0])
    return exp.Tuple(expressions=[quote_column(c) for c in columns])


def _literal(value: str | int | float | bool) -> exp.Expr:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def full_match(pattern: str) -> str:
    """The regular expression anchored so that it must match the whole value."""
    return f"^(?:{pattern})$"


def _aggregate_roles(rule: Rule, m: _Measures) -> dict[str, str]:
    """Add the measures ``rule`` needs; returns role -> alias."""
    t = rule.template
    cols = rule.columns
    rows = exp.Count(this=exp.Star())
    if t in (Template.ROW_COUNT, Template.NOT_EMPTY):
        return {"rows": m.add(rows)}
    if t in (Template.NULL_COUNT, Template.NULL_RATIO):
        return {"rows": m.add(rows), "nonnull": m.add(exp.Count(this=quote_column(cols[0])))}
    if t in (
        Template.DISTINCT_COUNT,
        Template.DUPLICATE_COUNT,
        Template.DUPLICATE_RATIO,
        Template.UNIQUE,
    ):
        roles = {"rows": m.add(rows)}
        if len(cols) == 1:
            column = quote_column(cols[0])
            if t is not Template.DISTINCT_COUNT:
                roles["nonnull"] = m.add(exp.Count(this=column.copy()))
            roles["distinct"] = m.add(exp.Count(this=exp.Distinct(expressions=[column.copy()])))
        else:
            complete = _all_not_null(cols)
            if t is not Template.DISTINCT_COUNT:
                roles["nonnull"] = m.add(_count_if(complete.copy()))
            keyed = exp.Case(ifs=[exp.If(this=complete.copy(), true=_key(cols))])
            roles["distinct"] = m.add(exp.Count(this=exp.Distinct(expressions=[keyed])))
            if t is Template.UNIQUE and rule.null_keys is NullKeys.EQUAL:
                roles["distinct_all"] = m.add(
                    exp.Count(this=exp.Distinct(expressions=[_key(cols)]))
                )
        return roles
    if t in (Template.MIN, Template.MAX, Template.AVG, Template.SUM):
        func = {
            Template.MIN: exp.Min,
            Template.MAX: exp.Max,
            Template.AVG: exp.Avg,
            Template.SUM: exp.Sum,
        }[t]
        return {"value": m.add(func(this=quote_column(cols[0])))}
    if t is Template.ACCEPTED_VALUES:
        column = quote_column(cols[0])
        allowed = exp.In(this=column.copy(), expressions=[_literal(v) for v in rule.values])
        outside = exp.and_(exp.Not(this=column.is_(exp.null())), exp.Not(this=allowed))
        return {"bad": m.add(_count_if(outside))}
    if t is Template.REGEX:
        column = quote_column(cols[0])
        text = exp.Cast(this=column, to=exp.DataType.build("text"))
        pattern = exp.Literal.string(full_match(rule.pattern or ""))
        matches = _count_if(exp.RegexpLike(this=text, expression=pattern))
        return {"matches": m.add(matches), "nonnull": m.add(exp.Count(this=column.copy()))}
    if t is Template.FRESHNESS:
        return {"latest": m.add(exp.Max(this=quote_column(cols[0])))}
    if t is Template.EXPRESSION:
        return {"value": m.add(parse_aggregate(rule.expression or "", rule.dialect))}
    raise ValueError(f"template {t} is not an aggregate template")


def compile_scan(
    table: str,
    partition: str | None,
    rules: Sequence[Rule],
    *,
    dialect: str,
    partition_dialect: str = "maxcompute",
) -> ScanPlan:
    """One ``SELECT`` over ``table`` (filtered by the rendered ``partition``) that
    computes every measure ``rules`` need, in the engine ``dialect``."""
    measures = _Measures(dialect)
    plans = tuple(AggregatePlan(r, _aggregate_roles(r, measures)) for r in rules)
    query = exp.select(*measures.selects).from_(table_ref(table))
    if partition:
        query = query.where(parse_condition(partition, partition_dialect))
    return ScanPlan(
        table=table,
        partition=partition,
        sql=query.sql(dialect=dialect),
        aliases=tuple(measures.by_sql.values()),
        rules=plans,
    )


def _sample_query(bad_rows: exp.Query, sample_size: int, dialect: str) -> str:
    """``SELECT *, COUNT(*) OVER () FROM (bad rows) LIMIT n``: the count and a sample."""
    total = exp.Window(this=exp.Count(this=exp.Star()))
    query = (
        exp.select(exp.Star(), exp.alias_(total, TOTAL_COLUMN))
        .from_(bad_rows.subquery("bad"))
        .limit(max(sample_size, 1))
    )
    return query.sql(dialect=dialect)


def compile_referential(
    rule: Rule,
    partition: str | None,
    ref_partition: str | None,
    *,
    dialect: str,
) -> str:
    """Rows of the partition whose (non-NULL) key has no match in ``ref_table``."""
    checked = exp.select(exp.Star()).from_(table_ref(rule.table))
    if partition:
        checked = checked.where(parse_condition(partition, rule.dialect))
    matches = [
        exp.EQ(
            this=exp.column(ref_col, table="r", quoted=True),
            expression=exp.column(col, table="t", quoted=True),
        )
        for col, ref_col in zip(rule.columns, rule.ref_columns, strict=True)
    ]
    condition = exp.and_(*matches)
    if ref_partition:
        condition = exp.and_(condition, _qualified(parse_condition(ref_partition, rule.dialect)))
    exists = exp.Exists(
        this=exp.select(exp.Literal.number(1))
        .from_(exp.alias_(table_ref(rule.ref_table or ""), "r", table=True))
        .where(condition)
    )
    present = exp.and_(
        *(exp.Not(this=exp.column(c, table="t", quoted=True).is_(exp.null())) for c in rule.columns)
    )
    bad = (
        exp.select(exp.Star())
        .from_(checked.subquery("t"))
        .where(exp.and_(present, exp.Not(this=exists)))
    )
    return _sample_query(bad, rule.sample_size, dialect)


def _qualified(condition: exp.Expr) -> exp.Expr:
    """``condition`` with its bare columns bound to the referenced table ``r``."""
    for column in condition.find_all(exp.Column):
        if not column.table:
            column.set("table", exp.to_identifier("r"))
    return condition


def parse_query(sql: str, dialect: str) -> exp.Query:
    """A custom rule's query (already rendered) parsed in the rule's dialect."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, ValueError) as exc:
        raise UserError(f"cannot parse the rule's SQL: {_first_line(exc)}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise UserError(
            "a custom rule's SQL must be exactly one SELECT",
            hint="return one number, or the bad rows with 'returns: rows'",
        )
    return statements[0]


def compile_custom_value(rule: Rule, sql: str, *, dialect: str) -> str:
    """The custom rule's query in the engine dialect (it must return one number)."""
    return parse_query(sql, rule.dialect).sql(dialect=dialect)


def compile_custom_rows(rule: Rule, sql: str, *, dialect: str) -> str:
    """The custom rule's bad-row query wrapped to return the count and a sample."""
    return _sample_query(parse_query(sql, rule.dialect), rule.sample_size, dialect)


def referenced_columns(expression: exp.Expr) -> list[str]:
    """Names of the columns an expression refers to (lower case, in order, unique)."""
    names = [c.name.lower() for c in expression.find_all(exp.Column) if c.name]
    return list(dict.fromkeys(names))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def compile_bad_rows(rule: Rule, partition: str | None, *, dialect: str) -> str | None:
    """A query for a sample of the rows that break an aggregate rule, run only when the
    rule warns or fails; None for templates without a notion of a bad row."""
    cols = rule.columns
    t = rule.template
    if t in (Template.NULL_COUNT, Template.NULL_RATIO):
        condition: exp.Expr = quote_column(cols[0]).is_(exp.null())
    elif t is Template.ACCEPTED_VALUES:
        column = quote_column(cols[0])
        allowed = exp.In(this=column.copy(), expressions=[_literal(v) for v in rule.values])
        condition = exp.and_(exp.Not(this=column.is_(exp.null())), exp.Not(this=allowed))
    elif t is Template.REGEX:
        column = quote_column(cols[0])
        text = exp.Cast(this=column.copy(), to=exp.DataType.build("text"))
        pattern = exp.Literal.string(full_match(rule.pattern or ""))
        condition = exp.and_(
            exp.Not(this=column.is_(exp.null())),
            exp.Not(this=exp.RegexpLike(this=text, expression=pattern)),
        )
    elif t in (Template.DUPLICATE_COUNT, Template.DUPLICATE_RATIO, Template.UNIQUE):
        return _duplicate_keys(rule, partition, dialect=dialect)
    else:
        return None
    query = exp.select(exp.Star()).from_(table_ref(rule.table)).where(condition)
    if partition:
        query = query.where(parse_condition(partition, rule.dialect))
    return query.limit(rule.sample_size).sql(dialect=dialect)


def _duplicate_keys(rule: Rule, partition: str | None, *, dialect: str) -> str:
    keys = [quote_column(c) for c in rule.columns]
    count = exp.Count(this=exp.Star())
    query = (
        exp.select(*keys, exp.alias_(count.copy(), "row_count"))
        .from_(table_ref(rule.table))
        .group_by(*[k.copy() for k in keys])
        .having(exp.GT(this=count.copy(), expression=exp.Literal.number(1)))
    )
    if partition:
        query = query.where(parse_condition(partition, rule.dialect))
    if rule.template is not Template.UNIQUE or rule.null_keys is not NullKeys.EQUAL:
        query = query.where(_all_not_null(rule.columns))
    ordered = query.order_by(exp.Ordered(this=count.copy(), desc=True))
    return ordered.limit(rule.sample_size).sql(dialect=dialect)
