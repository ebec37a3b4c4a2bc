"""Planning and runnability as a user sees them in the store: instances, states, reasons."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lakeworks.runtime.scheduler import Scheduler, SchedulerConfig
from lakeworks.runtime.workspace_source import FolderWorkspaceSource
from lakeworks.store.models import InstanceState as S
from lakeworks.store.repositories import LogRepository
from lakeworks.store.scheduling import SchedulingStore
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import node_text, utc, write_workspace

HOURLY = {"cycle": "hour"}


def hourly_and_daily(root: Path) -> Path:
    return write_workspace(
        root,
        {
            "a": node_text("echo a", schedule=HOURLY),
            "b": node_text("echo b", depends_on=["a"]),
            "w": node_text("echo w", schedule={"cycle": "week", "weekdays": [1], "at": "03:00"}),
            "c": node_text("echo c", depends_on=["w"]),
        },
    )


def test_whole_days_are_planned_once_even_by_a_second_scheduler(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = hourly_and_daily(tmp_path / "ws")
    world = new_world(root, utc(2026, 4, 10, 0, 30))  # a Friday
    world.scheduler.run_once()
    counts = Counter(i.node_key for i in world.all())
    assert counts == {"etl.a": 48, "etl.b": 2, "etl.w": 2, "etl.c": 2}  # today and tomorrow
    twin = Scheduler(
        world.db,
        FolderWorkspaceSource(root),
        SchedulerConfig(name="twin"),
        clock=world.clock,
    )
    twin.run_once()
    twin.run_once()
    assert len(world.all()) == 54
    state = SchedulingStore(world.db).planning_state("demo", "prod")
    assert state is not None
    assert state.history_start == utc(2026, 4, 10).replace(tzinfo=None)
    assert state.planned_until == utc(2026, 4, 12).replace(tzinfo=None)


def test_a_scheduler_that_was_down_runs_every_missed_cycle_once(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = hourly_and_daily(tmp_path / "ws")
    world = new_world(root, utc(2026, 4, 10, 0, 30))
    world.settle()
    # down from Friday 00:30 to Tuesday 10:00: two days were never planned
    restarted = new_world(root, utc(2026, 4, 14, 10, 0))
    restarted.settle()
    hourly = restarted.by_node("a")
    cycles = [i.cycle_time for i in hourly]
    assert len(cycles) == len(set(cycles))
    ran = [i for i in hourly if i.cycle_time <= utc(2026, 4, 14, 10).replace(tzinfo=None)]
    assert len(ran) == 4 * 24 + 11  # Fri..Mon and Tuesday 00:00..10:00
    assert {i.state for i in ran} == {S.SUCCESS}
    assert {i.attempts for i in ran} == {1}
    later = [i for i in hourly if i not in ran]
    assert {i.state for i in later} == {S.WAITING_TIME}
    assert later[0].reason == "waiting for time 2026-04-14 11:00"


def test_daily_child_of_hourly_parent_waits_for_the_whole_day(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    world = new_world(hourly_and_daily(tmp_path / "ws"), utc(2026, 4, 10, 0, 30))
    world.at(utc(2026, 4, 10, 12, 5))
    daily = world.one("b", utc(2026, 4, 10, 2))
    assert daily.state is S.WAITING_UPSTREAM
    assert daily.reason == "waiting for upstream etl.a cycle 2026-04-10 13:00 and 10 more"
    assert len(world.instances.upstream_ids(daily.id)) == 24
    world.at(utc(2026, 4, 11, 0, 1))
    assert world.one("b", utc(2026, 4, 10, 2)).state is S.SUCCESS


def test_weekly_parent_dry_runs_on_other_days_so_daily_children_run(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    world = new_world(hourly_and_daily(tmp_path / "ws"), utc(2026, 4, 10, 0, 30))
    world.at(utc(2026, 4, 10, 2, 30))
    child = world.one("c", utc(2026, 4, 10, 2))
    assert child.state is S.WAITING_UPSTREAM
    assert child.reason == "waiting for upstream etl.w cycle 2026-04-10 03:00"
    world.at(utc(2026, 4, 10, 3, 30))  # Friday: the Monday node does not run
    weekly = world.one("w", utc(2026, 4, 10, 3))
    assert weekly.state is S.SKIPPED and weekly.attempts == 0
    assert world.one("c", utc(2026, 4, 10, 2)).state is S.SUCCESS
    world.at(utc(2026, 4, 13, 3, 30))  # Monday: it runs
    assert world.one("w", utc(2026, 4, 13, 3)).state is S.SUCCESS
    assert world.one("w", utc(2026, 4, 13, 3)).attempts == 1


def test_the_reason_an_instance_is_not_running_is_always_recorded(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "load": node_text("exit 4", schedule={"cycle": "day", "at": "01:00"}),
            "report": node_text("echo ok", depends_on=["load"]),
            "idle": node_text("echo idle", run_mode="frozen"),
            "later": node_text("echo later", schedule={"cycle": "day", "at": "23:00"}),
            "solo": node_text("echo solo", schedule={"cycle": "day", "at": "00:30"}),
        },
    )
    world = new_world(root, utc(2026, 4, 10, 1, 0))
    world.scheduler.run_once()  # no worker yet
    reasons = {i.node_key: (i.state, i.reason) for i in world.all() if i.bizdate == "20260409"}
    assert reasons["etl.solo"] == (S.WAITING_RESOURCES, "waiting for a slot in group default")
    assert reasons["etl.load"] == (S.WAITING_RESOURCES, "waiting for a slot in group default")
    assert reasons["etl.later"] == (S.WAITING_TIME, "waiting for time 2026-04-10 23:00")
    assert reasons["etl.idle"] == (S.FROZEN, "frozen (run mode of the node)")
    assert reasons["etl.report"] == (S.WAITING_TIME, "waiting for time 2026-04-10 02:00")
    world.at(utc(2026, 4, 10, 2, 0))
    assert world.one("load", utc(2026, 4, 10, 1)).state is S.FAILED
    report = world.one("report", utc(2026, 4, 10, 2))
    assert report.state is S.WAITING_UPSTREAM
    assert report.reason == "waiting for upstream etl.load cycle 2026-04-10 01:00 (failed)"


def test_previous_cycle_dependency_holds_the_next_day(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    script = 'test "$bizdate" != 20260409 || exit 1'
    root = write_workspace(
        tmp_path / "ws",
        {
            "snap": node_text(
                script, schedule={"cycle": "day", "at": "01:00", "self_dependency": True}
            )
        },
    )
    world = new_world(root, utc(2026, 4, 10, 0, 0))
    world.settle()
    world.at(utc(2026, 4, 11, 1, 30))
    assert world.one("snap", utc(2026, 4, 10, 1)).state is S.FAILED
    second = world.one("snap", utc(2026, 4, 11, 1))
    assert second.state is S.WAITING_UPSTREAM
    assert second.reason == "waiting for upstream etl.snap cycle 2026-04-10 01:00 (failed)"


def test_planning_times_follow_the_workspace_time_zone(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {"d": node_text("echo $bizdate $LAKEWORKS_CYCLE_TIME")},
        timezone="Asia/Shanghai",
    )
    world = new_world(root, utc(2026, 4, 9, 18, 0))  # 02:00 in Shanghai
    world.settle()
    [first, _tomorrow] = world.by_node("d")
    assert first.cycle_time == utc(2026, 4, 9, 18).replace(tzinfo=None)
    assert first.bizdate == "20260409"
    assert first.state is S.SUCCESS
    lines = [line.text for line in LogRepository(world.db).read(first.id)]
    assert "20260409 2026-04-10 02:00:00" in lines
