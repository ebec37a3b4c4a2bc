"""Data source settings: every problem at its line of lakeworks.yml, at validation and
when a sync opens the data source."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.connectors.registry import (
    ConnectorContext,
    check_data_sources,
    open_source,
    parse_config,
)
from lakeworks.errors import UserError
from lakeworks.spec.loader import workspace_config_lines
from lakeworks.spec.yaml_source import parse_yaml

LAKEWORKS_YML = """\
name: shop
data_sources:
  shop_pg:
    type: postgres
    host: db
    colour: red
    port: not-a-port
  legacy:
    type: sqlite
  odd:
    type: oracle
  bare:
    host: h
  fine:
    type: sqlite
    path: x.db
"""


def _problems() -> dict[str, list[tuple[int | None, str, str | None]]]:
    data, lines = parse_yaml(LAKEWORKS_YML, "lakeworks.yml")
    found: dict[str, list[tuple[int | None, str, str | None]]] = {}
    for problem in check_data_sources(data["data_sources"], lines):
        assert str(problem.location.file) == "lakeworks.yml"
        found.setdefault(problem.location.key or "", []).append(
            (problem.location.line, problem.message, problem.hint)
        )
    return found


def test_every_problem_of_every_data_source_is_reported_at_its_line() -> None:
    found = _problems()
    assert found["data_sources.shop_pg.colour"] == [
        (6, "data source 'shop_pg': unknown key 'colour'", "remove it or check its spelling")
    ]
    [(line, message, _)] = found["data_sources.shop_pg.port"]
    assert line == 7 and message.startswith("data source 'shop_pg': 'port': ")
    assert "not-a-port" in message
    # a missing key points at the data source's own line
    assert found["data_sources.shop_pg.database"][0][:2] == (
        3,
        "data source 'shop_pg': missing required key 'database'",
    )
    assert found["data_sources.legacy.path"][0][:2] == (
        8,
        "data source 'legacy': missing required key 'path'",
    )
    assert found["data_sources.odd.type"][0][:2] == (11, "unknown data source type 'oracle'")
    assert found["data_sources.bare.type"][0][:2] == (12, "data source 'bare' needs a 'type'")
    assert not any(key.startswith("data_sources.fine") for key in found)


def test_parse_config_raises_one_error_naming_every_problem() -> None:
    _, lines = parse_yaml(LAKEWORKS_YML, "lakeworks.yml")
    raw = {"type": "postgres", "host": "db", "colour": "red", "port": "not-a-port"}
    with pytest.raises(UserError) as info:
        parse_config("shop_pg", raw, lines=lines)
    message = info.value.message
    assert message.startswith("data source 'shop_pg': ")
    assert "unknown key 'colour'" in message and "'port'" in message and "'database'" in message
    assert info.value.location.line is not None
    with pytest.raises(UserError) as unlocated:
        parse_config("shop_pg", raw)
    assert unlocated.value.location.file is None
    assert unlocated.value.location.key is not None
    assert unlocated.value.location.key.startswith("data_sources.shop_pg")


def test_opening_a_data_source_names_its_line_in_lakeworks_yml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lakeworks.yml").write_text(
        "name: shop\n"
        "data_sources:\n"
        "  legacy:\n"
        "    type: sqlite\n"
        "    path: x.db\n"
        "    colour: red\n"
        "  shop_pg:\n"
        "    type: postgres\n"
        "    database: shop\n"
        "    password_env: LW_TEST_UNSET_PASSWORD\n"
    )
    monkeypatch.delenv("LW_TEST_UNSET_PASSWORD", raising=False)
    lines = workspace_config_lines(tmp_path)
    assert lines is not None
    context = ConnectorContext(root=tmp_path)
    with pytest.raises(UserError) as bad_key:
        open_source("legacy", {"type": "sqlite", "path": "x.db", "colour": "red"}, context)
    assert bad_key.value.location.file == tmp_path / "lakeworks.yml"
    assert bad_key.value.location.line == 6
    raw = {"type": "postgres", "database": "shop", "password_env": "LW_TEST_UNSET_PASSWORD"}
    with pytest.raises(UserError, match="LW_TEST_UNSET_PASSWORD is not set") as unset:
        open_source("shop_pg", raw, context)
    assert unset.value.location.file == tmp_path / "lakeworks.yml"
    assert unset.value.location.line == 7
    # without a workspace folder the error still says which data source and key
    with pytest.raises(UserError) as bare:
        open_source("legacy", {"type": "sqlite", "path": "x.db", "colour": "red"})
    assert bare.value.location.key == "data_sources.legacy.colour"


@pytest.mark.parametrize(
    ("raw", "key", "base"),
    [
        (
            {"type": "postgres", "database": "shop", "password": "hunter2-value"},
            "password",
            "password",
        ),
        ({"type": "mysql", "database": "shop", "pwd": "hunter2-value"}, "pwd", "password"),
        (
            {"type": "files", "root": "s3://b/p", "s3": {"secret_key": "hunter2-value"}},
            "secret_key",
            "secret_key",
        ),
    ],
)
def test_a_plain_password_says_why_and_how_without_the_value(
    raw: dict[str, object], key: str, base: str
) -> None:
    with pytest.raises(UserError) as info:
        parse_config("shop", raw)
    text = info.value.render()
    assert f"'{key}' is not allowed: passwords are never written in workspace files" in text
    assert f"{base}_env" in text and f"{base}_encrypted" in text
    assert "lakeworks secrets encrypt" in text
    assert "hunter2" not in text
