"""``lakeworks`` commands run inside the test's own process.

For CLI tests whose steps are about what a command says, not about separate processes:
each step then costs no new interpreter. The services are those the suite installs
(``tests/conftest.py``); each file that uses this keeps at least one test that starts a
real ``lakeworks`` process.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Mapping
from pathlib import Path

from typer.testing import CliRunner

from lakeworks.cli.app import _register_groups, app

UNSET = ("LAKEWORKS_DATABASE_URL", "LAKEWORKS_SECRET_KEY")
"""Variables a test's own environment may carry that a fresh workspace must not see."""


def _groups() -> None:
    if not any(group.name == "quality" for group in app.registered_groups):
        _register_groups()


def lakeworks(
    *args: str,
    cwd: Path,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``lakeworks ARGS`` in ``cwd``; the exit code and both outputs, as a process."""
    _groups()
    environ: dict[str, str | None] = {name: None for name in UNSET}
    environ.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), input=stdin, env=environ)
    return subprocess.CompletedProcess(
        ["lakeworks", *args], result.exit_code, result.stdout, result.stderr
    )
