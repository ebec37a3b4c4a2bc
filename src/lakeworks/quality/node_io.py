"""A scheduled rule file reads the tables its rules check (so it waits for their writers).

``schedule.node_io`` imports this module lazily for ``quality`` nodes.
"""

from __future__ import annotations

from lakeworks.errors import UserError
from lakeworks.quality.loader import load_rule_text
from lakeworks.schedule.node_io import NodeIO, register_node_io
from lakeworks.spec.models import Node, NodeKind, Workspace


def quality_node_io(workspace: Workspace, node: Node) -> NodeIO:
    """The checked tables (and referenced ones) are read; nothing is written."""
    try:
        rules = load_rule_text(node.code, node.path, default_dialect=workspace.config.sql_dialect)
    except UserError:
        rules = []  # the rule loader reports the file's problems with their lines
    reads = {r.table for r in rules} | {r.ref_table for r in rules if r.ref_table}
    return NodeIO(reads=frozenset(reads) | {t.lower() for t in node.header.input_tables})


register_node_io(NodeKind.QUALITY, quality_node_io)
