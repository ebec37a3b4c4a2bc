"""API files with mistakes are refused when loaded, at their file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lakeworks.dataservice.definition import load_definitions
from lakeworks.errors import UserError, ValidationFailed

SOURCES = {"shop": {"type": "postgres", "database": "x"}, "files": {"type": "files"}}


def _write(root: Path, name: str, text: str) -> None:
    path = root / "dataservice" / "g" / f"{name}.api.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("sql: |\n  SELECT 1;\n  DELETE FROM t\n", "exactly one SELECT", 2),
        (
            "sql: |\n  -- a comment\n  DELETE FROM t WHERE a = ${a}\nparameters: [{name: a}]\n",
            "read-only SELECT",
            3,
        ),
        ("sql: |\n  SELECT * FROM t\n  WHERE a = ${b}\n", "'b', which is not a declared", 2),
        ('sql: |\n  SELECT * FROM t\n  <where>\n  <if test="a">x\n', "never closed", 4),
        ("sql: SELECT * FROM read_csv('/etc/passwd')\n", "not allowed in data APIs", 1),
        ("sql: |\n  SELECT * FROM t FOR UPDATE\nbackend: shop\n", "read-only SELECT", 2),
        ("sql: SELECT 1\nbackend: nowhere\n", "unknown backend 'nowhere'", 2),
        ("sql: SELECT 1\nbackend: files\n", "cannot serve APIs", 2),
        ("sql: SELECT 1\ncolour: red\n", "unknown key 'colour'", 2),
        ("table: t\ncolumns: [a]\nfilters: [b]\n", "'b', which is not a declared", 1),
    ],
)
def test_mistakes_are_reported_at_their_line(
    tmp_path: Path, text: str, message: str, line: int
) -> None:
    _write(tmp_path, "broken", text)
    with pytest.raises(UserError, match=message) as caught:
        load_definitions(tmp_path, "ws", SOURCES)
    error = caught.value
    assert str(error.location.file).endswith("dataservice/g/broken.api.yml")
    assert error.location.line == line, error.render()


def test_every_broken_file_is_reported_and_paths_are_unique(tmp_path: Path) -> None:
    _write(tmp_path, "one", "sql: SELECT 1\npath: same\n")
    _write(tmp_path, "two", "sql: SELECT 2\npath: same\n")
    _write(tmp_path, "three", "sql: UPDATE t SET a = 1\n")
    with pytest.raises(ValidationFailed) as caught:
        load_definitions(tmp_path, "ws", SOURCES)
    messages = [e.message for e in caught.value.errors]
    assert any("path 'g/same' is also used" in m for m in messages)
    assert any("read-only SELECT" in m for m in messages)
