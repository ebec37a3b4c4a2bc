"""Reading YAML with line numbers, so every config error can name its file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lakeworks.errors import Location, UserError, ValidationFailed

M = TypeVar("M", bound=BaseModel)

KeyPath = tuple[str | int, ...]


@dataclass
class LineMap:
    """Maps a key path (``("schedule", "cycle")``) to its 1-based line in the file."""

    path: Path | str | None
    first_line: int = 1
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: KeyPath) -> int | None:
        """The line of the deepest known prefix of ``key_path``."""
        probe = tuple(key_path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), None)

    def location(self, key_path: KeyPath) -> Location:
        key = ".".join(str(k) for k in key_path) or None
        return Location(self.path, self.line_of(key_path), None, key)


def _walk(node: yaml.Node, prefix: KeyPath, out: dict[KeyPath, int], offset: int) -> Any:
    out.setdefault(prefix, node.start_mark.line + offset)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*prefix, key)] = key_node.start_mark.line + offset
            _walk(value_node, (*prefix, key), out, offset)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*prefix, index), out, offset)
    return None


MAX_EXPANDED_NODES = 100_000
"""How many values a YAML document may hold once its aliases are expanded: an alias
repeats the value of its anchor, so a few hundred bytes of nested aliases can stand
for billions of values (the "billion laughs")."""


def _expanded_sizes(root: yaml.Node) -> dict[int, int]:
    """Each node's size with aliases expanded, memoized by node, so a shared (aliased)
    node is counted once per graph walk: linear in the document, however it nests.
    Sizes are capped just past ``MAX_EXPANDED_NODES``."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in open_nodes:
                raise _Recursive(node)
            open_nodes.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise _Recursive(child)
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        open_nodes.discard(key)
        total = 1 + sum(sizes[id(child)] for child in children)
        sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
    return sizes


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Recursive(Exception):
    def __init__(self, node: yaml.Node) -> None:
        super().__init__("recursive alias")
        self.node = node


def _check_expansion(root: yaml.Node, path: Path | str | None, first_line: int) -> None:
    """``UserError`` at the value whose aliases expand past ``MAX_EXPANDED_NODES``."""
    try:
        sizes = _expanded_sizes(root)
    except _Recursive as exc:
        raise UserError(
            "a YAML alias refers to a value that contains it",
            location=Location(path, exc.node.start_mark.line + first_line),
            hint="aliases (*name) cannot nest inside their own anchor (&name)",
        ) from None
    if sizes[id(root)] <= MAX_EXPANDED_NODES:
        return
    culprit = root
    while True:  # the innermost value that is too large on its own
        bigger = [c for c in _children(culprit) if sizes[id(c)] > MAX_EXPANDED_NODES]
        if not bigger:
            break
        culprit = bigger[0]
    raise UserError(
        f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values here",
        location=Location(path, culprit.start_mark.line + first_line),
        hint="aliases (*name) repeat their anchor's value; write the value out or nest less",
    )


def parse_yaml(
    text: str, path: Path | str | None = None, *, first_line: int = 1
) -> tuple[Any, LineMap]:
    """Parse YAML text into plain data plus a map of key paths to lines.

    A syntax error becomes a ``UserError`` at the line and column YAML reports; so
    does a document whose aliases expand past ``MAX_EXPANDED_NODES`` values (checked
    on the composed node graph before anything is built from it).
    """
    line_map = LineMap(path, first_line)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_expansion(node, path, first_line)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise UserError(
            f"malformed YAML: {problem}",
            location=Location(path, line, column),
            hint="check indentation and that every 'key: value' has a space after the colon",
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + first_line
        raise UserError(
            f"YAML cannot contain the character {exc.character!r}",
            location=Location(path, line),
            hint="remove control characters from the file",
        ) from None
    except RecursionError:
        raise UserError(
            "YAML nests too deeply", location=Location(path, first_line), hint="nest less"
        ) from None
    if node is not None:
        _walk(node, (), line_map.lines, first_line)
    return data, line_map


def describe_error(error: dict[str, Any]) -> tuple[str, str | None]:
    """A pydantic error as a message naming its key (plus a hint when there is one)."""
    kind = error.get("type", "")
    loc = error.get("loc", ())
    key = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        return f"unknown key '{key}'", "remove it or check its spelling"
    if kind == "missing":
        return f"missing required key '{key}'", None
    detail = str(error.get("msg", "invalid value"))
    if kind == "value_error":
        detail = detail.removeprefix("Value error, ")
    message = f"'{key}': {detail}" if key else detail
    given = error.get("input")
    if isinstance(given, str | int | float | bool):
        message += f" (got {given!r})"
    return message, None


def _without_tags(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``loc`` without the tags pydantic puts in it for a union chosen by ``type``
    (``source.postgres_cdc.tables`` is ``source.tables`` in the file)."""
    out: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part not in current and current.get("type") == part:
            continue
        out.append(part)
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(out)


def validate_model(model: type[M], data: Any, line_map: LineMap) -> M:
    """Validate ``data`` as ``model``; every problem is reported with its line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(
            f"expected a mapping of keys to values, got {type(data).__name__}",
            location=line_map.location(()),
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems: list[UserError] = []
        for error in exc.errors():
            loc = _without_tags(
                data, tuple(p for p in error.get("loc", ()) if isinstance(p, str | int))
            )
            message, hint = describe_error(dict(error))
            problems.append(UserError(message, location=line_map.location(loc), hint=hint))
        if len(problems) == 1:
            raise problems[0] from None
        raise ValidationFailed(problems) from None


def load_model(model: type[M], path: Path) -> M:
    """Read a YAML file and validate it as ``model``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read file: {exc.strerror}", location=Location(path)) from None
    data, line_map = parse_yaml(text, path)
    return validate_model(model, data, line_map)
