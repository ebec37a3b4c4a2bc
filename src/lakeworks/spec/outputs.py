"""Node outputs (context parameters): how they are taken, limited and passed on.

A node with ``output: true`` publishes one value when it succeeds: a SQL node the rows
of its last SELECT (a 2-D array), a Python or shell node its last printed line split
on ``,`` (a 1-D array; ``\\,`` keeps a comma). A downstream node binds it with
``inputs: {name: node.outputs}`` and reads ``${name}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

MAX_OUTPUT_BYTES = 2 * 1024 * 1024
"""Largest output stored with an instance (its JSON form)."""

OUTPUTS_SUFFIX = ".outputs"

OutputValue = list[str] | list[list[str | None]]


class OutputTooLarge(ValueError):
    """An output over ``MAX_OUTPUT_BYTES``."""


def split_printed(line: str) -> list[str]:
    """The 1-D array a printed line stands for: split on ``,``, ``\\,`` keeps a comma."""
    items: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line) and line[index + 1] == ",":
            current.append(",")
            index += 2
            continue
        if char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    items.append("".join(current))
    return items if line else []


def rows_output(rows: Sequence[Sequence[object]]) -> list[list[str | None]]:
    """The 2-D array of a query result, each value as text (NULL stays null)."""
    return [[None if v is None else str(v) for v in row] for row in rows]


def encode_output(value: OutputValue) -> str:
    """The stored (JSON) form of an output; ``OutputTooLarge`` beyond the limit."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode("utf-8"))
    if size > MAX_OUTPUT_BYTES:
        raise OutputTooLarge(
            f"the output is {size:,} bytes, over the limit of {MAX_OUTPUT_BYTES:,} bytes"
        )
    return text


def decode_output(text: str) -> OutputValue:
    value = json.loads(text)
    return value if isinstance(value, list) else []


def as_parameter(value: OutputValue) -> str:
    """How ``${name}`` renders a bound output: a 1-D array joined with ``,``; a 2-D
    array with one column the same; otherwise rows joined with ``;``."""
    if all(not isinstance(v, list) for v in value):
        return ",".join("" if v is None else str(v) for v in value)
    rows = [r if isinstance(r, list) else [r] for r in value]
    if all(len(r) == 1 for r in rows):
        return ",".join("" if r[0] is None else str(r[0]) for r in rows)
    return ";".join(",".join("" if v is None else str(v) for v in r) for r in rows)


def binding_source(binding: str) -> str | None:
    """The node a binding ``<node>.outputs`` names, or None if it is not of that form."""
    if not binding.endswith(OUTPUTS_SUFFIX):
        return None
    source = binding[: -len(OUTPUTS_SUFFIX)]
    return source or None


_PATH_PART = re.compile(
    r"\.(?P<key>[A-Za-z0-9_\-]+)|\[(?P<index>-?[0-9]+)\]|\[['\"](?P<quoted>[^'\"]+)['\"]\]"
)


def parse_json_path(path: str) -> list[str | int]:
    """The steps of a JSON path such as ``$.data.items[0]['id']`` (``ValueError``)."""
    text = path.strip()
    text = text[1:] if text.startswith("$") else "." + text.lstrip(".")
    steps: list[str | int] = []
    position = 0
    while position < len(text):
        match = _PATH_PART.match(text, position)
        if match is None:
            raise ValueError(f"JSON path '{path}': cannot read '{text[position:]}'")
        if match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(match.group("key") or match.group("quoted"))
        position = match.end()
    return steps


def json_path_output(document: object, path: str) -> OutputValue:
    """The output a JSON path selects: a list as is (items as text, rows as lists of
    text), anything else as a one-item list (``ValueError`` when it is not there)."""
    value = document
    for step in parse_json_path(path):
        try:
            value = value[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"JSON path '{path}': no {step!r} in the response") from None
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, list) for item in items):
        return [[_text(v) for v in (r if isinstance(r, list) else [r])] for r in items]
    return [_text(v) or "" for v in items]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def loop_items(value: object) -> list[str]:
    """The items of a bound output: a 1-D array as is; a 2-D one row by row (a
    one-column row is its value, a wider one its values joined with ``,``)."""
    if not isinstance(value, list):
        return []
    items: list[str] = []
    for entry in value:
        if isinstance(entry, list):
            cells = ["" if v is None else str(v) for v in entry]
            items.append(cells[0] if len(cells) == 1 else ",".join(cells))
        else:
            items.append("" if entry is None else str(entry))
    return items
