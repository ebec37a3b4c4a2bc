"""Change one entry of a top-level mapping in a YAML file, keeping everything else.

Used to write ``data_sources: {name: {...}}`` in ``lakeworks.yml`` from the API: the
lines of the one entry are replaced (or added, or removed) and the rest of the file —
comments, order, formatting — is left as it was.
"""

from __future__ import annotations

from typing import Any

import yaml

from lakeworks.errors import UserError


def _dump_entry(name: str, value: dict[str, Any], indent: int) -> list[str]:
    text = yaml.safe_dump({name: value}, default_flow_style=False, sort_keys=False)
    pad = " " * indent
    return [pad + line if line else line for line in text.splitlines()]


def _end_line(node: yaml.Node) -> int:
    """The first line after ``node`` (0-based)."""
    mark = node.end_mark
    return int(mark.line) if mark.column == 0 else int(mark.line) + 1


def _trim(lines: list[str], start: int, end: int) -> int:
    """Move ``end`` back over trailing blank and comment-only lines."""
    while end > start + 1 and (
        not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
    ):
        end -= 1
    return end


def set_entry(text: str, section: str, name: str, value: dict[str, Any] | None) -> str:
    """``text`` with ``section.name`` set to ``value`` (removed when None)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise UserError(f"cannot edit the file: it is not valid YAML ({exc})") from None
    lines = text.splitlines()
    if root is None:
        root_pairs: list[tuple[yaml.Node, yaml.Node]] = []
    elif isinstance(root, yaml.MappingNode):
        root_pairs = list(root.value)
    else:
        raise UserError("cannot edit the file: its top level is not a mapping")
    found = next(((k, v) for k, v in root_pairs if getattr(k, "value", None) == section), None)
    if found is None:
        if value is None:
            return text
        block = [f"{section}:", *_dump_entry(name, value, 2)]
        body = "\n".join(lines).rstrip("\n")
        return (body + "\n" if body else "") + "\n".join(block) + "\n"
    key_node, value_node = found
    is_block = isinstance(value_node, yaml.MappingNode) and not value_node.flow_style
    if not is_block or not value_node.value:
        current = yaml.safe_load(text).get(section) or {}
        if not isinstance(current, dict):
            raise UserError(f"cannot edit '{section}': it is not a mapping")
        current = dict(current)
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
        start = int(key_node.start_mark.line)
        end = _end_line(value_node)
        block = [f"{section}:" if current else f"{section}: {{}}"]
        for entry_name, entry in current.items():
            block.extend(_dump_entry(str(entry_name), entry, 2))
        return "\n".join([*lines[:start], *block, *lines[end:]]) + "\n"
    pairs = list(value_node.value)
    indent = int(pairs[0][0].start_mark.column)
    section_end = _trim(lines, int(key_node.start_mark.line), _end_line(value_node))
    for index, (entry_key, _entry_value) in enumerate(pairs):
        if getattr(entry_key, "value", None) != name:
            continue
        start = int(entry_key.start_mark.line)
        end = int(pairs[index + 1][0].start_mark.line) if index + 1 < len(pairs) else section_end
        end = _trim(lines, start, end)
        replacement = [] if value is None else _dump_entry(name, value, indent)
        if value is None and len(pairs) == 1:
            replacement = []
            lines[int(key_node.start_mark.line)] = f"{section}: {{}}"
        return "\n".join([*lines[:start], *replacement, *lines[end:]]) + "\n"
    if value is None:
        return text
    addition = _dump_entry(name, value, indent)
    return "\n".join([*lines[:section_end], *addition, *lines[section_end:]]) + "\n"
