"""Splitting scripts into statements with file positions, and syntax errors."""

from __future__ import annotations

import pytest

from lakeworks.errors import UserError
from lakeworks.sql.script import get_dialect, parse_script

SCRIPT = """-- leading comment; with a semicolon
SELECT 'a;b' AS x;   -- trailing; comment
/* block;
   comment */ INSERT INTO t
  SELECT "q;q" FROM s;

;
SELECT 3
"""


def test_split_keeps_lines_columns_and_text() -> None:
    parsed = parse_script(SCRIPT, "maxcompute", first_line=10)
    assert [(p.line, p.column) for p in parsed] == [(11, 1), (13, 15), (17, 1)]
    assert [p.text for p in parsed] == [
        "SELECT 'a;b' AS x",
        'INSERT INTO t\n  SELECT "q;q" FROM s',
        "SELECT 3",
    ]


def test_empty_script() -> None:
    assert parse_script("-- nothing\n;\n", "maxcompute") == []


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("SELECT 1;\n\nSELECT a\n      FORM t;", (4, 7), "unexpected 'FORM'"),
        ("SELECT a FROM t WHRE a = 1", (1, 17), "unexpected 'WHRE'"),
        ("SELECT * FROM t WHERE", (1, 17), "the statement ends too early after 'WHERE'"),
        ("SELECT a b c FROM t", (1, 12), "unexpected 'c'"),
        ("SELECT 1;\nSELECT 'abc\nFROM t", (2, 8), "unterminated string"),
        ("SELECT `abc FROM t", (1, 8), "unterminated quoted name"),
        ("SELECT 1 /* open", (1, 10), "unterminated comment"),
    ],
)
def test_syntax_errors_point_at_the_token(text: str, where: tuple[int, int], message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_script(text, "maxcompute", path="w/n.sql", first_line=1)
    err = info.value
    assert message in err.message
    assert (err.location.line, err.location.column) == where
    assert str(err).startswith(f"w/n.sql:{where[0]}:{where[1]}: ")


def test_errors_shift_with_first_line() -> None:
    with pytest.raises(UserError) as info:
        parse_script("SELECT a FORM t", "maxcompute", first_line=8)
    assert info.value.location.line == 8


def test_misspelt_keyword_hint() -> None:
    with pytest.raises(UserError) as info:
        parse_script("SELECT a FORM t", "maxcompute")
    assert "did you mean FROM" in (info.value.hint or "")


def test_unknown_dialect() -> None:
    with pytest.raises(UserError) as info:
        get_dialect("oracel")
    assert "maxcompute" in (info.value.hint or "")


def test_parsed_trees_are_cached_but_lines_follow_first_line() -> None:
    a = parse_script("SELECT 1", "maxcompute", first_line=1)
    b = parse_script("SELECT 1", "maxcompute", first_line=5)
    assert a[0].expression is b[0].expression
    assert (a[0].line, b[0].line) == (1, 5)


def test_long_scripts_keep_positions_of_every_statement() -> None:
    rows = [f"INSERT INTO t VALUES ({i}, 'a;b')" for i in range(20_000)]
    text = "-- header\n" + ";\n".join(rows) + ";\n  SELECT a FORM t;\n"
    with pytest.raises(UserError) as caught:
        parse_script(text, "maxcompute", path="big.sql")
    assert (caught.value.location.line, caught.value.location.column) == (20_002, 12)
    parsed = parse_script(text.replace("FORM", "FROM"), "maxcompute")
    assert len(parsed) == 20_001
    assert (parsed[0].line, parsed[-2].line, parsed[-1].line) == (2, 20_001, 20_002)
    assert parsed[-1].column == 3
