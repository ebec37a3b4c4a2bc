"""Follow-up work of finished instances, off their critical path.

An instance's end is recorded together with a row of the durable queue
(``store.followups``); downstream may start at once. A ``FollowupDrainer`` thread takes
the rows in batches and hands them to the batch listeners (``hooks.BatchListener``:
the Data Map's lineage, harvest and OpenLineage events). ``drain()`` waits until the
queue of this process is empty (``lakeworks run`` calls it before it exits).

A listener that raises never touches the instance: the batch is retried item by item,
and an item that still fails is logged once (in the instance's log and the process
log) with the node and the reason, then dropped. When the metadata store cannot be
read or written, the drainer keeps the rows, reports the outage once and retries.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lakeworks.engines.base import Engine
from lakeworks.errors import LakeworksError
from lakeworks.runtime import hooks
from lakeworks.runtime.context import NodeResult
from lakeworks.spec.models import Workspace
from lakeworks.store import followups
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.logs import LogRepository
from lakeworks.store.models import InstanceState

logger = logging.getLogger("lakeworks.followups")

BATCH = 200
"""Rows handed to the listeners at once."""
IDLE_SECONDS = 1.0
"""How often an idle drainer looks for rows (it is woken when an instance ends)."""
GATHER_SECONDS = 0.2
"""How long a woken drainer lets further ends gather before it takes a batch."""
STALE_SECONDS = 60.0
"""A row its owner has not taken for this long is taken over (the owner died)."""
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
"""Waits between attempts while the metadata store is unavailable."""


def payload(result: NodeResult | None, reason: str | None, cycle_time: datetime) -> dict[str, Any]:
    """What a queue row carries about an instance's end."""
    data: dict[str, Any] = {"reason": reason, "cycle_time": cycle_time.isoformat()}
    if result is not None:
        data["result"] = {
            "rendered_code": result.rendered_code,
            "reads": sorted(result.reads),
            "writes": sorted(result.writes),
            "rows": result.rows,
            "skipped": result.skipped,
            "detail": result.detail,
        }
    return data


def _result(data: dict[str, Any] | None) -> NodeResult | None:
    if data is None:
        return None
    return NodeResult(
        rendered_code=str(data.get("rendered_code") or ""),
        reads=frozenset(data.get("reads") or ()),
        writes=frozenset(data.get("writes") or ()),
        rows=data.get("rows"),
        skipped=bool(data.get("skipped")),
        detail=dict(data.get("detail") or {}),
    )


class FollowupDrainer:
    """Drains the follow-up queue of one workspace environment for one owner."""

    def __init__(
        self,
        db: Database,
        workspace: Callable[[], Workspace],
        engine: Engine,
        env: str,
        *,
        owner: str,
        listeners: Callable[[], Sequence[hooks.BatchListener]] = hooks.batch_listeners,
    ) -> None:
        self.db = db
        self.workspace = workspace
        self.engine = engine
        self.env = env
        self.owner = owner
        self.listeners = listeners
        self.failures = 0
        """Items whose follow-up work failed (and was logged)."""
        self.outage: str | None = None
        """The current metadata-store problem, while there is one."""
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def notify(self) -> None:
        """An instance ended: look at the queue now (starts the thread on first use)."""
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._loop, name="lakeworks-followups", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def before_run(self, keys: Sequence[str]) -> None:
        """A run of the nodes ``keys`` starts: the listeners that can begin ahead do
        (what fails is logged, never raised)."""
        workspace = self.workspace()
        for listener in self.listeners():
            if isinstance(listener, hooks.RunPreparer):
                try:
                    listener.before_run(workspace, self.env, keys, db=self.db)
                except Exception as exc:
                    name = getattr(listener, "name", type(listener).__name__)
                    logger.warning("%s could not begin ahead of the run: %s", name, exc)

    def drain(self, timeout: float | None = None) -> bool:
        """Work until nothing of this process is queued; False if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delays = iter(RETRY_SECONDS)
        while True:
            with self._idle:
                while self._busy:
                    self._idle.wait(0.2)
                self._busy = True
            try:
                emptied = self._step()
            except LakeworksError as exc:
                self._report(exc)
                emptied = False
            finally:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()
            if emptied:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if self.outage is not None:
                time.sleep(next(delays, RETRY_SECONDS[-1]))

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish the queued work (up to ``timeout``) and stop the thread."""
        self.drain(timeout)
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(5.0)

    # -- the thread ----------------------------------------------------------------

    def _loop(self) -> None:
        delays = iter(RETRY_SECONDS)
        while not self._stopping:
            if self._wake.wait(IDLE_SECONDS) and not self._stopping:
                time.sleep(GATHER_SECONDS)  # let more instances end: fewer, bigger batches
            self._wake.clear()
            if self._stopping:
                return
            with self._idle:
                if self._busy:
                    continue
                self._busy = True
            try:
                while not self._stopping and not self._step():
                    pass
                delays = iter(RETRY_SECONDS)
            except LakeworksError as exc:
                self._report(exc)
                time.sleep(next(delays, RETRY_SECONDS[-1]))
                self._wake.set()
            finally:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()

    def _step(self) -> bool:
        """Take and process one batch; True when the queue had nothing left."""
        workspace = self.workspace()
        rows = followups.take(
            self.db,
            workspace=workspace.name,
            env=self.env,
            owner=self.owner,
            limit=BATCH,
            now=utcnow(),
            stale_seconds=STALE_SECONDS,
        )
        if self.outage is not None:
            logger.warning("follow-up queue: the metadata store answers again")
            self.outage = None
        if not rows:
            return True
        batch = [item for item in (self._item(workspace, r) for r in rows) if item is not None]
        for listener in self.listeners():
            self._deliver(listener, batch)
        followups.done(self.db, [r.id for r in rows])
        return len(rows) < BATCH

    def _item(
        self, workspace: Workspace, row: followups.FollowupRow
    ) -> hooks.FinishedInstance | None:
        node = workspace.find_node(row.node_key)
        if node is None:
            return None  # the node is gone: nothing left to describe
        data = row.payload
        return hooks.FinishedInstance(
            instance_id=row.instance_id,
            workspace=workspace,
            node=node,
            env=row.env,
            attempt=row.attempt,
            state=InstanceState(row.state),
            reason=data.get("reason"),
            result=_result(data.get("result")),
            cycle_time=datetime.fromisoformat(str(data["cycle_time"])),
            finished_at=row.created_at,
        )

    def _deliver(
        self, listener: hooks.BatchListener, batch: Sequence[hooks.FinishedInstance]
    ) -> None:
        try:
            listener.on_finished(batch, db=self.db, engine=self.engine)
            return
        except Exception:
            if len(batch) == 1:
                self._failed(listener, batch[0], sys.exc_info()[1])
                return
        for item in batch:  # find the items that fail, so that the others are done
            try:
                listener.on_finished([item], db=self.db, engine=self.engine)
            except Exception as exc:
                self._failed(listener, item, exc)

    def _failed(
        self, listener: hooks.BatchListener, item: hooks.FinishedInstance, exc: BaseException | None
    ) -> None:
        self.failures += 1
        name = getattr(listener, "name", type(listener).__name__)
        line = f"{name} failed for {item.node.key}: {type(exc).__name__}: {exc}"
        logger.warning("instance %s: %s", item.instance_id, line)
        with contextlib.suppress(LakeworksError):  # reported in the process log above
            LogRepository(self.db).append(item.instance_id, item.attempt, [line])

    def _report(self, exc: LakeworksError) -> None:
        if self.outage is None:
            logger.warning(
                "follow-up queue: the metadata store is unavailable, retrying: %s", exc.message
            )
        self.outage = exc.message
