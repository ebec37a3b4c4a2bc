"""The optional settings header at the top of a node file.

SQL files use ``--`` comment lines, Python and shell files ``#`` lines, between two
marker lines of three dashes::

    -- ---
    -- retries: 2
    -- depends_on: [load_orders]
    -- ---
    SELECT ...

A file without the markers has no header: all settings take their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lakeworks.errors import Location, UserError
from lakeworks.spec.models import NodeHeader
from lakeworks.spec.yaml_source import parse_yaml, validate_model


@dataclass(frozen=True)
class SplitFile:
    header: NodeHeader
    code: str
    first_code_line: int


def _comment_prefix(suffix: str) -> str:
    return "--" if suffix == ".sql" else "#"


def split_header(text: str, path: Path) -> SplitFile:
    """Separate a node file into its header settings and its code."""
    prefix = _comment_prefix(path.suffix)
    lines = text.splitlines(keepends=True)
    start = 0
    if prefix == "#" and lines and lines[0].startswith("#!"):
        start = 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    marker = f"{prefix} ---"
    if start >= len(lines) or lines[start].strip() != marker:
        return SplitFile(NodeHeader(), text, 1)
    body: list[str] = []
    end = None
    for index in range(start + 1, len(lines)):
        stripped = lines[index].rstrip("\r\n")
        if stripped.strip() == marker:
            end = index
            break
        if not stripped.lstrip().startswith(prefix):
            raise UserError(
                "the settings header is not closed",
                location=Location(path, index + 1),
                hint=f"end the header with a line '{marker}'",
            )
        content = stripped.lstrip()[len(prefix) :]
        body.append(content[1:] if content.startswith(" ") else content)
    if end is None:
        raise UserError(
            "the settings header is not closed",
            location=Location(path, start + 1),
            hint=f"end the header with a line '{marker}'",
        )
    data, line_map = parse_yaml("\n".join(body), path, first_line=start + 2)
    header = validate_model(NodeHeader, data, line_map)
    # keep line numbers stable: header lines become blank lines in the code
    code = "\n" * (end + 1) + "".join(lines[end + 1 :])
    if prefix == "#" and start == 1:
        code = lines[0] + code[1:]
    return SplitFile(header, code, 1)
