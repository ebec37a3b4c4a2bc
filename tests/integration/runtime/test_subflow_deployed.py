"""A deployed release keeps its called workflows: prod runs a sub-workflow node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakeworks.deploy.source import DeployedWorkspaceSource
from lakeworks.spec.init import init_workspace
from lakeworks.store.database import Database, default_database_url

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))


def test_the_prod_release_knows_the_workflows_its_sub_workflow_nodes_call(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "lab", "regions")
    done = subprocess.run(
        [LAKEWORKS, "deploy", str(root), "-w", str(root), "-m", "first"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    db = Database.open(default_database_url(root / ".lakeworks"))
    try:
        prod = DeployedWorkspaceSource(db, root).current("prod")
        assert list(prod.called) == ["publish"]
        node = prod.find_node("regions.publish")
        assert node is not None
        called = prod.called_by(node)
        assert [n.key for n in called.nodes()] == ["publish.announce"]
        assert "publish" in prod.all_workflows and "publish" not in prod.workflows
    finally:
        db.close()
