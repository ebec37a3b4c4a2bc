"""User code cannot reach the control plane.

A developer's Python node tries what once made a developer an administrator: open the
metadata store and set its own ``is_superuser``, read the secret key, print
``LAKEWORKS_ADMIN_PASSWORD`` reversed (past the log redaction). It runs as a dev run
through a real ``lakeworks up`` and as ``lakeworks run``; every step fails. A node that
declares a data source gets its settings and password as variables, without the key.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakeworks.spec.init import init_workspace
from tests.services import lakeworks_command, require_sandbox, server_env, serving

ADMIN_PASSWORD = "admin-pass-isolation-7f3"
DEV_PASSWORD = "dev-pass-isolation-2c9"

ATTACK = """\
import os, pathlib, sqlite3
ws = pathlib.Path(os.environ["LAKEWORKS_WORKSPACE"])
state = ws / ".lakeworks"

def superuser():
    conn = sqlite3.connect(f"file:{state / 'meta.db'}?mode=rw", uri=True)
    count = conn.execute("UPDATE users SET is_superuser = 1").rowcount
    conn.commit()
    return count

def key():
    return (state / "secret.key").read_text()[:6]

def admin():
    return os.environ["LAKEWORKS_ADMIN_PASSWORD"][::-1]

def parent_env():
    return open(f"/proc/{os.getppid()}/environ").read()[:20]

for name, attempt in [("superuser", superuser), ("key", key), ("admin", admin),
                      ("parent_env", parent_env)]:
    try:
        print(f"ATTACK {name} SUCCEEDED {attempt()!r}")
    except Exception as exc:
        print(f"ATTACK {name} blocked: {type(exc).__name__}")
print("variables:", " ".join(sorted(os.environ)))
"""

SHELL_ATTACK = """\
cat "$LAKEWORKS_WORKSPACE/.lakeworks/secret.key" && echo "ATTACK shell key SUCCEEDED"
ls "$LAKEWORKS_WORKSPACE/.lakeworks/meta.db" && echo "ATTACK shell store SUCCEEDED"
echo "shell finished in $PWD"
"""

CONNECTED = """\
# ---
# connections: [crm]
# ---
import os
print("host", os.environ["LAKEWORKS_CONN_CRM_HOST"], "user", os.environ["LAKEWORKS_CONN_CRM_USER"])
print("password matches", os.environ["LAKEWORKS_CONN_CRM_PASSWORD"] == "crm-pw-51x")
"""


@pytest.fixture(autouse=True)
def _sandboxed() -> None:
    require_sandbox()


def _env(**extra: str) -> dict[str, str]:
    env = server_env(ADMIN_PASSWORD)
    env.update(extra)
    return env


def lw(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [lakeworks_command(), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=_env(**env),
        timeout=120,
        check=False,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    init_workspace(root, "sales")
    attack = root / "workflows/attack"
    attack.mkdir()
    (attack / "workflow.yml").write_text("description: what a hostile developer tries\n")
    (attack / "evil.py").write_text(ATTACK)
    (attack / "evil_sh.sh").write_text(SHELL_ATTACK)
    (attack / "connected.py").write_text(CONNECTED)
    config = root / "lakeworks.yml"
    config.write_text(
        config.read_text()
        + "data_sources:\n  crm:\n    type: postgres\n    host: 127.0.0.1\n"
        + "    database: test\n    user: reporting\n    password_env: CRM_PASS\n"
    )
    return root


@pytest.fixture
def with_developer(workspace: Path) -> Path:
    """The workspace with a developer ``dev`` (not an administrator)."""
    created = lw(
        "users", "create", "dev", "-w", str(workspace), "--password-stdin", stdin=DEV_PASSWORD
    )
    assert created.returncode == 0, created.stderr
    roles = lw("users", "roles", "dev", "developer", "-w", str(workspace))
    assert roles.returncode == 0, roles.stderr
    return workspace


def _no_attack_succeeded(output: str) -> None:
    assert "ATTACK superuser blocked" in output, output
    assert "ATTACK key blocked" in output
    assert "ATTACK admin blocked" in output
    assert "ATTACK parent_env blocked" in output
    assert "SUCCEEDED" not in output
    assert ADMIN_PASSWORD[::-1] not in output


def _dev_is_not_admin(root: Path) -> None:
    listed = lw("users", "list", "-w", str(root))
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("dev"))
    assert "(admin)" not in line


def test_lakeworks_run_keeps_nodes_away_from_the_store_key_and_environment(
    with_developer: Path,
) -> None:
    workspace = with_developer
    done = lw("run", "evil", "evil_sh", "connected", "-w", str(workspace), CRM_PASS="crm-pw-51x")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    _no_attack_succeeded(output)
    assert "variables: HOME LAKEWORKS_ATTEMPT" in output  # scrubbed: nothing of the server's
    assert "shell finished in /tmp/lakeworks-attack.evil_sh" in output  # its own folder
    assert "host 127.0.0.1 user reporting" in output
    assert "password matches True" in output
    _dev_is_not_admin(workspace)


def test_an_unknown_connection_fails_validation_and_the_run_with_a_hint(workspace: Path) -> None:
    (workspace / "workflows/attack/connected.py").write_text(CONNECTED.replace("[crm]", "[nope]"))
    ran = lw("run", "connected", "-w", str(workspace))
    checked = lw("validate", "-w", str(workspace))
    for done in (ran, checked):
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "declares connection 'nope', which is not a data source" in output
        assert "known: crm" in output
        assert "Traceback" not in output


@pytest.fixture
def server(with_developer: Path, tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "server.log"
    with serving(with_developer, _env(), log, "--no-scheduler") as (_, base):
        yield base


def test_a_dev_run_through_the_server_cannot_make_its_developer_an_admin(
    server: str, with_developer: Path
) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        login = client.post("/api/auth/login", json={"username": "dev", "password": DEV_PASSWORD})
        assert login.status_code == 200, login.text
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        ws = "/api/workspaces/sales-lab"
        started = client.post(
            f"{ws}/dev-runs", json={"bizdate": "20260401", "targets": ["evil"]}, headers=csrf
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            items = client.get(f"{ws}/envs/dev/instances?run_id={run_id}").json()["items"]
            if items and items[0]["state"] in ("success", "failed"):
                break
            time.sleep(0.3)
        assert items[0]["state"] == "success", items
        lines = client.get(f"{ws}/envs/dev/instances/{items[0]['id']}/log").json()["items"]
        output = "\n".join(line["text"] for line in lines)
        _no_attack_succeeded(output)
        me = client.get("/api/auth/me").json()
        assert me.get("is_superuser") is not True, me
    _dev_is_not_admin(with_developer)
