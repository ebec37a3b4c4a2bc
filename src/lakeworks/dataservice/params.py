"""Request parameters: typed, checked values from a query string or a JSON body. Pure.

Every problem is a ``BadRequest`` naming the parameter, what was expected and what
came; nothing a caller sends reaches SQL text (values are bound by the backends).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lakeworks.dataservice.spec import RESERVED, Parameter
from lakeworks.errors import UserError


class BadRequest(UserError):
    """A request the API refuses (HTTP 400)."""

    code = "bad_request"


@dataclass(frozen=True)
class Paging:
    page: int
    page_size: int
    with_total: bool


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
MAX_INTEGER = 2**63 - 1


def _bad(parameter: Parameter, expected: str, got: object) -> BadRequest:
    shown = repr(got)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return BadRequest(
        f"parameter '{parameter.name}' must be {expected}, got {shown}",
        hint=parameter.description or None,
    )


def _scalar(parameter: Parameter, raw: object, *, from_text: bool) -> object:
    kind = parameter.base_type
    if kind == "string":
        if not isinstance(raw, str):
            raise _bad(parameter, "a string", raw)
        if len(raw) > parameter.max_length or len(raw) < parameter.min_length:
            raise BadRequest(
                f"parameter '{parameter.name}' must be {parameter.min_length} to"
                f" {parameter.max_length} characters long, got {len(raw)}"
            )
        if "\x00" in raw:
            raise _bad(parameter, "text without NUL characters", raw)
        return raw
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if from_text and isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise _bad(parameter, "true or false", raw)
    if kind == "integer":
        value: object = raw
        if from_text and isinstance(raw, str):
            text = raw.strip()
            if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 20:
                raise _bad(parameter, "an integer", raw)
            value = int(text)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad(parameter, "an integer", raw)
        if abs(value) > MAX_INTEGER:
            raise _bad(parameter, "a 64-bit integer", raw)
        return value
    if kind == "number":
        value = raw
        if from_text and isinstance(raw, str):
            try:
                value = float(raw) if len(raw) <= 40 else None
            except ValueError:
                value = None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _bad(parameter, "a number", raw)
        if not math.isfinite(float(value)):
            raise _bad(parameter, "a finite number", raw)
        return value
    if not isinstance(raw, str) or len(raw) > 40:
        raise _bad(parameter, f"an ISO {kind} (e.g. 2026-04-11)", raw)
    try:
        if kind == "date":
            return date.fromisoformat(raw)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(parameter, f"an ISO {kind}", raw) from None
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def _bound(parameter: Parameter, bound: float | str | None, kind: str) -> object:
    if bound is None:
        return None
    if kind in ("date", "datetime"):
        text = str(bound)
        return date.fromisoformat(text) if kind == "date" else datetime.fromisoformat(text)
    return bound


def _check_range(parameter: Parameter, value: object) -> None:
    kind = parameter.base_type
    if parameter.enum is not None and value not in _enum(parameter):
        allowed = ", ".join(str(v) for v in parameter.enum)
        raise BadRequest(f"parameter '{parameter.name}' must be one of: {allowed}")
    low = _bound(parameter, parameter.minimum, kind)
    high = _bound(parameter, parameter.maximum, kind)
    try:
        if low is not None and value < low:  # type: ignore[operator]
            raise BadRequest(f"parameter '{parameter.name}' must be at least {parameter.minimum}")
        if high is not None and value > high:  # type: ignore[operator]
            raise BadRequest(f"parameter '{parameter.name}' must be at most {parameter.maximum}")
    except TypeError:
        raise BadRequest(
            f"parameter '{parameter.name}' cannot be compared with its bounds"
        ) from None


def _enum(parameter: Parameter) -> list[object]:
    values: list[object] = []
    for item in parameter.enum or []:
        try:
            values.append(_scalar(parameter, item, from_text=isinstance(item, str)))
        except BadRequest:
            values.append(item)
    return values


def coerce(parameter: Parameter, raw: object, *, from_text: bool) -> object:
    """The typed value of ``parameter`` from ``raw`` (text from a query string, or JSON)."""
    if parameter.is_list:
        items: Sequence[object]
        if isinstance(raw, list | tuple):
            items = raw
        elif from_text and isinstance(raw, str):
            items = [raw] if parameter.base_type == "string" else raw.split(",")
        else:
            raise _bad(parameter, f"a list of {parameter.base_type}", raw)
        if not items:
            raise BadRequest(f"parameter '{parameter.name}' needs at least one value")
        if len(items) > parameter.max_items:
            raise BadRequest(
                f"parameter '{parameter.name}' takes at most {parameter.max_items} values"
            )
        values = [_scalar(parameter, item, from_text=from_text) for item in items]
        for value in values:
            _check_range(parameter, value)
        return values
    if from_text and isinstance(raw, list):
        if len(raw) != 1:
            raise _bad(parameter, "one value", raw)
        raw = raw[0]
    value = _scalar(parameter, raw, from_text=from_text)
    _check_range(parameter, value)
    return value


def _paging(raw: Mapping[str, Any], *, from_text: bool, default_size: int, max_size: int) -> Paging:
    def number(name: str, default: int, low: int, high: int) -> int:
        value = raw.get(name)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None:
            return default
        text = value if isinstance(value, str) else ""
        if from_text and text.isascii() and text.isdigit() and len(text) <= 9:
            value = int(text)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise BadRequest(f"'{name}' must be an integer from {low} to {high}, got {value!r}")
        return value

    flag = raw.get("with_total")
    if isinstance(flag, list) and len(flag) == 1:
        flag = flag[0]
    if flag is None:
        with_total = False
    elif isinstance(flag, bool):
        with_total = flag
    elif from_text and isinstance(flag, str) and flag.lower() in _TRUE | _FALSE:
        with_total = flag.lower() in _TRUE
    else:
        raise BadRequest(f"'with_total' must be true or false, got {flag!r}")
    return Paging(
        number("page", 1, 1, 1_000_000),
        number("page_size", default_size, 1, max_size),
        with_total,
    )


def parse_request(
    parameters: Sequence[Parameter],
    raw: Mapping[str, Any],
    *,
    from_text: bool,
    default_size: int,
    max_size: int,
) -> tuple[dict[str, object], Paging]:
    """Typed values of every declared parameter (defaults applied) and the paging."""
    declared = {p.name: p for p in parameters}
    unknown = sorted(k for k in raw if k not in declared and k not in RESERVED)
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise BadRequest(f"unknown parameter '{unknown[0][:60]}'", hint=f"this API takes: {known}")
    values: dict[str, object] = {}
    for parameter in parameters:
        given = raw.get(parameter.name)
        if given is None or (from_text and given == ""):
            if parameter.required:
                raise BadRequest(f"parameter '{parameter.name}' is required")
            if parameter.default is not None:
                values[parameter.name] = coerce(
                    parameter, parameter.default, from_text=isinstance(parameter.default, str)
                )
            else:
                values[parameter.name] = None
            continue
        values[parameter.name] = coerce(parameter, given, from_text=from_text)
    return values, _paging(raw, from_text=from_text, default_size=default_size, max_size=max_size)
