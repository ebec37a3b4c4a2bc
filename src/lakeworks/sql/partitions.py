"""Which date partitions a SQL script reads and writes, relative to its business date.

A script is rendered for a sample business date and parsed; a literal
compared with a column (``ds = '…'``, ``ds BETWEEN '…' AND '…'``, ``ds >= '…'``,
``ds IN (…)``) or written as a static partition value (``PARTITION (ds='…')``) that
parses as a date (``yyyymmdd`` or ``yyyy-mm-dd``) becomes an offset in days from the
business date. A literal that a render for another date, far away, holds unchanged is
a fixed date such as ``'20240101'``, never taken for a parameter. ``MAX_PT('t')`` reads the
latest partition of ``t``: offset 0.

Reads are kept per ``SELECT``: within one, the predicates on one column intersect (a
``>=`` with no upper bound ends at offset 0, a ``<=`` with no lower bound starts
there); a ``SELECT`` of a table with no predicate on a column reads every partition
of it (``None``). Conditions under ``OR`` or ``NOT`` are not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlglot import exp

from lakeworks.sql.script import parse_script
from lakeworks.sql.tables import max_pt_table, table_name

__all__ = ["PartitionUse", "Window", "merge_windows", "partition_use", "script_partitions"]

ANY_COLUMN = "*"
"""The column key of a ``MAX_PT`` read (whatever the table's partition column is)."""


@dataclass(frozen=True, order=True)
class Window:
    """Inclusive offsets in days from the business date (``-6..0``: a week up to it)."""

    first: int
    last: int

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"

    def hull(self, other: Window) -> Window:
        return Window(min(self.first, other.first), max(self.last, other.last))

    def shift(self, days: int) -> Window:
        return Window(self.first + days, self.last + days)

    @classmethod
    def parse(cls, text: str) -> Window:
        """``-6..0`` or ``-1``; ``ValueError`` otherwise."""
        first, sep, last = text.strip().partition("..")
        low = int(first)
        high = int(last) if sep else low
        if high < low:
            raise ValueError(f"'{text}' ends before it starts")
        return cls(low, high)


SelectReads = dict[str, dict[str, Window]]
"""Per table read by one SELECT: the window of each column with a date predicate."""


@dataclass(frozen=True)
class PartitionUse:
    """The date partitions a script reads and writes."""

    reads: dict[str, list[dict[str, Window]]] = field(default_factory=dict)
    """Per table: one entry per SELECT reading it (column -> window)."""
    writes: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Per table written with a static date partition: (column, offset)."""

    def window(self, table: str, column: str) -> Window | None:
        """The partitions of ``table`` read through ``column``; None: all of them (or
        the table is not read)."""
        found: Window | None = None
        for select in self.reads.get(table, []):
            window = select.get(column.lower()) or select.get(ANY_COLUMN)
            if window is None:
                return None
            found = window if found is None else found.hull(window)
        return found


def _as_date(value: exp.Expr) -> date | None:
    if not isinstance(value, exp.Literal) or not value.is_string:
        return None
    text = value.name.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date.fromisoformat(text)
    except ValueError:
        return None
    return None


@dataclass(frozen=True)
class _Base:
    """The business date a script was rendered for, and the string literals of a render
    for another date: a date literal found there too is a fixed date, not a parameter."""

    bizdate: date
    fixed: frozenset[str] = frozenset()


def _offset(value: exp.Expr, base: _Base) -> int | None:
    if isinstance(value, exp.Anonymous) and value.name.upper() == "MAX_PT":
        return 0
    if isinstance(value, exp.Literal) and value.name in base.fixed:
        return None
    day = _as_date(value)
    return None if day is None else (day - base.bizdate).days


def _conjuncts(condition: exp.Expr | None) -> Iterable[exp.Expr]:
    if condition is None:
        return
    if isinstance(condition, exp.Paren):
        yield from _conjuncts(condition.this)
    elif isinstance(condition, exp.And):
        yield from _conjuncts(condition.left)
        yield from _conjuncts(condition.right)
    else:
        yield condition


_FLIP: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
}


def _bound(
    predicate: exp.Expr, bizdate: _Base
) -> tuple[exp.Column, int | None, int | None, bool] | None:
    """(column, lowest offset, highest offset, whether it names values) of a predicate."""
    if isinstance(predicate, exp.Between) and isinstance(predicate.this, exp.Column):
        low = _offset(predicate.args["low"], bizdate)
        high = _offset(predicate.args["high"], bizdate)
        if low is None or high is None:
            return None
        return predicate.this, low, high, True
    if isinstance(predicate, exp.In) and isinstance(predicate.this, exp.Column):
        offsets = [_offset(v, bizdate) for v in predicate.expressions]
        if not offsets or any(o is None for o in offsets):
            return None
        known = [o for o in offsets if o is not None]
        return predicate.this, min(known), max(known), True
    kind = type(predicate)
    if kind not in _FLIP or not isinstance(predicate, exp.Binary):
        return None
    left, right = predicate.left, predicate.right
    if not isinstance(left, exp.Column):
        left, right, kind = right, left, _FLIP[kind]
    if not isinstance(left, exp.Column):
        return None
    offset = _offset(right, bizdate)
    if offset is None:
        return None
    if kind is exp.EQ:
        return left, offset, offset, True
    if kind is exp.GTE:
        return left, offset, None, False
    if kind is exp.GT:
        return left, offset + 1, None, False
    if kind is exp.LTE:
        return left, None, offset, False
    return left, None, offset - 1, False


def _select_reads(select: exp.Select, bizdate: _Base) -> SelectReads:
    sources: dict[str, str] = {}
    from_ = select.args.get("from_")
    candidates = [from_.this] if from_ is not None else []
    conditions: list[exp.Expr] = []
    where = select.args.get("where")
    if where is not None:
        conditions.append(where.this)
    for join in select.args.get("joins") or []:
        candidates.append(join.this)
        if join.args.get("on") is not None:
            conditions.append(join.args["on"])
    for source in candidates:
        if isinstance(source, exp.Table) and (name := table_name(source)) is not None:
            sources[source.alias_or_name.lower()] = name
    out: SelectReads = {name: {} for name in sources.values()}
    bounds: dict[tuple[str, str], tuple[int | None, int | None]] = {}
    for condition in conditions:
        for predicate in _conjuncts(condition):
            found = _bound(predicate, bizdate)
            if found is None:
                continue
            column, low, high, _ = found
            qualifier = column.table.lower()
            if qualifier:
                table = sources.get(qualifier)
            elif len(set(sources.values())) == 1:
                table = next(iter(sources.values()))
            else:
                table = None
            if table is None:
                continue
            key = (table, column.name.lower())
            old_low, old_high = bounds.get(key, (None, None))
            new_low = low if old_low is None else old_low if low is None else max(low, old_low)
            new_high = (
                high if old_high is None else old_high if high is None else min(high, old_high)
            )
            bounds[key] = (new_low, new_high)
    for (table, name), (low, high) in bounds.items():
        first = low if low is not None else min(0, high if high is not None else 0)
        last = high if high is not None else max(0, first)
        if last >= first:
            out[table][name] = Window(first, last)
    return out


def _writes(inserts: Iterable[exp.Insert], bizdate: _Base) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for insert in inserts:
        target = insert.this.this if isinstance(insert.this, exp.Schema) else insert.this
        if not isinstance(target, exp.Table) or (name := table_name(target)) is None:
            continue
        partition = target.args.get("partition")
        if partition is None:
            continue
        for item in partition.expressions:
            offset = _offset(item.expression, bizdate) if isinstance(item, exp.EQ) else None
            if offset is not None:
                out[name] = (item.this.name.lower(), offset)
                break
    return out


def script_partitions(
    text: str, dialect: str, bizdate: date, *, fixed: frozenset[str] = frozenset()
) -> PartitionUse:
    """The partitions a script rendered for ``bizdate`` reads and writes; date literals
    in ``fixed`` are fixed dates and ignored."""
    base = _Base(bizdate, fixed)
    reads: dict[str, list[dict[str, Window]]] = {}
    writes: dict[str, tuple[str, int]] = {}
    for parsed in parse_script(text, dialect):
        inserts: list[exp.Insert] = []
        selects: list[exp.Select] = []
        max_pts: list[str] = []
        for node in parsed.expression.walk():  # one pass for the three kinds of node
            if isinstance(node, exp.Select):
                selects.append(node)
            elif isinstance(node, exp.Insert):
                inserts.append(node)
            elif isinstance(node, exp.Anonymous) and (table := max_pt_table(node)) is not None:
                max_pts.append(table)
        writes.update(_writes(inserts, base))
        for select in selects:
            for table, columns in _select_reads(select, base).items():
                reads.setdefault(table, []).append(columns)
        for table in max_pts:
            reads.setdefault(table, []).append({ANY_COLUMN: Window(0, 0)})
    return PartitionUse(reads, writes)


_LITERAL = re.compile(r"'([^'\n]*)'")


def partition_use(renders: tuple[tuple[str, date], tuple[str, date]], dialect: str) -> PartitionUse:
    """The partitions a script reads and writes, from two renders ``(text, bizdate)``
    for business dates far apart: the first is parsed; a date literal that the second
    render holds unchanged is a fixed date, so only parameters give offsets."""
    (first, first_day), (second, _second_day) = renders
    fixed = frozenset(_LITERAL.findall(second))
    return script_partitions(first, dialect, first_day, fixed=fixed)


def merge_windows(windows: Iterable[Window | None]) -> Window | None:
    """The hull of some windows; None when there are none."""
    out: Window | None = None
    for window in windows:
        if window is not None:
            out = window if out is None else out.hull(window)
    return out
