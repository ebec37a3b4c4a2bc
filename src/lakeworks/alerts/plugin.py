"""How alerting runs in a Lakeworks process (the runtime never imports it).

``lakeworks.bootstrap.install_alerts`` registers ``outbox.record_signals`` with the
store and ``evaluators`` as a scheduler pass hook; ``start_sender`` runs the delivery
loop in a thread (``lakeworks scheduler`` and ``lakeworks up`` start one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from lakeworks.alerts.evaluator import AlertEvaluator, PassReport
from lakeworks.alerts.loader import AlertSet, load_workspace_alerts
from lakeworks.alerts.models import EmailChannel
from lakeworks.alerts.sender import Channel, ChannelLookup, Sender
from lakeworks.alerts.service import AlertStore, resolve_channel
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database

Log = Callable[[str], None]


class _Evaluators:
    """One evaluator per (store, workspace definition, env), rebuilt when either changes."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[int, str, str], tuple[Workspace, AlertEvaluator]] = {}
        self._lock = threading.Lock()
        self.last: PassReport | None = None

    def evaluator(self, db: Database, workspace: Workspace, env: str) -> AlertEvaluator:
        key = (id(db), workspace.name, env)
        with self._lock:
            found = self._by_key.get(key)
            if found is None or found[0] is not workspace:
                alerts = alerts_of(workspace)
                extra = AlertStore(db).rules(workspace.name, env)
                found = (workspace, AlertEvaluator(db, workspace, env, alerts, extra))
                self._by_key[key] = found
            return found[1]

    def forget(self) -> None:
        with self._lock:
            self._by_key.clear()

    def __call__(self, db: Database, workspace: Workspace, env: str, now: datetime) -> None:
        self.last = self.evaluator(db, workspace, env).run_once(now)


evaluators = _Evaluators()
_alert_sets: dict[int, tuple[Workspace, AlertSet]] = {}


def alerts_of(workspace: Workspace) -> AlertSet:
    """The alert set of a workspace definition (loaded once per definition)."""
    found = _alert_sets.get(id(workspace))
    if found is None or found[0] is not workspace:
        found = (workspace, load_workspace_alerts(workspace))
        _alert_sets[id(workspace)] = found
    return found[1]


def channel_lookup(db: Database, workspace_of: Callable[[str], Workspace | None]) -> ChannelLookup:
    """Channels by name: the workspace's ``alerts/*.yml`` first, then the store's."""
    store = AlertStore(db)

    def lookup(workspace: str, name: str) -> Channel | None:
        ws = workspace_of(workspace)
        if ws is not None:
            found = alerts_of(ws)
            code = found.channels.get(name)
            if isinstance(code, EmailChannel) and found.contacts:
                code = code.model_copy(update={"contacts": {**found.contacts, **code.contacts}})
            if code is not None:
                return resolve_channel(name, code)
        stored = store.channels(workspace).get(name)
        return None if stored is None else resolve_channel(name, stored)

    return lookup


def start_sender(
    db: Database,
    workspace_of: Callable[[str], Workspace | None],
    stop: threading.Event,
    log: Log | None = None,
    now: Callable[[], datetime] | None = None,
) -> threading.Thread:
    """Run the delivery loop in a daemon thread until ``stop`` is set.

    ``now`` (aware) is the scheduler's clock, so that a simulated clock sends what its
    passes queued.
    """
    clock = None if now is None else (lambda: now().astimezone(UTC).replace(tzinfo=None))
    sender = Sender(db, channel_lookup(db, workspace_of), now=clock)
    thread = threading.Thread(
        target=sender.run, args=(stop,), kwargs={"log": log}, name="lakeworks-alerts", daemon=True
    )
    thread.start()
    return thread
