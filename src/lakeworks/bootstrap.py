"""Plugging the services into the runtime at process start.

The runtime knows services only through its registries (``runtime.hooks`` for checks,
listeners and batch listeners; ``runtime.executors`` for node kinds); it never imports
them. Each process entry point (the ``lakeworks`` command, a server) calls
``install_services`` once. Each piece imports its service only when first used, so
start-up stays fast.
"""

from __future__ import annotations

from lakeworks.runtime import hooks
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.runtime.executors import register_executor
from lakeworks.spec.models import NodeKind


def _quality_gate(ctx: NodeRunContext, result: NodeResult) -> hooks.CheckOutcome:
    from lakeworks.quality.hook import quality_check

    return quality_check(ctx, result)


def _sync_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.integration.executor import run_sync_node

    return run_sync_node(ctx)


def _stream_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.streaming.executor import run_stream_node

    return run_stream_node(ctx)


def install_quality_gate() -> None:
    """Apply the quality rules after every successful node run (strong ones gate it)."""
    hooks.register_check(_quality_gate)


def install_sync_nodes() -> None:
    """Run ``*.sync.yml`` nodes with the data integration service."""
    register_executor(NodeKind.SYNC, _sync_node)


def install_stream_nodes() -> None:
    """Run ``*.stream.yml`` nodes as long-lived instances that follow their source."""
    register_executor(NodeKind.STREAM, _stream_node)


def install_data_map() -> None:
    """Keep the Data Map current from every run of this process."""
    from lakeworks.catalog.hook import install

    install()


def install_services() -> None:
    """Everything a Lakeworks process runs with (idempotent)."""
    install_quality_gate()
    install_sync_nodes()
    install_stream_nodes()
    install_data_map()
