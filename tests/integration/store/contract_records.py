"""Contract: runs, node versions, attempts, logs and the work queue."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from lakeworks.errors import Conflict, NotFound, UserError
from lakeworks.store.database import Database
from lakeworks.store.leases import claim
from lakeworks.store.models import Instance, InstanceState, RunState, RunType
from lakeworks.store.repositories import (
    AttemptRepository,
    InstanceRepository,
    LogRepository,
    NodeVersionRepository,
    RunRepository,
    WorkQueue,
)
from tests.integration.store.contract_instances import daily, race

NOW = datetime(2026, 4, 2, 1, 0)


def _claim(
    db: Database,
    worker: str,
    *,
    limit: int = 1,
    group: str = "default",
    env: str = "dev",
    lease_seconds: float = 60,
) -> list[Instance]:
    """Claim as a worker does: one resource group of one workspace and env at ``NOW``."""
    return claim(
        db,
        worker=worker,
        lease_seconds=lease_seconds,
        limit=limit,
        group=group,
        workspace="ws",
        env=env,
        now=NOW,
    )


class RecordContract:
    """Needs the ``db`` fixture of ``MigrationContract``."""

    def test_runs_are_created_read_and_finished(self, db: Database) -> None:
        runs = RunRepository(db)
        run = runs.create("ws", "dev", "backfill", "ana", "April", {"bizdate": "20260401"})
        other = runs.create("ws", "dev", RunType.MANUAL, "bob")
        assert run.run_key and run.run_key != other.run_key
        assert run.state is RunState.RUNNING and run.finished_at is None
        assert json.loads(run.params_json) == {"bizdate": "20260401"}
        assert runs.get(run.id) == run == runs.get_by_key(run.run_key)
        finished = runs.finish(run.id, "success")
        assert finished.state is RunState.SUCCESS and finished.finished_at is not None
        assert [r.id for r in runs.list(workspace="ws")] == [other.id, run.id]
        assert runs.list(run_type="backfill") == [finished]
        with pytest.raises(NotFound):
            runs.get(run.id + 100)
        with pytest.raises(UserError, match="unknown run type 'nightly'"):
            runs.create("ws", "dev", "nightly", "ana")

    def test_node_version_bumps_only_when_code_or_header_change(self, db: Database) -> None:
        versions = NodeVersionRepository(db)
        assert versions.latest("ws", "dev", "ods") is None
        v1 = versions.record("ws", "dev", "ods", "select 1", '{"owner": "ana"}')
        assert v1.version == 1
        assert versions.record("ws", "dev", "ods", "select 1", '{"owner": "ana"}') == v1
        v2 = versions.record("ws", "dev", "ods", "select 2", '{"owner": "ana"}')
        v3 = versions.record("ws", "dev", "ods", "select 2", {"owner": "bob"})
        assert (v2.version, v3.version) == (2, 3)
        assert v3.header_json == '{"owner": "bob"}'
        assert versions.record("ws", "dev", "ods", "select 1", '{"owner": "ana"}').version == 4
        assert [v.version for v in versions.history("ws", "dev", "ods")] == [1, 2, 3, 4]
        assert versions.latest("ws", "dev", "ods") == versions.get("ws", "dev", "ods", 4)
        assert versions.record("ws", "prod", "ods", "select 1", "{}").version == 1

    def test_recording_many_nodes_at_once_matches_one_by_one(self, db: Database) -> None:
        versions = NodeVersionRepository(db)
        versions.record("ws", "dev", "ods", "select 1", "{}")
        versions.record("ws", "dev", "ods", "select 2", "{}")
        nodes = [("ods", "select 2", "{}"), ("dwd", "select 3", "{}")]
        assert versions.record_many("ws", "dev", nodes) == {"ods": 2, "dwd": 1}
        assert versions.record_many("ws", "dev", nodes) == {"ods": 2, "dwd": 1}
        changed = [("ods", "select 1", "{}"), ("dwd", "select 3", '{"owner": "bob"}')]
        assert versions.record_many("ws", "dev", changed) == {"ods": 3, "dwd": 2}
        assert versions.latest("ws", "dev", "dwd") == versions.get("ws", "dev", "dwd", 2)
        assert versions.record_many("ws", "prod", nodes) == {"ods": 1, "dwd": 1}

    def test_concurrent_recording_of_one_change_makes_one_version(self, db: Database) -> None:
        versions = NodeVersionRepository(db)
        results = race(4, lambda: versions.record("ws", "dev", "ods", "select 42", "{}"))
        assert {r.version for r in results} == {1}
        assert len(versions.history("ws", "dev", "ods")) == 1

    def test_attempts_are_numbered_per_instance(self, db: Database) -> None:
        [inst] = InstanceRepository(db).create_many([daily("ods")])
        attempts = AttemptRepository(db)
        first = attempts.start(inst.id, 1, "w1")
        assert first.state is InstanceState.RUNNING and first.finished_at is None
        failed = attempts.finish(first.id, "failed", "exit code 1")
        second = attempts.start(inst.id, 2, "w2")
        attempts.finish(second.id, InstanceState.SUCCESS)
        listed = attempts.for_instance(inst.id)
        assert [(a.number, a.state, a.worker, a.error) for a in listed] == [
            (1, InstanceState.FAILED, "w1", "exit code 1"),
            (2, InstanceState.SUCCESS, "w2", None),
        ]
        assert listed[0] == failed
        with pytest.raises(Conflict, match="attempt 2 of instance"):
            attempts.start(inst.id, 2, "w3")
        with pytest.raises(NotFound):
            attempts.start(inst.id + 100, 1, "w3")
        with pytest.raises(NotFound):
            attempts.finish(first.id + 100, "success")

    def test_logs_come_back_in_append_order_and_can_be_followed(self, db: Database) -> None:
        [a, b] = InstanceRepository(db).create_many([daily("a"), daily("b")])
        logs = LogRepository(db)
        logs.append(a.id, 1, [f"first {n}" for n in range(300)])
        logs.append(b.id, 1, ["other instance"])
        logs.append(a.id, 2, ["retry 1", "retry 2"])
        logs.append(a.id, 2, [])
        lines = logs.read(a.id)
        assert [line.text for line in lines] == [f"first {n}" for n in range(300)] + [
            "retry 1",
            "retry 2",
        ]
        assert [line.id for line in lines] == sorted(line.id for line in lines)
        assert [line.text for line in logs.read(a.id, attempt=2)] == ["retry 1", "retry 2"]
        page = logs.read(a.id, limit=100)
        rest = logs.read(a.id, after_id=page[-1].id)
        assert [x.text for x in page + rest] == [x.text for x in lines]
        assert logs.read(a.id, after_id=lines[-1].id) == []
        with pytest.raises(NotFound):
            logs.append(b.id + 100, 1, ["nobody"])
        with pytest.raises(TypeError):
            logs.append(a.id, 1, "not a list")

    def test_claim_takes_runnable_work_by_priority(self, db: Database) -> None:
        repo = InstanceRepository(db)
        ready = InstanceState.WAITING_RESOURCES
        low, high, later, gpu, waiting, retry, prod = repo.create_many(
            [
                daily("low", 1, state=ready, priority=1),
                daily("high", 2, state=ready, priority=9),
                daily(
                    "later", 1, state=ready, priority=1, next_attempt_at=NOW + timedelta(hours=1)
                ),
                daily("gpu", 1, state=ready, priority=9, resource_group="gpu"),
                daily("waiting", 1, priority=99),
                daily("retry", 3, state=ready, priority=1, next_attempt_at=NOW),
                replace(daily("prod", 1, state=ready, priority=99), env="prod"),
            ]
        )
        claimed = _claim(db, "w1", limit=5)
        assert [i.id for i in claimed] == [high.id, low.id, retry.id]
        first = claimed[0]
        assert first.state is InstanceState.RUNNING and first.worker == "w1"
        assert first.attempts == 1 and first.lease_expires_at == NOW + timedelta(seconds=60)
        assert repo.events(first.id)[-1].action == "claim"
        [attempt] = AttemptRepository(db).for_instance(first.id)
        assert (attempt.number, attempt.state, attempt.worker) == (1, InstanceState.RUNNING, "w1")
        assert _claim(db, "w2") == []
        assert [i.id for i in _claim(db, "w2", group="gpu")] == [gpu.id]
        assert [i.id for i in _claim(db, "w2", env="prod")] == [prod.id]
        assert (
            repo.get(later.id).state is ready
            and repo.get(waiting.id).state is InstanceState.NOT_RUN
        )

    def test_concurrent_claims_never_hand_out_an_instance_twice(self, db: Database) -> None:
        repo = InstanceRepository(db)
        created = repo.create_many(
            [daily(f"n{i}", state=InstanceState.WAITING_RESOURCES) for i in range(24)]
        )

        def drain() -> list[int]:
            mine: list[int] = []
            while batch := _claim(db, "w", limit=3):
                mine.extend(i.id for i in batch)
            return mine

        results = race(4, drain)
        claimed = [i for r in results for i in r]
        assert sorted(claimed) == sorted(i.id for i in created)

    def test_leases_are_renewed_by_their_holder_and_expire(self, db: Database) -> None:
        repo = InstanceRepository(db)
        a, b = repo.create_many(
            [
                daily("a", state=InstanceState.WAITING_RESOURCES),
                daily("b", state=InstanceState.WAITING_RESOURCES),
            ]
        )
        queue = WorkQueue(db)
        _claim(db, "w1", limit=2, lease_seconds=30)
        repo.transition(b.id, "stopped", actor="ops")
        held = queue.renew(
            [a.id, b.id], worker="w1", lease_seconds=30, now=NOW + timedelta(seconds=20)
        )
        assert held == {a.id}
        assert queue.renew([a.id], worker="w2", lease_seconds=30) == set()
        assert queue.expired(now=NOW + timedelta(seconds=45)) == []
        [dead] = queue.expired(now=NOW + timedelta(seconds=51))
        assert dead.id == a.id and dead.worker == "w1"
