"""The runtime's executor for ``sync`` nodes, and their table reads/writes for the graph."""

from __future__ import annotations

from lakeworks.integration.plan import parse_node
from lakeworks.integration.service import SyncService
from lakeworks.integration.spec import WAREHOUSE
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.schedule.node_io import SAMPLE_CYCLE_TIME, NodeIO, register_node_io
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.sql.params import ParamContext
from lakeworks.store.database import Database


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


def sync_node_io(workspace: Workspace, node: Node) -> NodeIO:
    """Warehouse tables a sync node reads and writes (for dependencies and lineage)."""
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
    return NodeIO(reads=reads, writes=writes, write_lines=lines)


register_node_io(NodeKind.SYNC, sync_node_io)
