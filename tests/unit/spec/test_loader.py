"""Loading a workspace folder: settings, headers, inheritance, and every bad-input path."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import UserError, ValidationFailed
from lakeworks.spec.init import init_workspace
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import NodeKind, RunMode


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    write(tmp_path, "lakeworks.yml", "name: shop\ndefaults:\n  owner: alice\n  retries: 1\n")
    write(
        tmp_path,
        "workflows/orders/workflow.yml",
        "owner: bob\nschedule:\n  cycle: hour\ndefaults:\n  retries: 3\n",
    )
    return tmp_path


def test_example_workspace_loads_with_tutorial_nodes(tmp_path: Path) -> None:
    init_workspace(tmp_path / "lab", "sales")
    ws = load_workspace(tmp_path / "lab")
    keys = [n.key for n in ws.nodes()]
    assert keys == [
        "sales_pipeline.01_create_and_load_sales_raw",
        "sales_pipeline.02_build_sales_daily",
    ]
    second = ws.find_node("02_build_sales_daily")
    assert second is not None
    assert second.header.depends_on == ["01_create_and_load_sales_raw"]
    assert "INSERT OVERWRITE TABLE sales_daily" in second.code
    assert ws.workflows["sales_pipeline"].config.schedule.at == "02:00"


def test_plain_sql_file_without_header_is_a_node_with_defaults(ws: Path) -> None:
    write(ws, "workflows/orders/load.sql", "SELECT 1;\n")
    loaded = load_workspace(ws)
    node = loaded.workflows["orders"].nodes["load"]
    assert node.kind is NodeKind.SQL
    assert node.header.run_mode is RunMode.NORMAL
    # workflow owner and defaults win over the workspace's
    assert node.settings.owner == "bob"
    assert node.settings.retries == 3


def test_header_settings_override_and_keep_code_lines(ws: Path) -> None:
    write(
        ws,
        "workflows/orders/load.sql",
        "-- ---\n-- retries: 5\n-- priority: 7\n-- run_mode: dry_run\n-- ---\nSELECT 1;\n",
    )
    node = load_workspace(ws).workflows["orders"].nodes["load"]
    assert node.settings.retries == 5
    assert node.settings.priority == 7
    assert node.header.run_mode is RunMode.DRY_RUN
    # the code keeps its file line numbers: SELECT is on line 6
    assert node.code.splitlines()[5] == "SELECT 1;"


def test_python_and_shell_headers(ws: Path) -> None:
    write(ws, "workflows/orders/export.py", "# ---\n# timeout_seconds: 30\n# ---\nprint(1)\n")
    write(ws, "workflows/orders/clean.sh", "#!/bin/bash\n# ---\n# retries: 0\n# ---\necho hi\n")
    nodes = load_workspace(ws).workflows["orders"].nodes
    assert nodes["export"].kind is NodeKind.PYTHON
    assert nodes["export"].settings.timeout_seconds == 30
    assert nodes["clean"].kind is NodeKind.SHELL
    assert nodes["clean"].settings.retries == 0


def test_unknown_key_in_header_names_file_and_line(ws: Path) -> None:
    path = write(ws, "workflows/orders/load.sql", "-- ---\n-- retries: 1\n-- retires: 2\n-- ---\n")
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(ws)
    (error,) = caught.value.errors
    assert error.location.file == path
    assert error.location.line == 3
    assert "unknown key 'retires'" in error.render()


def test_malformed_yaml_reports_line(ws: Path) -> None:
    write(ws, "workflows/orders/workflow.yml", "owner: bob\nschedule:\n  cycle: [day\n")
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(ws)
    (error,) = caught.value.errors
    assert "malformed YAML" in error.message
    assert str(error.location.file).endswith("workflow.yml")
    assert error.location.line is not None and error.location.line >= 3


def test_unknown_key_in_workspace_file(tmp_path: Path) -> None:
    write(tmp_path, "lakeworks.yml", "name: x\ntimezon: UTC\n")
    with pytest.raises(UserError) as caught:
        load_workspace(tmp_path)
    assert caught.value.location.line == 2
    assert "timezon" in caught.value.render()


def test_wrong_type_is_reported_with_key(ws: Path) -> None:
    write(ws, "workflows/orders/load.sql", "-- ---\n-- retries: many\n-- ---\nSELECT 1;\n")
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(ws)
    error = caught.value.errors[0]
    assert error.location.line == 2
    assert error.location.key == "retries"


def test_unclosed_header_is_an_error(ws: Path) -> None:
    write(ws, "workflows/orders/load.sql", "-- ---\n-- retries: 1\nSELECT 1;\n")
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(ws)
    assert "not closed" in caught.value.errors[0].message


def test_several_problems_reported_together(ws: Path) -> None:
    write(ws, "workflows/orders/a.sql", "-- ---\n-- bogus: 1\n-- ---\n")
    write(ws, "workflows/orders/b.sql", "-- ---\n-- retries: -1\n-- ---\n")
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(ws)
    files = sorted(Path(str(e.location.file)).name for e in caught.value.errors)
    assert files == ["a.sql", "b.sql"]


def test_missing_workspace_file_gives_hint(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        load_workspace(tmp_path)
    assert caught.value.hint is not None and "lakeworks init" in caught.value.hint


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    init_workspace(tmp_path / "lab", "sales")
    with pytest.raises(Exception, match="already holds a workspace"):
        init_workspace(tmp_path / "lab", "sales")


def test_init_unknown_example_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        init_workspace(tmp_path / "lab", "nope")
    assert caught.value.hint is not None and "sales" in caught.value.hint
