"""MyBatis-style templates: tags, tests and bound slots (never spliced values)."""

from __future__ import annotations

import pytest

from lakeworks.dataservice.expressions import parse_expression
from lakeworks.dataservice.template import TemplateError, parse_template, render

SQL = """SELECT a FROM t
<where>
  <if test="region != null and region != ''"> AND region = ${region}</if>
  <if test="ids != null and ids.size() > 0"> AND id IN
    <foreach collection="ids" item="i" open="(" separator="," close=")">#{i}</foreach>
  </if>
  <choose>
    <when test="mode == 'big'"> AND amount &gt; 100</when>
    <when test="mode eq 'small'"> AND amount &lt;= ${cap}</when>
    <otherwise> AND amount IS NOT NULL</otherwise>
  </choose>
</where>
ORDER BY a"""


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_tag_renders_slots_and_only_the_clauses_given() -> None:
    template = parse_template(SQL)
    full = render(template, {"region": "east", "ids": [1, 2], "mode": "small", "cap": 5})
    assert _flat(full.text()) == (
        "SELECT a FROM t WHERE region = ? AND id IN (?,?) AND amount <= ? ORDER BY a"
    )
    assert full.values == ("east", 1, 2, 5)
    bare = render(template, {})
    assert _flat(bare.text()) == "SELECT a FROM t WHERE amount IS NOT NULL ORDER BY a"
    assert bare.values == ()
    empty_region = render(template, {"region": "", "mode": "big"})
    assert _flat(empty_region.text()) == "SELECT a FROM t WHERE amount > 100 ORDER BY a"


def test_values_stay_out_of_the_text() -> None:
    hostile = "x'; DROP TABLE t; --"
    rendered = render(parse_template("SELECT * FROM t WHERE a = ${a}"), {"a": hostile})
    assert hostile not in rendered.text() and rendered.values == (hostile,)
    assert rendered.text("format") == "SELECT * FROM t WHERE a = %s"
    percent = render(parse_template("SELECT * FROM t WHERE b LIKE 'a%' AND a = ${a}"), {"a": 1})
    assert percent.text("format") == "SELECT * FROM t WHERE b LIKE 'a%%' AND a = %s"


def test_where_without_conditions_disappears() -> None:
    text = 'SELECT 1 FROM t <where><if test="x != null">AND x = ${x}</if></where>'
    template = parse_template(text)
    assert _flat(render(template, {}).text()) == "SELECT 1 FROM t"
    assert _flat(render(template, {"x": 1}).text()) == "SELECT 1 FROM t WHERE x = ?"


def test_placeholder_inside_a_literal_is_refused() -> None:
    template = parse_template("SELECT * FROM t WHERE name LIKE '%${name}%'")
    with pytest.raises(TemplateError, match="inside a quoted string") as caught:
        render(template, {"name": "x"})
    assert caught.value.hint and "CONCAT" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("SELECT 1\n<if test='a != null'>x", "never closed", 2),
        ("SELECT 1\n\n</if>", "closes", 3),
        ("SELECT 1 <if test='a ==='>x</if>", "bad test", 1),
        ("<choose><if test='a'>x</if></choose>", "only <when>", 1),
        ("<foreach item='x'>y</foreach>", "collection", 1),
    ],
)
def test_template_mistakes_name_their_line(text: str, message: str, line: int) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        parse_template(text, path="x.api.yml", first_line=1)
    assert caught.value.location.line == line


@pytest.mark.parametrize(
    ("test", "scope", "expected"),
    [
        ("a != null", {"a": 0}, True),
        ("a != null", {}, False),
        ("a == null or a == ''", {"a": ""}, True),
        ("!(a > 3) && b", {"a": 2, "b": True}, True),
        ("not a", {"a": False}, True),
        ("a gte 3 and a lt 5", {"a": 4}, True),
        ("xs.size() > 1", {"xs": [1]}, False),
        ("xs.isEmpty()", {"xs": []}, True),
        ("f.x == 'y'", {"f": {"x": "y"}}, True),
        ("a > 'b'", {"a": None}, False),
        ("a == 1", {"a": "1"}, True),
    ],
)
def test_expressions(test: str, scope: dict[str, object], expected: bool) -> None:
    assert parse_expression(test).truth(scope) is expected


def test_expressions_run_no_code() -> None:
    for bad in ("__import__('os')", "a.b()", "a; b", "a ="):
        with pytest.raises(ValueError):
            parse_expression(bad)
