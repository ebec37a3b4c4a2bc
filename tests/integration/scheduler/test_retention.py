"""Retention: old finished instances and logs go; unfinished work is never deleted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakeworks.errors import UserError
from lakeworks.runtime.retention import RetentionPolicy, prune
from lakeworks.store.models import InstanceState as S
from lakeworks.store.repositories import LogRepository
from lakeworks.store.schema import attempts, instance_events, instance_logs
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import node_text, utc, write_workspace


def test_prune_keeps_recent_instances_logs_and_anything_unfinished(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {"daily": node_text("echo run $bizdate"), "held": node_text("echo", run_mode="frozen")},
    )
    world = new_world(root, utc(2026, 4, 1, 3))
    world.settle()
    for day in range(2, 21):
        world.at(utc(2026, 4, day, 3))
    before = {i.id: i for i in world.all()}
    now = utc(2026, 4, 20, 3).replace(tzinfo=None)
    report = prune(world.db, RetentionPolicy(instance_days=5, log_days=2), now=now)
    after = {i.id: i for i in world.all()}
    gone = set(before) - set(after)
    assert report.instances == len(gone) == 15  # daily runs of April 1..15 (02:00 < 03:00)
    assert all(before[i].node_key == "etl.daily" for i in gone)
    assert {i.state for i in after.values() if i.node_key == "etl.held"} == {S.FROZEN}
    assert min(i.cycle_time for i in after.values() if i.node_key == "etl.daily") == (
        utc(2026, 4, 16, 2).replace(tzinfo=None)
    )
    logs = LogRepository(world.db)
    for instance in after.values():
        if instance.node_key == "etl.daily" and instance.state is S.SUCCESS:
            kept = bool(logs.read(instance.id))
            assert kept == (instance.cycle_time >= now - timedelta(days=2)), instance.cycle_time
    assert report.log_lines > 0
    with world.db.read() as conn:
        for table in (attempts, instance_events, instance_logs):
            orphans = conn.execute(
                sa.select(sa.func.count()).where(table.c.instance_id.in_(sorted(gone)))
            ).scalar_one()
            assert orphans == 0, table.name


def test_prune_keeps_an_old_failure_that_others_still_wait_for(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "load": node_text('test "$bizdate" != 20260401 || exit 1', retries=0),
            "report": node_text("echo report", depends_on=["load"]),
        },
    )
    world = new_world(root, utc(2026, 4, 2, 3))
    world.settle()
    world.at(utc(2026, 4, 20, 3))
    failed = world.one("load", utc(2026, 4, 2, 2))
    assert failed.state is S.FAILED
    prune(world.db, RetentionPolicy(instance_days=5, log_days=5), now=utc(2026, 4, 20, 3))
    assert world.instances.get(failed.id).state is S.FAILED  # its downstream still waits
    waiting = world.one("report", utc(2026, 4, 2, 2))
    assert waiting.state is S.WAITING_UPSTREAM
    world.settle()
    assert world.instances.get(waiting.id).state is S.WAITING_UPSTREAM


def test_a_policy_that_keeps_logs_longer_than_instances_is_refused() -> None:
    with pytest.raises(UserError, match="logs cannot be kept longer"):
        RetentionPolicy(instance_days=1, log_days=7).check()
    with pytest.raises(UserError, match="must be positive"):
        RetentionPolicy(instance_days=0).check()
