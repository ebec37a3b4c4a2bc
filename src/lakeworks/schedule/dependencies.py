"""Which upstream instances an instance waits for (DataWorks instance-level rules).

Dependencies between nodes are dependencies between their instances. For an instance
of node C at cycle ``t`` (local day D of C's zone):

**Same cycle**, for each upstream node P of C in the graph, P's cycles on day D
(runs and dry runs) are matched with C's cycles on day D:

- the same number of cycles on both sides (hourly on hourly, daily on daily, daily
  on weekly, ...): the k-th waits for the k-th, whatever their times;
- C has more cycles (hourly child of a daily parent, hourly of a 6-hourly parent):
  each C cycle waits for the latest P cycle at or before it, and C cycles before P's
  first cycle wait for that first one ("scheduling time proximity"); so every hourly
  instance of a day waits for that day's daily instance;
- C has fewer cycles (daily child of an hourly parent): each P cycle belongs to the
  first C cycle at or after it (the last C cycle takes those after it); so a daily
  instance waits for all of that day's hourly instances.

If P has no cycle on day D (outside its active period, or a cron that does not fire
that day), C does not wait for P on that day.

**Self-dependency** (``self_dependency: true``): the previous cycle of the same node.

**Previous cycle of another node** (``depends_on_previous: [X]``): X's instances that
the same-cycle rule gives for C's *previous* cycle (for a daily C: X's instances of
the day before).

**Partitions** (``schedule.graph`` infers them from the SQL, ``partition_windows``
overrides): when C reads P's table through a date window (``ds BETWEEN
'${yyyymmdd-6}' AND '${bizdate}'``), C's instance waits for P's instances of each
business date in the window: the same-cycle rule for C's own date, every cycle of P's
day for the others. A node reading its own earlier partitions waits for its own
instances of those dates.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.schedule.cycles import (
    Cycle,
    Schedule,
    compile_schedule,
    format_local,
    schedule_location,
    to_utc,
)
from lakeworks.spec.models import Defaults, Node, Workspace
from lakeworks.sql.partitions import Window

InstanceKey = tuple[str, datetime]
"""``(node_key, cycle_time)`` with ``cycle_time`` an aware UTC datetime."""


def instance_key(node_key: str, cycle_time: datetime) -> InstanceKey:
    """The key of an instance; a naive ``cycle_time`` is taken to be UTC (as stored)."""
    return (node_key, to_utc(cycle_time))


class GraphView(Protocol):
    """What scheduling reads from the dependency graph (``schedule.graph``)."""

    def upstream(self, key: str) -> list[str]: ...

    def downstream(self, key: str) -> list[str]: ...

    def descendants(self, key: str) -> set[str]: ...

    def ancestors(self, key: str) -> set[str]: ...

    def topological_order(self, keys: list[str] | None = None) -> list[str]: ...

    def partition_window(self, parent: str, child: str) -> Window | None: ...

    def self_window(self, key: str) -> Window | None: ...


class DependencyKind(StrEnum):
    SAME_CYCLE = "same_cycle"
    SELF = "self"
    PREVIOUS_CYCLE = "previous_cycle"
    PARTITION = "partition"


@dataclass(frozen=True, slots=True)
class UpstreamInstance:
    """An instance another instance waits for."""

    node_key: str
    cycle_time: datetime
    """Aware UTC."""
    kind: DependencyKind = field(compare=False)
    local: datetime = field(compare=False)
    """The cycle in the upstream node's zone, for display."""

    @property
    def key(self) -> InstanceKey:
        return (self.node_key, self.cycle_time)

    def describe(self) -> str:
        """``sales_pipeline.02_build_sales_daily cycle 2026-04-10 02:00``."""
        return f"{self.node_key} cycle {format_local(self.local)}"


def match_same_cycle(parent: Sequence[Cycle], child: Sequence[Cycle]) -> list[list[Cycle]]:
    """For each child cycle of one day, the parent cycles of that day it waits for."""
    if not parent or not child:
        return [[] for _ in child]
    if len(parent) == len(child):
        return [[p] for p in parent]
    if len(child) > len(parent):
        times = [p.time for p in parent]
        out: list[list[Cycle]] = []
        for c in child:
            index = bisect_right(times, c.time) - 1
            out.append([parent[max(index, 0)]])
        return out
    child_times = [c.time for c in child]
    groups: list[list[Cycle]] = [[] for _ in child]
    for p in parent:
        index = bisect_left(child_times, p.time)
        groups[min(index, len(child) - 1)].append(p)
    return groups


def node_location(workspace: Workspace, node: Node, key: str) -> Location:
    """Where a node's setting ``key`` is written: the node's header, else the workflow
    file, else ``lakeworks.yml`` (settings are inherited in that order)."""
    workflow_file = workspace.workflows[node.workflow].path / "workflow.yml"
    top = key.split(".")[0]
    if top == "schedule":
        if node.header.schedule is None:
            return schedule_location(workflow_file, key)
        return schedule_location(node.path, key)
    if top in Defaults.model_fields and getattr(node.header, top, None) is None:
        if getattr(workspace.workflows[node.workflow].config.defaults, top, None) is not None:
            return schedule_location(workflow_file, key)
        return schedule_location(workspace.root / "lakeworks.yml", key)
    return schedule_location(node.path, key)


class DependencyResolver:
    """Compiles every node's schedule once and answers dependency questions.

    ``DependencyResolver(workspace, graph)`` raises ``ValidationFailed`` listing every
    bad schedule or unknown ``depends_on_previous`` reference.
    """

    def __init__(self, workspace: Workspace, graph: GraphView) -> None:
        self.workspace = workspace
        self.graph = graph
        self.nodes: dict[str, Node] = {n.key: n for n in workspace.nodes()}
        self.schedules: dict[str, Schedule] = {}
        self.previous_refs: dict[str, list[str]] = {}
        self._upstream: dict[str, list[str]] = {}
        self._match_cache: dict[
            tuple[str, str, date, bool, DependencyKind],
            dict[datetime, tuple[UpstreamInstance, ...]],
        ] = {}
        self._refs_cache: dict[
            tuple[str, str, date, bool, DependencyKind], dict[datetime, UpstreamInstance]
        ] = {}
        problems: list[UserError] = []
        shared: dict[str, Schedule] = {}
        default_zone = workspace.config.timezone
        for key, node in self.nodes.items():
            spec = workspace.node_schedule(node)
            cache_key = spec.model_dump_json() + "|" + default_zone
            schedule = shared.get(cache_key)
            if schedule is None:
                try:
                    schedule = compile_schedule(
                        spec, default_zone, location=node_location(workspace, node, "schedule")
                    )
                except UserError as exc:
                    problems.append(exc)
                    continue
                shared[cache_key] = schedule
            self.schedules[key] = schedule
            refs: list[str] = []
            for ref in spec.depends_on_previous:
                target = workspace.find_node(ref)
                if target is None:
                    problems.append(
                        UserError(
                            f"node {key}: depends_on_previous names unknown node '{ref}'",
                            location=node_location(workspace, node, "schedule.depends_on_previous"),
                            hint="name a node as 'workflow.node' or by its unambiguous name",
                        )
                    )
                    continue
                refs.append(target.key)
            self.previous_refs[key] = refs
            self._upstream[key] = list(graph.upstream(key))
        if problems:
            raise ValidationFailed(problems)

    def forget_before(self, day: date) -> None:
        """Drop cached days before ``day``; answers stay the same, memory stays flat."""
        for schedule in {id(s): s for s in self.schedules.values()}.values():
            schedule.forget_before(day)
        self._match_cache = {k: v for k, v in self._match_cache.items() if k[2] >= day}
        self._refs_cache = {k: v for k, v in self._refs_cache.items() if k[2] >= day}

    def schedule(self, node_key: str) -> Schedule:
        """The compiled schedule of a node."""
        return self.schedules[node_key]

    def same_cycle(
        self,
        parent_key: str,
        child_key: str,
        cycle: Cycle,
        *,
        kind: DependencyKind = DependencyKind.SAME_CYCLE,
        active_only: bool = True,
    ) -> tuple[UpstreamInstance, ...]:
        """The instances of ``parent_key`` that ``child_key``'s ``cycle`` waits for.

        ``kind`` labels the result; ``active_only=False`` ignores the schedules' active
        periods (for backfills).
        """
        day = cycle.local.date()
        cache_key = (parent_key, child_key, day, active_only, kind)
        mapping = self._match_cache.get(cache_key)
        if mapping is None:
            mapping = self._mapping(parent_key, child_key, day, active_only, kind)
            self._match_cache[cache_key] = mapping
        return mapping.get(cycle.time, ())

    def _mapping(
        self, parent_key: str, child_key: str, day: date, active_only: bool, kind: DependencyKind
    ) -> dict[datetime, tuple[UpstreamInstance, ...]]:
        child = self.schedules[child_key]
        parent = self.schedules[parent_key]
        child_cycles = child.day(day, active_only=active_only)
        if parent.zone.key == child.zone.key:
            parent_cycles: Sequence[Cycle] = parent.day(day, active_only=active_only)
        else:
            start, end = child.day_bounds(day)
            parent_cycles = parent.cycles(start, end, active_only=active_only)
        refs_key = (parent_key, child.zone.key, day, active_only, kind)
        refs = self._refs_cache.get(refs_key)
        if refs is None:
            refs = {
                p.time: UpstreamInstance(parent_key, p.time, kind, p.local) for p in parent_cycles
            }
            self._refs_cache[refs_key] = refs
        groups = match_same_cycle(parent_cycles, child_cycles)
        return {
            c.time: tuple(refs[p.time] for p in group)
            for c, group in zip(child_cycles, groups, strict=True)
        }

    def upstream_instances(
        self, node_key: str, cycle: Cycle, *, since: datetime | None = None
    ) -> list[UpstreamInstance]:
        """Every instance that ``node_key``'s ``cycle`` waits for, same-cycle first.

        References to cycles before ``since`` (before any instance was planned) are
        left out, since those instances will never exist.
        """
        out = self.parents(node_key, cycle)
        schedule = self.schedules[node_key]
        refs = self.previous_refs[node_key]
        if schedule.spec.self_dependency or refs:
            previous = schedule.previous(cycle.time)
            if previous is not None:
                if schedule.spec.self_dependency:
                    out.append(
                        UpstreamInstance(
                            node_key, previous.time, DependencyKind.SELF, previous.local
                        )
                    )
                for other in refs:
                    out.extend(
                        self.same_cycle(
                            other, node_key, previous, kind=DependencyKind.PREVIOUS_CYCLE
                        )
                    )
        if since is not None:
            since_utc = to_utc(since)
            out = [u for u in out if u.cycle_time >= since_utc]
        return out

    def parents(
        self, node_key: str, cycle: Cycle, *, active_only: bool = True
    ) -> list[UpstreamInstance]:
        """The upstream nodes' instances that ``cycle`` waits for: the same cycle, or
        the business dates of a partition window; plus the node's own earlier dates
        when it reads its own partitions."""
        out: list[UpstreamInstance] = []
        for parent_key in self._upstream[node_key]:
            window = self.graph.partition_window(parent_key, node_key)
            if window is None:
                out.extend(self.same_cycle(parent_key, node_key, cycle, active_only=active_only))
                continue
            for offset in range(window.first, window.last + 1):
                if offset == 0:
                    out.extend(
                        self.same_cycle(parent_key, node_key, cycle, active_only=active_only)
                    )
                else:
                    out.extend(
                        self._day_instances(parent_key, cycle, offset, active_only=active_only)
                    )
        own = self.graph.self_window(node_key)
        if own is not None:
            for offset in range(own.first, min(own.last, -1) + 1):
                days = self._day_instances(node_key, cycle, offset, active_only=active_only)
                out.extend(
                    UpstreamInstance(ref.node_key, ref.cycle_time, DependencyKind.SELF, ref.local)
                    for ref in days
                )
        return out

    def _day_instances(
        self, node_key: str, cycle: Cycle, offset: int, *, active_only: bool
    ) -> list[UpstreamInstance]:
        """Every cycle of ``node_key`` on the day ``offset`` days from ``cycle``'s."""
        day = cycle.local.date() + timedelta(days=offset)
        return [
            UpstreamInstance(node_key, c.time, DependencyKind.PARTITION, c.local)
            for c in self.schedules[node_key].day(day, active_only=active_only)
        ]
