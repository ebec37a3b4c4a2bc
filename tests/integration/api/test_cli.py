"""The server's CLI commands on a workspace's embedded store."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakeworks.cli.app import _register_groups, app
from lakeworks.spec.init import init_workspace
from tests.integration.api.conftest import copy_example

DAILY = "workflows/sales_pipeline/02_build_sales_daily.sql"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("LAKEWORKS_DATABASE_URL", raising=False)
    monkeypatch.delenv("LAKEWORKS_SECRET_KEY", raising=False)
    _register_groups()
    return CliRunner()


def run(cli: CliRunner, *args: str, stdin: str | None = None) -> str:
    result = cli.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_deploy_a_git_folder_then_roll_back(cli: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "server"
    init_workspace(home, "sales")
    checkout = copy_example(tmp_path / "checkout")
    assert "prod is at release 1" in run(cli, "deploy", str(checkout), "-w", str(home))
    target = checkout / DAILY
    target.write_text(target.read_text().replace("COUNT(1)", "COUNT(*)"))
    out = run(cli, "deploy", str(checkout), "-w", str(home), "-m", "count star")
    assert "nodes modified: sales_pipeline.02_build_sales_daily" in out
    assert "release 2" in out
    rules = checkout / "workflows/sales_pipeline/sales_daily.quality.yml"
    rules.write_text(rules.read_text().replace("max: 1000", "max: 2000"))
    out = run(cli, "deploy", str(checkout), "-w", str(home), "--dry-run")
    assert "quality changed: workflows/sales_pipeline/sales_daily.quality.yml (modified)" in out
    rules.write_text(rules.read_text().replace("max: 2000", "max: 1000"))
    target.write_text(target.read_text().replace("FROM sales_raw", "FROM sales_raw WHERE"))
    broken = cli.invoke(app, ["deploy", str(checkout), "-w", str(home)])
    assert broken.exit_code == 2
    assert f"{DAILY}:19" in broken.output
    assert "release 3" in run(cli, "deployments", "rollback", "1", "-w", str(home))
    listing = run(cli, "deployments", "list", "-w", str(home))
    assert "prod release: 3" in listing and "invalid" in listing


def test_users_tokens_and_key_rotation(cli: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "server"
    init_workspace(home, "sales")
    run(
        cli,
        "users",
        "create",
        "alice",
        "-w",
        str(home),
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert "developer, viewer" in run(
        cli, "users", "roles", "alice", "developer", "viewer", "-w", str(home)
    )
    token = run(cli, "tokens", "create", "alice", "--name", "ci", "-w", str(home)).strip()
    assert token.startswith("lwk_")
    assert "ci" in run(cli, "tokens", "list", "alice", "-w", str(home))
    key_file = home / ".lakeworks/secret.key"
    encrypted = run(cli, "secrets", "encrypt", "-w", str(home), stdin="hunter2-secret\n")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "hunter2" not in encrypted
    before = key_file.read_bytes()
    assert "re-encrypted 0 secrets" in run(cli, "secrets", "rotate-key", "-w", str(home))
    assert key_file.read_bytes() != before
    assert "alice" in run(cli, "users", "list", "-w", str(home))


def test_sign_in_locks_are_listed_and_lifted(cli: CliRunner, tmp_path: Path) -> None:
    from lakeworks.cli.common import open_database
    from lakeworks.security.throttle import LoginThrottle, throttle_keys
    from lakeworks.spec.loader import load_workspace

    home = tmp_path / "ws"
    init_workspace(home, "sales")
    assert "no sign-in is locked" in run(cli, "users", "locks", "-w", str(home))
    db = open_database(load_workspace(home))
    try:
        throttle = LoginThrottle(db)
        for address in ("203.0.113.5", "198.51.100.9"):
            for _ in range(5):
                throttle.failure(throttle_keys("Admin", address))
        assert throttle.locked_until(throttle_keys("admin", "203.0.113.5")) is not None
        assert throttle.locked_until(throttle_keys("admin", "192.0.2.1")) is None
    finally:
        db.close()
    listing = run(cli, "users", "locks", "-w", str(home))
    assert "account:admin|203.0.113.5" in listing and "account:admin|198.51.100.9" in listing
    assert "2 lock record(s) cleared" in run(cli, "users", "unlock", "admin", "-w", str(home))
    assert "no sign-in is locked" in run(cli, "users", "locks", "-w", str(home))
    refused = cli.invoke(app, ["users", "unlock", "-w", str(home)])
    assert refused.exit_code != 0
    assert "name a user, an --address, or both" in refused.output
