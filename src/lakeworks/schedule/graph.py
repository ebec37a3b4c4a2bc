"""The workspace dependency graph: inferred from tables, plus explicit ``depends_on``.

Building it checks the whole workspace at once: cycles, two writers of one table,
unknown explicit dependencies, unparseable SQL and unknown parameters are all reported
together, each with its file and line.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.schedule.node_io import NodeIO, node_io
from lakeworks.spec.models import Node, Workspace
from lakeworks.spec.outputs import binding_source
from lakeworks.spec.suggest import did_you_mean
from lakeworks.sql.partitions import Window, merge_windows


@dataclass(frozen=True)
class Edge:
    upstream: str
    downstream: str
    reason: str
    """``"table"`` (inferred from a table) or ``"explicit"`` (``depends_on``)."""
    table: str | None = None


@dataclass
class DependencyGraph:
    nodes: dict[str, Node]
    io: dict[str, NodeIO]
    edges: list[Edge] = field(default_factory=list)
    writers: dict[str, str] = field(default_factory=dict)
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    """``(parent, child)`` -> the parent's business dates a child instance waits for, in
    days from its own (only where that is not just the same date)."""
    self_windows: dict[str, Window] = field(default_factory=dict)
    """A node that reads its own earlier partitions -> those dates (negative offsets)."""
    _up: dict[str, set[str]] = field(default_factory=dict)
    _down: dict[str, set[str]] = field(default_factory=dict)

    def add_edge(self, edge: Edge) -> None:
        if edge.upstream == edge.downstream or edge.upstream in self._up[edge.downstream]:
            return
        self.edges.append(edge)
        self._up[edge.downstream].add(edge.upstream)
        self._down[edge.upstream].add(edge.downstream)

    def upstream(self, key: str) -> list[str]:
        """Direct parents of a node, sorted."""
        return sorted(self._up[key])

    def partition_window(self, parent: str, child: str) -> Window | None:
        """The parent's business dates ``child`` waits for, relative to its own; None
        for the same date only."""
        return self.windows.get((parent, child))

    def self_window(self, key: str) -> Window | None:
        """The node's own earlier business dates it reads, or None."""
        return self.self_windows.get(key)

    def describe_windows(self, key: str, bizdate: date | None = None) -> list[str]:
        """The partition windows of ``key``'s dependencies, one line each (with the
        business dates they mean for ``bizdate`` when given)."""
        found = [(p, w) for (p, c), w in sorted(self.windows.items()) if c == key]
        own = self.self_windows.get(key)
        if own is not None:
            found.append((key, own))
        lines = []
        for parent, window in found:
            dates = ""
            if bizdate is not None:
                first = bizdate + timedelta(days=window.first)
                last = bizdate + timedelta(days=window.last)
                dates = f"{first:%Y%m%d}" if first == last else f"{first:%Y%m%d}..{last:%Y%m%d}"
                dates = f" = business dates {dates}"
            who = "itself" if parent == key else parent
            lines.append(f"waits for {who} at {_relative(window)}{dates}")
        return lines

    def downstream(self, key: str) -> list[str]:
        """Direct children of a node, sorted."""
        return sorted(self._down[key])

    def _reach(self, start: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(start)
        while stack:
            for nxt in step(stack.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def descendants(self, key: str) -> set[str]:
        """Every node downstream of ``key`` at any depth."""
        return self._reach([key], lambda k: self._down[k])

    def ancestors(self, key: str) -> set[str]:
        """Every node upstream of ``key`` at any depth."""
        return self._reach([key], lambda k: self._up[k])

    def topological_order(self, keys: Iterable[str] | None = None) -> list[str]:
        """Nodes (all, or the given subset) parents first; ties broken by key."""
        subset = set(self.nodes if keys is None else keys)
        indegree = {k: sum(1 for u in self._up[k] if u in subset) for k in subset}
        ready = [k for k, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            key = heapq.heappop(ready)
            order.append(key)
            for child in self._down[key]:
                if child in subset:
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        heapq.heappush(ready, child)
        return order

    def find_cycles(self) -> list[list[str]]:
        """Each cycle once, as the list of its node keys."""
        order = set(self.topological_order())
        remaining = {k for k in self.nodes if k not in order}
        cycles: list[list[str]] = []
        visited: set[str] = set()
        for start in sorted(remaining):
            if start in visited:
                continue
            path: list[str] = []
            on_path: dict[str, int] = {}
            node = start
            while node not in on_path and node not in visited:
                on_path[node] = len(path)
                path.append(node)
                nxt = sorted(u for u in self._up[node] if u in remaining)
                if not nxt:
                    break
                node = nxt[0]
            if node in on_path:
                cycle = path[on_path[node] :]
                cycles.append(list(reversed(cycle)))
            visited.update(path)
        return cycles


def _relative(window: Window) -> str:
    """``bizdate-6..bizdate`` for the window -6..0."""

    def one(offset: int) -> str:
        return "bizdate" if offset == 0 else f"bizdate{offset:+d}"

    if window.first == window.last:
        return one(window.first)
    return f"{one(window.first)}..{one(window.last)}"


def _line_mentioning(node: Node, text: str) -> int | None:
    try:
        lines = node.path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, 1):
        if text in line:
            return number
    return None


def _control_refs(node: Node) -> list[str]:
    """Nodes that output bindings and ``branch:`` make this node depend on."""
    refs = [binding_source(b) for b in node.header.bindings.values()]
    return [r for r in refs if r] + list(node.header.branch)


def build_graph(
    workspace: Workspace, *, existing_tables: set[str] | None = None
) -> DependencyGraph:
    """Build and check the dependency graph of the whole workspace.

    ``existing_tables`` (lowercased names already in the warehouse), when given, lets
    reads of tables that no node writes be checked too.
    """
    nodes = {n.key: n for n in workspace.nodes()}
    graph = DependencyGraph(
        nodes=nodes, io={}, _up={k: set() for k in nodes}, _down={k: set() for k in nodes}
    )
    problems: list[UserError] = []
    for key, node in nodes.items():
        try:
            graph.io[key] = node_io(workspace, node)
        except ValidationFailed as exc:
            problems.extend(exc.errors)
            graph.io[key] = NodeIO()
        except UserError as exc:
            problems.append(exc)
            graph.io[key] = NodeIO()

    for key, io in graph.io.items():
        for table in sorted(io.writes):
            other = graph.writers.get(table)
            if other is None:
                graph.writers[table] = key
                continue
            node = nodes[key]
            problems.append(
                UserError(
                    f"table '{table}' is written by two nodes: {other} and {key}",
                    location=Location(node.path, io.write_lines.get(table)),
                    hint="each table has one writer; merge the nodes or write another table",
                )
            )

    for key, io in graph.io.items():
        for table in sorted(io.reads):
            writer = graph.writers.get(table)
            if writer is not None:
                graph.add_edge(Edge(writer, key, "table", table))
            elif existing_tables is not None and table not in existing_tables:
                node = nodes[key]
                suggestion = did_you_mean(table, [*existing_tables, *graph.writers])
                problems.append(
                    UserError(
                        f"reads table '{table}', which no node writes and which does not exist",
                        location=Location(node.path, _line_mentioning(node, table)),
                        hint=suggestion
                        or "create the table, add the node that writes it, or fix the name",
                    )
                )

    for key, node in nodes.items():
        for ref in node.header.depends_on:
            target = workspace.find_node(ref)
            if target is None:
                ambiguous = [n.key for n in workspace.nodes() if n.name == ref]
                hint = (
                    f"'{ref}' is ambiguous; write one of: {', '.join(ambiguous)}"
                    if ambiguous
                    else "name a node as 'workflow.node' or by its file name without extension"
                )
                problems.append(
                    UserError(
                        f"depends on unknown node '{ref}'",
                        location=Location(node.path, _line_mentioning(node, ref), key="depends_on"),
                        hint=hint,
                    )
                )
                continue
            graph.add_edge(Edge(target.key, key, "explicit"))
        for ref in _control_refs(node):
            target = workspace.find_node(ref)
            if target is not None:  # unknown ones are reported by the loader
                graph.add_edge(Edge(target.key, key, "explicit"))

    problems.extend(_partition_windows(graph))
    for cycle in graph.find_cycles():
        first = nodes[cycle[0]]
        problems.append(
            UserError(
                "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
                location=Location(first.path),
                hint="remove one of the dependencies (explicit depends_on, or a table read)",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    return graph


def _table_window(graph: DependencyGraph, key: str, table: str) -> Window:
    """The writer's business dates ``key`` reads of ``table``, relative to its own."""
    writer = graph.writers[table]
    written = graph.io[writer].partitions.writes.get(table)
    if written is None:
        return Window(0, 0)
    column, offset = written
    read = graph.io[key].partitions.window(table, column)
    return Window(0, 0) if read is None else read.shift(-offset)


def _partition_windows(graph: DependencyGraph) -> list[UserError]:
    """Fill ``graph.windows`` and ``graph.self_windows`` from the nodes' partition reads
    and their ``partition_windows`` overrides; return the bad overrides."""
    problems: list[UserError] = []
    for key, io in graph.io.items():
        node = graph.nodes[key]
        if not node.header.partition_dependencies:
            continue
        per_parent: dict[str, list[Window | None]] = {}
        for table, text in node.header.partition_windows.items():
            if table.lower() not in io.reads or table.lower() not in graph.writers:
                problems.append(
                    UserError(
                        f"partition_windows names '{table}', which this node does not read"
                        " from another node",
                        location=Location(
                            node.path,
                            _line_mentioning(node, "partition_windows:"),
                            key="partition_windows",
                        ),
                        hint="name a table the node reads and another node writes",
                    )
                )
                continue
            try:
                window = Window.parse(text)
            except ValueError:
                problems.append(
                    UserError(
                        f"partition_windows of '{table}': '{text}' is not a window of days",
                        location=Location(
                            node.path,
                            _line_mentioning(node, "partition_windows:"),
                            key="partition_windows",
                        ),
                        hint="write e.g. '-6..0' (a week up to the business date) or '-1'",
                    )
                )
                continue
            per_parent.setdefault(graph.writers[table.lower()], []).append(window)
        overridden = {t.lower() for t in node.header.partition_windows}
        for table in sorted(io.reads - overridden):
            writer = graph.writers.get(table)
            if writer is not None:
                per_parent.setdefault(writer, []).append(_table_window(graph, key, table))
        for parent, windows in per_parent.items():
            if parent == key:
                hull = merge_windows(windows)
                if hull is not None and hull.first < 0:
                    graph.self_windows[key] = Window(hull.first, min(hull.last, -1))
                continue
            if any(
                e.upstream == parent and e.downstream == key and e.reason == "explicit"
                for e in graph.edges
            ):
                windows.append(Window(0, 0))
            hull = merge_windows(windows)
            if hull is not None and hull != Window(0, 0):
                graph.windows[(parent, key)] = hull
    return problems
