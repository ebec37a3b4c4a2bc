"""DataWorks scheduling parameters: business date, scheduled time and user parameters.

- ``${...}`` formats the **business date** (the day before the scheduled day):
  ``${bizdate}``, ``${yyyymmdd}``, ``${yyyy-mm-dd}``, ``${yyyymm}``, ``${yyyy}``…;
  offsets count in the finest unit of the format: days (``${yyyymmdd-7}``,
  ``${yyyymmdd-7*2}``), months (``${yyyymm-1}``) or years (``${yyyy-1}``).
- ``$[...]`` formats the **scheduled time** (the instance's cycle time):
  ``$[yyyymmddhh24miss]``, ``$[hh24]``; offsets are in days, as fractions for hours and
  minutes (``$[yyyymmdd-1]``, ``$[hh24-1/24]``, ``$[hh24mi-30/24/60]``); months with
  ``$[add_months(yyyymmdd,-1)]``.
- ``$bizdate``, ``$cyctime``, ``$gmtdate``, ``$bizmonth`` are the built-in values.
- ``${name}`` is a user parameter; its value may itself contain expressions.

Format elements: ``yyyy``, ``yy``, ``mm``, ``dd`` and, in ``$[...]``, ``hh24`` (or
``hh``), ``mi``, ``ss``. Anything else that is not a letter or digit is kept as is.
An unknown name or a malformed expression is a ``UserError`` with file, line and column.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path

from lakeworks.errors import Location, UserError

__all__ = [
    "BUILTIN_PARAMETERS",
    "ParamContext",
    "business_date",
    "cycle_time_for_bizdate",
    "parameter_env",
    "render",
]

#: Names that always resolve, with what they mean (shown in hints).
BUILTIN_PARAMETERS = {
    "bizdate": "business date, yyyymmdd",
    "cyctime": "scheduled time, yyyymmddhh24miss",
    "gmtdate": "scheduled date, yyyymmdd",
    "bizmonth": "business month, yyyymm (the previous month while it is still running)",
}

_MAX_DEPTH = 10


def business_date(cycle_time: datetime) -> date:
    """The business date of an instance: the day before its scheduled day."""
    return cycle_time.date() - timedelta(days=1)


def cycle_time_for_bizdate(bizdate: date, at: time = time(0, 0)) -> datetime:
    """The scheduled time whose business date is ``bizdate`` (the next day at ``at``)."""
    return datetime.combine(bizdate + timedelta(days=1), at)


@dataclass(frozen=True)
class ParamContext:
    """What parameters render against: the instance's scheduled time and user parameters.

    ``parameters`` are already merged (workspace < workflow < node); values may contain
    expressions such as ``${yyyymmdd}``.
    """

    cycle_time: datetime
    parameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def bizdate(self) -> date:
        """The business date: the day before the scheduled day."""
        return business_date(self.cycle_time)


# --- formats -----------------------------------------------------------------------

_DATE_ELEMENTS = ("yyyy", "yy", "mm", "dd")
_TIME_ELEMENTS = ("hh24", "hh", "mi", "ss")
_ELEMENT_ORDER = ("yyyy", "hh24", "yy", "mm", "dd", "hh", "mi", "ss")


class _FormatError(ValueError):
    pass


def _parse_format(fmt: str, *, allow_time: bool) -> list[tuple[bool, str]]:
    """Split a format into (is_element, text) parts; raise ``_FormatError`` if invalid."""
    parts: list[tuple[bool, str]] = []
    i = 0
    low = fmt.lower()
    found = False
    while i < len(fmt):
        for element in _ELEMENT_ORDER:
            if low.startswith(element, i):
                if element in _TIME_ELEMENTS and not allow_time:
                    raise _FormatError(
                        f"'{fmt[i : i + len(element)]}' (hours, minutes, seconds) is only "
                        "available in $[...], which formats the scheduled time"
                    )
                parts.append((True, element))
                i += len(element)
                found = True
                break
        else:
            ch = fmt[i]
            if ch.isalnum():
                raise _FormatError(f"'{fmt}' is not a date format")
            parts.append((False, ch))
            i += 1
    if not found:
        raise _FormatError(f"'{fmt}' is not a date format")
    return parts


def _format(parts: list[tuple[bool, str]], value: datetime) -> str:
    out: list[str] = []
    for is_element, text in parts:
        if not is_element:
            out.append(text)
        elif text == "yyyy":
            out.append(f"{value.year:04d}")
        elif text == "yy":
            out.append(f"{value.year % 100:02d}")
        elif text == "mm":
            out.append(f"{value.month:02d}")
        elif text == "dd":
            out.append(f"{value.day:02d}")
        elif text in ("hh24", "hh"):
            out.append(f"{value.hour:02d}")
        elif text == "mi":
            out.append(f"{value.minute:02d}")
        else:
            out.append(f"{value.second:02d}")
    return "".join(out)


def _add_months(value: datetime, months: int) -> datetime:
    """``value`` moved by whole months; the day is clamped to the target month's end."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    if year < 1 or year > 9999:
        raise _FormatError("the date moves out of the supported range")
    last = calendar.monthrange(year, month + 1)[1]
    return value.replace(year=year, month=month + 1, day=min(value.day, last))


_OFFSET_RE = re.compile(r"^(?P<fmt>.*?)\s*(?P<sign>[+-])\s*(?P<expr>[0-9][0-9*/\s]*)$")
_ADD_MONTHS_RE = re.compile(
    r"^add_months\(\s*(?P<fmt>[^,()]+?)\s*,\s*(?P<expr>[+-]?\s*[0-9][0-9*/\s]*)\)$",
    re.IGNORECASE,
)


def _arith(expr: str) -> Fraction:
    """Evaluate ``N``, ``N*M``, ``N/24``, ``N/24/60`` (products and quotients only)."""
    tokens = re.findall(r"\d+|[*/]", expr.replace(" ", ""))
    if not tokens or "".join(tokens) != expr.replace(" ", "") or not tokens[0].isdigit():
        raise _FormatError(f"'{expr}' is not a number like 1, 7*2 or 30/24/60")
    value = Fraction(int(tokens[0]))
    i = 1
    while i < len(tokens):
        op = tokens[i]
        if i + 1 >= len(tokens) or not tokens[i + 1].isdigit() or op not in "*/":
            raise _FormatError(f"'{expr}' is not a number like 1, 7*2 or 30/24/60")
        operand = int(tokens[i + 1])
        if op == "*":
            value *= operand
        else:
            if operand == 0:
                raise _FormatError(f"'{expr}' divides by zero")
            value /= operand
        i += 2
    return value


def _business_expression(expr: str, bizdate: date) -> str:
    """Evaluate the inside of ``${...}`` as a business-date format with an offset."""
    base = datetime.combine(bizdate, time(0, 0))
    fmt, offset = expr, Fraction(0)
    m = _OFFSET_RE.match(expr)
    if m:
        fmt = m.group("fmt")
        offset = _arith(m.group("expr"))
        if m.group("sign") == "-":
            offset = -offset
    parts = _parse_format(fmt, allow_time=False)
    if offset:
        if offset.denominator != 1:
            raise _FormatError(
                f"'{expr}': ${{...}} offsets are whole days, months or years; "
                "use $[...] for hours and minutes"
            )
        elements = {text for is_el, text in parts if is_el}
        n = int(offset)
        try:
            if "dd" in elements:
                base += timedelta(days=n)
            elif "mm" in elements:
                base = _add_months(base, n)
            else:
                base = _add_months(base, 12 * n)
        except OverflowError as exc:
            raise _FormatError("the date moves out of the supported range") from exc
    return _format(parts, base)


def _schedule_expression(expr: str, cycle_time: datetime) -> str:
    """Evaluate the inside of ``$[...]`` against the scheduled time."""
    m = _ADD_MONTHS_RE.match(expr)
    if m:
        months = _arith(m.group("expr").replace("+", "").replace("-", "").strip())
        if months.denominator != 1:
            raise _FormatError(f"'{expr}': add_months takes a whole number of months")
        n = int(months) * (-1 if "-" in m.group("expr") else 1)
        parts = _parse_format(m.group("fmt"), allow_time=True)
        return _format(parts, _add_months(cycle_time, n))
    if expr.lower().startswith("add_months"):
        raise _FormatError(f"'{expr}' should look like add_months(yyyymmdd,-1)")
    value = cycle_time
    fmt = expr
    m = _OFFSET_RE.match(expr)
    if m:
        fmt = m.group("fmt")
        days = _arith(m.group("expr"))
        seconds = days * 86400
        if seconds.denominator != 1:
            raise _FormatError(f"'{expr}': the offset is not a whole number of seconds")
        delta = timedelta(seconds=int(seconds))
        try:
            value = value - delta if m.group("sign") == "-" else value + delta
        except OverflowError as exc:
            raise _FormatError("the time moves out of the supported range") from exc
    return _format(_parse_format(fmt, allow_time=True), value)


def _bizmonth(ctx: ParamContext) -> str:
    biz = ctx.bizdate
    if (biz.year, biz.month) == (ctx.cycle_time.year, ctx.cycle_time.month):
        biz = biz.replace(day=1) - timedelta(days=1)
    return f"{biz.year:04d}{biz.month:02d}"


def _builtin(name: str, ctx: ParamContext) -> str | None:
    if name == "bizdate":
        return ctx.bizdate.strftime("%Y%m%d")
    if name == "cyctime":
        return ctx.cycle_time.strftime("%Y%m%d%H%M%S")
    if name == "gmtdate":
        return ctx.cycle_time.strftime("%Y%m%d")
    if name == "bizmonth":
        return _bizmonth(ctx)
    return None


# --- rendering -----------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"\$\{(?P<brace>[^}\n]*)\}"
    r"|\$\[(?P<bracket>(?:[^\]\n(]|\([^)\n]*\))*)\]"
    r"|\$(?P<bare>bizdate|cyctime|gmtdate|bizmonth)(?![A-Za-z0-9_])"
    r"|(?P<open>\$[{\[])"
)


class _RenderError(Exception):
    """A problem found while rendering; ``render`` adds the location."""

    def __init__(self, message: str, hint: str | None = None, *, cycle: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cycle = cycle


def _known_hint(ctx: ParamContext, unknown: str | None = None) -> str:
    names = sorted(ctx.parameters)
    prefix = ""
    if unknown is not None:
        close = difflib.get_close_matches(unknown, [*names, *BUILTIN_PARAMETERS], n=1)
        if close:
            prefix = f"did you mean ${{{close[0]}}}? "
    user = ", ".join(f"${{{n}}}" for n in names) if names else "none defined"
    builtins = ", ".join(f"${{{n}}}" for n in BUILTIN_PARAMETERS)
    return (
        f"{prefix}user parameters: {user}; built-in: {builtins}; business-date formats like "
        "${yyyymmdd}, ${yyyy-mm-dd-1}; scheduled-time formats like $[yyyymmddhh24miss], "
        "$[hh24-1/24], $[add_months(yyyymmdd,-1)]"
    )


def _resolve_name(name: str, ctx: ParamContext, stack: tuple[str, ...]) -> str:
    key = name.strip()
    if key in ctx.parameters:
        if key in stack:
            chain = " -> ".join((*stack, key))
            raise _RenderError(f"parameter '{key}' refers to itself ({chain})", cycle=True)
        if len(stack) >= _MAX_DEPTH:
            raise _RenderError(f"parameter '{key}' nests more than {_MAX_DEPTH} levels deep")
        value = ctx.parameters[key]
        try:
            return _render_text(value, ctx, (*stack, key))
        except _RenderError as exc:
            if exc.cycle:
                raise
            raise _RenderError(f"parameter '{key}' = '{value}': {exc.message}", exc.hint) from None
    builtin = _builtin(key, ctx)
    if builtin is not None:
        return builtin
    try:
        return _business_expression(key, ctx.bizdate)
    except _FormatError as exc:
        message = str(exc)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key) and "$[...]" not in message:
            raise _RenderError(f"unknown parameter '${{{key}}}'", _known_hint(ctx, key)) from None
        raise _RenderError(
            f"invalid business-date expression '${{{key}}}': {message}", _known_hint(ctx)
        ) from None


def _render_text(text: str, ctx: ParamContext, stack: tuple[str, ...]) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        out.append(_evaluate(m, ctx, stack))
    out.append(text[pos:])
    return "".join(out)


def _evaluate(m: re.Match[str], ctx: ParamContext, stack: tuple[str, ...]) -> str:
    if m.group("brace") is not None:
        name = m.group("brace")
        if not name.strip():
            raise _RenderError("empty parameter '${}'", _known_hint(ctx))
        return _resolve_name(name, ctx, stack)
    if m.group("bracket") is not None:
        expr = m.group("bracket").strip()
        try:
            return _schedule_expression(expr, ctx.cycle_time)
        except _FormatError as exc:
            raise _RenderError(
                f"invalid scheduled-time expression '$[{m.group('bracket')}]': {exc}",
                _known_hint(ctx),
            ) from None
    if m.group("bare") is not None:
        value = _builtin(m.group("bare"), ctx)
        assert value is not None
        return value
    closer = "}" if m.group("open") == "${" else "]"
    raise _RenderError(
        f"'{m.group('open')}' is not closed by '{closer}' on the same line", _known_hint(ctx)
    )


def render(
    text: str,
    ctx: ParamContext,
    *,
    path: Path | str | None = None,
    first_line: int = 1,
) -> str:
    """Replace every parameter expression in ``text``; quotes are not special.

    ``first_line`` is the file line of the text's first line, so errors point into the
    file. Raises ``UserError`` for an unknown parameter or a malformed expression.
    """
    if "$" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        try:
            out.append(_evaluate(m, ctx, ()))
        except _RenderError as exc:
            start = m.start()
            line_start = text.rfind("\n", 0, start) + 1
            line = text.count("\n", 0, start) + first_line
            raise UserError(
                exc.message,
                location=Location(file=path, line=line, column=start - line_start + 1),
                hint=exc.hint,
            ) from None
    out.append(text[pos:])
    return "".join(out)


def parameter_env(ctx: ParamContext) -> dict[str, str]:
    """Environment variables for Python and shell nodes.

    The built-ins (``bizdate``, ``bizmonth``, ``cyctime``, ``gmtdate``), the common
    business-date formats (``yyyymmdd``, ``yyyymm``, ``yyyy``, ``mm``, ``dd``) and every
    user parameter, rendered.
    """
    env: dict[str, str] = {}
    for name in BUILTIN_PARAMETERS:
        value = _builtin(name, ctx)
        assert value is not None
        env[name] = value
    for fmt in ("yyyymmdd", "yyyymm", "yyyy", "mm", "dd"):
        env[fmt] = _business_expression(fmt, ctx.bizdate)
    for name in ctx.parameters:
        try:
            env[name] = _resolve_name(name, ctx, ())
        except _RenderError as exc:
            raise UserError(exc.message, location=Location(key=name), hint=exc.hint) from None
    return env
