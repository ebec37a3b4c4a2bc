"""Claims from the work queue: never more than asked, never one instance twice, and
no worker ever runs more instances at once than it has slots."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lakeworks.runtime.worker import Worker, WorkerConfig
from lakeworks.runtime.workspace_source import FolderWorkspaceSource
from lakeworks.spec.loader import load_workspace
from lakeworks.store.claims import ClaimRequest
from lakeworks.store.database import Database
from lakeworks.store.leases import RunEnd, claim, finish_and_claim
from lakeworks.store.models import Instance, NewInstance
from lakeworks.store.models import InstanceState as S
from lakeworks.store.repositories import AttemptRepository, InstanceRepository

NOW = datetime(2026, 4, 10, 2, 0)


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    with Database.open(store_url) as database:
        yield database


def queue(db: Database, workspace: str, keys: list[str], count: int) -> list[int]:
    items = [
        NewInstance(
            workspace=workspace,
            env="prod",
            node_key=keys[i % len(keys)],
            cycle_time=NOW + timedelta(minutes=i // len(keys)),
            bizdate="20260409",
            state=S.WAITING_RESOURCES,
            priority=i % 3,
        )
        for i in range(count)
    ]
    return [i.id for i in InstanceRepository(db).create_many(items)]


def test_concurrent_claims_take_at_most_their_limit_and_never_the_same_instance(
    db: Database,
) -> None:
    ids = queue(db, "ws", [f"flow.n{n}" for n in range(10)], 240)
    claims: list[tuple[int, list[Instance]]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claimer(name: str, limit: int) -> None:
        start.wait()
        while True:
            taken = claim(
                db,
                worker=name,
                lease_seconds=30,
                limit=limit,
                group="default",
                workspace="ws",
                env="prod",
                now=NOW + timedelta(days=1),
            )
            with lock:
                claims.append((limit, taken))
            if not taken:
                return

    threads = [threading.Thread(target=claimer, args=(f"w{n}", n % 3 + 1)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert max(len(taken) - limit for limit, taken in claims) <= 0
    assert {len(taken) for limit, taken in claims if limit == 3} >= {3}
    everything = [i.id for _, taken in claims for i in taken]
    assert sorted(everything) == sorted(ids)  # each exactly once
    repo, attempts = InstanceRepository(db), AttemptRepository(db)
    for instance in repo.get_many(ids[:20]):
        assert (instance.state, instance.attempts) == (S.RUNNING, 1)
        assert [(a.number, a.state) for a in attempts.for_instance(instance.id)] == [(1, S.RUNNING)]
        assert [e.action for e in repo.events(instance.id)] == ["claim"]


def test_a_claim_takes_the_highest_priority_first_then_the_next_band(db: Database) -> None:
    queue(db, "ws", [f"flow.n{n}" for n in range(4)], 9)  # priorities 0, 1, 2 three each
    taken = claim(
        db,
        worker="w",
        lease_seconds=30,
        limit=5,
        group="default",
        workspace="ws",
        env="prod",
        now=NOW + timedelta(days=1),
    )
    assert [i.priority for i in taken] == [2, 2, 2, 1, 1]


def write_noop_workspace(root: Path, nodes: int) -> list[str]:
    root.mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: slots\nresource_groups: {default: {slots: 8}}\n")
    folder = root / "workflows" / "noop"
    folder.mkdir(parents=True)
    for n in range(nodes):
        (folder / f"n{n:02d}.sql").write_text("-- nothing to do\n")
    return [node.key for node in load_workspace(root).nodes()]


def most_held_at_once(runs: list[tuple[datetime, datetime]]) -> int:
    """The most runs overlapping in time (an end at the moment of a start frees first)."""
    edges = sorted([(s, 1) for s, _ in runs] + [(f, -1) for _, f in runs])
    held = most = 0
    for _, step in edges:
        held += step
        most = max(most, held)
    return most


def test_workers_never_run_more_instances_at_once_than_their_slots(
    tmp_path: Path, db: Database
) -> None:
    keys = write_noop_workspace(tmp_path / "ws", 20)
    ids = queue(db, "slots", keys, 300)
    slots = {"small": 2, "large": 3}
    workers = [
        Worker(
            db,
            FolderWorkspaceSource(tmp_path / "ws", refresh_seconds=0),
            WorkerConfig(groups={"default": n}, name=name, poll_seconds=0.05),
        )
        for name, n in slots.items()
    ]
    stop = threading.Event()
    threads = [
        threading.Thread(target=w.run, args=(stop,), kwargs={"grace_seconds": 5}) for w in workers
    ]
    for thread in threads:
        thread.start()
    try:
        repo = InstanceRepository(db)
        deadline = datetime.now() + timedelta(seconds=120)
        while sum(w.completed for w in workers) < len(ids):
            assert datetime.now() < deadline, "the workers did not finish the queue"
            threading.Event().wait(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    done = repo.get_many(ids)
    assert {i.state for i in done} == {S.SUCCESS}
    assert {i.attempts for i in done} == {1}
    by_worker: dict[str, list[tuple[datetime, datetime]]] = {}
    for instance in done:
        assert instance.started_at is not None and instance.finished_at is not None
        by_worker.setdefault(instance.worker or "", []).append(
            (instance.started_at, instance.finished_at)
        )
    assert set(by_worker) == set(slots)  # both took part
    for name, runs in by_worker.items():
        assert most_held_at_once(runs) <= slots[name], name


def test_ends_that_free_slots_claim_one_next_instance_each_at_their_end(db: Database) -> None:
    ids = queue(db, "ws", ["flow.a", "flow.b", "flow.c"], 3)
    first, second = claim(
        db,
        worker="w",
        lease_seconds=30,
        limit=2,
        group="default",
        workspace="ws",
        env="prod",
        now=NOW,
    )
    ended = NOW + timedelta(minutes=1)
    request = ClaimRequest(
        worker="w", lease_seconds=30, group="default", workspace="ws", env="prod"
    )
    ends = [
        RunEnd(
            instance_id=i.id,
            worker="w",
            attempt=1,
            to_state=S.SUCCESS,
            reason=None,
            attempt_state=S.SUCCESS,
            now=ended,
            then_claim=request,
        )
        for i in (first, second)
    ]
    results = finish_and_claim(db, ends)
    assert [moved.state if moved else None for moved, _ in results] == [S.SUCCESS, S.SUCCESS]
    following = [nxt for _, nxt in results if nxt is not None]
    (left,) = set(ids) - {first.id, second.id}
    assert [i.id for i in following] == [left]  # one each at most: the queue had one
    assert following[0].state is S.RUNNING and following[0].worker == "w"
    assert following[0].started_at == ended
    assert [e.action for e in InstanceRepository(db).events(left)] == ["claim"]
