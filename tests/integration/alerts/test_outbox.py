"""The signal outbox records every signalled state change of a transaction, and only
those, with the change (it rolls back with it)."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from lakeworks.alerts.outbox import record_signals
from lakeworks.alerts.tables import alert_signals
from lakeworks.store.database import Database

AT = datetime(2026, 4, 11, 2, 30)


def _event(
    instance_id: int, from_state: str, to_state: str, detail: str | None
) -> dict[str, object]:
    return {
        "instance_id": instance_id,
        "created_at": AT,
        "actor": "w1",
        "action": "finish",
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail,
    }


def _stored(db: Database) -> list[tuple[object, ...]]:
    t = alert_signals.c
    with db.read() as conn:
        query = sa.select(t.instance_id, t.from_state, t.to_state, t.detail, t.created_at)
        return [tuple(row) for row in conn.execute(query.order_by(t.instance_id))]


def test_the_signalled_changes_of_a_batch_are_recorded_together(db: Database) -> None:
    with db.write() as conn:
        record_signals(
            conn,
            [
                _event(1, "running", "success", None),
                _event(2, "running", "running", None),  # not signalled
                _event(3, "running", "failed", "division by zero; it's 'quoted'"),
                _event(4, "running", "waiting_time", "attempt 1 of 3 failed"),
            ],
        )
    assert _stored(db) == [
        (1, "running", "success", None, AT),
        (3, "running", "failed", "division by zero; it's 'quoted'", AT),
        (4, "running", "waiting_time", "attempt 1 of 3 failed", AT),
    ]


def test_signals_roll_back_with_their_change(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
        record_signals(conn, [_event(1, "running", "failed", "boom")])
        raise RuntimeError("the change fails after its signal was written")
    assert _stored(db) == []
