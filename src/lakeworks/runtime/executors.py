"""Node executors: one per node kind, chosen from a registry.

The runtime registers its own kinds (SQL, Python, shell, virtual); services add theirs
at process start (``lakeworks.bootstrap``: sync nodes). Executors run user code inside an
error boundary: a failure of the user's SQL, Python
or shell becomes ``UserCodeError`` (recorded on the instance), never a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lakeworks.errors import UserError
from lakeworks.spec.kinds import NodeKind

if TYPE_CHECKING:
    from lakeworks.runtime.context import NodeResult, NodeRunContext

Executor = Callable[["NodeRunContext"], "NodeResult"]

_executors: dict[NodeKind, Executor] = {}


def register_executor(kind: NodeKind, executor: Executor) -> None:
    """Make ``executor`` run nodes of ``kind``."""
    _executors[kind] = executor


def executor_for(kind: NodeKind) -> Executor:
    """The executor registered for ``kind``."""
    _load_builtin()
    executor = _executors.get(kind)
    if executor is None:
        raise UserError(
            f"no executor for node kind '{kind}'",
            hint="install the extra that provides it (e.g. lakeworks[all])",
        )
    return executor


_loaded = False
_load_lock = threading.Lock()


def _load_builtin() -> None:
    global _loaded
    with _load_lock:
        if not _loaded:
            _register_builtin()
            _loaded = True


def _register_builtin() -> None:
    from lakeworks.runtime import sql_executor, virtual_executor

    _executors.setdefault(NodeKind.SQL, sql_executor.run_sql_node)
    _executors.setdefault(NodeKind.PYTHON, _python_node)
    _executors.setdefault(NodeKind.SHELL, _shell_node)
    _executors.setdefault(NodeKind.VIRTUAL, virtual_executor.run_virtual_node)


def _python_node(ctx: NodeRunContext) -> NodeResult:
    # the child-process machinery (sandbox, subprocess) loads when a node needs it
    from lakeworks.runtime.process_executor import run_python_node

    return run_python_node(ctx)


def _shell_node(ctx: NodeRunContext) -> NodeResult:
    from lakeworks.runtime.process_executor import run_shell_node

    return run_shell_node(ctx)
