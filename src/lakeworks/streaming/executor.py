"""The runtime's executor for ``stream`` nodes: a long-lived instance that follows its
source until an operator stops it (the instance then ends successfully)."""

from __future__ import annotations

from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.store.database import Database
from lakeworks.streaming.runner import StreamRunner


def run_stream_node(ctx: NodeRunContext) -> NodeResult:
    """Follow the node's source until the instance is stopped."""
    db = ctx.extras.get("db")
    runner = StreamRunner(
        ctx.workspace,
        ctx.env,
        ctx.engine,
        ctx.node,
        db if isinstance(db, Database) else None,
        log=ctx.log,
        cancel=ctx.cancel,
        instance_id=ctx.instance_id,
    )
    totals = runner.run()
    return NodeResult(
        rendered_code=ctx.node.code,
        writes=frozenset({runner.spec.target.table.lower()}),
        rows=totals.rows_out,
        detail={
            "rows_in": totals.rows_in,
            "rows_dirty": totals.rows_dirty,
            "flushes": totals.flushes,
            "restarts": totals.restarts,
        },
    )
