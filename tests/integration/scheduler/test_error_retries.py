"""Under the scheduler, retries follow the error model: user errors fail at once,
failures of the user's code are retried per the node's policy, transient ones always."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeworks.store.models import InstanceState as S
from lakeworks.store.repositories import AttemptRepository, LogRepository
from tests.integration.failing_nodes import failing_shell_nodes
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import node_text, utc, write_workspace

DAILY_AT_1 = {"cycle": "day", "at": "01:00"}


@pytest.fixture(autouse=True)
def _failing() -> Iterator[None]:
    with failing_shell_nodes():
        yield


def test_each_kind_of_failure_is_retried_as_the_error_model_says(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    policy = {"schedule": DAILY_AT_1, "retries": 2, "retry_delay_seconds": 0}
    root = write_workspace(
        tmp_path / "ws",
        {
            "user_bad": node_text("echo x", **policy),
            "code_flaky": node_text("echo x", **policy),
            "transient_lock": node_text("echo x", schedule=DAILY_AT_1, retry_delay_seconds=0),
        },
    )
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    worker_log: list[str] = []
    world.worker.log = worker_log.append
    world.settle()
    cycle = utc(2026, 4, 10, 1)
    attempts = AttemptRepository(world.db)

    bad = world.one("user_bad", cycle)
    assert (bad.state, bad.attempts) == (S.FAILED, 1)
    assert bad.reason is not None and bad.reason.startswith("not retried: ")
    log = [line.text for line in LogRepository(world.db).read(bad.id)]
    assert any("not retried: " in line for line in log)

    flaky = world.one("code_flaky", cycle)
    assert (flaky.state, flaky.attempts) == (S.SUCCESS, 2)
    assert [a.state for a in attempts.for_instance(flaky.id)] == [S.FAILED, S.SUCCESS]
    # the worker's own log says why an attempt did not succeed, on its one line
    shown = "\n".join(worker_log)
    assert f"{flaky.node_key} attempt 1: waiting_time (attempt 1 of 3 failed" in shown
    assert f"{flaky.node_key} attempt 2: success\n" in shown + "\n"

    lock = world.one("transient_lock", cycle)
    assert (lock.state, lock.attempts, lock.max_attempts) == (S.SUCCESS, 3, 3)
