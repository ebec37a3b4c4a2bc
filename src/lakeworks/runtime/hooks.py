"""Extension points around an instance run, for services such as quality and lineage.

- A *check* runs after a node's code succeeded and may fail the instance by returning
  a reason (e.g. a strong quality rule breached). Warnings go to the log.
- A *listener* is told when an instance starts and finishes, on the instance's own
  thread: keep it cheap. It cannot change the outcome; its failures are logged, never
  raised.
- A *batch listener* hears about finished instances after the fact, in batches, from
  the durable follow-up queue (``runtime.followups``): the place for slow work that
  must not delay downstream (the Data Map's lineage, harvest, OpenLineage events).
  One that also has ``before_run`` (``RunPreparer``) is told the nodes of a run as the
  run starts, to begin its work ahead (on a thread of its own: the run does not wait).
- A *pass hook* runs after every scheduler pass with the store, the workspace
  definition, the environment and the pass's time (alert rules and baseline
  predictions); its failures are logged and scheduling goes on.

Services register at process start (``lakeworks.bootstrap.install_services``); the
runtime never imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lakeworks.engines.base import Engine
    from lakeworks.runtime.context import NodeResult, NodeRunContext
    from lakeworks.schedule.states import InstanceState
    from lakeworks.spec.models import Node, Workspace
    from lakeworks.store.database import Database


@dataclass(frozen=True)
class CheckOutcome:
    failure: str | None = None
    """A reason that fails the instance, or None when the check passed."""
    warnings: tuple[str, ...] = ()


AfterSuccessCheck = Callable[["NodeRunContext", "NodeResult"], CheckOutcome]


class InstanceListener(Protocol):
    def on_start(self, ctx: NodeRunContext) -> None: ...

    def on_finish(
        self,
        ctx: NodeRunContext,
        state: InstanceState,
        result: NodeResult | None,
        reason: str | None,
    ) -> None: ...


@dataclass(frozen=True)
class FinishedInstance:
    """An instance end as a batch listener hears it (rebuilt from the queue row)."""

    instance_id: int
    workspace: Workspace
    node: Node
    env: str
    attempt: int
    state: InstanceState
    reason: str | None
    result: NodeResult | None
    cycle_time: datetime
    """The cycle time as wall-clock time in the workspace's zone."""
    finished_at: datetime


class BatchListener(Protocol):
    """Hears about finished instances in batches, off the instances' critical path."""

    def on_finished(
        self, batch: Sequence[FinishedInstance], *, db: Database, engine: Engine
    ) -> None: ...


@runtime_checkable
class RunPreparer(Protocol):
    """A batch listener that starts its work for a run's nodes as the run starts."""

    def before_run(
        self, workspace: Workspace, env: str, keys: Sequence[str], *, db: Database
    ) -> None: ...


PassHook = Callable[["Database", "Workspace", str, datetime], None]
"""``(store, workspace, env, now)`` after a scheduler pass."""

_checks: list[AfterSuccessCheck] = []
_listeners: list[InstanceListener] = []
_batch_listeners: list[BatchListener] = []
_pass_hooks: list[PassHook] = []


def register_check(check: AfterSuccessCheck) -> None:
    """Run ``check`` after every successful node run."""
    if check not in _checks:
        _checks.append(check)


def register_listener(listener: InstanceListener) -> None:
    """Tell ``listener`` about every instance start and finish."""
    if listener not in _listeners:
        _listeners.append(listener)


def register_batch_listener(listener: BatchListener) -> None:
    """Tell ``listener`` about finished instances, in batches, after they ended."""
    if listener not in _batch_listeners:
        _batch_listeners.append(listener)


def checks() -> list[AfterSuccessCheck]:
    return list(_checks)


def listeners() -> list[InstanceListener]:
    return list(_listeners)


def batch_listeners() -> list[BatchListener]:
    return list(_batch_listeners)


def register_pass_hook(hook: PassHook) -> None:
    """Call ``hook`` after every scheduler pass."""
    if hook not in _pass_hooks:
        _pass_hooks.append(hook)


def pass_hooks() -> list[PassHook]:
    return list(_pass_hooks)
