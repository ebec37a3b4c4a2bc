"""Which tables a node reads and writes: the basis of inferred dependencies.

SQL nodes are analysed by the SQL layer; other kinds declare ``inputs``/``outputs`` in
their header, and services (e.g. data integration) register readers for their kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.sql.params import ParamContext, business_date, render
from lakeworks.sql.partitions import PartitionUse, partition_use
from lakeworks.sql.tables import table_io

SAMPLE_CYCLE_TIME = datetime(2000, 1, 2, 0, 0)
"""The cycle time used to render parameters when analysing code before any run."""
SECOND_SAMPLE_CYCLE_TIME = datetime(2001, 7, 19, 0, 0)
"""A second sample, far from the first: partition offsets both renders agree on are
relative to the business date; the others are fixed dates."""


@dataclass(frozen=True)
class NodeIO:
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    write_lines: dict[str, int] = field(default_factory=dict)
    partitions: PartitionUse = field(default_factory=PartitionUse)
    """Date partitions read and written, as offsets from the business date."""


NodeIOReader = Callable[[Workspace, Node], NodeIO]

_readers: dict[NodeKind, NodeIOReader] = {}


def register_node_io(kind: NodeKind, reader: NodeIOReader) -> None:
    """Teach the graph how a node kind's reads and writes are found."""
    _readers[kind] = reader


def _declared(node: Node) -> NodeIO:
    return NodeIO(
        reads=frozenset(t.lower() for t in node.header.input_tables),
        writes=frozenset(t.lower() for t in node.header.outputs),
    )


def sql_node_io(workspace: Workspace, node: Node) -> NodeIO:
    """Reads and writes of a SQL node, parsed from its code rendered for a sample date."""
    ctx = ParamContext(cycle_time=SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node))
    rendered = render(node.code, ctx, path=node.path, first_line=node.span.first_code_line)
    io = table_io(
        rendered,
        workspace.dialect_for(node),
        path=node.path,
        first_line=node.span.first_code_line,
    )
    write_lines: dict[str, int] = {}
    for line, _reads, writes in io.statements:
        for table in writes:
            write_lines.setdefault(table, line)
    declared = _declared(node)
    second = ParamContext(
        cycle_time=SECOND_SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node)
    )
    again = render(node.code, second, path=node.path, first_line=node.span.first_code_line)
    partitions = partition_use(
        ((rendered, ctx.bizdate), (again, business_date(SECOND_SAMPLE_CYCLE_TIME))),
        workspace.dialect_for(node),
    )
    return NodeIO(
        reads=io.external_reads() | declared.reads,
        writes=io.writes | declared.writes,
        write_lines=write_lines,
        partitions=partitions,
    )


register_node_io(NodeKind.SQL, sql_node_io)


_LAZY_READERS: dict[NodeKind, str] = {
    NodeKind.SYNC: "lakeworks.integration.node_io",
    NodeKind.STREAM: "lakeworks.streaming.node_io",
    NodeKind.QUALITY: "lakeworks.quality.node_io",
}
"""Modules that register a kind's reader when imported (loaded on first use)."""


def loop_io(workspace: Workspace, node: Node) -> NodeIO:
    """A loop reads and writes what its body does, a sub-workflow node what the workflow
    it calls does (lineage passes through)."""
    body = workspace.called_by(node) if node.kind is NodeKind.SUBFLOW else workspace.body_of(node)
    ios = [node_io(body, inner) for inner in body.nodes()]
    writes = frozenset(t for io in ios for t in io.writes)
    reads = frozenset(t for io in ios for t in io.reads) - writes
    return NodeIO(reads=reads, writes=writes)


def node_io(workspace: Workspace, node: Node) -> NodeIO:
    """The tables ``node`` reads and writes."""
    if node.kind in (NodeKind.FOREACH, NodeKind.DOWHILE, NodeKind.SUBFLOW):
        return loop_io(workspace, node)
    if node.kind not in _readers and node.kind in _LAZY_READERS:
        import importlib

        importlib.import_module(_LAZY_READERS[node.kind])
    reader = _readers.get(node.kind)
    if reader is None:
        return _declared(node)
    return reader(workspace, node)
