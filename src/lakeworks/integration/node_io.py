"""Which warehouse tables a sync node reads and writes (dependency edges, lineage).

Pure: the node file is parsed with parameters rendered for a sample date; nothing is
opened. ``schedule.node_io`` imports this module lazily for ``sync`` nodes.
"""

from __future__ import annotations

from lakeworks.integration.plan import parse_node
from lakeworks.integration.spec import WAREHOUSE
from lakeworks.schedule.node_io import SAMPLE_CYCLE_TIME, NodeIO, register_node_io
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.sql.params import ParamContext


def sync_node_io(workspace: Workspace, node: Node) -> NodeIO:
    """Warehouse tables a sync node reads and writes."""
    ctx = ParamContext(cycle_time=SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node))
    spec, line_map, _ = parse_node(workspace, node, ctx)
    reads: frozenset[str] = frozenset()
    if spec.source.data_source == WAREHOUSE and spec.source.table:
        reads = frozenset({spec.source.table.lower()})
    writes: frozenset[str] = frozenset()
    lines: dict[str, int] = {}
    if spec.target.data_source == WAREHOUSE:
        table = spec.target.table.lower()
        writes = frozenset({table})
        line = line_map.line_of(("target", "table"))
        if line is not None:
            lines[table] = line
    return NodeIO(
        reads=reads | _declared(node, "inputs"),
        writes=writes | _declared(node, "outputs"),
        write_lines=lines,
    )


def _declared(node: Node, which: str) -> frozenset[str]:
    return frozenset(t.lower() for t in getattr(node.header, which))


register_node_io(NodeKind.SYNC, sync_node_io)
