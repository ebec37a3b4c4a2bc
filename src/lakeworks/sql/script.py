"""Split a SQL script into statements and parse each one, keeping file positions.

The script is tokenized once (comments and ``;`` inside strings are handled by the
tokenizer) and cut at ``;`` tokens; each statement is parsed from its own tokens. A
syntax error becomes a ``UserError`` pointing at the file, line and column of the
offending token, e.g. ``workflows/x/02.sql:14:7: unexpected 'FORM'``.

Parsed scripts are cached by (text, dialect): validation and execution parse the same
rendered text more than once. Callers must not modify the cached trees (copy first).
"""

from __future__ import annotations

import difflib
import gc
import re
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from lakeworks.errors import Location, UserError
from lakeworks.sql import dialect as mc

__all__ = ["ParsedStatement", "get_dialect", "parse_script"]

# Keywords a misspelt word is compared with to suggest a fix ("FORM" -> "FROM").
_KEYWORDS = (
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "ORDER",
    "BY",
    "HAVING",
    "LIMIT",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "UNION",
    "INSERT",
    "INTO",
    "OVERWRITE",
    "TABLE",
    "PARTITION",
    "VALUES",
    "CREATE",
    "WITH",
    "DISTINCT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
)


@dataclass(frozen=True)
class ParsedStatement:
    """One statement of a script: its tree, its source text and where it starts."""

    expression: exp.Expr
    text: str
    line: int
    column: int


@lru_cache(maxsize=64)
def get_dialect(name: str) -> Dialect:
    """The sqlglot dialect called ``name`` (``maxcompute`` included); ``UserError`` if unknown.

    One instance per name: a dialect holds only its settings (every parse and
    generation makes its own parser and generator), and looking one up cost more than
    translating a short statement."""
    try:
        return Dialect.get_or_raise(name)
    except ValueError:
        known = ", ".join(sorted(["maxcompute", *(d.value for d in sqlglot.Dialects if d.value)]))
        raise UserError(f"unknown SQL dialect '{name}'", hint=f"known dialects: {known}") from None


def parse_script(
    text: str,
    dialect: str,
    *,
    path: Path | str | None = None,
    first_line: int = 1,
) -> list[ParsedStatement]:
    """Parse every statement of ``text``; lines are file lines (see ``first_line``).

    The trees are shared with a cache: copy an expression before changing it.
    """
    try:
        parsed = _parse_cached(text, dialect.lower())
    except _ScriptError as exc:
        raise UserError(
            exc.message,
            location=Location(file=path, line=exc.line + first_line - 1, column=exc.column),
            hint=exc.hint,
        ) from None
    if first_line == 1:
        return list(parsed)
    shift = first_line - 1
    return [ParsedStatement(p.expression, p.text, p.line + shift, p.column) for p in parsed]


class _ScriptError(Exception):
    def __init__(self, message: str, line: int, column: int, hint: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint


class _Lines:
    """1-based line and column of character offsets in one text: the line starts are
    found once, each lookup is a binary search (counting newlines from the start for
    every statement made splitting quadratic in the script's size)."""

    def __init__(self, text: str) -> None:
        self._size = len(text)
        self._starts = [0]
        find = text.find
        at = find("\n")
        while at >= 0:
            self._starts.append(at + 1)
            at = find("\n", at + 1)

    def position(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, self._size))
        index = bisect_right(self._starts, offset) - 1
        return index + 1, offset - self._starts[index] + 1


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset (for a single lookup)."""
    return _Lines(text).position(offset)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a script is parsed: every statement adds
    thousands of live objects, and the full collections they trigger scan the whole
    growing heap, which made large scripts superlinear (4 MB: 2x slower)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@lru_cache(maxsize=4096)
def _parse_cached(text: str, dialect_name: str) -> tuple[ParsedStatement, ...]:
    with _collector_paused():
        return _parse(text, dialect_name)


def _parse(text: str, dialect_name: str) -> tuple[ParsedStatement, ...]:
    d = get_dialect(dialect_name)
    try:
        tokens = d.tokenize(text)
    except TokenError as exc:
        raise _token_error(text, exc) from None
    upper = text.upper()
    is_maxcompute = isinstance(d, mc.MaxCompute) and any(n in upper for n in mc.NORMALIZED_NAMES)
    out: list[ParsedStatement] = []
    lines = _Lines(text)
    parser = d.parser()  # one for the script: parse() resets it for each statement
    for chunk in _split(tokens):
        try:
            expressions = parser.parse(chunk, text)
        except ParseError as exc:
            raise _parse_error(lines, chunk, exc) from None
        first = chunk[0]
        body = text[first.start : chunk[-1].end + 1]
        line, column = lines.position(first.start)
        for expression in expressions:
            if expression is None:
                continue
            if is_maxcompute:
                expression = mc.normalize(expression)
            _drop_positions(expression)
            out.append(ParsedStatement(expression, body, line, column))
    return tuple(out)


def _drop_positions(expression: exp.Expr) -> None:
    """Forget token positions except on function calls and their arguments (kept for
    error locations): copying a tree copies every node's position dict, and translation
    copies each statement."""
    for node in expression.walk():
        if (
            node._meta is not None
            and not isinstance(node, exp.Anonymous)
            and not isinstance(node.parent, exp.Anonymous)
        ):
            node._meta = None


def _split(tokens: list[Token]) -> list[list[Token]]:
    """The tokens between ``;`` tokens (empty statements left out), found by slicing."""
    types = list(map(_TOKEN_TYPE, tokens))
    chunks: list[list[Token]] = []
    start = 0
    while True:
        try:
            end = types.index(TokenType.SEMICOLON, start)
        except ValueError:
            end = len(tokens)
        if end > start:
            chunks.append(tokens[start:end])
        if end >= len(tokens):
            return chunks
        start = end + 1


_TOKEN_TYPE = attrgetter("token_type")


def _unterminated(text: str) -> tuple[int, str] | None:
    """Offset and quote of a string or quoted name that is never closed, if any."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                return i, "*/"
            i = close + 2
        elif ch in "'\"`":
            j = i + 1
            while j < n:
                if text[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            if j >= n:
                return i, ch
            i = j + 1
        else:
            i += 1
    return None


def _token_error(text: str, exc: TokenError) -> _ScriptError:
    found = _unterminated(text)
    if found is not None:
        offset, quote = found
        line, column = _position(text, offset)
        if quote == "*/":
            return _ScriptError("unterminated comment (missing */)", line, column, None)
        kind = "quoted name" if quote == "`" else "string"
        return _ScriptError(
            f"unterminated {kind}: the {quote} here is never closed",
            line,
            column,
            "close the quote; inside a string, write a quote as \\' or ''",
        )
    line, column = _position(text, exc.start or 0)
    return _ScriptError("the SQL cannot be read here", line, column, str(exc))


def _parse_error(lines: _Lines, chunk: list[Token], exc: ParseError) -> _ScriptError:
    info = exc.errors[0] if exc.errors else {}
    description = str(info.get("description") or exc)
    err_line = info.get("line")
    err_col = info.get("col")
    index = None
    if isinstance(err_line, int) and isinstance(err_col, int):
        for i, tok in enumerate(chunk):
            tok_line, tok_col = lines.position(tok.end)
            if tok_line == err_line and tok_col == err_col:
                index = i
                break
    if index is None:
        first = chunk[0]
        line, column = (err_line, 1) if isinstance(err_line, int) else lines.position(first.start)
        return _ScriptError(f"invalid SQL: {description}", line, column, None)
    tok = chunk[index]
    # A misspelt keyword is often swallowed as an alias, and the error lands one token
    # later ("SELECT a FORM t" fails at "t"): point at the misspelt word instead.
    for candidate in (index - 1, index):
        if candidate < 0:
            continue
        word = chunk[candidate]
        if word.token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
            continue
        close = difflib.get_close_matches(word.text.upper(), _KEYWORDS, n=1, cutoff=0.74)
        if close and close[0] != word.text.upper():
            line, column = lines.position(word.start)
            return _ScriptError(
                f"unexpected '{word.text}'",
                line,
                column,
                f"did you mean {close[0]}? ({description})",
            )
    line, column = lines.position(tok.start)
    if index == len(chunk) - 1 and _is_incomplete(description):
        return _ScriptError(
            f"the statement ends too early after '{tok.text}'",
            line,
            column,
            _CLASS_RE.sub(r"\1", description),
        )
    return _ScriptError(f"unexpected '{tok.text}'", line, column, description)


_CLASS_RE = re.compile(r"<class 'sqlglot\.expressions\.(?:\w+\.)*(\w+)'>")


def _is_incomplete(description: str) -> bool:
    return description.startswith(("Required keyword", "Expected", "Expecting"))
