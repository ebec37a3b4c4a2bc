"""The runtime's executor for ``sync`` nodes."""

from __future__ import annotations

from lakeworks.integration import node_io as _node_io  # registers the graph reader
from lakeworks.integration.service import SyncService
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.store.database import Database

__all__ = ["_node_io", "run_sync_node"]


def run_sync_node(ctx: NodeRunContext) -> NodeResult:
    """Run one instance of a sync node; totals go to the instance log and the store."""
    db = ctx.extras.get("db")
    service = SyncService(
        ctx.workspace, ctx.env, ctx.engine, db if isinstance(db, Database) else None
    )
    result = service.run(
        ctx.node,
        ctx.params,
        log=ctx.log,
        cancel=ctx.cancel,
        instance_id=ctx.instance_id,
        attempt=ctx.attempt,
    )
    plan = service.plan(ctx.node, ctx.params)
    return NodeResult(
        rendered_code=plan.rendered,
        reads=result.reads,
        writes=result.writes,
        rows=result.rows_written,
        detail={
            "sync_run_id": result.run_id,
            "rows_read": result.rows_read,
            "rows_dirty": result.rows_dirty,
            "bytes_read": result.bytes_read,
            "seconds": round(result.seconds, 3),
        },
    )
