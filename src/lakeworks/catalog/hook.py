"""Registering the Data Map with the runner without slowing process start-up.

The listener needs the SQL parser and the catalog modules; importing them costs a few
hundred milliseconds. ``install`` registers a small stand-in that imports the real
listener when the first instance of the process starts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from lakeworks.runtime import hooks

if TYPE_CHECKING:
    from lakeworks.catalog.listener import DataMapListener
    from lakeworks.runtime.context import NodeResult, NodeRunContext
    from lakeworks.store.models import InstanceState


class LazyDataMapListener:
    """Forwards to the Data Map listener, created on first use."""

    def __init__(self) -> None:
        self._real: DataMapListener | None = None
        self._problem: str | None = None
        self._told = False
        self._lock = threading.Lock()

    def _listener(self, ctx: NodeRunContext) -> DataMapListener:
        with self._lock:
            if self._real is None:
                from lakeworks.catalog.listener import DataMapListener
                from lakeworks.catalog.openlineage import Emitter, EmitterConfig
                from lakeworks.errors import UserError

                try:
                    config = EmitterConfig.from_env()
                except UserError as exc:
                    config, self._problem = None, exc.render()
                self._real = DataMapListener(emitter=Emitter(config) if config else None)
            if self._problem and not self._told:
                self._told = True
                ctx.log(f"OpenLineage disabled: {self._problem}")
            return self._real

    def on_start(self, ctx: NodeRunContext) -> None:
        self._listener(ctx).on_start(ctx)

    def on_finish(
        self,
        ctx: NodeRunContext,
        state: InstanceState,
        result: NodeResult | None,
        reason: str | None,
    ) -> None:
        self._listener(ctx).on_finish(ctx, state, result, reason)


_installed = LazyDataMapListener()


def install() -> None:
    """Keep the Data Map current during every run of this process (idempotent)."""
    hooks.register_listener(_installed)
