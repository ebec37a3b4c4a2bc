from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lakeworks.errors import ValidationFailed
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.planning import Planner, plan_instances, planning_window
from lakeworks.schedule.runnability import InstanceStatus, evaluate
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import RunMode, ScheduleSpec
from lakeworks.store.models import InstanceState

from .factories import daily, graph_of, hourly, node, utc, workspace

EXAMPLE = Path(__file__).parents[3] / "src" / "lakeworks" / "spec" / "examples" / "sales"


def plan(ws: object, start: datetime, end: datetime, **kw: object) -> list:  # type: ignore[type-arg]
    return plan_instances(ws, graph_of(ws), start, end, **kw)  # type: ignore[arg-type]


def test_example_workspace_plans_one_instance_per_node_and_day() -> None:
    ws = load_workspace(EXAMPLE)
    planned = plan_instances(ws, build_graph(ws), utc(2026, 4, 10), utc(2026, 4, 12))
    assert [(p.node_key.split(".")[1], f"{p.local_time:%d %H:%M}") for p in planned] == [
        ("01_create_and_load_sales_raw", "10 02:00"),
        ("02_build_sales_daily", "10 02:00"),
        ("01_create_and_load_sales_raw", "11 02:00"),
        ("02_build_sales_daily", "11 02:00"),
    ]
    build = planned[1]
    assert build.bizdate_text == "20260409"
    assert build.max_attempts == 3  # retries: 2 in workflow.yml
    assert build.resource_group == "default" and build.workflow == "sales_pipeline"
    assert build.store_cycle_time == datetime(2026, 4, 10, 2)
    (parent,) = build.upstream
    assert parent.key == planned[0].key
    # the reason a user sees while the load is still running
    status = InstanceStatus(build.node_key, build.cycle_time)
    verdict = evaluate(
        status, build.upstream, {parent.key: InstanceState.RUNNING}, utc(2026, 4, 10, 3)
    )
    assert verdict.reason == (
        "waiting for upstream sales_pipeline.01_create_and_load_sales_raw cycle 2026-04-10 02:00"
    )


def test_planning_again_creates_nothing_and_accepts_stored_naive_times() -> None:
    ws = workspace(node("a", schedule=hourly()), node("b", depends_on=["a"]))
    first = plan(ws, utc(2026, 4, 1), utc(2026, 4, 2))
    assert len(first) == 25
    assert plan(ws, utc(2026, 4, 1), utc(2026, 4, 2), existing={p.key for p in first}) == []
    stored = {(p.node_key, p.store_cycle_time) for p in first}
    assert plan(ws, utc(2026, 4, 1), utc(2026, 4, 2), existing=stored) == []


def test_catching_up_plans_only_the_missed_window() -> None:
    ws = workspace(node("a", schedule=hourly()))
    before = plan(ws, utc(2026, 4, 1), utc(2026, 4, 1, 12))
    after_downtime = plan(ws, utc(2026, 4, 1), utc(2026, 4, 2, 6), existing={p.key for p in before})
    assert len(before) == 12 and len(after_downtime) == 18
    assert after_downtime[0].cycle_time == utc(2026, 4, 1, 12)
    assert not {p.key for p in before} & {p.key for p in after_downtime}


def test_plan_is_ordered_by_time_parents_first() -> None:
    ws = workspace(
        node("z_parent", schedule=daily("01:00")),
        node("a_child", depends_on=["z_parent"], schedule=daily("01:00")),
    )
    planned = plan(ws, utc(2026, 4, 1), utc(2026, 4, 3))
    assert [p.node_key for p in planned] == ["wf.z_parent", "wf.a_child"] * 2


def test_weekly_nodes_get_dry_run_instances_on_off_days() -> None:
    weekly = ScheduleSpec(cycle="week", weekdays=[1], at="03:00")
    ws = workspace(node("w", schedule=weekly, settings={"retries": 2}))
    planned = plan(ws, utc(2026, 4, 6), utc(2026, 4, 13))
    assert [p.run_mode for p in planned] == [RunMode.NORMAL] + [RunMode.DRY_RUN] * 6
    assert planned[0].max_attempts == 3 and planned[1].max_attempts == 1


def test_frozen_and_dry_run_nodes() -> None:
    ws = workspace(
        node("f", run_mode=RunMode.FROZEN),
        node("d", run_mode=RunMode.DRY_RUN),
    )
    by_node = {p.node_key: p for p in plan(ws, utc(2026, 4, 1), utc(2026, 4, 2))}
    assert by_node["wf.f"].frozen and by_node["wf.f"].initial_state == InstanceState.FROZEN
    assert by_node["wf.f"].run_mode == RunMode.NORMAL
    assert by_node["wf.d"].run_mode == RunMode.DRY_RUN
    assert by_node["wf.d"].initial_state == InstanceState.NOT_RUN


def test_node_settings_are_carried() -> None:
    ws = workspace(
        node(
            "a",
            settings={
                "priority": 7,
                "resource_group": "etl",
                "timeout_seconds": 90,
                "owner": "ann",
            },
        ),
        groups={"default": 2, "etl": 1},
    )
    (p,) = plan(ws, utc(2026, 4, 1), utc(2026, 4, 2))
    assert (p.priority, p.resource_group, p.settings.timeout_seconds, p.settings.owner) == (
        7,
        "etl",
        90,
        "ann",
    )


def test_unknown_resource_group_is_reported_where_it_is_written() -> None:
    ws = workspace(
        node("a", resource_group="gpu", settings={"resource_group": "gpu"}),
        node("b", settings={"resource_group": "fpga"}),  # inherited from lakeworks.yml
    )
    with pytest.raises(ValidationFailed) as info:
        Planner(ws, graph_of(ws))
    first, second = info.value.errors
    assert "node wf.a uses resource group 'gpu', which is not defined" in first.message
    assert str(first.location.file).endswith("wf/a.sql")
    assert first.hint is not None and "(defined: default)" in first.hint
    assert str(second.location.file).endswith("ws/lakeworks.yml")


def test_history_start_drops_references_to_cycles_never_planned() -> None:
    ws = workspace(node("a", schedule=daily(self_dependency=True)))
    first, second = plan(ws, utc(2026, 4, 1), utc(2026, 4, 3), history_start=utc(2026, 4, 1))
    assert first.upstream == ()
    assert [u.key for u in second.upstream] == [first.key]


def test_daily_child_of_hourly_parent_carries_all_24_upstream_instances() -> None:
    ws = workspace(node("h", schedule=hourly()), node("d", depends_on=["h"], schedule=daily()))
    planned = plan(ws, utc(2026, 4, 1), utc(2026, 4, 2))
    (child,) = [p for p in planned if p.node_key == "wf.d"]
    assert {u.key for u in child.upstream} == {p.key for p in planned if p.node_key == "wf.h"}


def test_planning_window_covers_whole_local_days() -> None:
    start, end = planning_window(utc(2026, 4, 10, 17), "Asia/Shanghai", days_ahead=1)
    assert (start, end) == (utc(2026, 4, 10, 16), utc(2026, 4, 12, 16))
    start, end = planning_window(utc(2026, 4, 10, 15), "Asia/Shanghai", days_ahead=0)
    assert end - start == timedelta(days=1) and start == utc(2026, 4, 9, 16)


def test_naive_window_is_refused() -> None:
    ws = workspace(node("a"))
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(ws, datetime(2026, 4, 1), utc(2026, 4, 2))


def test_restricting_to_some_nodes() -> None:
    ws = workspace(node("a"), node("b"))
    planner = Planner(ws, graph_of(ws))
    assert [p.node_key for p in planner.plan(utc(2026, 4, 1), utc(2026, 4, 2), nodes=["wf.b"])] == [
        "wf.b"
    ]


def test_forgetting_old_days_keeps_answers_the_same() -> None:
    ws = workspace(node("h", schedule=hourly()), node("d", depends_on=["h"], schedule=daily()))
    planner = Planner(ws, graph_of(ws))
    first = planner.plan(utc(2026, 4, 1), utc(2026, 4, 5))
    planner.forget_before(utc(2026, 4, 10))
    assert planner.plan(utc(2026, 4, 1), utc(2026, 4, 5)) == first
