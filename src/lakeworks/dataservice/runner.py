"""Running one API request: parameters → bound SQL → backend → shaped, masked rows.

Shared by ``lakeworks api test`` (dev, the definition in the folder) and the gateway
(a published version). Each distinct shape of rendered SQL (its text without values)
is parsed once and cached: it must be one SELECT, and the shape says whether the page
``LIMIT`` is appended or the query wrapped.
"""

from __future__ import annotations

import base64
import functools
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from lakeworks.dataservice.backends import Backend, QueryFailed
from lakeworks.dataservice.definition import ApiDefinition
from lakeworks.dataservice.params import Paging, parse_request
from lakeworks.dataservice.template import RenderedSql, render
from lakeworks.security.masking import (
    FALLBACK_METHOD,
    MASKING_METHODS,
    method_for_sources,
    tables_with_rules,
)
from lakeworks.security.models import MaskingRule


@dataclass(frozen=True)
class Outcome:
    """What one request returned (after masking), and how it was run."""

    rows: list[dict[str, object]]
    page: int
    page_size: int
    has_more: bool
    total: int | None
    sql: RenderedSql
    seconds: float
    masked: dict[str, str] = field(default_factory=dict)
    request_id: str = ""

    def body(self) -> dict[str, Any]:
        """The JSON response body."""
        data: dict[str, Any] = {
            "rows": self.rows,
            "page": self.page,
            "page_size": self.page_size,
            "has_more": self.has_more,
        }
        if self.total is not None:
            data["total"] = self.total
        return {"request_id": self.request_id, "data": data}


@functools.lru_cache(maxsize=2048)
def _has_limit(parts: tuple[str, ...], dialect: str) -> bool:
    """Whether the top-level query of this shape has its own LIMIT/OFFSET; ``QueryFailed``
    when the shape is not one SELECT (a definition the checks could not foresee)."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        statements = [s for s in sqlglot.parse("NULL".join(parts), read=dialect) if s]
    except SqlglotError:
        statements = []
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise QueryFailed(
            "the API's SQL does not form one SELECT for these parameters", 502, "definition"
        )
    tree = statements[0]
    return bool(tree.args.get("limit") or tree.args.get("offset") or tree.args.get("fetch"))


def paged(sql: RenderedSql, paging: Paging, dialect: str, *, paginate: bool) -> RenderedSql:
    """``sql`` limited to one page plus one row (to know whether more follow)."""
    size = paging.page_size
    offset = (paging.page - 1) * paging.page_size if paginate else 0
    if _has_limit(sql.parts, dialect):
        return sql.wrap("SELECT * FROM (", ") lw_page LIMIT ? OFFSET ?", (size + 1, offset))
    return sql.wrap("", " LIMIT ? OFFSET ?", (size + 1, offset))


def counted(sql: RenderedSql) -> RenderedSql:
    return sql.wrap("SELECT COUNT(*) FROM (", ") lw_count")


def json_value(value: object) -> object:
    """A database value as JSON: ISO dates, floats for decimals, hex for bytes."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def _typed(value: object, kind: str) -> object:
    if value is None:
        return None
    try:
        if kind == "integer":
            return int(value)  # type: ignore[call-overload]
        if kind == "number":
            return float(value)  # type: ignore[arg-type]
        if kind == "boolean":
            return bool(value)
        if kind == "string":
            return str(json_value(value))
    except (TypeError, ValueError):
        return json_value(value)
    return json_value(value)


def masks_for(
    definition: ApiDefinition, columns: Sequence[str], rules: Sequence[MaskingRule]
) -> dict[str, str]:
    """Result column → masking method. A column not traced to its sources while the API
    reads a table under some rule is masked entirely (fail closed)."""
    if not rules or not tables_with_rules(rules, definition.reads):
        return {}
    traced = {name.lower(): sources for name, sources in definition.lineage}
    masks: dict[str, str] = {}
    for column in columns:
        sources = traced.get(column.lower())
        if sources is None or not sources:
            masks[column] = FALLBACK_METHOD
            continue
        method = method_for_sources(rules, sources)
        if method is not None:
            masks[column] = method
    return masks


def run_request(
    definition: ApiDefinition,
    backend: Backend,
    raw: Mapping[str, Any],
    *,
    from_text: bool,
    masking: Sequence[MaskingRule] = (),
) -> Outcome:
    """Parse ``raw`` parameters, run the page (and the count when asked), shape and mask.

    A backend that masks inside the query (the warehouse) gets ``masking`` and returns
    masked rows; rows of any other backend are masked here by column lineage."""
    spec = definition.spec
    started = time.perf_counter()
    values, paging = parse_request(
        spec.parameters,
        raw,
        from_text=from_text,
        default_size=spec.page_size,
        max_size=spec.max_page_size,
    )
    sql = render(definition.template, values)
    page_sql = paged(sql, paging, definition.dialect, paginate=spec.paginate)
    inside = list(masking) if backend.masks_in_query else []
    result = backend.query(page_sql, spec.timeout_seconds, inside)
    total = None
    if paging.with_total:
        remaining = max(0.1, spec.timeout_seconds - (time.perf_counter() - started))
        count = backend.query(counted(sql), remaining, inside)
        total = int(count.rows[0][0]) if count.rows else 0  # type: ignore[call-overload]
    rows = result.rows[: paging.page_size]
    has_more = len(result.rows) > paging.page_size
    masks = masks_for(definition, result.columns, masking)
    # Rows masked inside the query are not masked again; ``masks`` still reports them.
    shaped = _shape(definition, result.columns, rows, {} if inside else masks)
    return Outcome(
        rows=shaped,
        page=paging.page,
        page_size=paging.page_size,
        has_more=has_more,
        total=total,
        sql=page_sql,
        seconds=time.perf_counter() - started,
        masked=masks,
        request_id=uuid.uuid4().hex,
    )


def _shape(
    definition: ApiDefinition,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    masks: Mapping[str, str],
) -> list[dict[str, object]]:
    functions = {c: MASKING_METHODS[m] for c, m in masks.items()}
    fields = definition.spec.response
    positions = {c.lower(): i for i, c in enumerate(columns)}
    plan: list[tuple[str, int | None, str]]
    if fields:
        plan = [(f.name, positions.get(f.name.lower()), f.type) for f in fields]
    else:
        plan = [(c, i, "") for i, c in enumerate(columns)]
    shaped: list[dict[str, object]] = []
    for row in rows:
        item: dict[str, object] = {}
        for name, index, kind in plan:
            value = row[index] if index is not None else None
            column = columns[index] if index is not None else name
            if value is not None and column in functions:
                value = functions[column](value)
            item[name] = _typed(value, kind) if kind else json_value(value)
        shaped.append(item)
    return shaped
