"""Branch and merge conditions: a small expression language, evaluated safely.

Expressions are parsed with Python's ``ast`` module (never ``eval``) and only these
forms are accepted: literals (numbers, strings, ``true``/``false``/``null``), names of
inputs, indexing (``regions[0]``), lists, comparisons (``== != < <= > >=``),
membership (``in``, ``not in``), ``and``/``or``/``not``, ``+ - * /`` on numbers and
``len(x)``, ``int(x)``, ``float(x)``, ``str(x)``. Anything else is refused when the
workspace is validated, with the offending part named.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 2_000
"""Longest expression accepted (characters)."""

_CONSTANTS: dict[str, object] = {"true": True, "false": False, "null": None}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"len": len, "int": int, "float": float, "str": str}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why."""


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression and the input names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, object]) -> object:
        """The value of the expression for ``values`` (input name -> value)."""
        try:
            return _Evaluator(values).visit(self.tree)
        except ExpressionError:
            raise
        except Exception as exc:  # type errors, index errors, division by zero
            shown = ", ".join(f"{n}={values.get(n)!r}" for n in sorted(self.names))
            raise ExpressionError(
                f"cannot evaluate '{self.text}': {type(exc).__name__}: {exc}"
                + (f" (with {shown})" if shown else "")
            ) from None


def parse_expression(text: str, known: frozenset[str] | None = None) -> Expression:
    """Parse ``text``; with ``known``, a name that is not an input is an error."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse '{text}': {exc.msg}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        _check_node(node, text)
        if isinstance(node, ast.Name) and node.id not in _CONSTANTS:
            names.add(node.id)
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        assert isinstance(call.func, ast.Name)  # checked by _check_node
        names.discard(call.func.id)
    if known is not None:
        unknown = sorted(names - known)
        if unknown:
            listed = ", ".join(sorted(known)) or "none"
            raise ExpressionError(f"'{text}' names unknown input '{unknown[0]}' (inputs: {listed})")
    return Expression(text=text, tree=tree, names=frozenset(names))


_ALLOWED: tuple[type[ast.AST], ...] = (
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.Compare,
    ast.BinOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Subscript,
    ast.List,
    ast.Tuple,
    ast.Call,
    *_COMPARE,
    *_ARITHMETIC,
)


def _check_node(node: ast.AST, text: str) -> None:
    if not isinstance(node, _ALLOWED):
        raise ExpressionError(f"'{text}': {type(node).__name__} is not allowed in a condition")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise ExpressionError(f"'{text}': only {', '.join(sorted(_FUNCTIONS))}() may be called")
        if len(node.args) != 1 or node.keywords:
            raise ExpressionError(f"'{text}': {node.func.id}() takes one argument")
    if isinstance(node, ast.Constant) and not isinstance(
        node.value, str | int | float | bool | type(None)
    ):
        raise ExpressionError(f"'{text}': constant {node.value!r} is not allowed")
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        raise ExpressionError(f"'{text}': slices are not allowed, index one item")


class _Evaluator:
    def __init__(self, values: Mapping[str, object]) -> None:
        self.values = values

    def visit(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            if node.id not in self.values:
                raise ExpressionError(f"input '{node.id}' has no value")
            return self.values[node.id]
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self.visit(v) for v in node.values)
            return any(self.visit(v) for v in node.values)
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            return (not operand) if isinstance(node.op, ast.Not) else -operand
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.visit(comparator)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BinOp):
            return _ARITHMETIC[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.Subscript):
            return self.visit(node.value)[self.visit(node.slice)]
        if isinstance(node, ast.List | ast.Tuple):
            return [self.visit(e) for e in node.elts]
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return _FUNCTIONS[node.func.id](self.visit(node.args[0]))
        raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover
