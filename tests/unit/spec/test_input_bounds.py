"""Inputs that must not wipe, hang or exhaust: YAML aliases, names, node file sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import UserError, ValidationFailed
from lakeworks.spec.init import init_workspace
from lakeworks.spec.loader import MAX_NODE_FILE_BYTES, is_valid_name, load_workspace
from lakeworks.spec.yaml_source import parse_yaml


def _laughs(depth: int) -> str:
    """The "billion laughs": each level repeats the previous one nine times."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, depth + 1):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "description: laughs\n" + "\n".join(lines) + "\n"


def test_nested_aliases_are_refused_at_their_line_before_expansion() -> None:
    text = _laughs(9)  # 9**10 values once expanded, in 400-odd bytes
    assert len(text) < 600
    with pytest.raises(UserError) as caught:
        parse_yaml(text, "workflows/w/workflow.yml")
    error = caught.value
    assert "aliases expand to more than 100,000 values" in error.message
    assert error.location.file == "workflows/w/workflow.yml"
    assert error.location.line == 7  # l6 is the first level past 100,000 values
    assert error.hint and "anchor" in error.hint


def test_a_workflow_file_with_laughs_is_a_problem_of_that_file(tmp_path: Path) -> None:
    init_workspace(tmp_path, "sales")
    (tmp_path / "workflows/sales_pipeline/workflow.yml").write_text(_laughs(9))
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(tmp_path)
    (problem,) = caught.value.errors
    assert str(problem.location.file).endswith("sales_pipeline/workflow.yml")
    assert problem.location.line == 7


def test_modest_aliases_still_work() -> None:
    data, lines = parse_yaml("base: &b {retries: 2}\nother: *b\nlist: [*b, *b]\n")
    assert data["other"] == {"retries": 2}
    assert data["list"] == [{"retries": 2}, {"retries": 2}]
    assert lines.line_of(("other",)) == 2


def test_a_recursive_alias_is_a_clear_error() -> None:
    with pytest.raises(UserError) as caught:
        parse_yaml("a: &a [1, *a]\n", "x.yml")
    assert "contains it" in caught.value.message
    assert caught.value.location.line == 1


def test_deep_nesting_is_a_clear_error() -> None:
    with pytest.raises(UserError) as caught:
        parse_yaml("[" * 5000 + "]" * 5000, "x.yml")
    assert "nests too deeply" in caught.value.message


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a.b", "evil\n", "evil\r", "a\x00b", "-x", "a/b", "x" * 101]
)
def test_names_are_anchored_at_both_ends(name: str) -> None:
    assert not is_valid_name(name)


@pytest.mark.parametrize("name", ["a", "01_load", "sales-lab", "_x", "x" * 100])
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


def test_loader_refuses_a_node_name_ending_in_a_newline(tmp_path: Path) -> None:
    init_workspace(tmp_path, "sales")
    (tmp_path / "workflows/sales_pipeline/evil\n.sql").write_text("SELECT 1\n")
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(tmp_path)
    assert any("invalid node name" in p.message for p in caught.value.errors)


def test_loader_refuses_an_invalid_workspace_name(tmp_path: Path) -> None:
    init_workspace(tmp_path, "sales")
    (tmp_path / "lakeworks.yml").write_text('name: "../other"\n')
    with pytest.raises(UserError) as caught:
        load_workspace(tmp_path)
    assert "invalid workspace name" in caught.value.message
    assert caught.value.location.key == "name"


def test_loader_refuses_a_node_file_over_the_limit(tmp_path: Path) -> None:
    init_workspace(tmp_path, "sales")
    big = tmp_path / "workflows/sales_pipeline/09_big.sql"
    big.write_text("-- " + "x" * MAX_NODE_FILE_BYTES + "\nSELECT 1\n")
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(tmp_path)
    (problem,) = caught.value.errors
    assert "node file is too large" in problem.message
    assert problem.location.file == big


def test_a_control_character_in_yaml_is_a_clear_error() -> None:
    with pytest.raises(UserError) as caught:
        parse_yaml("a: 1\nb: x\x19y\n", "x.yml")
    assert "cannot contain the character" in caught.value.message
    assert caught.value.location.line == 2
