"""The sub-workflow node: run another workflow of the workspace as part of this run.

The called workflow runs for the caller's business date as a run of its own
(``sub-workflow <node>: <workflow>``) whose instances the Operations Center lists; the
run is recorded with the caller's instance (its one "iteration"), and the caller's
state is the called run's: it succeeds when every called instance succeeded (or was
skipped). The caller's ``parameters`` and bound inputs are passed down.
"""

from __future__ import annotations

from lakeworks.controlflow.body_runs import close_lost_runs, run_body
from lakeworks.errors import UserCodeError, UserError
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import SubflowConfig
from lakeworks.store.database import Database


def passed_down(ctx: NodeRunContext) -> dict[str, str]:
    """The parameters the called workflow gets: the caller's own ``parameters`` and its
    bound inputs (they win over the called workflow's parameters)."""
    names = [*ctx.node.header.parameters, *ctx.node.header.bindings]
    return {name: ctx.params.parameters[name] for name in names if name in ctx.params.parameters}


def run_subflow_node(ctx: NodeRunContext) -> NodeResult:
    """Run the called workflow once; succeed or fail as it does."""
    node = ctx.node
    config = node.config
    assert isinstance(config, SubflowConfig)
    db = ctx.extras.get("db")
    if not isinstance(db, Database) or ctx.instance_id is None:
        raise UserError("sub-workflow nodes run only as recorded instances")
    called = ctx.workspace.called_by(node)
    close_lost_runs(db, ctx.instance_id)
    ctx.log(f"calling workflow {config.workflow}")
    summary = run_body(
        ctx,
        db,
        called,
        0,
        config.workflow,
        passed_down(ctx),
        f"sub-workflow {node.key}: {config.workflow}",
        max_parallel=None,
    )
    if not summary.ok:
        failed = ", ".join(f"{i.node_key} ({i.state})" for i in summary.failed[:10])
        raise UserCodeError(f"workflow {config.workflow} failed (run {summary.run.id}): {failed}")
    ctx.log(f"workflow {config.workflow} succeeded (run {summary.run.id})")
    return NodeResult(
        rendered_code=node.code,
        detail={"workflow": config.workflow, "run": summary.run.id},
    )
