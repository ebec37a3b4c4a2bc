"""Partition windows read from SQL become dependencies on the dates that write them."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lakeworks.errors import ValidationFailed
from lakeworks.schedule.backfill import BackfillOrder, BackfillRequest, BackfillScope, plan_backfill
from lakeworks.schedule.dependencies import DependencyResolver
from lakeworks.schedule.graph import build_graph
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.sql.partitions import Window

from .factories import node, workspace

DWS = (
    "INSERT OVERWRITE TABLE dws PARTITION (ds='${bizdate}')\n"
    "SELECT k, sum(v) AS v FROM ods WHERE ds = '${bizdate}' GROUP BY k"
)
ADS = (
    "INSERT OVERWRITE TABLE ads PARTITION (ds='${bizdate}')\n"
    "SELECT sum(v) AS v FROM dws WHERE ds BETWEEN '${yyyymmdd-6}' AND '${bizdate}'"
)
ODS = "INSERT OVERWRITE TABLE ods PARTITION (ds='${bizdate}') SELECT 1 AS k, 2 AS v"


def sql(name: str, code: str, **header: Any) -> Node:
    base = node(name, **header)
    return Node(
        workflow=base.workflow,
        name=name,
        kind=NodeKind.SQL,
        path=base.path,
        code=code,
        header=base.header,
        span=base.span,
        settings=base.settings,
    )


def layered(**ads_header: Any) -> Workspace:
    return workspace(sql("ods", ODS), sql("dws", DWS), sql("ads", ADS, **ads_header))


def test_a_rolling_week_waits_for_seven_dates_of_its_upstream() -> None:
    ws = layered()
    graph = build_graph(ws)
    assert graph.partition_window("wf.dws", "wf.ads") == Window(-6, 0)
    assert graph.partition_window("wf.ods", "wf.dws") is None
    resolver = DependencyResolver(ws, graph)
    cycle = resolver.schedule("wf.ads").day(date(2026, 4, 11))[0]
    waited = resolver.upstream_instances("wf.ads", cycle)
    assert sorted(u.cycle_time.day for u in waited) == [5, 6, 7, 8, 9, 10, 11]


def test_the_header_overrides_or_disables_the_window() -> None:
    graph = build_graph(layered(partition_windows={"dws": "-1"}))
    assert graph.partition_window("wf.dws", "wf.ads") == Window(-1, -1)
    graph = build_graph(layered(partition_dependencies=False))
    assert graph.partition_window("wf.dws", "wf.ads") is None
    with pytest.raises(ValidationFailed) as info:
        build_graph(layered(partition_windows={"dws": "-1..-3", "nope": "-1"}))
    messages = sorted(e.message for e in info.value.errors)
    assert messages == [
        "partition_windows names 'nope', which this node does not read from another node",
        "partition_windows of 'dws': '-1..-3' is not a window of days",
    ]
    assert all(e.location and e.location.key == "partition_windows" for e in info.value.errors)


def test_reading_its_own_previous_partition_is_a_self_dependency() -> None:
    code = (
        "INSERT OVERWRITE TABLE acc PARTITION (ds='${bizdate}')\n"
        "SELECT v + 1 AS v FROM acc WHERE ds = '${yyyymmdd-1}'"
    )
    ws = workspace(sql("acc", code))
    graph = build_graph(ws)
    assert graph.self_window("wf.acc") == Window(-1, -1)
    request = BackfillRequest(
        node="acc",
        date_ranges=((date(2026, 4, 1), date(2026, 4, 4)),),
        parallel=4,
        order=BackfillOrder.DESCENDING,
    )
    plan = plan_backfill(ws, graph, request)
    pairs = {(plan.instances[c].bizdate.day, plan.instances[p].bizdate.day) for c, p in plan.edges}
    assert pairs == {(2, 1), (3, 2), (4, 3)}


@pytest.mark.parametrize("order", [BackfillOrder.ASCENDING, BackfillOrder.DESCENDING])
def test_a_parallel_backfill_orders_every_window_across_lanes(order: BackfillOrder) -> None:
    ws = layered()
    request = BackfillRequest(
        node="ods",
        scope=BackfillScope.DOWNSTREAM,
        date_ranges=((date(2026, 4, 1), date(2026, 4, 31 - 1)),),
        parallel=4,
        order=order,
    )
    plan = plan_backfill(ws, build_graph(ws), request)
    edges = set(plan.edges)
    where = {(i.node_key, i.bizdate): n for n, i in enumerate(plan.instances)}
    for item in plan.instances:
        if item.node_key != "wf.ads":
            continue
        child = where[(item.node_key, item.bizdate)]
        for back in range(7):
            day = date.fromordinal(item.bizdate.toordinal() - back)
            parent = where.get(("wf.dws", day))
            if parent is not None:
                assert (child, parent) in edges
    first = plan.instances[0].bizdate
    outside = {(u.node_key, u.cycle_time.date()) for u in plan.outside}
    # the first dates of the window lie before the backfill: listed, not waited for
    assert ("wf.dws", date(2026, 3, 27)) in outside
    assert first in (date(2026, 4, 1), date(2026, 4, 30))
    assert not _has_cycle(len(plan.instances), plan.edges)


def _has_cycle(count: int, edges: tuple[tuple[int, int], ...]) -> bool:
    parents: dict[int, list[int]] = {}
    for child, parent in edges:
        parents.setdefault(child, []).append(parent)
    state = [0] * count
    for start in range(count):
        if state[start]:
            continue
        stack = [(start, iter(parents.get(start, [])))]
        state[start] = 1
        while stack:
            item, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[item] = 2
                stack.pop()
            elif state[nxt] == 1:
                return True
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(parents.get(nxt, []))))
    return False
