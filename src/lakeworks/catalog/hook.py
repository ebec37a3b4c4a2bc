"""Registering the Data Map with the runtime without slowing process start-up.

The Data Map needs the SQL parser and the catalog modules; importing them costs a few
hundred milliseconds. ``install`` registers small stand-ins that import the real
pieces when they are first needed: the recorder (a batch listener: run lineage,
harvest, column lineage, OpenLineage COMPLETE/FAIL, from the follow-up queue) and, only
when OpenLineage is configured, the listener that emits START events.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lakeworks.runtime import hooks

if TYPE_CHECKING:
    from lakeworks.catalog.listener import DataMapListener
    from lakeworks.catalog.openlineage import Emitter
    from lakeworks.catalog.recorder import DataMapRecorder
    from lakeworks.engines.base import Engine
    from lakeworks.runtime.context import NodeResult, NodeRunContext
    from lakeworks.spec.models import Workspace
    from lakeworks.store.database import Database
    from lakeworks.store.models import InstanceState

_OPENLINEAGE_VARIABLES = ("LAKEWORKS_OPENLINEAGE_URL", "LAKEWORKS_OPENLINEAGE_FILE")


class _Lazy:
    """Creates the emitter (once) and the real listener and recorder on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._emitter: Emitter | None = None
        self._problem: str | None = None
        self._told = False
        self._listener: DataMapListener | None = None
        self._recorder: DataMapRecorder | None = None
        self._configured = False

    def _configure(self) -> None:
        if self._configured:
            return
        from lakeworks.catalog.openlineage import Emitter, EmitterConfig
        from lakeworks.errors import UserError

        try:
            config = EmitterConfig.from_env()
        except UserError as exc:
            config, self._problem = None, exc.render()
        self._emitter = Emitter(config) if config else None
        self._configured = True

    def listener(self, ctx: NodeRunContext) -> DataMapListener:
        with self._lock:
            self._configure()
            if self._listener is None:
                from lakeworks.catalog.listener import DataMapListener

                self._listener = DataMapListener(emitter=self._emitter)
            if self._problem and not self._told:
                self._told = True
                ctx.log(f"OpenLineage disabled: {self._problem}")
            return self._listener

    def recorder(self) -> DataMapRecorder:
        with self._lock:
            self._configure()
            if self._recorder is None:
                from lakeworks.catalog.recorder import DataMapRecorder

                self._recorder = DataMapRecorder(emitter=self._emitter)
            return self._recorder


class LazyDataMapListener:
    """Forwards instance starts to the Data Map listener, when OpenLineage is on."""

    def __init__(self, lazy: _Lazy) -> None:
        self._lazy = lazy

    def on_start(self, ctx: NodeRunContext) -> None:
        if any(os.environ.get(name, "").strip() for name in _OPENLINEAGE_VARIABLES):
            self._lazy.listener(ctx).on_start(ctx)

    def on_finish(
        self,
        ctx: NodeRunContext,
        state: InstanceState,
        result: NodeResult | None,
        reason: str | None,
    ) -> None:
        """Nothing: the recorder hears about the end from the follow-up queue."""


class LazyDataMapRecorder:
    """Forwards batches of finished instances to the Data Map recorder."""

    name = "Data Map"

    def __init__(self, lazy: _Lazy) -> None:
        self._lazy = lazy

    def on_finished(
        self, batch: Sequence[hooks.FinishedInstance], *, db: Database, engine: Engine
    ) -> None:
        self._lazy.recorder().on_finished(batch, db=db, engine=engine)

    def before_run(
        self, workspace: Workspace, env: str, keys: Sequence[str], *, db: Database
    ) -> None:
        """Loads the recorder on a thread of its own (the run does not wait for the
        import), which then begins the run's column lineage."""

        def begin() -> None:
            self._lazy.recorder().before_run(workspace, env, keys, db=db)

        threading.Thread(target=begin, name="lakeworks-datamap-begin", daemon=True).start()


_lazy = _Lazy()
_listener = LazyDataMapListener(_lazy)
_recorder = LazyDataMapRecorder(_lazy)


def install() -> None:
    """Keep the Data Map current during every run of this process (idempotent)."""
    hooks.register_listener(_listener)
    hooks.register_batch_listener(_recorder)
