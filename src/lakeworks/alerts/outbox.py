"""The signal outbox: state changes that may alert, written in the change's transaction."""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.alerts.tables import alert_signals
from lakeworks.store import observers
from lakeworks.store.driver_statements import DriverStatement
from lakeworks.store.models import InstanceState

_FAILED = InstanceState.FAILED.value
_RETRY = InstanceState.WAITING_TIME.value
_RUNNING = InstanceState.RUNNING.value
SIGNALLED = frozenset({InstanceState.SUCCESS.value, _FAILED, InstanceState.STOPPED.value})
"""States whose arrival is recorded (plus a failed attempt that will be retried)."""
_INSERT = DriverStatement(sa.insert(alert_signals))
"""Executed on SQLite's cursor in the change's transaction, like the event rows."""


def record_signals(conn: sa.Connection, events: observers.EventRows) -> None:
    """The ``store.observers`` observer: one ``alert_signals`` row per signalled event."""
    rows = [
        {
            "instance_id": e["instance_id"],
            "from_state": e["from_state"],
            "to_state": e["to_state"],
            "action": e["action"],
            "detail": e["detail"],
            "created_at": e["created_at"],
        }
        for e in events
        if e["to_state"] in SIGNALLED or (e["to_state"] == _RETRY and e["from_state"] == _RUNNING)
    ]
    _INSERT.execute_many(conn, rows)
