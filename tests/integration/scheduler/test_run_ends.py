"""Ends of runs recorded together: one transaction for the runs that end at once,
each still moved only while its worker holds it, and a refused end failing alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest

from lakeworks.runtime import run_ends
from lakeworks.runtime.run_ends import EndWriter
from lakeworks.store.database import Database
from lakeworks.store.leases import RunEnd, claim, finish_many, reclaim
from lakeworks.store.models import Instance, NewInstance
from lakeworks.store.models import InstanceState as S
from lakeworks.store.repositories import AttemptRepository, InstanceRepository, LogRepository
from tests.integration.scheduler.world import new_schema_url

NOW = datetime(2026, 4, 10, 2, 0)


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    with Database.open(store_url) as database:
        yield database


def claimed(db: Database, count: int, *, worker: str = "w1") -> list[Instance]:
    items = [
        NewInstance(
            workspace="ws",
            env="prod",
            node_key=f"flow.n{i}",
            cycle_time=NOW,
            bizdate="20260409",
            state=S.WAITING_RESOURCES,
            max_attempts=2,
        )
        for i in range(count)
    ]
    InstanceRepository(db).create_many(items)
    taken = claim(
        db,
        worker=worker,
        lease_seconds=30,
        limit=count,
        group="default",
        workspace="ws",
        env="prod",
        now=NOW,
    )
    assert len(taken) == count
    return sorted(taken, key=lambda i: i.id)


def success(instance: Instance, *, lines: Sequence[str] = ("succeeded",)) -> RunEnd:
    return RunEnd(
        instance_id=instance.id,
        worker=instance.worker or "",
        attempt=instance.attempts,
        to_state=S.SUCCESS,
        reason=None,
        attempt_state=S.SUCCESS,
        log_lines=lines,
        actor=instance.worker or "",
        now=NOW + timedelta(seconds=1),
        fields={"finished_at": NOW + timedelta(seconds=1), "rendered_code": f"-- {instance.id}"},
    )


def test_runs_ending_together_are_recorded_in_one_go_each_as_its_own(db: Database) -> None:
    first, second, third = claimed(db, 3)
    retry_at = NOW + timedelta(minutes=5)
    failed = RunEnd(
        instance_id=third.id,
        worker="w1",
        attempt=1,
        to_state=S.WAITING_TIME,
        reason="attempt 1 of 2 failed, retry at 02:05",
        attempt_state=S.FAILED,
        attempt_error="exit code 3",
        log_lines=["FAILED: exit code 3"],
        actor="w1",
        now=NOW,
        fields={"next_attempt_at": retry_at},
    )
    moved = finish_many(db, [success(first), success(second, lines=["a", "b"]), failed])
    assert [m.state if m else None for m in moved] == [S.SUCCESS, S.SUCCESS, S.WAITING_TIME]
    repo = InstanceRepository(db)
    one, two, three = (repo.get(i.id) for i in (first, second, third))
    assert (one.rendered_code, two.rendered_code) == (f"-- {first.id}", f"-- {second.id}")
    assert one.worker == "w1" and one.finished_at == NOW + timedelta(seconds=1)
    assert three.next_attempt_at == retry_at and three.finished_at is None
    assert [a.state for a in AttemptRepository(db).for_instance(third.id)] == [S.FAILED]
    assert [line.text for line in LogRepository(db).read(second.id)] == ["a", "b"]
    assert [e.to_state for e in repo.events(first.id) if e.action == "finish"] == [S.SUCCESS]


def test_a_run_no_longer_held_is_left_alone_and_the_others_move(db: Database) -> None:
    kept, lost = claimed(db, 2)
    back = reclaim(db, lost, now=NOW, actor="operator", expired_only=False, why="given back")
    assert back is not None and back.state is S.WAITING_RESOURCES
    moved = finish_many(db, [success(kept), success(lost)])
    assert moved[0] is not None and moved[0].state is S.SUCCESS
    assert moved[1] is None
    assert InstanceRepository(db).get(lost.id).state is S.WAITING_RESOURCES
    # its attempt's record is still written: the run did happen
    assert [line.text for line in LogRepository(db).read(lost.id)] == ["succeeded"]


def test_ends_arriving_during_a_write_share_the_next_transaction(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    instances = claimed(db, 4)
    writer = EndWriter(db)
    release = threading.Event()
    sizes: list[int] = []
    real = run_ends.finish_and_claim

    def slow_first(
        database: Database, ends: Sequence[RunEnd]
    ) -> list[tuple[Instance | None, Instance | None]]:
        sizes.append(len(ends))
        if len(sizes) == 1:
            assert release.wait(30)
        return real(database, ends)

    monkeypatch.setattr(run_ends, "finish_and_claim", slow_first)
    results: dict[int, Instance | None] = {}

    def finish(instance: Instance) -> None:
        results[instance.id] = writer.finish(success(instance))

    threads = [threading.Thread(target=finish, args=(instances[0],))]
    threads[0].start()
    while not sizes:  # the first end is being written
        threading.Event().wait(0.01)
    for instance in instances[1:]:
        threads.append(threading.Thread(target=finish, args=(instance,)))
        threads[-1].start()
    while len(writer._waiting) < 3:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(30)
    assert sizes == [1, 3]
    assert {i: r.state if r else None for i, r in results.items()} == {
        i.id: S.SUCCESS for i in instances
    }


@pytest.mark.postgres
def test_an_end_the_store_refuses_fails_only_its_own_run(scheduler_pg_database: str) -> None:
    # PostgreSQL refuses NUL characters in text (SQLite stores them)
    with Database.open(new_schema_url(scheduler_pg_database)) as db:
        good, bad = claimed(db, 2)
        writer = EndWriter(db)
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def finish(name: str, end: RunEnd) -> None:
            barrier.wait()
            try:
                outcome[name] = writer.finish(end)
            except Exception as exc:
                outcome[name] = exc

        threads = [
            threading.Thread(target=finish, args=("good", success(good))),
            threading.Thread(target=finish, args=("bad", success(bad, lines=["nul \x00 here"]))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert isinstance(outcome["good"], Instance) and outcome["good"].state is S.SUCCESS
        assert isinstance(outcome["bad"], Exception)
        assert InstanceRepository(db).get(bad.id).state is S.RUNNING
