"""The ``test`` expressions of ``<if>`` and ``<when>`` (the OGNL subset MyBatis users write).

Supported: names (``region``, ``filter.region``), ``null``, ``true``, ``false``, quoted
strings, numbers; ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` (and ``eq`` ``neq`` ``lt``
``lte`` ``gt`` ``gte``); ``and``/``&&``, ``or``/``||``, ``not``/``!``; parentheses;
``x.size()``, ``x.length()`` and ``x.isEmpty()``. A name without a value is ``null``.
Evaluation never runs user code: it is a tree walk over these operators. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!()])|(?P<name>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*(?:\(\))?)*))"
)
_WORD_OPS = {
    "and": "&&",
    "or": "||",
    "not": "!",
    "eq": "==",
    "neq": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
}
_CONSTANTS: dict[str, object] = {"null": None, "true": True, "false": False}
_METHODS = ("size()", "length()", "isEmpty()")


@dataclass(frozen=True)
class Expression:
    """A parsed test; ``names`` are the top-level parameter names it reads."""

    source: str
    tree: Any
    names: frozenset[str]

    def truth(self, scope: Mapping[str, object]) -> bool:
        return _truthy(_evaluate(self.tree, scope))


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = source.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"unexpected {text[position : position + 10]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "name" and value.lower() in _WORD_OPS:
            out.append(("op", _WORD_OPS[value.lower()]))
        else:
            out.append((kind, value))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, op: str) -> bool:
        token = self.peek()
        if token == ("op", op):
            self.position += 1
            return True
        return False

    def parse(self) -> Any:
        tree = self.disjunction()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return tree

    def disjunction(self) -> Any:
        left = self.conjunction()
        while self.take("||"):
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.negation()
        while self.take("&&"):
            left = ("and", left, self.negation())
        return left

    def negation(self) -> Any:
        if self.take("!"):
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.atom()
        for op in ("==", "!=", "<=", ">=", "<", ">"):
            if self.take(op):
                return ("cmp", op, left, self.atom())
        return left

    def atom(self) -> Any:
        token = self.peek()
        if token is None:
            raise ValueError("the expression ends too early")
        self.position += 1
        kind, value = token
        if kind == "op" and value == "(":
            inner = self.disjunction()
            if not self.take(")"):
                raise ValueError("missing ')'")
            return inner
        if kind == "num":
            return ("const", float(value) if "." in value else int(value))
        if kind == "str":
            return ("const", value[1:-1].replace("\\'", "'").replace('\\"', '"'))
        if kind == "name":
            if value.lower() in _CONSTANTS:
                return ("const", _CONSTANTS[value.lower()])
            method = next((m for m in _METHODS if value.endswith("." + m)), None)
            path = value[: -len(method) - 1] if method else value
            if "(" in path:
                raise ValueError(f"unknown method in {value!r}")
            self.names.add(path.split(".", 1)[0])
            return ("name", path, method)
        raise ValueError(f"unexpected {value!r}")


def parse_expression(source: str) -> Expression:
    """Parse a test; ``ValueError`` says what is wrong."""
    parser = _Parser(_tokens(source))
    if not parser.tokens:
        raise ValueError("the test is empty")
    return Expression(source, parser.parse(), frozenset(parser.names))


def _truthy(value: object) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    return True


def _lookup(scope: Mapping[str, object], path: str) -> object:
    head, _, rest = path.partition(".")
    value = scope.get(head)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _compare(op: str, left: object, right: object) -> bool:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return bool(left < right)  # type: ignore[operator]
        if op == "<=":
            return bool(left <= right)  # type: ignore[operator]
        if op == ">":
            return bool(left > right)  # type: ignore[operator]
        return bool(left >= right)  # type: ignore[operator]
    except TypeError:
        return str(left) < str(right) if op in ("<", "<=") else str(left) > str(right)


def _equal(left: object, right: object) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or left == right
    if isinstance(left, int | float) and isinstance(right, str):
        return str(left) == right
    if isinstance(right, int | float) and isinstance(left, str):
        return left == str(right)
    return left == right


def _evaluate(tree: Any, scope: Mapping[str, object]) -> object:
    kind = tree[0]
    if kind == "const":
        return tree[1]
    if kind == "name":
        value = _lookup(scope, tree[1])
        method = tree[2]
        if method is None:
            return value
        size = len(value) if isinstance(value, str | list | tuple | dict) else 0
        return size == 0 if method == "isEmpty()" else size
    if kind == "not":
        return not _truthy(_evaluate(tree[1], scope))
    if kind == "and":
        return _truthy(_evaluate(tree[1], scope)) and _truthy(_evaluate(tree[2], scope))
    if kind == "or":
        return _truthy(_evaluate(tree[1], scope)) or _truthy(_evaluate(tree[2], scope))
    return _compare(tree[1], _evaluate(tree[2], scope), _evaluate(tree[3], scope))
