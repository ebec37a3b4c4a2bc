"""Leases on running instances: workers renew what they hold, the scheduler finds lapsed ones.

Workers claim with ``store.leases.claim`` (``SELECT … FOR UPDATE SKIP LOCKED`` where
``Database.supports_skip_locked``; on SQLite the ``BEGIN IMMEDIATE`` write lock
serialises claimers instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.records import instances_from_rows
from lakeworks.store.schema import instances
from lakeworks.store.statements import chunked

_c = instances.c


class WorkQueue:
    """Renew the leases workers hold and find the ones that lapsed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def renew(
        self,
        ids: Iterable[int],
        *,
        worker: str,
        lease_seconds: float,
        now: datetime | None = None,
    ) -> set[int]:
        """Extend the leases ``worker`` holds; returns the ids it still holds.

        An id missing from the result was stopped, reclaimed or finished elsewhere:
        the worker should stop working on it.
        """
        at = utcnow() if now is None else to_utc_naive(now)
        wanted = sorted(set(ids))
        held: set[int] = set()
        with self._db.write() as conn:
            for chunk in chunked(wanted):
                rows = conn.execute(
                    sa.update(instances)
                    .where(
                        _c.id.in_(chunk),
                        _c.worker == worker,
                        _c.state == InstanceState.RUNNING.value,
                    )
                    .values(lease_expires_at=at + timedelta(seconds=lease_seconds))
                    .returning(_c.id)
                )
                held.update(rows.scalars())
        return held

    def expired(self, *, now: datetime | None = None, limit: int = 1000) -> list[Instance]:
        """Running instances whose lease ran out (their worker is presumed dead)."""
        at = utcnow() if now is None else to_utc_naive(now)
        query = (
            sa.select(instances)
            .where(
                _c.state == InstanceState.RUNNING.value,
                _c.lease_expires_at.is_not(None),
                _c.lease_expires_at < at,
            )
            .order_by(_c.lease_expires_at, _c.id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return instances_from_rows(conn.execute(query))
