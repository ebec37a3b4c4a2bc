"""Extension points around an instance run, for services such as quality and lineage.

- A *check* runs after a node's code succeeded and may fail the instance by returning
  a reason (e.g. a strong quality rule breached). Warnings go to the log.
- A *listener* is told when an instance starts and finishes (e.g. OpenLineage events);
  it cannot change the outcome, and its own failures are logged, never raised.
- A *pass hook* runs after every scheduler pass with the workspace definition, the
  environment and the pass's time (e.g. alert rules and baseline predictions); its
  failures are logged and scheduling goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState


@dataclass(frozen=True)
class CheckOutcome:
    failure: str | None = None
    """A reason that fails the instance, or None when the check passed."""
    warnings: tuple[str, ...] = ()


AfterSuccessCheck = Callable[[NodeRunContext, NodeResult], CheckOutcome]


class InstanceListener(Protocol):
    def on_start(self, ctx: NodeRunContext) -> None: ...

    def on_finish(
        self,
        ctx: NodeRunContext,
        state: InstanceState,
        result: NodeResult | None,
        reason: str | None,
    ) -> None: ...


PassHook = Callable[[Database, Workspace, str, datetime], None]
"""``(store, workspace, env, now)`` after a scheduler pass."""

_checks: list[AfterSuccessCheck] = []
_listeners: list[InstanceListener] = []
_pass_hooks: list[PassHook] = []


def register_check(check: AfterSuccessCheck) -> None:
    """Run ``check`` after every successful node run."""
    if check not in _checks:
        _checks.append(check)


def register_listener(listener: InstanceListener) -> None:
    """Tell ``listener`` about every instance start and finish."""
    if listener not in _listeners:
        _listeners.append(listener)


def checks() -> list[AfterSuccessCheck]:
    _load_builtin_checks()
    return list(_checks)


def _load_builtin_checks() -> None:
    """Register the checks that ship with Lakeworks (the quality gate).

    Called on every ``checks()``: registration is idempotent, so the gate is present
    even after the list was replaced (tests do that).
    """
    from lakeworks.quality.hook import install

    install()


def listeners() -> list[InstanceListener]:
    return list(_listeners)


def register_pass_hook(hook: PassHook) -> None:
    """Call ``hook`` after every scheduler pass."""
    if hook not in _pass_hooks:
        _pass_hooks.append(hook)


def pass_hooks() -> list[PassHook]:
    return list(_pass_hooks)
