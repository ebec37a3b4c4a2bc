"""The work queue: workers claim runnable instances, hold a lease, and renew it.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` where the database supports it
(``Database.supports_skip_locked``), so workers on many machines never claim the same
instance; on SQLite the ``BEGIN IMMEDIATE`` write lock serialises claimers instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.records import instances_from_rows
from lakeworks.store.schema import instance_events, instances
from lakeworks.store.statements import chunked
from lakeworks.store.transitions import states_of

_c = instances.c


class WorkQueue:
    """Claim, renew and reclaim instances for workers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(
        self,
        *,
        worker: str,
        lease_seconds: float,
        limit: int = 1,
        states: Iterable[InstanceState | str] = (InstanceState.WAITING_RESOURCES,),
        resource_groups: Sequence[str] | None = None,
        workspace: str | None = None,
        env: str | None = None,
        now: datetime | None = None,
    ) -> list[Instance]:
        """Move up to ``limit`` runnable instances to ``running`` for ``worker``.

        Runnable: in one of ``states``, ``next_attempt_at`` empty or due, and in one of
        ``resource_groups`` when given. Highest ``priority`` first, then earliest
        cycle, then id. Each claimed instance gets ``attempts + 1``, the worker, a
        lease until ``now + lease_seconds``, ``started_at = now`` and an event.
        """
        if limit < 1:
            return []
        at = utcnow() if now is None else to_utc_naive(now)
        wanted = sorted(s.value for s in states_of(states))
        query = (
            sa.select(_c.id, _c.state)
            .where(
                _c.state.in_(wanted),
                sa.or_(_c.next_attempt_at.is_(None), _c.next_attempt_at <= at),
            )
            .order_by(_c.priority.desc(), _c.cycle_time, _c.id)
            .limit(limit)
        )
        if resource_groups is not None:
            query = query.where(_c.resource_group.in_(sorted(set(resource_groups))))
        if workspace is not None:
            query = query.where(_c.workspace == workspace)
        if env is not None:
            query = query.where(_c.env == env)
        query = query.with_for_update(skip_locked=self._db.supports_skip_locked)
        with self._db.write() as conn:
            picked = {row[0]: row[1] for row in conn.execute(query)}
            if not picked:
                return []
            rows = conn.execute(
                sa.update(instances)
                .where(_c.id.in_(sorted(picked)), _c.state.in_(wanted))
                .values(
                    state=InstanceState.RUNNING.value,
                    reason=None,
                    worker=worker,
                    attempts=_c.attempts + 1,
                    started_at=at,
                    finished_at=None,
                    lease_expires_at=at + timedelta(seconds=lease_seconds),
                )
                .returning(*instances.c)
            ).all()
            claimed = instances_from_rows(rows)
            conn.execute(
                sa.insert(instance_events),
                [
                    {
                        "instance_id": instance.id,
                        "created_at": at,
                        "actor": worker,
                        "action": "claim",
                        "from_state": picked[instance.id],
                        "to_state": InstanceState.RUNNING.value,
                        "detail": f"attempt {instance.attempts}",
                    }
                    for instance in claimed
                ],
            )
        claimed.sort(key=lambda i: (-i.priority, i.cycle_time, i.id))
        return claimed

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
