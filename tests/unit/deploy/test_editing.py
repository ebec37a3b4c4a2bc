"""Editing the dev folder: paths and names that must never reach the file system."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.deploy.editing import WorkspaceEditor, editable_path
from lakeworks.errors import UserError
from lakeworks.spec.init import init_workspace
from lakeworks.spec.loader import MAX_NODE_FILE_BYTES


@pytest.fixture
def root(tmp_path: Path) -> Path:
    init_workspace(tmp_path / "ws", "sales")
    return tmp_path / "ws"


@pytest.mark.parametrize("workflow", [".", "..", "", "a\nb", "sales_pipeline/.."])
def test_removing_a_workflow_by_a_dot_name_deletes_nothing(root: Path, workflow: str) -> None:
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with pytest.raises(UserError, match="invalid workflow name"):
        WorkspaceEditor(root).remove_workflow(workflow)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


@pytest.mark.parametrize(
    "path",
    [
        "workflows/./x.sql",
        "workflows/../x/y.sql",
        "workflows/evil\n/x.sql",
        "workflows/w/x\x00.sql",
        "workflows/w/x.sql\n",
        "workflows/a.b/x.sql",
    ],
)
def test_paths_with_dots_or_control_characters_are_refused(path: str) -> None:
    with pytest.raises(UserError):
        editable_path(path)


def test_a_node_file_over_the_limit_is_refused_before_validation(root: Path) -> None:
    target = "workflows/sales_pipeline/09_big.sql"
    with pytest.raises(UserError, match="node file is too large"):
        WorkspaceEditor(root).change({target: "-- " + "x" * MAX_NODE_FILE_BYTES})
    assert not (root / target).exists()


def test_an_edit_is_validated_and_written(root: Path) -> None:
    target = "workflows/sales_pipeline/09_new.sql"
    WorkspaceEditor(root).change({target: "SELECT 1\n"}, expected={target: None})
    assert (root / target).read_text() == "SELECT 1\n"
    assert not list(root.rglob(".09_new.sql.*"))
