"""Instance planning: which instances must exist for a window of time.

The scheduler asks, on every pass, for the instances of ``[window_start, window_end)``
that do not exist yet, and inserts them (the store keeps (node, cycle) unique, so a
second scheduler planning the same window creates nothing). Catching up after downtime
is planning the missed window. Plan whole local days (``planning_window``): a daily
instance at 00:00 waits for the hourly instances of its whole day, which must exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lakeworks.errors import UserError, ValidationFailed
from lakeworks.schedule.cycles import Cycle, load_zone, local_midnight, to_utc
from lakeworks.schedule.dependencies import (
    DependencyResolver,
    GraphView,
    InstanceKey,
    UpstreamInstance,
    node_location,
)
from lakeworks.schedule.retries import RetryPolicy
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.models import Node, NodeKind, RunMode, Workspace


@dataclass(frozen=True, slots=True)
class NodeRunSettings:
    """The per-node settings every instance of a node is planned with."""

    workflow: str
    frozen: bool
    dry_run: bool
    priority: int
    resource_group: str
    retry: RetryPolicy
    timeout_seconds: float | None
    owner: str | None


@dataclass(frozen=True, slots=True)
class PlannedInstance:
    """An instance to create: one node at one cycle time."""

    node_key: str
    cycle_time: datetime
    """Aware UTC: the instance's identity."""
    local_time: datetime
    """The same instant in the node's zone (render parameters from this)."""
    run_mode: RunMode
    """``normal`` or ``dry_run`` (a day a weekly/monthly node does not run)."""
    settings: NodeRunSettings
    upstream: tuple[UpstreamInstance, ...]

    @property
    def key(self) -> InstanceKey:
        return (self.node_key, self.cycle_time)

    @property
    def workflow(self) -> str:
        return self.settings.workflow

    @property
    def bizdate(self) -> date:
        """Business date: the day before the local scheduled day."""
        return self.local_time.date() - timedelta(days=1)

    @property
    def bizdate_text(self) -> str:
        """The business date as ``yyyymmdd``."""
        return self.bizdate.strftime("%Y%m%d")

    @property
    def store_cycle_time(self) -> datetime:
        """The cycle time as the store keeps it (UTC-naive)."""
        return self.cycle_time.replace(tzinfo=None)

    @property
    def frozen(self) -> bool:
        return self.settings.frozen

    @property
    def priority(self) -> int:
        return self.settings.priority

    @property
    def resource_group(self) -> str:
        return self.settings.resource_group

    @property
    def max_attempts(self) -> int:
        return 1 if self.run_mode == RunMode.DRY_RUN else self.settings.retry.max_attempts

    @property
    def initial_state(self) -> InstanceState:
        """``frozen`` for a frozen node, else ``not_run``."""
        return InstanceState.FROZEN if self.settings.frozen else InstanceState.NOT_RUN


def node_run_settings(workspace: Workspace, node: Node) -> NodeRunSettings:
    """A node's effective run settings; an unknown resource group is a ``UserError``."""
    settings = node.settings
    group = settings.resource_group or "default"
    if group not in workspace.config.resource_groups:
        known = ", ".join(sorted(workspace.config.resource_groups)) or "none"
        raise UserError(
            f"node {node.key} uses resource group '{group}', which is not defined",
            location=node_location(workspace, node, "resource_group"),
            hint=f"define it under resource_groups in lakeworks.yml (defined: {known})",
        )
    return NodeRunSettings(
        workflow=node.workflow,
        frozen=node.header.run_mode == RunMode.FROZEN,
        dry_run=node.header.run_mode == RunMode.DRY_RUN,
        priority=settings.priority or 0,
        resource_group=group,
        retry=RetryPolicy.from_settings(settings),
        timeout_seconds=settings.timeout_seconds,
        owner=settings.owner,
    )


def planning_window(now: datetime, zone: str, days_ahead: int = 1) -> tuple[datetime, datetime]:
    """Whole local days to plan: from the start of today to the end of today + N days."""
    tz = load_zone(zone)
    today = to_utc(now).astimezone(tz).date()
    return (
        local_midnight(today, tz),
        local_midnight(today + timedelta(days=days_ahead + 1), tz),
    )


class Planner:
    """Plans instances of one workspace; build once, call ``plan`` on every pass.

    Raises ``ValidationFailed`` listing every bad schedule, unknown resource group or
    unknown ``depends_on_previous`` reference.
    """

    def __init__(self, workspace: Workspace, graph: GraphView) -> None:
        self.workspace = workspace
        problems: list[UserError] = []
        try:
            self.resolver = DependencyResolver(workspace, graph)
        except ValidationFailed as exc:
            problems.extend(exc.errors)
        self.settings: dict[str, NodeRunSettings] = {}
        for node in workspace.nodes():
            try:
                self.settings[node.key] = node_run_settings(workspace, node)
            except UserError as exc:
                problems.append(exc)
        if problems:
            raise ValidationFailed(problems)
        self.order = graph.topological_order()
        self.unplanned = {n.key for n in workspace.nodes() if n.kind is NodeKind.STREAM}
        """Stream nodes have no cycles: each runs as one long-lived instance when started."""

    def forget_before(self, moment: datetime) -> None:
        """Drop cached days more than two days before ``moment`` (call once a day)."""
        self.resolver.forget_before(to_utc(moment).date() - timedelta(days=2))

    def instance(
        self, node_key: str, cycle: Cycle, *, since: datetime | None = None
    ) -> PlannedInstance:
        """The planned instance of ``node_key`` at ``cycle``."""
        settings = self.settings[node_key]
        dry = cycle.dry_run or settings.dry_run
        return PlannedInstance(
            node_key=node_key,
            cycle_time=cycle.time,
            local_time=cycle.local,
            run_mode=RunMode.DRY_RUN if dry else RunMode.NORMAL,
            settings=settings,
            upstream=tuple(self.resolver.upstream_instances(node_key, cycle, since=since)),
        )

    def plan(
        self,
        window_start: datetime,
        window_end: datetime,
        existing: Iterable[tuple[str, datetime]] = (),
        *,
        history_start: datetime | None = None,
        nodes: Iterable[str] | None = None,
    ) -> list[PlannedInstance]:
        """The instances of ``[window_start, window_end)`` not in ``existing``.

        ``existing`` holds ``(node_key, cycle_time)`` of instances already created
        (aware, or naive UTC as stored). Upstream references to cycles before
        ``history_start`` are left out. The result is ordered by cycle time, parents
        before children.
        """
        if window_start.tzinfo is None or window_end.tzinfo is None:
            raise ValueError("window_start and window_end must be timezone-aware")
        have = {(key, to_utc(moment)) for key, moment in existing}
        rank = {key: index for index, key in enumerate(self.order)}
        keys = self.order if nodes is None else sorted(set(nodes), key=rank.__getitem__)
        out: list[PlannedInstance] = []
        for node_key in keys:
            if node_key in self.unplanned:
                continue
            schedule = self.resolver.schedule(node_key)
            for cycle in schedule.cycles(window_start, window_end):
                if (node_key, cycle.time) in have:
                    continue
                out.append(self.instance(node_key, cycle, since=history_start))
        out.sort(key=lambda p: (p.cycle_time, rank[p.node_key]))
        return out


def plan_instances(
    workspace: Workspace,
    graph: GraphView,
    window_start: datetime,
    window_end: datetime,
    existing: Iterable[tuple[str, datetime]] = (),
    *,
    history_start: datetime | None = None,
) -> list[PlannedInstance]:
    """The instances of ``[window_start, window_end)`` that do not exist yet.

    A one-shot form of ``Planner(workspace, graph).plan(...)``.
    """
    return Planner(workspace, graph).plan(
        window_start, window_end, existing, history_start=history_start
    )
