"""Contract: instances, their dependencies and state changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import pytest

from lakeworks.errors import Conflict, NotFound
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState, NewInstance, RunType
from lakeworks.store.repositories import InstanceRepository, RunRepository

T = TypeVar("T")
DAY = datetime(2026, 4, 1)


def daily(node: str, day: int = 1, **kwargs: object) -> NewInstance:
    """A scheduled instance of ``node`` for 2026-04-``day``."""
    cycle = datetime(2026, 4, day)
    bizdate = (cycle - timedelta(days=1)).strftime("%Y%m%d")
    return NewInstance("ws", "dev", node, cycle, bizdate, **kwargs)  # type: ignore[arg-type]


def race(count: int, action: Callable[[], T]) -> list[T]:
    """Run ``action`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            value = action()
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


class InstanceContract:
    """Needs the ``db`` fixture of ``MigrationContract``."""

    def test_create_many_returns_instances_in_order_with_their_dependencies(
        self, db: Database
    ) -> None:
        repo = InstanceRepository(db)
        created = repo.create_many(
            [daily("ods"), daily("dwd"), daily("ads", owner="ana", priority=5)],
            dependencies=[(1, 0), (2, 1), (2, 0)],
        )
        assert [i.node_key for i in created] == ["ods", "dwd", "ads"]
        assert [repo.get(i.id) for i in created] == created
        ods, dwd, ads = (i.id for i in created)
        assert created[2].owner == "ana" and created[2].priority == 5
        assert created[0].state is InstanceState.NOT_RUN and created[0].attempts == 0
        assert repo.upstream_ids(ads) == sorted([ods, dwd])
        assert repo.downstream_ids(ods) == sorted([dwd, ads])
        assert repo.dependencies_for([ods, dwd, ads, 10_000]) == {
            ods: [],
            dwd: [ods],
            ads: sorted([ods, dwd]),
            10_000: [],
        }

    def test_a_second_instance_for_the_same_node_and_cycle_is_a_conflict(
        self, db: Database
    ) -> None:
        repo = InstanceRepository(db)
        [first] = repo.create_many([daily("ods")])
        with pytest.raises(Conflict, match=rf"node 'ods' at cycle 2026-04-01.*id {first.id}"):
            repo.create_many([daily("new"), daily("ods")])
        # the whole batch was refused, the new node included
        assert [i.node_key for i in repo.list(workspace="ws")] == ["ods"]
        with pytest.raises(Conflict, match="listed twice"):
            repo.create_many([daily("x"), daily("x")])

    def test_ignore_returns_the_existing_instances(self, db: Database) -> None:
        repo = InstanceRepository(db)
        first = repo.create_many([daily("ods"), daily("dwd")], dependencies=[(1, 0)])
        again = repo.create_many(
            [daily("ods"), daily("dwd"), daily("ads"), daily("ads")],
            dependencies=[(2, 1)],
            on_conflict="ignore",
        )
        assert again[:2] == first
        assert again[2] == again[3]
        assert len(repo.list(workspace="ws")) == 3
        assert repo.upstream_ids(again[2].id) == [first[1].id]
        assert repo.upstream_ids(first[1].id) == [first[0].id]

    def test_other_run_keys_may_repeat_a_node_and_cycle(self, db: Database) -> None:
        run = RunRepository(db).create("ws", "dev", RunType.BACKFILL, "ops")
        repo = InstanceRepository(db)
        scheduled, backfill = repo.create_many(
            [
                daily("ods"),
                daily("ods", run_type=RunType.BACKFILL, run_key=run.run_key, run_id=run.id),
            ]
        )
        assert scheduled.run_key == "schedule" and backfill.run_id == run.id
        assert repo.list(run_id=run.id) == [backfill]
        assert repo.list(run_type="scheduled") == [scheduled]

    def test_scheduler_race_creates_each_cycle_once(self, db: Database) -> None:
        repo = InstanceRepository(db)
        batch = [daily(f"n{i}", day) for i in range(10) for day in (1, 2, 3)]
        results = race(3, lambda: repo.create_many(batch, on_conflict="ignore"))
        assert len(repo.list(workspace="ws", limit=1000)) == len(batch)
        assert results[0] == results[1] == results[2]

    def test_bad_dependency_indexes_and_unknown_ids_are_refused(self, db: Database) -> None:
        repo = InstanceRepository(db)
        with pytest.raises(ValueError, match="outside"):
            repo.create_many([daily("a")], dependencies=[(0, 1)])
        with pytest.raises(ValueError, match="itself"):
            repo.create_many([daily("a"), daily("b")], dependencies=[(1, 1)])
        assert repo.list() == []
        [a] = repo.create_many([daily("a")])
        with pytest.raises(NotFound):
            repo.get(a.id + 1000)
        with pytest.raises(NotFound):
            repo.add_dependencies([(a.id, a.id + 1000)])

    def test_add_dependencies_links_existing_instances_once(self, db: Database) -> None:
        repo = InstanceRepository(db)
        yesterday, today = repo.create_many([daily("ods", 1), daily("ods", 2)])
        repo.add_dependencies([(today.id, yesterday.id)])
        repo.add_dependencies([(today.id, yesterday.id)])
        assert repo.upstream_ids(today.id) == [yesterday.id]

    def test_datetimes_are_stored_and_returned_as_utc_naive(self, db: Database) -> None:
        repo = InstanceRepository(db)
        shanghai = timezone(timedelta(hours=8))
        aware, naive = repo.create_many(
            [
                NewInstance("ws", "dev", "a", datetime(2026, 4, 1, 8, tzinfo=shanghai), "x"),
                NewInstance("ws", "dev", "b", datetime(2026, 4, 1, 0, 30), "x"),
            ]
        )
        assert aware.cycle_time == datetime(2026, 4, 1, 0, 0)
        assert repo.get(aware.id).cycle_time == datetime(2026, 4, 1, 0, 0)
        assert repo.get(naive.id).cycle_time == datetime(2026, 4, 1, 0, 30)
        stored = repo.get(aware.id)
        assert stored.cycle_time.tzinfo is None and stored.created_at.tzinfo is None
        now = datetime.now(UTC).replace(tzinfo=None)
        assert abs((stored.created_at - now).total_seconds()) < 60
        with pytest.raises(Conflict):  # the same moment written in another zone
            repo.create_many([NewInstance("ws", "dev", "a", datetime(2026, 4, 1), "x")])

    def test_transition_is_compare_and_set_with_an_event(self, db: Database) -> None:
        repo = InstanceRepository(db)
        [inst] = repo.create_many([daily("ods", state=InstanceState.WAITING_RESOURCES)])
        running = repo.transition(
            inst.id,
            InstanceState.RUNNING,
            expected=[InstanceState.WAITING_RESOURCES],
            actor="worker-1",
            worker="worker-1",
            attempts=1,
        )
        assert running is not None and running.state is InstanceState.RUNNING
        assert running.worker == "worker-1" and running.attempts == 1
        assert running.started_at is not None and running.finished_at is None
        lost = repo.transition(inst.id, "running", expected=["waiting_resources"])
        assert lost is None
        failed = repo.transition(inst.id, InstanceState.FAILED, reason="exit code 1")
        assert failed is not None and failed.finished_at is not None
        assert failed.started_at == running.started_at and failed.reason == "exit code 1"
        assert failed.duration_seconds is not None and failed.duration_seconds >= 0
        rerun = repo.transition(inst.id, "not_run", actor="ops", action="rerun")
        assert rerun is not None and rerun.started_at is None and rerun.finished_at is None
        events = repo.events(inst.id)
        assert [(e.from_state, e.to_state, e.actor, e.action) for e in events] == [
            (InstanceState.WAITING_RESOURCES, InstanceState.RUNNING, "worker-1", "transition"),
            (InstanceState.RUNNING, InstanceState.FAILED, "system", "transition"),
            (InstanceState.FAILED, InstanceState.NOT_RUN, "ops", "rerun"),
        ]
        assert events[1].detail == "exit code 1"
        with pytest.raises(NotFound):
            repo.transition(inst.id + 1000, "running")
        with pytest.raises(TypeError, match="cannot set colour"):
            repo.transition(inst.id, "running", colour="red")

    def test_only_one_of_two_racing_transitions_wins(self, db: Database) -> None:
        repo = InstanceRepository(db)
        created = repo.create_many(
            [daily(f"n{i}", state=InstanceState.WAITING_RESOURCES) for i in range(10)]
        )
        for inst in created:

            def claim(id_: int = inst.id) -> Instance | None:
                return repo.transition(id_, "running", expected=["waiting_resources"])

            results = race(2, claim)
            assert sum(r is not None for r in results) == 1
            assert len(repo.events(inst.id)) == 1

    def test_set_many_state_moves_matching_instances_with_events(self, db: Database) -> None:
        repo = InstanceRepository(db)
        a, b, c = repo.create_many([daily("a"), daily("b"), daily("c", state="running")])
        moved = repo.set_many_state(
            [a.id, b.id, c.id, 9999], "frozen", "frozen by ops", "ops", expected=["not_run"]
        )
        assert moved == 2
        assert [repo.get(i).state for i in (a.id, b.id, c.id)] == [
            InstanceState.FROZEN,
            InstanceState.FROZEN,
            InstanceState.RUNNING,
        ]
        assert repo.get(a.id).reason == "frozen by ops"
        [event] = repo.events(b.id)
        assert (event.from_state, event.to_state, event.actor) == (
            InstanceState.NOT_RUN,
            InstanceState.FROZEN,
            "ops",
        )
        assert repo.events(c.id) == []
        assert repo.set_many_state([c.id], InstanceState.STOPPED, "stopped") == 1

    def test_operator_actions_are_recorded(self, db: Database) -> None:
        repo = InstanceRepository(db)
        [inst] = repo.create_many([daily("a")])
        event = repo.record_event(inst.id, "rerun_requested", actor="ops", detail="with downstream")
        assert repo.events(inst.id) == [event]
        assert event.from_state is None and event.to_state is None
        with pytest.raises(NotFound):
            repo.record_event(inst.id + 1000, "rerun_requested")

    def test_keyset_pagination_and_filters(self, db: Database) -> None:
        repo = InstanceRepository(db)
        run = RunRepository(db).create("ws", "dev", "manual", "ana")
        items = [
            daily(f"n{i % 3}", day=1 + i // 3, workflow=f"wf{i % 2}", owner=f"o{i % 4}")
            for i in range(24)
        ]
        items.append(daily("solo", run_type=RunType.MANUAL, run_key=run.run_key, run_id=run.id))
        items.append(NewInstance("other", "prod", "n0", DAY, "20260331"))
        created = repo.create_many(items)
        repo.set_many_state([created[i].id for i in range(0, 24, 5)], "failed", "boom", "w")

        def pages(**filters: object) -> list[list[Instance]]:
            result, after = [], None
            while page := repo.list(after_id=after, limit=7, **filters):  # type: ignore[arg-type]
                result.append(page)
                after = page[-1].id
            return result

        asc = pages(workspace="ws", env="dev")
        assert [len(p) for p in asc] == [7, 7, 7, 4]
        ids = [i.id for p in asc for i in p]
        assert ids == sorted(ids) == sorted(i.id for i in created[:25])
        desc = pages(workspace="ws", order="desc")
        assert [i.id for p in desc for i in p] == ids[::-1]

        def ids_of(**filters: object) -> set[int]:
            return {i.id for i in repo.list(limit=1000, **filters)}  # type: ignore[arg-type]

        def expected(pred: Callable[[int], bool]) -> set[int]:
            return {created[i].id for i in range(24) if pred(i)}

        assert ids_of(states=["failed"]) == expected(lambda i: i % 5 == 0)
        assert ids_of(states=[InstanceState.NOT_RUN], node_keys=["n1"]) == expected(
            lambda i: i % 3 == 1 and i % 5 != 0
        )
        assert ids_of(bizdate="20260401", workspace="ws") == expected(lambda i: i // 3 == 1)
        assert ids_of(workflow="wf1", owner="o1") == expected(lambda i: i % 4 == 1)
        assert ids_of(run_id=run.id) == {created[24].id}
        assert ids_of(run_type="manual") == {created[24].id}
        assert ids_of(workspace="other") == {created[25].id}
        assert ids_of(
            workspace="ws", cycle_from=datetime(2026, 4, 2), cycle_to=datetime(2026, 4, 4)
        ) == expected(lambda i: 1 <= i // 3 < 3)
        assert repo.get_many([created[3].id, created[1].id, 10_000]) == [created[1], created[3]]
        with pytest.raises(ValueError):
            repo.list(limit=0)
