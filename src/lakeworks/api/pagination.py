"""Keyset pagination: an opaque cursor that carries the last key of a page.

A page is ``{"items": [...], "next_cursor": "…" | null}``; pass ``next_cursor`` back
as ``cursor`` to get the next page. Pages are read by key (``WHERE id < last``), never
by offset, so every page costs the same however deep it is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from lakeworks.api.errors import ApiError

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500

LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (at most 500).")]
CursorParam = Annotated[str | None, Query(description="The next_cursor of the previous page.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """The key a cursor carries (None for the first page); 400 when it is malformed."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            400,
            "invalid",
            "the cursor is not valid",
            details={"hint": "pass the next_cursor of a previous page unchanged"},
        ) from None


def int_cursor(cursor: str | None) -> int | None:
    """A cursor that carries an integer key."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise ApiError(400, "invalid", "the cursor is not valid")
    return value


def page(rows: Sequence[T], limit: int, key: Callable[[T], Any]) -> tuple[list[T], str | None]:
    """The first ``limit`` rows and the cursor of the next page (rows holds up to
    ``limit + 1`` items; the extra one only tells that there is more)."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return items, encode_cursor(key(items[-1])) if more and items else None
