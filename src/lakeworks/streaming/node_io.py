"""Which warehouse table a stream node writes (dependency edges, lineage); pure.
``schedule.node_io`` imports this module lazily for ``stream`` nodes."""

from __future__ import annotations

from lakeworks.schedule.node_io import NodeIO, register_node_io
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.streaming.spec import parse_stream


def stream_node_io(workspace: Workspace, node: Node) -> NodeIO:
    """The target table of a stream node (plus declared inputs and outputs)."""
    spec, line_map = parse_stream(node.code, node.path)
    table = spec.target.table.lower()
    line = line_map.line_of(("target", "table"))
    return NodeIO(
        reads=frozenset(t.lower() for t in node.header.inputs),
        writes=frozenset({table}) | frozenset(t.lower() for t in node.header.outputs),
        write_lines={table: line} if line is not None else {},
    )


register_node_io(NodeKind.STREAM, stream_node_io)
