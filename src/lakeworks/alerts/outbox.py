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
_COLUMNS = ("instance_id", "from_state", "to_state", "action", "detail", "created_at")
_POSTGRES_INSERT = f"INSERT INTO {alert_signals.name} ({', '.join(_COLUMNS)}) VALUES ({{values}})"


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
    if rows and conn.dialect.name == "postgresql":
        _insert_on_postgres(conn, rows)
    else:
        _INSERT.execute_many(conn, rows)


def _insert_on_postgres(conn: sa.Connection, rows: list[dict[str, object]]) -> None:
    """All ``rows`` in one statement on the driver's cursor, in the caller's transaction
    (an ``executemany`` through SQLAlchemy cost the worker more than the database)."""
    one = ", ".join("%s" for _ in _COLUMNS)
    sql = _POSTGRES_INSERT.format(values="), (".join(one for _ in rows))
    params = [row[name] for row in rows for name in _COLUMNS]
    driver = conn.connection.driver_connection
    assert driver is not None
    error = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor:
            cursor.execute(sql, params)
    except error as exc:  # as SQLAlchemy raises it: the store tells what is transient
        raise sa.exc.DBAPIError.instance(sql, params, exc, error) from exc
