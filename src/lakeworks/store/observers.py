"""Observers of instance state changes, called inside the transaction that records them.

Every state change writes an ``instance_events`` row through ``add_events``; a
service that must never miss a change (alerting's outbox) registers an observer and
writes its own rows on the same connection, so they commit or roll back with the
change. An observer that raises rolls the change back: keep observers to plain
inserts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

    from lakeworks.store.driver_statements import DriverStatement

EventRows = Sequence[Mapping[str, Any]]
"""``instance_events`` values: instance_id, created_at, actor, action, from_state,
to_state, detail."""

Observer = Callable[["sa.Connection", EventRows], None]

_observers: list[Observer] = []


@functools.cache
def _insert() -> DriverStatement:
    # built at first use: registering an observer loads no SQLAlchemy
    import sqlalchemy as sa

    from lakeworks.store.driver_statements import DriverStatement
    from lakeworks.store.schema import instance_events

    return DriverStatement(sa.insert(instance_events))


def register(observer: Observer) -> None:
    """Call ``observer`` with every batch of recorded events (idempotent)."""
    if observer not in _observers:
        _observers.append(observer)


def unregister(observer: Observer) -> None:
    if observer in _observers:
        _observers.remove(observer)


def add_events(conn: sa.Connection, rows: EventRows) -> None:
    """Insert ``instance_events`` rows and tell every observer, on ``conn`` (the rows
    on SQLite's cursor, in the same transaction: ``DriverStatement``)."""
    if not rows:
        return
    _insert().execute_many(conn, rows)
    observe(conn, rows)


def observe(conn: sa.Connection, rows: EventRows) -> None:
    """Tell every observer of ``instance_events`` rows the caller inserted itself."""
    if not rows:
        return
    for observer in tuple(_observers):
        observer(conn, rows)
