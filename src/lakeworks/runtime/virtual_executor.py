"""Virtual (zero-load) nodes: they only join dependencies together."""

from __future__ import annotations

from lakeworks.runtime.context import NodeResult, NodeRunContext


def run_virtual_node(ctx: NodeRunContext) -> NodeResult:
    """Succeed at once."""
    ctx.log("virtual node: nothing to run")
    return NodeResult(rendered_code="")
