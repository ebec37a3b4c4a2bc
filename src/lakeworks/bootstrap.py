"""Plugging the services into the runtime at process start.

The runtime knows services only through its registries (``runtime.hooks`` for checks,
listeners and batch listeners; ``runtime.executors`` for node kinds); it never imports
them. Each process entry point (the ``lakeworks`` command, a server) calls
``install_services`` once. Each piece imports its service only when first used, so
start-up stays fast.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lakeworks.runtime import hooks
from lakeworks.runtime.executors import register_executor
from lakeworks.spec.kinds import NodeKind
from lakeworks.store import observers

if TYPE_CHECKING:
    import sqlalchemy as sa

    from lakeworks.runtime.context import NodeResult, NodeRunContext
    from lakeworks.spec.models import Workspace
    from lakeworks.store.database import Database


def _quality_gate(ctx: NodeRunContext, result: NodeResult) -> hooks.CheckOutcome:
    from lakeworks.quality.files import rule_files

    if not result.writes or not rule_files.files(ctx.workspace.root):
        return hooks.CheckOutcome()  # no rule can apply: the rule engine is not loaded
    from lakeworks.quality.hook import quality_check

    return quality_check(ctx, result)


def _sync_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.integration.executor import run_sync_node

    return run_sync_node(ctx)


def _stream_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.streaming.executor import run_stream_node

    return run_stream_node(ctx)


def _branch_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.executors import run_branch_node

    return run_branch_node(ctx)


def _merge_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.executors import run_merge_node

    return run_merge_node(ctx)


def _foreach_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.loops import run_foreach_node

    return run_foreach_node(ctx)


def _dowhile_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.loops import run_dowhile_node

    return run_dowhile_node(ctx)


def _trigger_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.trigger import run_trigger_node

    return run_trigger_node(ctx)


def _http_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.http import run_http_node

    return run_http_node(ctx)


def _check_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.check import run_check_node

    return run_check_node(ctx)


def _subflow_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.controlflow.subflow import run_subflow_node

    return run_subflow_node(ctx)


def install_control_flow() -> None:
    """Run the control-flow node kinds (branch, merge, loops, HTTP, check, trigger,
    sub-workflow)."""
    register_executor(NodeKind.BRANCH, _branch_node)
    register_executor(NodeKind.MERGE, _merge_node)
    register_executor(NodeKind.FOREACH, _foreach_node)
    register_executor(NodeKind.DOWHILE, _dowhile_node)
    register_executor(NodeKind.HTTP, _http_node)
    register_executor(NodeKind.CHECK, _check_node)
    register_executor(NodeKind.TRIGGER, _trigger_node)
    register_executor(NodeKind.SUBFLOW, _subflow_node)


def _quality_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.quality.executor import run_quality_node

    return run_quality_node(ctx)


def _alert_signals(conn: sa.Connection, events: observers.EventRows) -> None:
    from lakeworks.alerts.outbox import record_signals

    record_signals(conn, events)


def _alert_pass(db: Database, workspace: Workspace, env: str, now: datetime) -> None:
    from lakeworks.alerts.plugin import evaluators

    evaluators(db, workspace, env, now)


def install_quality_gate() -> None:
    """Apply the quality rules after every successful node run (strong ones gate it)."""
    hooks.register_check(_quality_gate)


def install_sync_nodes() -> None:
    """Run ``*.sync.yml`` nodes with the data integration service."""
    register_executor(NodeKind.SYNC, _sync_node)


def install_stream_nodes() -> None:
    """Run ``*.stream.yml`` nodes as long-lived instances that follow their source."""
    register_executor(NodeKind.STREAM, _stream_node)


def install_quality_nodes() -> None:
    """Run rule files that carry a schedule as nodes of their own."""
    register_executor(NodeKind.QUALITY, _quality_node)


def install_alerts() -> None:
    """Record alert signals with every state change this process makes (in its
    transaction), and evaluate alert rules and baselines after each scheduler pass."""
    observers.register(_alert_signals)
    hooks.register_pass_hook(_alert_pass)


def install_data_map() -> None:
    """Keep the Data Map current from every run of this process."""
    from lakeworks.catalog.hook import install

    install()


def install_services() -> None:
    """Everything a Lakeworks process runs with (idempotent)."""
    install_quality_gate()
    install_quality_nodes()
    install_sync_nodes()
    install_stream_nodes()
    install_control_flow()
    install_alerts()
    install_data_map()
