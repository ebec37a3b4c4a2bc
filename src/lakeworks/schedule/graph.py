"""The workspace dependency graph: inferred from tables, plus explicit ``depends_on``.

Building it checks the whole workspace at once: cycles, two writers of one table,
unknown explicit dependencies, unparseable SQL and unknown parameters are all reported
together, each with its file and line.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.schedule.node_io import NodeIO, node_io
from lakeworks.spec.models import Node, Workspace
from lakeworks.spec.outputs import binding_source


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


def _line_mentioning(node: Node, text: str) -> int | None:
    for number, line in enumerate(node.path.read_text(encoding="utf-8").splitlines(), 1):
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
                problems.append(
                    UserError(
                        f"reads table '{table}', which no node writes and which does not exist",
                        location=Location(node.path, _line_mentioning(node, table)),
                        hint="create the table, add the node that writes it, or fix the name",
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
