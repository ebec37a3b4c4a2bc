"""Where the scheduler reads the workspace: reloaded on change, never broken by one."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lakeworks.runtime.workspace_source import FolderWorkspaceSource


def test_a_workspace_change_that_does_not_validate_keeps_the_running_definition(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    (root / "workflows" / "etl").mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: demo\n")
    node = root / "workflows" / "etl" / "a.sh"
    node.write_text("echo a\n")
    problems: list[str] = []
    source = FolderWorkspaceSource(root, refresh_seconds=0, on_error=problems.append)
    first = source.current("prod")
    assert source.current("prod") is first  # unchanged files: the same definition
    node.write_text("# ---\n# schedule: {cron: 'not a cron'}\n# ---\necho a\n")
    os.utime(node, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert source.current("prod") is first
    assert problems and "workspace change not applied" in problems[0]
    node.write_text("# ---\n# retries: 2\n# ---\necho a\n")
    os.utime(node, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
    changed = source.current("prod")
    assert changed is not first
    assert changed.nodes()[0].settings.retries == 2
