"""The MaxCompute (ODPS) SQL dialect, built on sqlglot's Hive dialect.

Importing this module registers the dialect, so ``sqlglot.parse(sql, read="maxcompute")``
works. Parsing yields ordinary sqlglot expressions wherever MaxCompute semantics have
one (``DATEADD`` becomes ``DateAdd``, ``TO_CHAR`` with a format becomes ``TimeToStr``,
``WM_CONCAT`` becomes ``GroupConcat``, ``GETDATE`` the local current timestamp…), so
any target dialect sqlglot can write gets correct SQL. ``MAX_PT('t')`` stays a function
call (``exp.Anonymous`` named ``MAX_PT``): only the caller knows t's partition columns.

sqlglot's compiled build does not allow Python subclasses of its parser and generator,
so the dialect works around the Hive parser instead of extending it: the tokenizer
rewrites ``LIFECYCLE n`` into a table property and renames the few functions whose Hive
meaning differs (``DATEDIFF``, ``TO_DATE``), and ``MaxCompute.parse`` then rewrites the
MaxCompute functions in the tree (``normalize``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlglot import exp
from sqlglot.dialects.hive import Hive
from sqlglot.tokenizer_core import Token, TokenType

__all__ = [
    "DATE_UNITS",
    "LIFECYCLE_PROPERTY",
    "RENAMED_FUNCTIONS",
    "MaxCompute",
    "date_unit",
    "normalize",
    "to_strftime",
]

#: The table property that carries ``LIFECYCLE n`` (days to keep) in the parsed tree.
LIFECYCLE_PROPERTY = "lifecycle"

#: Functions renamed by the tokenizer because Hive gives the name another meaning.
#: Keys are the internal names, values the names the user wrote.
RENAMED_FUNCTIONS = {"MC__DATEDIFF": "DATEDIFF", "MC__TO_DATE": "TO_DATE"}
_RENAME = {v: k for k, v in RENAMED_FUNCTIONS.items()}

#: MaxCompute date part names (case-insensitive) and the sqlglot unit they mean.
DATE_UNITS = {
    "yyyy": "YEAR",
    "year": "YEAR",
    "q": "QUARTER",
    "quarter": "QUARTER",
    "mm": "MONTH",
    "mon": "MONTH",
    "month": "MONTH",
    "w": "WEEK",
    "week": "WEEK",
    "dd": "DAY",
    "day": "DAY",
    "hh": "HOUR",
    "hour": "HOUR",
    "mi": "MINUTE",
    "ss": "SECOND",
    "ff3": "MILLISECOND",
    "ff6": "MICROSECOND",
}

# MaxCompute TO_CHAR / TO_DATE format elements, longest first, and their strftime form.
_FORMAT_ELEMENTS = (
    ("yyyy", "%Y"),
    ("ff3", "%g"),
    ("mm", "%m"),
    ("dd", "%d"),
    ("hh", "%H"),
    ("mi", "%M"),
    ("ss", "%S"),
)
_FORMAT_RE = re.compile("|".join(k for k, _ in _FORMAT_ELEMENTS), re.IGNORECASE)
_FORMAT_MAP = dict(_FORMAT_ELEMENTS)


def to_strftime(fmt: str) -> str:
    """A MaxCompute date format (``yyyy-mm-dd hh:mi:ss``) as a strftime format.

    ``hh`` is the 24-hour hour in MaxCompute; characters that are not format elements
    are kept literally (``%`` is escaped).
    """
    out: list[str] = []
    pos = 0
    for m in _FORMAT_RE.finditer(fmt):
        out.append(fmt[pos : m.start()].replace("%", "%%"))
        out.append(_FORMAT_MAP[m.group(0).lower()])
        pos = m.end()
    out.append(fmt[pos:].replace("%", "%%"))
    return "".join(out)


def date_unit(node: exp.Expr | None) -> str | None:
    """The sqlglot unit named by a MaxCompute date part literal (``'dd'`` → ``DAY``)."""
    if node is None or not isinstance(node, exp.Literal | exp.Column | exp.Var):
        return None
    return DATE_UNITS.get(node.name.lower())


class _Tokenizer(Hive.Tokenizer):
    """Hive's tokenizer plus the token rewrites described in the module docstring."""

    def tokenize(self, sql: str) -> list[Token]:
        tokens = super().tokenize(sql)
        upper = sql.upper()
        if "LIFECYCLE" in upper or any(name in upper for name in _RENAME):
            return rewrite_tokens(tokens)
        return tokens


def rewrite_tokens(tokens: list[Token]) -> list[Token]:
    """Rewrite ``LIFECYCLE n`` into a table property and rename Hive-conflicting functions."""
    out: list[Token] = []
    in_create = False
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        if i == 0 or tokens[i - 1].token_type == TokenType.SEMICOLON:
            in_create = tok.token_type == TokenType.CREATE
        upper = tok.text.upper()
        nxt = tokens[i + 1] if i + 1 < n else None
        if (
            in_create
            and upper == "LIFECYCLE"
            and nxt is not None
            and nxt.token_type == TokenType.NUMBER
        ):
            out.extend(_lifecycle_tokens(tok, nxt))
            i += 2
            continue
        if upper in _RENAME and nxt is not None and nxt.token_type == TokenType.L_PAREN:
            tok.text = _RENAME[upper]
        out.append(tok)
        i += 1
    return out


def _lifecycle_tokens(kw: Token, num: Token) -> list[Token]:
    def tok(ttype: TokenType, text: str) -> Token:
        return Token(ttype, text, kw.line, kw.col, kw.start, num.end)

    return [
        tok(TokenType.VAR, "TBLPROPERTIES"),
        tok(TokenType.L_PAREN, "("),
        tok(TokenType.STRING, LIFECYCLE_PROPERTY),
        tok(TokenType.EQ, "="),
        tok(TokenType.STRING, num.text),
        tok(TokenType.R_PAREN, ")"),
    ]


def _ts(node: exp.Expr) -> exp.Expr:
    """``node`` as a TIMESTAMP (MaxCompute converts strings to DATETIME implicitly)."""
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DType.TIMESTAMP):
        return node
    return exp.cast(node, exp.DType.TIMESTAMP, copy=False)


def _getdate(args: Sequence[exp.Expr]) -> exp.Expr | None:
    if args:
        return None
    return exp.cast(exp.CurrentTimestamp(), exp.DType.TIMESTAMP, copy=False)


def _dateadd(args: Sequence[exp.Expr]) -> exp.Expr | None:
    if len(args) != 3 or (unit := date_unit(args[2])) is None:
        return None
    return exp.DateAdd(this=_ts(args[0]), expression=args[1], unit=exp.var(unit))


def _datediff(args: Sequence[exp.Expr]) -> exp.Expr | None:
    if len(args) == 2:
        return exp.DateDiff(
            this=exp.TsOrDsToDate(this=args[0]),
            expression=exp.TsOrDsToDate(this=args[1]),
            unit=exp.var("DAY"),
        )
    if len(args) != 3 or (unit := date_unit(args[2])) is None:
        return None
    return exp.DateDiff(this=_ts(args[0]), expression=_ts(args[1]), unit=exp.var(unit))


def _datetrunc(args: Sequence[exp.Expr]) -> exp.Expr | None:
    if len(args) != 2 or (unit := date_unit(args[1])) is None:
        return None
    return exp.TimestampTrunc(this=_ts(args[0]), unit=exp.var(unit))


def _datepart(args: Sequence[exp.Expr]) -> exp.Expr | None:
    if len(args) != 2 or (unit := date_unit(args[1])) is None:
        return None
    return exp.Extract(this=exp.var(unit), expression=_ts(args[0]))


def _to_date(args: Sequence[exp.Expr]) -> exp.Expr | None:
    if len(args) == 1:
        return exp.TsOrDsToDate(this=args[0])
    if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_string):
        return None
    return exp.StrToTime(this=args[0], format=exp.Literal.string(to_strftime(args[1].name)))


def _wm_concat(args: Sequence[exp.Expr]) -> exp.Expr | None:
    if len(args) == 1 and isinstance(args[0], exp.Distinct):
        inner = args[0].expressions
        if len(inner) != 2:
            return None
        return exp.GroupConcat(this=exp.Distinct(expressions=[inner[1]]), separator=inner[0])
    if len(args) != 2:
        return None
    return exp.GroupConcat(this=args[1], separator=args[0])


def _one(build: Callable[[exp.Expr], exp.Expr]) -> Callable[[Sequence[exp.Expr]], exp.Expr | None]:
    return lambda args: build(args[0]) if len(args) == 1 else None


_FUNCTIONS: dict[str, Callable[[Sequence[exp.Expr]], exp.Expr | None]] = {
    "ISNULL": _one(lambda a: exp.Is(this=a, expression=exp.Null())),
    "LASTDAY": _one(lambda a: exp.LastDay(this=_ts(a))),
    "WEEKDAY": _one(
        lambda a: exp.Paren(
            this=exp.Sub(this=exp.DayOfWeekIso(this=_ts(a)), expression=exp.Literal.number(1))
        )
    ),
    "GETDATE": _getdate,
    "DATEADD": _dateadd,
    "MC__DATEDIFF": _datediff,
    "DATETRUNC": _datetrunc,
    "DATEPART": _datepart,
    "MC__TO_DATE": _to_date,
    "WM_CONCAT": _wm_concat,
}


_FUNCTION_NAMES = tuple(RENAMED_FUNCTIONS.get(n, n) for n in _FUNCTIONS)


def _normalize_node(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous):
        name = node.name.upper()
        build = _FUNCTIONS.get(name)
        if build is not None:
            built = build(node.expressions)
            if built is not None:
                return built
        if name == "MAX_PT" and node.name != "MAX_PT":
            node.set("this", "MAX_PT")
        return node
    if isinstance(node, exp.UnixToStr | exp.StrToUnix):
        return _unix_time(node)
    if isinstance(node, exp.ToChar):
        fmt = node.args.get("format")
        if fmt is None:
            return exp.cast(node.this, exp.DType.TEXT, copy=False)
        if isinstance(fmt, exp.Literal) and fmt.is_string:
            return exp.TimeToStr(
                this=_ts(node.this), format=exp.Literal.string(to_strftime(fmt.name))
            )
    return node


def _hive_default_time_format() -> str:
    parsed = Hive().parse("SELECT FROM_UNIXTIME(x)")[0]
    node = parsed.selects[0] if isinstance(parsed, exp.Select) else None
    fmt = node.args.get("format") if node is not None else None
    return fmt.name if isinstance(fmt, exp.Literal) else ""


# Hive's default "yyyy-MM-dd HH:mm:ss" as sqlglot stores it after parsing.
_DEFAULT_TIME_FORMAT = _hive_default_time_format()


def _unix_time(node: exp.UnixToStr | exp.StrToUnix) -> exp.Expr:
    """FROM_UNIXTIME(n) is a local DATETIME and UNIX_TIMESTAMP(datetime) reads one, in
    MaxCompute; Hive works with formatted strings. Explicit formats keep Hive's meaning."""
    fmt = node.args.get("format")
    if not isinstance(fmt, exp.Literal) or fmt.name != _DEFAULT_TIME_FORMAT:
        return node
    if isinstance(node, exp.UnixToStr):
        return exp.cast(exp.UnixToTime(this=node.this), exp.DType.TIMESTAMP, copy=False)
    local = exp.cast(_ts(node.this), exp.DType.TIMESTAMPTZ, copy=False)
    return exp.TimeToUnix(this=local)


#: Upper-case names whose presence in a script means ``normalize`` has work to do.
NORMALIZED_NAMES = ("TO_CHAR", "MAX_PT", "UNIX", *_FUNCTION_NAMES)


def normalize(expression: exp.Expr) -> exp.Expr:
    """Rewrite MaxCompute functions in a parsed tree into portable sqlglot expressions.

    Calls this function cannot rewrite (a wrong argument count, an unknown date part)
    stay as ``exp.Anonymous`` so that the caller can report them with a location.
    """
    calls = list(
        expression.find_all(exp.Anonymous, exp.ToChar, exp.UnixToStr, exp.StrToUnix, bfs=False)
    )
    # Depth-first pre-order, reversed: arguments are rewritten before their callers.
    for node in reversed(calls):
        rewritten = _normalize_node(node)
        if rewritten is node:
            continue
        if node is expression:
            expression = rewritten
        else:
            node.replace(rewritten)
    return expression


class MaxCompute(Hive):
    """MaxCompute SQL: Hive syntax plus ``LIFECYCLE``, ``DATETIME`` and ODPS functions."""

    Tokenizer = _Tokenizer

    def parse(self, sql: str, **opts: Any) -> list[exp.Expr | None]:
        """Parse ``sql`` and rewrite MaxCompute functions (see ``normalize``)."""
        return [normalize(e) if e is not None else None for e in super().parse(sql, **opts)]

    def parse_into(
        self, expression_type: exp.IntoType, sql: str, **opts: Any
    ) -> list[exp.Expr | None]:
        """Like ``parse`` for a given expression type."""
        parsed = super().parse_into(expression_type, sql, **opts)
        return [normalize(e) if e is not None else None for e in parsed]
