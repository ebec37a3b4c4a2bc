"""Backfill (data complement) plans: which instances to create, and in what order.

A backfill names its nodes (one node, a chain from a start node to an end node, or a
node with everything downstream), one or more ranges of business dates, an order
(ascending or descending) and how many dates run at once. For each business date the
plan holds every cycle of the selected nodes on the scheduled day (the day after the
business date), including dry runs on days a weekly or monthly node does not run. The
schedules' active periods are ignored: a backfill is an explicit request.

Dates are dealt round-robin to ``parallel`` lanes; a lane runs its dates one after the
other, and within a date the dependency order between the selected nodes holds. The
ordering is carried as ``edges`` (child index, parent index), the form the store's
``create_many(dependencies=...)`` takes. Dependencies on nodes outside the backfill
and on previous cycles are not waited for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from lakeworks.errors import UserError
from lakeworks.schedule.cycles import format_local
from lakeworks.schedule.dependencies import DependencyResolver, GraphView
from lakeworks.spec.models import RunMode, Workspace

MAX_DATES = 3660
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class BackfillScope(StrEnum):
    NODE = "node"
    """Just the named node."""
    CHAIN = "chain"
    """The start node, the end node and every node on a path between them."""
    DOWNSTREAM = "downstream"
    """The node and everything downstream of it."""


class BackfillOrder(StrEnum):
    ASCENDING = "asc"
    DESCENDING = "desc"


@dataclass(frozen=True)
class BackfillRequest:
    """What a user asks for (``lakeworks backfill``)."""

    node: str
    date_ranges: tuple[tuple[date, date], ...]
    """Inclusive ranges of business dates."""
    scope: BackfillScope = BackfillScope.NODE
    end_node: str | None = None
    """The last node of a chain (``scope=chain``)."""
    order: BackfillOrder = BackfillOrder.ASCENDING
    parallel: int = 1
    """How many dates run at once."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Parameter overrides for every instance of the backfill."""
    exclude: frozenset[str] = frozenset()
    """Node keys left out (e.g. some downstream nodes)."""


@dataclass(frozen=True, slots=True)
class BackfillInstance:
    node_key: str
    cycle_time: datetime
    """Aware UTC."""
    local_time: datetime
    bizdate: date
    run_mode: RunMode
    lane: int
    """0-based lane; lanes run side by side."""
    step: int
    """0-based position of the date within its lane."""

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.node_key, self.cycle_time)


@dataclass(frozen=True)
class BackfillPlan:
    """The instances a backfill creates and the order they run in."""

    request: BackfillRequest
    nodes: tuple[str, ...]
    """Selected nodes, parents first."""
    dates: tuple[date, ...]
    """Business dates in run order."""
    instances: tuple[BackfillInstance, ...]
    edges: tuple[tuple[int, int], ...]
    """``(child index, parent index)`` into ``instances``: the child waits for the parent."""
    warnings: tuple[str, ...] = ()

    @property
    def parameters(self) -> Mapping[str, str]:
        return self.request.parameters

    def groups(self) -> list[list[BackfillInstance]]:
        """Instances grouped by step: group k runs after group k-1 in each lane."""
        steps: dict[int, list[BackfillInstance]] = {}
        for item in self.instances:
            steps.setdefault(item.step, []).append(item)
        return [steps[k] for k in sorted(steps)]


def parse_date_ranges(text: str) -> tuple[tuple[date, date], ...]:
    """``20260401-20260410,20260501`` (or ISO dates, ``..`` as separator) as ranges."""
    ranges: list[tuple[date, date]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if ".." in part:
            first, _, last = part.partition("..")
        elif part.count("-") in (1, 5):
            first, last = _split_dash(part)
        else:
            first, last = part, part
        ranges.append((_parse_date(first.strip()), _parse_date(last.strip())))
    if not ranges:
        raise UserError(
            "no business dates given",
            hint="write e.g. 20260401-20260410 or 2026-04-01..2026-04-10,2026-05-01",
        )
    return tuple(ranges)


def _split_dash(part: str) -> tuple[str, str]:
    if part.count("-") == 1:
        first, _, last = part.partition("-")
        return first, last
    pieces = part.split("-")
    return "-".join(pieces[:3]), "-".join(pieces[3:])


def _parse_date(text: str) -> date:
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"'{text}' is not a business date",
            hint="write yyyymmdd (20260401) or yyyy-mm-dd (2026-04-01)",
        ) from None


def _resolve(workspace: Workspace, ref: str, what: str) -> str:
    target = workspace.find_node(ref)
    if target is not None:
        return target.key
    ambiguous = [n.key for n in workspace.nodes() if n.name == ref]
    hint = (
        f"'{ref}' is ambiguous; write one of: {', '.join(ambiguous)}"
        if ambiguous
        else "name a node as 'workflow.node' or by its unambiguous name"
    )
    raise UserError(f"backfill {what} '{ref}' is not a node of this workspace", hint=hint)


def select_nodes(workspace: Workspace, graph: GraphView, request: BackfillRequest) -> list[str]:
    """The node keys a backfill covers, parents first."""
    start = _resolve(workspace, request.node, "node")
    if request.scope == BackfillScope.NODE:
        chosen = {start}
    elif request.scope == BackfillScope.DOWNSTREAM:
        chosen = {start} | graph.descendants(start)
    else:
        if request.end_node is None:
            raise UserError("a chain backfill needs an end node", hint="pass the end node")
        end = _resolve(workspace, request.end_node, "end node")
        between = ({start} | graph.descendants(start)) & ({end} | graph.ancestors(end))
        if end not in between:
            raise UserError(
                f"no dependency path from {start} to {end}",
                hint=f"the end node must be downstream of {start}",
            )
        chosen = between
    chosen -= set(request.exclude)
    if not chosen:
        raise UserError("the backfill selects no nodes", hint="check the excluded nodes")
    return graph.topological_order(sorted(chosen))


def _dates(request: BackfillRequest) -> list[date]:
    days: set[date] = set()
    for first, last in request.date_ranges:
        if last < first:
            raise UserError(
                f"business date range {first:%Y%m%d}-{last:%Y%m%d} ends before it starts",
                hint="write the earlier date first",
            )
        if (last - first).days + len(days) >= MAX_DATES:
            raise UserError(f"a backfill covers at most {MAX_DATES} business dates")
        day = first
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    if not days:
        raise UserError("no business dates given")
    return sorted(days, reverse=request.order == BackfillOrder.DESCENDING)


def _check(request: BackfillRequest) -> None:
    if request.parallel < 1:
        raise UserError(
            f"parallel must be at least 1, got {request.parallel}",
            hint="1 runs the dates one after the other",
        )
    for name in request.parameters:
        if not PARAMETER_NAME.match(name):
            raise UserError(
                f"parameter override '{name}' is not a valid parameter name",
                hint="use letters, digits and '_' (e.g. bizdate_offset=1)",
            )


def plan_backfill(
    workspace: Workspace,
    graph: GraphView,
    request: BackfillRequest,
    *,
    resolver: DependencyResolver | None = None,
) -> BackfillPlan:
    """The plan of ``request``: instances, ordering edges and warnings; checks the request."""
    _check(request)
    resolver = resolver or DependencyResolver(workspace, graph)
    nodes = select_nodes(workspace, graph, request)
    dates = _dates(request)
    chosen = set(nodes)
    instances: list[BackfillInstance] = []
    edges: list[tuple[int, int]] = []
    lane_tail: dict[int, list[int]] = {}
    warnings: list[str] = []
    for position, bizdate in enumerate(dates):
        lane, step = position % request.parallel, position // request.parallel
        day = bizdate + timedelta(days=1)
        index_of: dict[tuple[str, datetime], int] = {}
        has_parent: set[int] = set()
        has_child: set[int] = set()
        first_of_date = len(instances)
        for node_key in nodes:
            schedule = resolver.schedule(node_key)
            node = resolver.nodes[node_key]
            previous_index: int | None = None
            for cycle in schedule.day(day, active_only=False):
                dry = cycle.dry_run or node.header.run_mode == RunMode.DRY_RUN
                index = len(instances)
                instances.append(
                    BackfillInstance(
                        node_key,
                        cycle.time,
                        cycle.local,
                        bizdate,
                        RunMode.DRY_RUN if dry else RunMode.NORMAL,
                        lane,
                        step,
                    )
                )
                index_of[(node_key, cycle.time)] = index
                parents = [
                    index_of[ref.key]
                    for parent in graph.upstream(node_key)
                    if parent in chosen
                    for ref in resolver.same_cycle(parent, node_key, cycle, active_only=False)
                    if ref.key in index_of
                ]
                if schedule.spec.self_dependency and previous_index is not None:
                    parents.append(previous_index)
                for parent_index in parents:
                    edges.append((index, parent_index))
                    has_parent.add(index)
                    has_child.add(parent_index)
                previous_index = index
        this_date = range(first_of_date, len(instances))
        for earlier in lane_tail.get(lane, []):
            for index in this_date:
                if index not in has_parent:
                    edges.append((index, earlier))
        lane_tail[lane] = [i for i in this_date if i not in has_child]
    if request.parallel > 1:
        for key in nodes:
            if resolver.schedule(key).spec.self_dependency:
                warnings.append(
                    f"{key} depends on its previous cycle, but {request.parallel} dates run"
                    " at once: its cycles may run out of order"
                )
    if not instances:
        warnings.append("no cycles fall on the scheduled days of these business dates")
    return BackfillPlan(
        request, tuple(nodes), tuple(dates), tuple(instances), tuple(edges), tuple(warnings)
    )


def format_plan(plan: BackfillPlan) -> str:
    """The plan as text for ``--dry-run``: a summary, then one line per instance."""
    req = plan.request
    first, last = min(plan.dates), max(plan.dates)
    order = "ascending" if req.order == BackfillOrder.ASCENDING else "descending"
    lines = [
        f"Backfill of {len(plan.nodes)} node{'s' if len(plan.nodes) != 1 else ''} "
        f"({req.scope.value} {req.node}{' -> ' + req.end_node if req.end_node else ''}), "
        f"{len(plan.dates)} business date{'s' if len(plan.dates) != 1 else ''} "
        f"{first:%Y-%m-%d} to {last:%Y-%m-%d}, {order}, "
        + ("one date at a time" if req.parallel == 1 else f"{req.parallel} dates at a time"),
        f"{len(plan.instances)} instances to create",
    ]
    if req.parameters:
        overrides = ", ".join(f"{k}={v}" for k, v in sorted(req.parameters.items()))
        lines.append(f"parameter overrides: {overrides}")
    lines.extend(f"warning: {w}" for w in plan.warnings)
    lines.append("")
    lines.append(f"{'step':>4}  {'lane':>4}  {'bizdate':<10}  {'cycle':<16}  {'mode':<7}  node")
    for item in plan.instances:
        mode = "dry-run" if item.run_mode == RunMode.DRY_RUN else "run"
        lines.append(
            f"{item.step + 1:>4}  {item.lane + 1:>4}  {item.bizdate:%Y-%m-%d}  "
            f"{format_local(item.local_time):<16}  {mode:<7}  {item.node_key}"
        )
    return "\n".join(lines)
