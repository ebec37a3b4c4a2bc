"""What a node executor is given to run one instance, and what it gives back."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lakeworks.engines.base import Engine
from lakeworks.spec.models import Node, Workspace
from lakeworks.spec.outputs import OutputValue
from lakeworks.sql.params import ParamContext


@dataclass
class NodeRunContext:
    """Everything one run of one node needs. ``log`` writes a line to the instance log."""

    workspace: Workspace
    node: Node
    env: str
    engine: Engine
    params: ParamContext
    log: Callable[[str], None]
    instance_id: int | None = None
    attempt: int = 1
    timeout_seconds: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    on_interrupt: list[Callable[[], None]] = field(default_factory=list)
    """Callbacks that abort the running work (cancel a query, kill a process)."""
    extras: dict[str, object] = field(default_factory=dict)
    """Service-specific handles (e.g. the metadata database) keyed by name."""
    inputs: dict[str, object] = field(default_factory=dict)
    """Bound upstream outputs by parameter name (``inputs:`` in the header)."""

    @property
    def cycle_time(self) -> datetime:
        return self.params.cycle_time

    def interrupt(self) -> None:
        """Ask the running work to stop as soon as it can."""
        self.cancel.set()
        for callback in list(self.on_interrupt):
            callback()


@dataclass(frozen=True)
class NodeResult:
    """What a node run did: tables it read and wrote, rows affected, code that ran."""

    rendered_code: str
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    rows: int | None = None
    skipped: bool = False
    detail: dict[str, object] = field(default_factory=dict)
    output: OutputValue | None = None
    """The value published when the node declares ``output: true``."""
