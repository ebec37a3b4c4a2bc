"""``lakeworks run`` retries by the error model: user errors never, run-time failures of
the user's code per the node's policy, transient failures always."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.runtime.runner import ManualRunner, RunSummary
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.repositories import AttemptRepository, LogRepository
from tests.integration.failing_nodes import failing_shell_nodes


@pytest.fixture(autouse=True)
def _failing() -> Iterator[None]:
    with failing_shell_nodes():
        yield
    close_all()


def workspace(root: Path, nodes: dict[str, str]) -> Path:
    (root / "workflows" / "wf").mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: t\n", encoding="utf-8")
    for name, header in nodes.items():
        text = f"# ---\n{header}# ---\necho running\n" if header else "echo running\n"
        (root / "workflows" / "wf" / f"{name}.sh").write_text(text, encoding="utf-8")
    return root


def run(root: Path) -> tuple[RunSummary, dict[str, Instance], dict[str, list[str]]]:
    ws = load_workspace(root)
    db = Database.open(default_database_url(ws.state_dir))
    try:
        summary = ManualRunner(ws, db, engine_for(ws, "dev"), "dev").run(date(2026, 4, 11))
        by_name = {i.node_key.split(".")[-1]: i for i in summary.instances}
        logs = {n: [x.text for x in LogRepository(db).read(i.id)] for n, i in by_name.items()}
        attempts = {
            n: [str(a.state) for a in AttemptRepository(db).for_instance(i.id)]
            for n, i in by_name.items()
        }
        return summary, by_name, {**{f"{n}:attempts": a for n, a in attempts.items()}, **logs}
    finally:
        db.close()


RETRIES = "# retries: 2\n# retry_delay_seconds: 0\n"


def test_a_user_error_fails_at_once_and_says_it_is_not_retried(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"user_bad": RETRIES, "after": "# depends_on: [user_bad]\n"})
    summary, nodes, logs = run(root)
    bad = nodes["user_bad"]
    assert (bad.state, bad.attempts) == (InstanceState.FAILED, 1)
    assert bad.reason is not None and bad.reason.startswith("not retried: ")
    assert "unknown column 'amout'" in bad.reason
    assert any("not retried: " in line for line in logs["user_bad"])
    assert logs["user_bad:attempts"] == ["failed"]
    assert nodes["after"].state is InstanceState.BLOCKED
    assert not summary.ok


def test_a_failure_of_the_users_code_is_retried_per_policy(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"code_flaky": RETRIES, "code_once": ""})
    _, nodes, logs = run(root)
    flaky = nodes["code_flaky"]
    assert (flaky.state, flaky.attempts) == (InstanceState.SUCCESS, 2)
    assert logs["code_flaky:attempts"] == ["failed", "success"]
    assert any("attempt 1 of 3 failed, retry at" in line for line in logs["code_flaky"])
    once = nodes["code_once"]  # no retries configured: one attempt
    assert (once.state, once.attempts) == (InstanceState.FAILED, 1)
    assert once.reason == "code_once.sh exited with code 1"


def test_a_transient_failure_is_retried_even_without_a_policy(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"transient_lock": "# retry_delay_seconds: 0\n"})
    summary, nodes, logs = run(root)
    lock = nodes["transient_lock"]
    assert (lock.state, lock.attempts, lock.max_attempts) == (InstanceState.SUCCESS, 3, 3)
    assert logs["transient_lock:attempts"] == ["failed", "failed", "success"]
    assert summary.ok
