"""Shell nodes whose executor fails with a chosen kind of error, to test retries.

The executor stands in for the shell executor while the context is open; a node named
``user_*`` raises ``UserError`` (deterministic), ``transient_*`` a ``TransientError`` on
its first two attempts, ``code_*`` a ``UserCodeError`` on its first attempt; any other
node runs as a real shell node.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lakeworks.errors import Location, TransientError, UserCodeError, UserError
from lakeworks.runtime import executors
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import NodeKind


@contextmanager
def failing_shell_nodes() -> Iterator[None]:
    real = executors.executor_for(NodeKind.SHELL)

    def run(ctx: NodeRunContext) -> NodeResult:
        name = ctx.node.name
        if name.startswith("user_"):
            raise UserError("unknown column 'amout'", location=Location(ctx.node.path, 3))
        if name.startswith("transient_") and ctx.attempt <= 2:
            raise TransientError("the warehouse is locked by another writer")
        if name.startswith("code_") and ctx.attempt == 1:
            raise UserCodeError(f"{ctx.node.path.name} exited with code 1")
        return real(ctx)

    executors.register_executor(NodeKind.SHELL, run)
    try:
        yield
    finally:
        executors.register_executor(NodeKind.SHELL, real)
