from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lakeworks.errors import UserError
from lakeworks.schedule.backfill import (
    BackfillOrder,
    BackfillPlan,
    BackfillRequest,
    BackfillScope,
    format_plan,
    parse_date_ranges,
    plan_backfill,
)
from lakeworks.spec.models import RunMode, ScheduleSpec, Workspace

from .factories import daily, graph_of, hourly, node, workspace

APRIL = ((date(2026, 4, 1), date(2026, 4, 3)),)


def chain_ws() -> Workspace:
    return workspace(
        node("a", schedule=daily("01:00")),
        node("b", depends_on=["a"], schedule=daily("02:00")),
        node("c", depends_on=["b"], schedule=daily("03:00")),
        node("d", depends_on=["c"]),
        node("x", depends_on=["a"]),
    )


def backfill(ws: Workspace, **kw: Any) -> BackfillPlan:
    kw.setdefault("date_ranges", APRIL)
    return plan_backfill(ws, graph_of(ws), BackfillRequest(**kw))


def rows(plan: BackfillPlan) -> list[str]:
    return [
        f"{i.step}/{i.lane} {i.bizdate:%m%d} {i.node_key} {i.local_time:%d %H:%M}"
        for i in plan.instances
    ]


def waits(plan: BackfillPlan) -> set[tuple[str, str]]:
    def name(i: int) -> str:
        item = plan.instances[i]
        return f"{item.node_key}@{item.bizdate:%m%d}"

    return {(name(child), name(parent)) for child, parent in plan.edges}


def test_one_node_serial_ascending() -> None:
    plan = backfill(chain_ws(), node="b")
    assert rows(plan) == [
        "0/0 0401 wf.b 02 02:00",
        "1/0 0402 wf.b 03 02:00",
        "2/0 0403 wf.b 04 02:00",
    ]
    assert waits(plan) == {("wf.b@0402", "wf.b@0401"), ("wf.b@0403", "wf.b@0402")}


def test_descending_runs_the_latest_date_first() -> None:
    plan = backfill(chain_ws(), node="b", order=BackfillOrder.DESCENDING)
    assert [i.bizdate.day for i in plan.instances] == [3, 2, 1]
    assert plan.dates == (date(2026, 4, 3), date(2026, 4, 2), date(2026, 4, 1))


def test_parallel_dates_run_in_lanes() -> None:
    plan = backfill(
        chain_ws(), node="a", parallel=2, date_ranges=((date(2026, 4, 1), date(2026, 4, 5)),)
    )
    assert [(i.bizdate.day, i.lane, i.step) for i in plan.instances] == [
        (1, 0, 0),
        (2, 1, 0),
        (3, 0, 1),
        (4, 1, 1),
        (5, 0, 2),
    ]
    assert waits(plan) == {
        ("wf.a@0403", "wf.a@0401"),
        ("wf.a@0405", "wf.a@0403"),
        ("wf.a@0404", "wf.a@0402"),
    }
    assert [len(g) for g in plan.groups()] == [2, 2, 1]


def test_chain_selects_the_nodes_on_paths_between_and_keeps_their_order() -> None:
    plan = backfill(
        chain_ws(),
        node="a",
        scope=BackfillScope.CHAIN,
        end_node="c",
        date_ranges=((date(2026, 4, 1), date(2026, 4, 2)),),
    )
    assert plan.nodes == ("wf.a", "wf.b", "wf.c")
    assert waits(plan) == {
        ("wf.b@0401", "wf.a@0401"),
        ("wf.c@0401", "wf.b@0401"),
        # the next date starts after the whole previous date
        ("wf.a@0402", "wf.c@0401"),
        ("wf.b@0402", "wf.a@0402"),
        ("wf.c@0402", "wf.b@0402"),
    }


def test_chain_without_a_path_is_an_error() -> None:
    with pytest.raises(UserError, match=r"no dependency path from wf\.x to wf\.c"):
        backfill(chain_ws(), node="x", scope=BackfillScope.CHAIN, end_node="c")
    with pytest.raises(UserError, match="needs an end node"):
        backfill(chain_ws(), node="a", scope=BackfillScope.CHAIN)


def test_node_with_all_downstream_minus_excluded() -> None:
    plan = backfill(
        chain_ws(), node="b", scope=BackfillScope.DOWNSTREAM, exclude=frozenset({"wf.d"})
    )
    assert plan.nodes == ("wf.b", "wf.c")
    everything = backfill(chain_ws(), node="a", scope=BackfillScope.DOWNSTREAM)
    assert set(everything.nodes) == {"wf.a", "wf.b", "wf.c", "wf.d", "wf.x"}
    assert everything.nodes[0] == "wf.a"


def test_within_a_date_a_daily_child_waits_for_the_hourly_parent_instances() -> None:
    ws = workspace(node("h", schedule=hourly(every=6)), node("d", depends_on=["h"]))
    plan = backfill(
        ws,
        node="h",
        scope=BackfillScope.DOWNSTREAM,
        date_ranges=((date(2026, 4, 1), date(2026, 4, 1)),),
    )
    assert len(plan.instances) == 5
    assert waits(plan) == {("wf.d@0401", "wf.h@0401")}
    assert len(plan.edges) == 4


def test_weekly_node_dry_runs_on_dates_it_does_not_run() -> None:
    ws = workspace(node("w", schedule=ScheduleSpec(cycle="week", weekdays=[4])))
    plan = backfill(ws, node="w")  # scheduled days: Thu 2, Fri 3, Sat 4 April
    assert [i.run_mode for i in plan.instances] == [
        RunMode.NORMAL,
        RunMode.DRY_RUN,
        RunMode.DRY_RUN,
    ]


def test_active_period_is_ignored_by_a_backfill() -> None:
    ws = workspace(node("a", schedule=daily(start="2027-01-01")))
    assert len(backfill(ws, node="a").instances) == 3


def test_overlapping_ranges_are_merged_and_bad_ranges_refused() -> None:
    ranges = ((date(2026, 4, 1), date(2026, 4, 3)), (date(2026, 4, 2), date(2026, 4, 4)))
    assert len(backfill(chain_ws(), node="a", date_ranges=ranges).dates) == 4
    with pytest.raises(UserError, match="ends before it starts"):
        backfill(chain_ws(), node="a", date_ranges=((date(2026, 4, 3), date(2026, 4, 1)),))


def test_parse_date_ranges() -> None:
    assert parse_date_ranges("20260401-20260403, 2026-05-01..2026-05-02,2026-06-01") == (
        (date(2026, 4, 1), date(2026, 4, 3)),
        (date(2026, 5, 1), date(2026, 5, 2)),
        (date(2026, 6, 1), date(2026, 6, 1)),
    )
    assert parse_date_ranges("2026-04-01-2026-04-02") == ((date(2026, 4, 1), date(2026, 4, 2)),)
    with pytest.raises(UserError, match="'2026-13-01' is not a business date"):
        parse_date_ranges("2026-13-01")
    with pytest.raises(UserError, match="no business dates"):
        parse_date_ranges(" , ")


def test_request_checks() -> None:
    with pytest.raises(UserError, match="parallel must be at least 1"):
        backfill(chain_ws(), node="a", parallel=0)
    with pytest.raises(UserError, match="'bad name' is not a valid parameter name"):
        backfill(chain_ws(), node="a", parameters={"bad name": "1"})
    with pytest.raises(UserError, match="'zz' is not a node") as info:
        backfill(chain_ws(), node="zz")
    assert info.value.hint is not None


def test_ambiguous_node_name_lists_the_choices() -> None:
    ws = workspace(node("load", workflow="one"), node("load", workflow="two"))
    with pytest.raises(UserError) as info:
        backfill(ws, node="load")
    assert info.value.hint == "'load' is ambiguous; write one of: one.load, two.load"


def test_self_dependent_node_runs_its_dates_in_order_even_in_parallel() -> None:
    ws = workspace(node("s", schedule=daily(self_dependency=True)))
    plan = backfill(ws, node="s", parallel=2)
    assert waits(plan) == {
        ("wf.s@0402", "wf.s@0401"),
        ("wf.s@0403", "wf.s@0402"),
        ("wf.s@0403", "wf.s@0401"),  # the lane
    }
    assert plan.warnings == ()
    newest_first = backfill(ws, node="s", parallel=2, order=BackfillOrder.DESCENDING)
    assert waits(newest_first) == {("wf.s@0402", "wf.s@0401"), ("wf.s@0403", "wf.s@0402")}
    assert newest_first.warnings[-1] == (
        "wf.s wait for their own earlier dates: their dates run oldest first"
    )


def test_printed_plan_for_dry_run() -> None:
    plan = backfill(
        chain_ws(),
        node="a",
        scope=BackfillScope.CHAIN,
        end_node="b",
        parallel=2,
        parameters={"region": "eu"},
        date_ranges=((date(2026, 4, 1), date(2026, 4, 2)),),
    )
    text = format_plan(plan)
    lines = text.splitlines()
    assert lines[0] == (
        "Backfill of 2 nodes (chain a -> b), 2 business dates 2026-04-01 to 2026-04-02,"
        " ascending, 2 dates at a time"
    )
    assert lines[1] == "4 instances to create"
    assert "parameter overrides: region=eu" in lines
    assert "   1     2  2026-04-02  2026-04-03 01:00  run      wf.a" in lines
    assert plan.parameters == {"region": "eu"}


def test_selections_users_think_in() -> None:
    ws = workspace(
        node("a", workflow="ods"),
        node("b", workflow="dwd", depends_on=["a"]),
        node("c", workflow="dws", depends_on=["b"]),
        node("d", workflow="ads", depends_on=["c"]),
        node("e", workflow="ads", depends_on=["c"]),
    )

    def chosen(**kw: Any) -> tuple[str, ...]:
        kw.setdefault("node", "")
        return backfill(ws, **kw).nodes

    assert chosen(workflows=("ads",)) == ("ads.d", "ads.e")
    assert set(chosen(node="d", nodes=("b",))) == {"dwd.b", "ads.d"}
    assert chosen(node="d", scope=BackfillScope.UPSTREAM) == ("ods.a", "dwd.b", "dws.c", "ads.d")
    assert chosen(node="d", scope=BackfillScope.UPSTREAM, depth=1) == ("dws.c", "ads.d")
    assert chosen(node="b", scope=BackfillScope.DOWNSTREAM, depth=1) == ("dwd.b", "dws.c")
    assert len(chosen(scope=BackfillScope.WORKSPACE)) == 5
    assert chosen(
        workflows=("ads",), scope=BackfillScope.UPSTREAM, exclude=frozenset({"ods.a"})
    ) == (
        "dwd.b",
        "dws.c",
        "ads.d",
        "ads.e",
    )
    with pytest.raises(UserError, match="workflow 'nope' is not a workflow"):
        chosen(workflows=("nope",))
    with pytest.raises(UserError, match="names no node"):
        chosen()


def test_dependencies_outside_the_selection_are_listed() -> None:
    plan = backfill(chain_ws(), node="b", date_ranges=((date(2026, 4, 1), date(2026, 4, 1)),))
    assert [(u.node_key, u.cycle_time.day) for u in plan.outside] == [("wf.a", 2)]
    assert plan.outside_edges == ((0, plan.outside[0].key),)
    text = format_plan(plan, {plan.outside[0].key: "success"})
    assert "waits for 1 instances outside the backfill:" in text
    assert "  wf.a cycle 2026-04-02 01:00  [same_cycle]  (success)" in text
