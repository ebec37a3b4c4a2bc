"""Workers: retries, timeouts, priorities, stop requests and lost leases."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from lakeworks.runtime import ops
from lakeworks.runtime.worker import Worker, WorkerConfig
from lakeworks.runtime.workspace_source import FolderWorkspaceSource
from lakeworks.store.leases import claim
from lakeworks.store.models import Instance
from lakeworks.store.models import InstanceState as S
from lakeworks.store.repositories import AttemptRepository, InstanceRepository
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import World, node_text, utc, write_workspace

DAILY_AT_1 = {"cycle": "day", "at": "01:00"}


def wait_for(world: World, instance_id: int, *states: S, seconds: float = 20.0) -> Instance:
    deadline = time.monotonic() + seconds
    while True:
        current = world.instances.get(instance_id)
        if current.state in states:
            return current
        assert time.monotonic() < deadline, f"instance {instance_id} is {current.state}"
        time.sleep(0.02)


def test_failed_attempts_are_retried_with_exponential_backoff(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    header = {"schedule": DAILY_AT_1, "retries": 2, "retry_delay_seconds": 60}
    root = write_workspace(
        tmp_path / "ws",
        {"flaky": node_text("echo try $LAKEWORKS_ATTEMPT; exit 1", retry_backoff=2, **header)},
    )
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    world.settle()
    first = world.one("flaky", utc(2026, 4, 10, 1))
    assert first.state is S.WAITING_TIME
    assert first.next_attempt_at == utc(2026, 4, 10, 1, 1).replace(tzinfo=None)
    assert (
        first.reason
        == "attempt 1 of 3 failed, retry at 2026-04-10 01:01:00: flaky.sh exited with code 1"
    )
    world.at(utc(2026, 4, 10, 1, 0, 59))
    assert world.instances.get(first.id).attempts == 1
    world.at(utc(2026, 4, 10, 1, 1))
    second = world.instances.get(first.id)
    assert second.attempts == 2
    assert second.next_attempt_at == utc(2026, 4, 10, 1, 3).replace(tzinfo=None)  # 60 s * 2
    world.at(utc(2026, 4, 10, 1, 3))
    last = world.instances.get(first.id)
    assert last.state is S.FAILED and last.attempts == 3
    attempts = AttemptRepository(world.db).for_instance(first.id)
    assert [(a.number, a.state) for a in attempts] == [(n, S.FAILED) for n in (1, 2, 3)]


def test_a_retry_that_succeeds_leaves_the_instance_successful(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    script = 'test "$LAKEWORKS_ATTEMPT" = 2'
    root = write_workspace(
        tmp_path / "ws",
        {"second": node_text(script, schedule=DAILY_AT_1, retries=3, retry_delay_seconds=0)},
    )
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    world.settle()
    done = world.one("second", utc(2026, 4, 10, 1))
    assert (done.state, done.attempts) == (S.SUCCESS, 2)


def test_a_run_over_its_timeout_is_killed_and_failed(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {"slow": node_text("sleep 30", schedule=DAILY_AT_1, timeout_seconds=0.5)},
    )
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    started = time.monotonic()
    world.settle()
    assert time.monotonic() - started < 10
    slow = world.one("slow", utc(2026, 4, 10, 1))
    assert slow.state is S.FAILED
    assert slow.reason == "timed out after 0.5 s"


def test_a_full_group_runs_higher_priority_first(tmp_path: Path, new_world: WorldFactory) -> None:
    nodes = {f"p{n}": node_text(f"echo {n}", schedule=DAILY_AT_1, priority=n) for n in (1, 5, 3)}
    world = new_world(
        write_workspace(tmp_path / "ws", nodes, groups={"default": 1}),
        utc(2026, 4, 10, 1, 0),
        groups={"default": 1},
    )
    world.settle()
    today = [i for i in world.all() if i.bizdate == "20260409"]
    claims = {
        i.node_key: e.id for i in today for e in world.instances.events(i.id) if e.action == "claim"
    }
    assert sorted(claims, key=claims.__getitem__) == ["etl.p5", "etl.p3", "etl.p1"]


def test_stop_from_another_process_kills_the_running_work(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(tmp_path / "ws", {"long": node_text("sleep 30", schedule=DAILY_AT_1)})
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    world.scheduler.run_once()
    assert world.worker.step() == 1
    [running] = world.worker.running()
    wait_for(world, running, S.RUNNING)
    time.sleep(0.2)  # the shell is running
    result = ops.stop(world.db, "bob", [running])
    assert [i.state for i in result.changed] == [S.STOPPED]
    started = time.monotonic()
    assert world.worker.renew() == [running]
    world.wait_idle(seconds=10)
    assert time.monotonic() - started < 5
    stopped = world.instances.get(running)
    assert (stopped.state, stopped.reason) == (S.STOPPED, "stopped by bob")
    [attempt] = AttemptRepository(world.db).for_instance(running)
    assert attempt.state is S.FAILED


def _claimed_by_a_dead_worker(world: World) -> Instance:
    """An instance claimed by a worker that then died (it never renews its lease)."""
    world.scheduler.run_once()
    [claimed] = claim(
        world.db,
        worker="dead-worker",
        lease_seconds=30,
        limit=1,
        group="default",
        workspace=world.worker.source.current(world.worker.env).name,
        env=world.worker.env,
        now=world.clock.now(),
    )
    return claimed


def test_an_expired_lease_goes_back_to_the_queue_and_runs_elsewhere(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    script = "echo ran on attempt $LAKEWORKS_ATTEMPT"
    root = write_workspace(
        tmp_path / "ws", {"job": node_text(script, schedule=DAILY_AT_1, retries=1)}
    )
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    claimed = _claimed_by_a_dead_worker(world)
    world.clock.advance(seconds=29)
    assert world.scheduler.run_once().reclaimed == 0
    world.clock.advance(seconds=2)
    report = world.scheduler.run_once()
    assert report.reclaimed == 1
    back = world.instances.get(claimed.id)
    assert back.state is S.WAITING_RESOURCES
    assert back.reason == (
        "worker dead-worker stopped renewing its lease during attempt 1;"
        " waiting for a slot in group default"
    )
    world.settle()
    done = world.instances.get(claimed.id)
    assert (done.state, done.attempts, done.worker) == (S.SUCCESS, 2, world.worker.name)
    attempts = AttemptRepository(world.db).for_instance(claimed.id)
    assert [(a.number, a.worker, a.state) for a in attempts] == [
        (1, "dead-worker", S.FAILED),
        (2, world.worker.name, S.SUCCESS),
    ]


def test_a_lost_lease_with_no_attempts_left_fails_the_instance(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(tmp_path / "ws", {"job": node_text("echo", schedule=DAILY_AT_1)})
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    claimed = _claimed_by_a_dead_worker(world)
    world.clock.advance(seconds=31)
    world.scheduler.run_once()
    failed = world.instances.get(claimed.id)
    assert failed.state is S.FAILED
    assert failed.reason == (
        "worker dead-worker stopped renewing its lease during attempt 1, and no attempts are left"
    )


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_attempt(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws", {"job": node_text("sleep 1", schedule=DAILY_AT_1, retries=1)}
    )
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    world.scheduler.run_once()
    assert world.worker.step() == 1  # the stalled worker starts the run
    [first] = world.worker.running()
    world.clock.advance(seconds=31)  # it never renews: presumed dead
    assert world.scheduler.run_once().reclaimed == 1
    other = Worker(
        world.db,
        FolderWorkspaceSource(world.root),
        WorkerConfig(groups={"default": 1}, name="other"),
        clock=world.clock,
    )
    try:
        assert other.step() == 1
        while other.running():
            time.sleep(0.02)
    finally:
        other.close()
    world.wait_idle()  # the stalled worker's run ends too, and must change nothing
    done = InstanceRepository(world.db).get(first)
    assert (done.state, done.worker, done.attempts) == (S.SUCCESS, "other", 2)
    finishes = [e for e in world.instances.events(first) if e.action == "finish"]
    assert [e.actor for e in finishes] == ["other"]
    assert world.worker.renew() == []
    assert done.finished_at is not None
    assert done.started_at is not None and done.finished_at - done.started_at < timedelta(minutes=1)
