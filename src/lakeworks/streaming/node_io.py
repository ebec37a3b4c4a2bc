"""What a stream node reads and writes for the dependency graph; pure.
``schedule.node_io`` imports this module lazily for ``stream`` nodes.

A stream node has no cycles, so it writes no table as far as the graph is concerned:
batch nodes reading its target must not wait for instances that never exist. The file
is still parsed here, so that a broken stream file fails validation."""

from __future__ import annotations

from lakeworks.schedule.node_io import NodeIO, register_node_io
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.streaming.spec import parse_stream


def stream_node_io(workspace: Workspace, node: Node) -> NodeIO:
    """No graph edges: the file is only checked."""
    parse_stream(node.code, node.path)
    return NodeIO()


register_node_io(NodeKind.STREAM, stream_node_io)
