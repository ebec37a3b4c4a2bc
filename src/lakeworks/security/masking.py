"""Masking functions for sensitive values, and which rule masks which column.

Each method exists twice with the same result: as a Python function (for values that
are already out of the warehouse, like quality samples) and as a DuckDB SQL expression
(``mask_sql``), which ad-hoc queries and previews use to replace a masked table by a
projection that masks before anything else in the query sees a value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

from lakeworks.security.models import MaskingRule

MaskFunction = Callable[[object], object]


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _keep(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + (text[-tail:] if tail else "")


def mask_full(value: object) -> object:
    return "***"


def mask_null(value: object) -> object:
    return None


def mask_hash(value: object) -> object:
    return hashlib.sha256(_text(value).encode()).hexdigest()[:16]


def mask_phone(value: object) -> object:
    return _keep(_text(value), 3, 4)


def mask_email(value: object) -> object:
    text = _text(value)
    local, at, domain = text.partition("@")
    if not at:
        return _keep(text, 1, 0)
    return f"{local[:1]}***@{domain}"


def mask_id_number(value: object) -> object:
    return _keep(_text(value), 3, 4)


def mask_last4(value: object) -> object:
    return _keep(_text(value), 0, 4)


MASKING_METHODS: dict[str, MaskFunction] = {
    "full": mask_full,
    "null": mask_null,
    "hash": mask_hash,
    "phone": mask_phone,
    "email": mask_email,
    "id_number": mask_id_number,
    "last4": mask_last4,
}
"""Every masking method by name (``None`` values stay ``None``)."""

FALLBACK_METHOD = "full"
"""Used when a column mixes sources with different methods, or cannot be traced."""


def applicable_rules(rules: Iterable[MaskingRule], subjects: frozenset[str]) -> list[MaskingRule]:
    """The rules that apply to someone holding ``subjects`` (not exempt)."""
    return [r for r in rules if not subjects & set(r.exempt)]


def rule_for(rules: Sequence[MaskingRule], table: str, column: str) -> MaskingRule | None:
    """The first rule masking ``table.column``, or None."""
    lowered_table = table.lower()
    bare = lowered_table.rsplit(".", 1)[-1]
    lowered_column = column.lower()
    for rule in rules:
        if (
            fnmatchcase(lowered_table, rule.table_pattern) or fnmatchcase(bare, rule.table_pattern)
        ) and fnmatchcase(lowered_column, rule.column_pattern):
            return rule
    return None


def tables_with_rules(rules: Sequence[MaskingRule], tables: Iterable[str]) -> set[str]:
    """The tables among ``tables`` that some rule could mask."""
    found = set()
    for table in tables:
        bare = table.lower().rsplit(".", 1)[-1]
        if any(
            fnmatchcase(table.lower(), r.table_pattern) or fnmatchcase(bare, r.table_pattern)
            for r in rules
        ):
            found.add(table)
    return found


def method_for_sources(
    rules: Sequence[MaskingRule], sources: Iterable[tuple[str, str]]
) -> str | None:
    """The masking method of a value computed from ``(table, column)`` sources:
    None when no source is masked, the shared method when all masked sources agree,
    else the fallback."""
    methods = {
        rule.method
        for table, column in sources
        if (rule := rule_for(rules, table, column)) is not None
    }
    if not methods:
        return None
    return methods.pop() if len(methods) == 1 else FALLBACK_METHOD


def apply_masks(
    rows: Sequence[Sequence[object]], masks: Mapping[int, str]
) -> list[tuple[object, ...]]:
    """``rows`` with the columns at the given positions masked by the given method."""
    if not masks:
        return [tuple(row) for row in rows]
    functions = {index: MASKING_METHODS[method] for index, method in masks.items()}
    masked: list[tuple[object, ...]] = []
    for row in rows:
        masked.append(
            tuple(
                value if value is None or index not in functions else functions[index](value)
                for index, value in enumerate(row)
            )
        )
    return masked


def _sql_stars(text: str) -> str:
    return f"regexp_replace({text}, '(?s).', '*', 'g')"


def _sql_keep(text: str, head: int, tail: int) -> str:
    """``_keep`` in SQL, built only of functions DuckDB knows cannot fail (constant
    positions and patterns, no arithmetic): a filter of the query on another column is
    then pushed below the masking projection instead of running after every row is
    masked."""
    middle = f"regexp_replace({text}, '(?s)^.{{{head}}}(.*).{{{tail}}}$', '\\1')"
    parts = [f"substr({text}, 1, {head})"] if head else []
    parts.append(_sql_stars(middle))
    if tail:
        parts.append(f"regexp_extract({text}, '(?s).{{{tail}}}$')")
    return (
        f"CASE WHEN length({text}) <= {head + tail} THEN {_sql_stars(text)} "
        f"ELSE {' || '.join(parts)} END"
    )


def mask_sql(method: str, column: str, type_sql: str) -> str:
    """The DuckDB expression masking the (quoted) ``column`` like ``MASKING_METHODS``.

    ``None`` stays ``None``; every other value becomes text (``null``: a NULL of the
    column's type). No expression can fail, so no error message can echo a value.
    """
    text = f"CAST({column} AS VARCHAR)"
    bodies = {
        "full": "'***'",
        "hash": f"substr(sha256({text}), 1, 16)",
        "phone": _sql_keep(text, 3, 4),
        "id_number": _sql_keep(text, 3, 4),
        "last4": _sql_keep(text, 0, 4),
        "email": (
            f"CASE WHEN strpos({text}, '@') = 0 THEN {_sql_keep(text, 1, 0)} "
            f"ELSE regexp_extract({text}, '^[^@]') || '***@' "
            f"|| regexp_replace({text}, '^[^@]*@', '') END"
        ),
    }
    if method == "null":
        return f"CAST(NULL AS {type_sql})"
    body = bodies.get(method, bodies[FALLBACK_METHOD])
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {body} END"
