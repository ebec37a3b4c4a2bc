"""Backfill (data complement) plans: which instances to create, and in what order.

A backfill names its nodes (one node, a chain from a start node to an end node, or a
node with everything downstream), one or more ranges of business dates, an order
(ascending or descending) and how many dates run at once. For each business date the
plan holds every cycle of the selected nodes on the scheduled day (the day after the
business date), including dry runs on days a weekly or monthly node does not run. The
schedules' active periods are ignored: a backfill is an explicit request.

Every dependency between the selected instances is kept, across dates too: the
same-cycle rule within a date, partition windows (a 7-day rolling node waits for the
six earlier dates of its upstream node), self-dependencies and ``depends_on_previous``.
Instances outside the selection that some instance waits for are listed in
``outside``; the service decides whether to wait for them.

Dates are dealt round-robin to ``parallel`` lanes; a lane runs its dates one after
the other. A descending backfill whose instances wait for earlier dates could never
finish that way (the newest date waits for the older ones), so there each node runs
the dates of a lane one after the other instead, and a node that waits for its own
earlier dates (self-dependency, reading its own partitions) runs them oldest first.
The ordering is carried as ``edges`` (child index, parent index), the form the store's
``create_many(dependencies=...)`` takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from lakeworks.errors import UserError
from lakeworks.schedule.cycles import Cycle, format_local
from lakeworks.schedule.dependencies import (
    DependencyKind,
    DependencyResolver,
    GraphView,
    InstanceKey,
    UpstreamInstance,
)
from lakeworks.spec.models import RunMode, Workspace

MAX_DATES = 3660
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class BackfillScope(StrEnum):
    NODE = "node"
    """Just the named nodes (and the nodes of the named workflows)."""
    CHAIN = "chain"
    """The start node, the end node and every node on a path between them."""
    DOWNSTREAM = "downstream"
    """The named nodes and everything downstream of them (to ``depth`` levels)."""
    UPSTREAM = "upstream"
    """The named nodes and everything upstream of them (to ``depth`` levels)."""
    WORKSPACE = "workspace"
    """Every node of the workspace."""


class BackfillOrder(StrEnum):
    ASCENDING = "asc"
    DESCENDING = "desc"


@dataclass(frozen=True)
class BackfillRequest:
    """What a user asks for (``lakeworks backfill``)."""

    node: str
    """The (first) node; may be empty when ``nodes`` or ``workflows`` name the rest."""
    date_ranges: tuple[tuple[date, date], ...]
    """Inclusive ranges of business dates."""
    nodes: tuple[str, ...] = ()
    """More nodes to start from."""
    workflows: tuple[str, ...] = ()
    """Workflows whose every node is a start node."""
    depth: int | None = None
    """How many levels up or downstream to go (None: all)."""
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
    wait_outside: bool = False
    """Also wait for the scheduled instances outside the backfill that its instances
    depend on (``BackfillPlan.outside``)."""


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
    outside: tuple[UpstreamInstance, ...] = ()
    """Instances outside the backfill that some of its instances wait for."""
    outside_edges: tuple[tuple[int, InstanceKey], ...] = ()
    """``(instance index, outside key)``: which instance waits for which of them."""

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


def _roots(workspace: Workspace, request: BackfillRequest) -> set[str]:
    roots = {_resolve(workspace, ref, "node") for ref in (request.node, *request.nodes) if ref}
    for name in request.workflows:
        flow = workspace.workflows.get(name)
        if flow is None:
            raise UserError(
                f"backfill workflow '{name}' is not a workflow of this workspace",
                hint="workflows: " + ", ".join(sorted(workspace.workflows)),
            )
        roots.update(n.key for n in flow.nodes.values())
    if not roots:
        raise UserError(
            "the backfill names no node",
            hint="name nodes, a workflow (--workflow) or the whole workspace (--all)",
        )
    return roots


def _levels(roots: set[str], step: Callable[[str], list[str]], depth: int | None) -> set[str]:
    """``roots`` and what ``step`` reaches from them, up to ``depth`` steps (None: all)."""
    chosen = set(roots)
    frontier = set(roots)
    level = 0
    while frontier and (depth is None or level < depth):
        frontier = {n for key in frontier for n in step(key)} - chosen
        chosen |= frontier
        level += 1
    return chosen


def select_nodes(workspace: Workspace, graph: GraphView, request: BackfillRequest) -> list[str]:
    """The node keys a backfill covers, parents first."""
    if request.depth is not None and request.depth < 0:
        raise UserError(f"depth must be 0 or more, got {request.depth}")
    if request.scope == BackfillScope.WORKSPACE:
        chosen = {n.key for n in workspace.nodes()}
    elif request.scope == BackfillScope.CHAIN:
        start = _resolve(workspace, request.node, "node")
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
    else:
        roots = _roots(workspace, request)
        if request.scope == BackfillScope.DOWNSTREAM:
            chosen = _levels(roots, graph.downstream, request.depth)
        elif request.scope == BackfillScope.UPSTREAM:
            chosen = _levels(roots, graph.upstream, request.depth)
        else:
            chosen = roots
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


def time_coupled(resolver: DependencyResolver, nodes: list[str]) -> set[str]:
    """Nodes whose instances wait (through any path) for their own earlier dates: a
    self-dependency, a read of their own partitions, or a cycle through
    ``depends_on_previous``. Their dates run in date order whatever is asked."""
    chosen = set(nodes)
    edges: dict[str, set[str]] = {k: set() for k in nodes}
    coupled: set[str] = set()
    for key in nodes:
        edges[key].update(p for p in resolver.graph.upstream(key) if p in chosen)
        edges[key].update(p for p in resolver.previous_refs[key] if p in chosen)
        if (
            resolver.schedule(key).spec.self_dependency
            or resolver.graph.self_window(key) is not None
            or key in resolver.previous_refs[key]
        ):
            coupled.add(key)
    for key in nodes:
        seen: set[str] = set()
        stack = list(edges[key])
        while stack:
            item = stack.pop()
            if item == key:
                coupled.add(key)
                break
            if item not in seen:
                seen.add(item)
                stack.extend(edges[item])
    return coupled


def _waits_for(resolver: DependencyResolver, node_key: str, cycle: Cycle) -> list[UpstreamInstance]:
    """Everything an instance waits for, ignoring active periods (a backfill)."""
    out = resolver.parents(node_key, cycle, active_only=False)
    schedule = resolver.schedule(node_key)
    refs = resolver.previous_refs[node_key]
    if schedule.spec.self_dependency or refs:
        previous = schedule.previous(cycle.time)
        if previous is not None:
            if schedule.spec.self_dependency:
                out.append(
                    UpstreamInstance(node_key, previous.time, DependencyKind.SELF, previous.local)
                )
            for other in refs:
                out.extend(
                    resolver.same_cycle(
                        other,
                        node_key,
                        previous,
                        kind=DependencyKind.PREVIOUS_CYCLE,
                        active_only=False,
                    )
                )
    return out


def _node_lanes(
    edges: set[tuple[int, int]],
    by_node_date: dict[tuple[str, int], list[int]],
    coupled: set[str],
    parallel: int,
) -> None:
    """Each node runs the dates of one lane one after the other."""
    for (node_key, position), indexes in by_node_date.items():
        if node_key in coupled:
            continue  # its own dependencies already run its dates one by one, oldest first
        earlier = by_node_date.get((node_key, position - parallel))
        if not earlier:
            continue
        for k, index in enumerate(indexes):
            edges.add((index, earlier[min(k, len(earlier) - 1)]))


def _date_lanes(
    edges: set[tuple[int, int]],
    instances: list[BackfillInstance],
    position_of: dict[date, int],
    parallel: int,
) -> None:
    """A lane's next date starts when its previous date has finished."""
    same_date = [(c, p) for c, p in edges if instances[c].bizdate == instances[p].bizdate]
    has_parent = {c for c, _ in same_date}
    has_child = {p for _, p in same_date}
    by_position: dict[int, list[int]] = {}
    for index, item in enumerate(instances):
        by_position.setdefault(position_of[item.bizdate], []).append(index)
    for position, indexes in by_position.items():
        earlier = by_position.get(position - parallel)
        if earlier is None:
            continue
        tails = [i for i in earlier if i not in has_child]
        for index in indexes:
            if index not in has_parent:
                edges.update((index, tail) for tail in tails)


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
    instances: list[BackfillInstance] = []
    cycles: list[Cycle] = []
    index_of: dict[tuple[str, datetime], int] = {}
    by_node_date: dict[tuple[str, int], list[int]] = {}
    for position, bizdate in enumerate(dates):
        lane, step = position % request.parallel, position // request.parallel
        day = bizdate + timedelta(days=1)
        for node_key in nodes:
            node = resolver.nodes[node_key]
            for cycle in resolver.schedule(node_key).day(day, active_only=False):
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
                cycles.append(cycle)
                index_of[(node_key, cycle.time)] = index
                by_node_date.setdefault((node_key, position), []).append(index)
    edges: set[tuple[int, int]] = set()
    outside: dict[tuple[str, datetime], UpstreamInstance] = {}
    outside_edges: set[tuple[int, InstanceKey]] = set()
    for index, item in enumerate(instances):
        for ref in _waits_for(resolver, item.node_key, cycles[index]):
            parent = index_of.get(ref.key)
            if parent is None:
                outside.setdefault(ref.key, ref)
                outside_edges.add((index, ref.key))
            elif parent != index:
                edges.add((index, parent))
    position_of = {bizdate: position for position, bizdate in enumerate(dates)}
    across = (
        any(instances[c].bizdate != instances[p].bizdate for c, p in edges)
        and request.order == BackfillOrder.DESCENDING
    )
    coupled = time_coupled(resolver, nodes)
    if across:
        _node_lanes(edges, by_node_date, coupled, request.parallel)
    else:
        _date_lanes(edges, instances, position_of, request.parallel)
    warnings: list[str] = []
    if across:
        warnings.append(
            "some instances wait for earlier dates: in each lane every node runs its dates"
            " one after the other (whole dates newest first could never finish)"
        )
    if coupled and request.order == BackfillOrder.DESCENDING:
        warnings.append(
            f"{', '.join(sorted(coupled))} wait for their own earlier dates: their dates run"
            " oldest first"
        )
    if not instances:
        warnings.append("no cycles fall on the scheduled days of these business dates")
    return BackfillPlan(
        request,
        tuple(nodes),
        tuple(dates),
        tuple(instances),
        tuple(sorted(edges)),
        tuple(warnings),
        outside=tuple(sorted(outside.values(), key=lambda u: (u.cycle_time, u.node_key))),
        outside_edges=tuple(sorted(outside_edges)),
    )


def describe_selection(req: BackfillRequest) -> str:
    """``chain a -> b``, ``downstream of a, workflow sales (2 levels)``, ``workspace``."""
    if req.scope == BackfillScope.WORKSPACE:
        return "workspace"
    if req.scope == BackfillScope.CHAIN:
        return f"chain {req.node} -> {req.end_node}"
    named = [n for n in (req.node, *req.nodes) if n]
    named += [f"workflow {w}" for w in req.workflows]
    text = ", ".join(named)
    if req.scope == BackfillScope.NODE:
        return f"node {text}"
    levels = "" if req.depth is None else f" ({req.depth} level{'s' if req.depth != 1 else ''})"
    return f"{req.scope.value} of {text}{levels}"


def format_plan(plan: BackfillPlan, outside_states: Mapping[InstanceKey, str] | None = None) -> str:
    """The plan as text for ``--dry-run``: a summary, the instances outside it that it
    waits for (with their state when given), then one line per instance."""
    req = plan.request
    first, last = min(plan.dates), max(plan.dates)
    order = "ascending" if req.order == BackfillOrder.ASCENDING else "descending"
    lines = [
        f"Backfill of {len(plan.nodes)} node{'s' if len(plan.nodes) != 1 else ''} "
        f"({describe_selection(req)}), "
        f"{len(plan.dates)} business date{'s' if len(plan.dates) != 1 else ''} "
        f"{first:%Y-%m-%d} to {last:%Y-%m-%d}, {order}, "
        + ("one date at a time" if req.parallel == 1 else f"{req.parallel} dates at a time"),
        f"{len(plan.instances)} instances to create",
    ]
    if req.parameters:
        overrides = ", ".join(f"{k}={v}" for k, v in sorted(req.parameters.items()))
        lines.append(f"parameter overrides: {overrides}")
    lines.extend(f"warning: {w}" for w in plan.warnings)
    if plan.outside:
        lines.append("")
        lines.append(f"waits for {len(plan.outside)} instances outside the backfill:")
        for ref in plan.outside:
            state = (outside_states or {}).get(ref.key)
            shown = f"  ({state})" if state else ""
            lines.append(f"  {ref.describe()}  [{ref.kind.value}]{shown}")
    lines.append("")
    lines.append(f"{'step':>4}  {'lane':>4}  {'bizdate':<10}  {'cycle':<16}  {'mode':<7}  node")
    for item in plan.instances:
        mode = "dry-run" if item.run_mode == RunMode.DRY_RUN else "run"
        lines.append(
            f"{item.step + 1:>4}  {item.lane + 1:>4}  {item.bizdate:%Y-%m-%d}  "
            f"{format_local(item.local_time):<16}  {mode:<7}  {item.node_key}"
        )
    return "\n".join(lines)
