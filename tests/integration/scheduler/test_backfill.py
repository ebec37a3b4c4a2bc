"""Backfills through the scheduler and workers: order, overrides, progress, settlement."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lakeworks.errors import UserError
from lakeworks.runtime import backfill_service as backfills
from lakeworks.schedule.backfill import BackfillOrder, BackfillRequest, BackfillScope
from lakeworks.spec.loader import load_workspace
from lakeworks.store.models import InstanceState as S
from lakeworks.store.models import RunState, RunType
from lakeworks.store.repositories import LogRepository
from lakeworks.store.scheduling import SchedulingStore
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import World, node_text, utc, write_workspace


@pytest.fixture
def world(tmp_path: Path, new_world: WorldFactory) -> World:
    root = write_workspace(
        tmp_path / "ws",
        {
            "ods": node_text('echo "ods $bizdate region=$region"'),
            "dwd": node_text('test "$bizdate" != 20260403 || exit 5', depends_on=["ods"]),
            "ads": node_text("echo ads $bizdate", depends_on=["dwd"]),
        },
    )
    (root / "lakeworks.yml").write_text(
        (root / "lakeworks.yml")
        .read_text()
        .replace('"name": "demo"', '"name": "demo",\n  "parameters": {"region": "north"}')
    )
    return new_world(root, utc(2026, 4, 10, 3))


def request(**fields: object) -> BackfillRequest:
    base: dict[str, object] = {
        "node": "ods",
        "date_ranges": ((date(2026, 4, 1), date(2026, 4, 2)),),
        "scope": BackfillScope.DOWNSTREAM,
    }
    base.update(fields)
    return BackfillRequest(**base)  # type: ignore[arg-type]


def claims(world: World, run_id: int) -> list[tuple[str, str]]:
    """(node, bizdate) of a run's instances in the order workers claimed them."""
    found = []
    for i in world.instances.list(run_id=run_id, limit=1000):
        for event in world.instances.events(i.id):
            if event.action == "claim":
                found.append((event.id, i.node_key.split(".")[1], i.bizdate))
    return [(node, day) for _, node, day in sorted(found)]


def test_a_backfill_runs_beside_the_schedule_with_its_overrides(world: World) -> None:
    world.settle()
    scheduled = {i.id: i for i in world.all()}
    ws = load_workspace(world.root)
    run, plan, created = backfills.start_backfill(
        world.db,
        "lena",
        ws,
        "prod",
        request(
            date_ranges=((date(2026, 4, 9), date(2026, 4, 9)),), parameters={"region": "south"}
        ),
    )
    assert len(created) == 3 and {i.run_type for i in created} == {RunType.BACKFILL}
    assert {(i.node_key, i.cycle_time) for i in created} <= {
        (i.node_key, i.cycle_time) for i in scheduled.values()
    }  # the same cycles as scheduled instances, kept apart
    world.settle()
    progress = backfills.progress(world.db, run.id)
    assert progress.finished and progress.run.state is RunState.SUCCESS
    assert progress.summary() == "3/3 done, 0 failed, 0 running, 0 waiting (100%)"
    ods = next(i for i in created if i.node_key == "etl.ods")
    assert "ods 20260409 region=south" in [
        line.text for line in LogRepository(world.db).read(ods.id)
    ]
    for i in world.all():
        if i.id in scheduled:
            assert (i.state, i.attempts) == (scheduled[i.id].state, scheduled[i.id].attempts)
    assert plan.dates == (date(2026, 4, 9),)


def test_dates_run_one_after_the_other_newest_first(world: World) -> None:
    ws = load_workspace(world.root)
    run, _, _ = backfills.start_backfill(
        world.db, "lena", ws, "prod", request(order=BackfillOrder.DESCENDING)
    )
    world.settle()
    assert claims(world, run.id) == [
        ("ods", "20260402"),
        ("dwd", "20260402"),
        ("ads", "20260402"),
        ("ods", "20260401"),
        ("dwd", "20260401"),
        ("ads", "20260401"),
    ]


def test_a_failed_date_settles_the_backfill_as_failed(world: World) -> None:
    ws = load_workspace(world.root)
    run, _, _ = backfills.start_backfill(
        world.db,
        "lena",
        ws,
        "prod",
        request(date_ranges=((date(2026, 4, 3), date(2026, 4, 4)),), parallel=2),
    )
    world.settle()
    progress = backfills.progress(world.db, run.id)
    assert progress.run.state is RunState.FAILED
    states = {(i.node_key, i.bizdate): i.state for i in world.instances.list(run_id=run.id)}
    assert states[("etl.dwd", "20260403")] is S.FAILED
    assert states[("etl.ads", "20260403")] is S.WAITING_UPSTREAM
    assert states[("etl.ads", "20260404")] is S.SUCCESS  # the other lane went on


def test_a_chain_backfill_and_its_preview(world: World) -> None:
    ws = load_workspace(world.root)
    chain = request(node="ods", scope=BackfillScope.CHAIN, end_node="dwd")
    plan = backfills.preview(ws, chain)
    assert [(i.node_key, f"{i.bizdate:%Y%m%d}") for i in plan.instances] == [
        ("etl.ods", "20260401"),
        ("etl.dwd", "20260401"),
        ("etl.ods", "20260402"),
        ("etl.dwd", "20260402"),
    ]
    assert world.instances.list(run_type=RunType.BACKFILL) == []
    with pytest.raises(UserError, match="no dependency path"):
        backfills.preview(ws, request(node="ads", scope=BackfillScope.CHAIN, end_node="ods"))


def test_stopping_a_backfill_stops_what_has_not_run(world: World) -> None:
    ws = load_workspace(world.root)
    run, _, created = backfills.start_backfill(world.db, "lena", ws, "prod", request())
    result = backfills.stop_backfill(world.db, "lena", run.id)
    assert len(result.changed) == len(created)
    world.settle()
    assert {i.state for i in world.instances.list(run_id=run.id)} == {S.STOPPED}
    assert backfills.progress(world.db, run.id).run.state is RunState.STOPPED
    assert [r.id for r in backfills.list_backfills(world.db, workspace="demo")] == [run.id]


def test_dependencies_outside_are_listed_with_their_state_and_waited_for_on_request(
    world: World,
) -> None:
    world.settle()  # the scheduled instances of 2026-04-10 (bizdate 20260409) ran
    ws = load_workspace(world.root)
    asked = request(
        node="dwd",
        scope=BackfillScope.NODE,
        date_ranges=((date(2026, 4, 9), date(2026, 4, 10)),),
        wait_outside=True,
    )
    plan = backfills.preview(ws, asked)
    outside = backfills.outside_dependencies(world.db, "demo", "prod", plan)
    assert [(o.ref.node_key, o.ref.local.day, o.state) for o in outside] == [
        ("etl.ods", 10, "success"),
        ("etl.ods", 11, "waiting_time"),
    ]
    assert backfills.outside_warnings(outside) == [
        "reads partitions of etl.ods that this backfill does not produce and that do not"
        " exist yet (cycles 2026-04-11)"
    ]
    run, _, _ = backfills.start_backfill(world.db, "lena", ws, "prod", asked)
    world.settle()
    done = {i.bizdate: i.state for i in world.instances.list(run_id=run.id)}
    assert done["20260409"] is S.SUCCESS
    assert done["20260410"] in (S.WAITING_TIME, S.WAITING_UPSTREAM)  # ods of 04-11 has not run
    world.at(utc(2026, 4, 11, 3))
    assert backfills.progress(world.db, run.id).run.state is RunState.SUCCESS


def test_wait_outside_waits_for_scheduled_instances_not_created_yet(world: World) -> None:
    world.settle()  # planned up to the day after 2026-04-10
    ws = load_workspace(world.root)
    asked = request(
        node="dwd",
        scope=BackfillScope.NODE,
        date_ranges=((date(2026, 4, 12), date(2026, 4, 13)),),
        wait_outside=True,
    )
    plan = backfills.preview(ws, asked)
    outside = backfills.outside_dependencies(world.db, "demo", "prod", plan)
    assert [(o.ref.node_key, o.ref.local.day, o.state) for o in outside] == [
        ("etl.ods", 13, "not created yet"),
        ("etl.ods", 14, "not created yet"),
    ]
    assert backfills.describe_outside_wait(outside) == (
        "waits for 2 scheduled instances outside the backfill; 2 of them are not created"
        " yet and are waited for once the scheduler creates and runs them:"
        " etl.ods 2026-04-13, 2026-04-14"
    )
    run, _, created = backfills.start_backfill(world.db, "lena", ws, "prod", asked)
    store = SchedulingStore(world.db)
    ids = [i.id for i in created]

    def upstream() -> list[tuple[str, int, bool]]:
        refs = store.upstream_of(ids)
        return sorted(
            (r.node_key, r.cycle_time.day, r.instance_id is not None)
            for i in ids
            for r in refs[i]
            if r.node_key == "etl.ods"  # outside; the backfill's own order is kept too
        )

    assert upstream() == [("etl.ods", 13, False), ("etl.ods", 14, False)]  # remembered by key
    world.settle()
    waiting = world.instances.list(run_id=run.id)
    assert {i.state for i in waiting} <= {S.WAITING_TIME, S.WAITING_UPSTREAM}
    world.at(utc(2026, 4, 13, 3))  # the scheduler creates and runs ods of 04-13
    assert upstream() == [("etl.ods", 13, True), ("etl.ods", 14, True)]  # linked on creation
    done = {i.bizdate: i.state for i in world.instances.list(run_id=run.id)}
    assert done["20260412"] is S.SUCCESS
    assert done["20260413"] in (S.WAITING_TIME, S.WAITING_UPSTREAM)
    world.at(utc(2026, 4, 14, 3))
    assert backfills.progress(world.db, run.id).run.state is RunState.SUCCESS
    ods = {
        i.cycle_time: i.finished_at
        for i in world.instances.list(run_type=RunType.SCHEDULED)
        if i.node_key == "etl.ods"
    }
    for instance in world.instances.list(run_id=run.id):
        finished = ods[instance.cycle_time]
        assert instance.started_at is not None and finished is not None
        assert instance.started_at >= finished
