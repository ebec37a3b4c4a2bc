from __future__ import annotations

from datetime import datetime

import pytest

from lakeworks.errors import ValidationFailed
from lakeworks.schedule.dependencies import DependencyKind, DependencyResolver
from lakeworks.spec.models import ScheduleSpec

from .factories import daily, graph_of, hourly, node, utc, workspace


def resolver(*nodes: object, **kw: object) -> DependencyResolver:
    ws = workspace(*nodes, **kw)  # type: ignore[arg-type]
    return DependencyResolver(ws, graph_of(ws))


def waits_for(r: DependencyResolver, key: str, at: datetime) -> list[str]:
    cycle = r.schedule(key).cycle_at(at)
    assert cycle is not None, f"{key} has no cycle at {at}"
    return [
        f"{u.node_key} {u.local:%m-%d %H:%M}"
        + ("" if u.kind == DependencyKind.SAME_CYCLE else f" ({u.kind.value})")
        for u in r.upstream_instances(key, cycle)
    ]


def test_hourly_child_of_hourly_parent_waits_for_the_same_hour() -> None:
    r = resolver(node("p", schedule=hourly()), node("c", depends_on=["p"], schedule=hourly()))
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 5)) == ["wf.p 04-10 05:00"]
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 0)) == ["wf.p 04-10 00:00"]


def test_equal_cycle_counts_pair_by_position_not_by_time() -> None:
    r = resolver(
        node("p", schedule=hourly(at="00:30")),
        node("c", depends_on=["p"], schedule=hourly(at="00:00")),
    )
    # DataWorks: same number of cycles a day -> the k-th waits for the k-th.
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 0)) == ["wf.p 04-10 00:30"]
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 23)) == ["wf.p 04-10 23:30"]


def test_daily_child_of_hourly_parent_waits_for_all_of_that_days_hours() -> None:
    r = resolver(node("p", schedule=hourly()), node("c", depends_on=["p"], schedule=daily()))
    found = waits_for(r, "wf.c", utc(2026, 4, 10))
    assert found == [f"wf.p 04-10 {h:02d}:00" for h in range(24)]


def test_hourly_child_of_daily_parent_waits_for_that_days_instance() -> None:
    r = resolver(node("p", schedule=daily("02:00")), node("c", depends_on=["p"], schedule=hourly()))
    for hour in (0, 1, 2, 13, 23):
        assert waits_for(r, "wf.c", utc(2026, 4, 10, hour)) == ["wf.p 04-10 02:00"]


def test_hourly_child_of_six_hourly_parent_waits_for_the_nearest_earlier_cycle() -> None:
    r = resolver(
        node("p", schedule=hourly(every=6, at="03:00")),
        node("c", depends_on=["p"], schedule=hourly()),
    )
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 1)) == ["wf.p 04-10 03:00"]  # before the first
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 8)) == ["wf.p 04-10 03:00"]
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 9)) == ["wf.p 04-10 09:00"]
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 23)) == ["wf.p 04-10 21:00"]


def test_six_hourly_child_of_hourly_parent_takes_the_hours_up_to_it() -> None:
    r = resolver(
        node("p", schedule=hourly()),
        node("c", depends_on=["p"], schedule=hourly(every=6)),
    )
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 0)) == ["wf.p 04-10 00:00"]
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 6)) == [
        f"wf.p 04-10 {h:02d}:00" for h in range(1, 7)
    ]
    # the last cycle of the day also takes the hours after it
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 18)) == [
        f"wf.p 04-10 {h:02d}:00" for h in range(13, 24)
    ]


def test_daily_child_of_weekly_parent_waits_for_the_run_or_the_dry_run() -> None:
    weekly = ScheduleSpec(cycle="week", weekdays=[1], at="03:00")
    r = resolver(node("p", schedule=weekly), node("c", depends_on=["p"], schedule=daily("04:00")))
    assert waits_for(r, "wf.c", utc(2026, 4, 13, 4)) == ["wf.p 04-13 03:00"]  # Monday: a run
    assert waits_for(r, "wf.c", utc(2026, 4, 15, 4)) == ["wf.p 04-15 03:00"]  # Wednesday: dry run
    dry = r.schedule("wf.p").cycle_at(utc(2026, 4, 15, 3))
    assert dry is not None and dry.dry_run


def test_weekly_child_of_daily_parent_waits_every_day() -> None:
    weekly = ScheduleSpec(cycle="week", weekdays=[5], at="06:00")
    r = resolver(node("p", schedule=daily("01:00")), node("c", depends_on=["p"], schedule=weekly))
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 6)) == ["wf.p 04-10 01:00"]
    assert waits_for(r, "wf.c", utc(2026, 4, 11, 6)) == ["wf.p 04-11 01:00"]


def test_monthly_child_of_hourly_parent_waits_for_the_whole_day() -> None:
    monthly = ScheduleSpec(cycle="month", monthdays=[-1], at="05:00")
    r = resolver(
        node("p", schedule=hourly(every=12)), node("c", depends_on=["p"], schedule=monthly)
    )
    assert waits_for(r, "wf.c", utc(2026, 4, 30, 5)) == ["wf.p 04-30 00:00", "wf.p 04-30 12:00"]


def test_self_dependency_waits_for_the_previous_cycle_across_midnight() -> None:
    r = resolver(node("h", schedule=hourly(every=6, self_dependency=True)))
    assert waits_for(r, "wf.h", utc(2026, 4, 10, 0)) == ["wf.h 04-09 18:00 (self)"]
    r = resolver(node("d", schedule=daily("02:00", self_dependency=True)))
    assert waits_for(r, "wf.d", utc(2026, 4, 10, 2)) == ["wf.d 04-09 02:00 (self)"]


def test_previous_cycle_of_another_node() -> None:
    r = resolver(
        node("x", schedule=hourly(every=12)),
        node("y", schedule=daily("03:00")),
        node("c", schedule=daily("01:00", depends_on_previous=["x", "wf.y"])),
    )
    assert waits_for(r, "wf.c", utc(2026, 4, 10, 1)) == [
        "wf.x 04-09 00:00 (previous_cycle)",
        "wf.x 04-09 12:00 (previous_cycle)",
        "wf.y 04-09 03:00 (previous_cycle)",
    ]


def test_same_cycle_and_self_dependency_together() -> None:
    r = resolver(
        node("p", schedule=daily()),
        node("c", depends_on=["p"], schedule=daily(self_dependency=True)),
    )
    assert waits_for(r, "wf.c", utc(2026, 4, 10)) == ["wf.p 04-10 00:00", "wf.c 04-09 00:00 (self)"]


def test_parent_without_cycles_that_day_is_not_waited_for() -> None:
    r = resolver(
        node("p", schedule=daily(end="2026-04-05")),
        node("c", depends_on=["p"], schedule=daily()),
    )
    assert waits_for(r, "wf.c", utc(2026, 4, 5)) == ["wf.p 04-05 00:00"]
    assert waits_for(r, "wf.c", utc(2026, 4, 6)) == []


def test_references_before_history_are_left_out() -> None:
    r = resolver(node("d", schedule=daily(self_dependency=True)))
    cycle = r.schedule("wf.d").cycle_at(utc(2026, 4, 10))
    assert cycle is not None
    assert r.upstream_instances("wf.d", cycle, since=utc(2026, 4, 10)) == []
    assert len(r.upstream_instances("wf.d", cycle, since=utc(2026, 4, 9))) == 1


def test_child_in_another_zone_uses_its_own_local_day() -> None:
    r = resolver(
        node("p", schedule=hourly()),
        node("c", depends_on=["p"], schedule=daily("02:00", timezone="Asia/Shanghai")),
    )
    cycle = r.schedule("wf.c").cycle_at(utc(2026, 4, 9, 18))  # 2026-04-10 02:00 +08
    assert cycle is not None
    ups = r.upstream_instances("wf.c", cycle)
    assert len(ups) == 24
    assert ups[0].cycle_time == utc(2026, 4, 9, 16) and ups[-1].cycle_time == utc(2026, 4, 10, 15)


def test_cross_workflow_dependency_by_explicit_reference() -> None:
    r = resolver(
        node("load", workflow="ods", schedule=hourly()),
        node("report", workflow="ads", depends_on=["ods.load"], schedule=daily("06:00")),
    )
    assert len(waits_for(r, "ads.report", utc(2026, 4, 10, 6))) == 24


def test_describe_names_node_and_local_cycle() -> None:
    r = resolver(
        node("p", schedule=daily("02:00", timezone="Asia/Shanghai")),
        node("c", depends_on=["p"], schedule=daily("03:00", timezone="Asia/Shanghai")),
    )
    cycle = r.schedule("wf.c").cycle_at(utc(2026, 4, 9, 19))
    assert cycle is not None
    (up,) = r.upstream_instances("wf.c", cycle)
    assert up.describe() == "wf.p cycle 2026-04-10 02:00"


def test_bad_schedules_and_unknown_references_are_all_reported() -> None:
    ws = workspace(
        node("a", schedule=ScheduleSpec(at="24:00")),
        node("b", schedule=daily(depends_on_previous=["nope"])),
        node("c", schedule=daily()),
    )
    with pytest.raises(ValidationFailed) as info:
        DependencyResolver(ws, graph_of(ws))
    messages = [e.render() for e in info.value.errors]
    assert len(messages) == 2
    assert "a.sql" in messages[0] and "'at' must be a time of day" in messages[0]
    assert "depends_on_previous names unknown node 'nope'" in messages[1]


def test_workflow_schedule_errors_point_at_workflow_yml() -> None:
    ws = workspace(node("a"), workflow_schedule=ScheduleSpec(cycle="week", weekdays=[0]))
    with pytest.raises(ValidationFailed) as info:
        DependencyResolver(ws, graph_of(ws))
    (error,) = info.value.errors
    assert str(error.location.file).endswith("workflows/wf/workflow.yml")
    assert "'weekdays' has 0" in error.message
