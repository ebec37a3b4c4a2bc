"""DataWorks parameters: business date, scheduled time, user parameters, errors."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from lakeworks.errors import UserError
from lakeworks.sql.params import (
    ParamContext,
    business_date,
    cycle_time_for_bizdate,
    parameter_env,
    render,
)
from tests.unit.sql.cases import FIXTURES


def _expressions() -> list[object]:
    out = []
    path = FIXTURES / "params" / "expressions.tsv"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cycle, text, expected = line.split("\t")
        out.append(pytest.param(cycle, text, expected, id=f"{number}:{text}"))
    return out


@pytest.mark.parametrize(("cycle", "text", "expected"), _expressions())
def test_expression(cycle: str, text: str, expected: str) -> None:
    ctx = ParamContext(datetime.fromisoformat(cycle), {})
    assert render(text, ctx) == expected


def test_business_date_is_the_day_before_the_scheduled_day() -> None:
    assert business_date(datetime(2026, 3, 1, 0, 0)) == date(2026, 2, 28)
    assert business_date(datetime(2026, 3, 1, 23, 59)) == date(2026, 2, 28)
    assert ParamContext(datetime(2026, 1, 1, 2, 0)).bizdate == date(2025, 12, 31)
    assert cycle_time_for_bizdate(date(2026, 2, 28)) == datetime(2026, 3, 1, 0, 0)
    assert cycle_time_for_bizdate(date(2026, 12, 31), time(2, 30)) == datetime(2027, 1, 1, 2, 30)


CTX = ParamContext(
    datetime(2026, 4, 12, 2, 0),
    {
        "dt": "${yyyymmdd}",
        "prev_hour": "$[yyyymmddhh24-1/24]",
        "region": "cn-hangzhou",
        "where": "ds='${dt}' AND region='${region}'",
        "loop_a": "${loop_b}",
        "loop_b": "${loop_a}",
        "broken": "${no_such}",
    },
)


def test_user_parameters_and_nested_expressions() -> None:
    sql = "SELECT * FROM t WHERE ${where} AND hh = '${prev_hour}'"
    assert render(sql, CTX) == (
        "SELECT * FROM t WHERE ds='20260411' AND region='cn-hangzhou' AND hh = '2026041201'"
    )


def test_quotes_are_not_special() -> None:
    assert render("INSERT ... PARTITION (ds='${bizdate}')", CTX) == (
        "INSERT ... PARTITION (ds='20260411')"
    )
    assert render('"${region}" -- ${dt}', CTX) == '"cn-hangzhou" -- 20260411'


def test_unknown_parameter_names_file_line_column_and_known_names() -> None:
    text = "SELECT 1;\nSELECT *\n  FROM t WHERE ds = '${bizdat}'"
    with pytest.raises(UserError) as info:
        render(text, CTX, path="workflows/sales/02.sql", first_line=5)
    err = info.value
    assert str(err) == "workflows/sales/02.sql:7:22: unknown parameter '${bizdat}'"
    assert err.location.line == 7 and err.location.column == 22
    hint = err.hint or ""
    assert hint.startswith("did you mean ${bizdate}?")
    for known in ("${region}", "${dt}", "${bizdate}", "${yyyymmdd}", "$[yyyymmddhh24miss]"):
        assert known in hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${}", "empty parameter"),
        ("$[foo]", "invalid scheduled-time expression '$[foo]'"),
        ("$[yyyymmdd-x]", "invalid scheduled-time expression"),
        ("$[yyyymmdd-1/0]", "divides by zero"),
        ("$[add_months(yyyymmdd)]", "add_months(yyyymmdd,-1)"),
        ("$[yyyymmddhh24miss-1/7]", "not a whole number of seconds"),
        ("${hh24}", "only available in $[...]"),
        ("${yyyymmdd-1/24}", "use $[...] for hours"),
        ("${yyyy-mm-dd-x}", "invalid business-date expression"),
        ("x ${bizdate", "'${' is not closed"),
        ("x $[hh24", "'$[' is not closed"),
        ("${loop_a}", "refers to itself (loop_a -> loop_b -> loop_a)"),
        ("${broken}", "parameter 'broken' = '${no_such}': unknown parameter '${no_such}'"),
        ("${yyyy+9000}", "out of the supported range"),
    ],
)
def test_bad_expressions_are_user_errors(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        render(text, CTX, path="n.sql")
    assert message in info.value.message
    assert info.value.location.file == "n.sql"
    assert info.value.location.line == 1


def test_text_without_parameters_is_returned_as_is() -> None:
    text = "SELECT 1 -- no parameters here\n"
    assert render(text, CTX) is text


def test_parameter_env_for_python_and_shell_nodes() -> None:
    good = {k: v for k, v in CTX.parameters.items() if k not in ("loop_a", "loop_b", "broken")}
    env = parameter_env(ParamContext(CTX.cycle_time, good))
    assert env["bizdate"] == "20260411"
    assert env["cyctime"] == "20260412020000"
    assert env["gmtdate"] == "20260412"
    assert env["bizmonth"] == "202603"
    assert env["yyyymmdd"] == "20260411"
    assert env["yyyymm"] == "202604"
    assert env["dt"] == "20260411"
    assert env["where"] == "ds='20260411' AND region='cn-hangzhou'"
    assert all(isinstance(v, str) for v in env.values())


def test_parameter_env_reports_a_broken_parameter_by_name() -> None:
    ctx = ParamContext(datetime(2026, 4, 12), {"x": "${nope}"})
    with pytest.raises(UserError) as info:
        parameter_env(ctx)
    assert info.value.location.key == "x"
