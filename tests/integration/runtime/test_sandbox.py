"""The sandbox of Python and shell nodes, run for real.

What a confined shell sees: its workspace (read-only) without the state folder, its
own working folder, the configured writable folder (with a state folder inside it
still hidden), not the rest of the machine; and bad settings get clear errors.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeworks.errors import UserError
from lakeworks.runtime import sandbox
from lakeworks.runtime.sandbox import (
    ENV_SANDBOX,
    ENV_SANDBOX_USER,
    ENV_SANDBOX_WRITABLE,
    Confinement,
    SandboxMode,
)
from tests.services import require_sandbox

PROBE = """
test -r "$1/lakeworks.yml" && echo "workspace readable"
touch "$1/new" 2>/dev/null || echo "workspace read-only"
test -e "$1/.lakeworks/meta.db" || echo "state hidden"
touch "$2/out" && echo "landing writable"
test -e "$2/.lakeworks/secret.key" || echo "landing state hidden"
test -e "$3" || echo "elsewhere hidden"
touch ./mine && echo "workdir writable"
"""


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    sandbox.current.cache_clear()
    yield
    sandbox.current.cache_clear()


def test_a_confined_child_sees_only_what_it_may(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_sandbox()
    box = sandbox.current()
    if box.mode is not SandboxMode.BWRAP:
        pytest.skip("bubblewrap is not usable here")
    root = tmp_path / "ws"
    (root / ".lakeworks").mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: t\n")
    (root / ".lakeworks/meta.db").write_text("store")
    landing = tmp_path / "landing"
    (landing / ".lakeworks").mkdir(parents=True)
    (landing / ".lakeworks/secret.key").write_text("key")
    landing.chmod(0o777)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.setenv(ENV_SANDBOX_WRITABLE, str(landing))
    hidden = (root / ".lakeworks", landing / ".lakeworks")
    argv = ["bash", "-c", PROBE, "probe", str(root), str(landing), str(elsewhere)]
    start = sandbox.launch(box, Confinement(root, workdir, hidden), argv)
    done = subprocess.run(
        start.argv,
        capture_output=True,
        text=True,
        preexec_fn=start.preexec,
        timeout=60,
        check=False,
    )
    assert done.stdout.splitlines() == [
        "workspace readable",
        "workspace read-only",
        "state hidden",
        "landing writable",
        "landing state hidden",
        "elsewhere hidden",
        "workdir writable",
    ], done.stderr


def test_bad_settings_are_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SANDBOX, "maybe")
    with pytest.raises(UserError, match="LAKEWORKS_SANDBOX=maybe: expected one of auto"):
        sandbox.current()
    sandbox.current.cache_clear()
    monkeypatch.setenv(ENV_SANDBOX, "auto")
    monkeypatch.setenv(ENV_SANDBOX_USER, "no-such-user-h12")
    if os.geteuid() != 0:
        pytest.skip("the sandbox user matters only under root")
    with pytest.raises(UserError, match="no-such-user-h12: no such OS user"):
        sandbox.current()
