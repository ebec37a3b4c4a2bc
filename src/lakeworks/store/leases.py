"""Leases held by workers: finishing only what a worker still holds, reclaiming the rest.

A worker's claim is identified by (instance, worker, attempt number). Every write a
worker makes at the end of a run checks all three in the same statement, so a worker
that lost its lease (it stalled, or it was presumed dead and the instance runs
elsewhere now) can never overwrite the newer attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.records import instance_from_mapping
from lakeworks.store.scheduling import notify
from lakeworks.store.schema import attempts, instance_events, instances
from lakeworks.store.transitions import settable_values, state_changes

_c = instances.c


def _held(instance_id: int, worker: str, attempt: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        _c.id == instance_id,
        _c.state == InstanceState.RUNNING.value,
        _c.worker == worker,
        _c.attempts == attempt,
    )


def finish_if_held(
    db: Database,
    instance_id: int,
    *,
    worker: str,
    attempt: int,
    to_state: InstanceState,
    reason: str | None,
    actor: str = "system",
    now: datetime | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Instance | None:
    """Move a running instance on, only if ``worker`` still holds ``attempt`` of it.

    None when the instance was stopped, reclaimed or finished by someone else.
    """
    at = utcnow() if now is None else to_utc_naive(now)
    values = state_changes(to_state, at, reason, settable_values(fields or {}))
    with db.write() as conn:
        row = conn.execute(
            sa.update(instances)
            .where(_held(instance_id, worker, attempt))
            .values(values)
            .returning(*instances.c)
        ).one_or_none()
        if row is None:
            return None
        conn.execute(
            sa.insert(instance_events).values(
                instance_id=instance_id,
                created_at=at,
                actor=actor,
                action="finish",
                from_state=InstanceState.RUNNING.value,
                to_state=to_state.value,
                detail=reason,
            )
        )
    return instance_from_mapping(row._mapping)


def reclaim(
    db: Database,
    instance: Instance,
    *,
    now: datetime,
    actor: str,
    channel: str | None = None,
    expired_only: bool = True,
    why: str | None = None,
) -> Instance | None:
    """Take back an instance whose worker let its lease expire (or gives it up).

    Its attempt is recorded as failed; the instance goes back to the queue for a new
    attempt, or fails when no attempts are left. None if the lease was renewed or
    the instance moved on meanwhile. A worker that shuts down releases what it holds
    with ``expired_only=False`` and its own ``why``.
    """
    at = to_utc_naive(now)
    if instance.worker is None:
        return None
    number = instance.attempts
    lost = why or f"worker {instance.worker} stopped renewing its lease during attempt {number}"
    if number < instance.max_attempts or not expired_only:
        target = InstanceState.WAITING_RESOURCES
        reason = f"{lost}; waiting for a slot in group {instance.resource_group}"
    else:
        target = InstanceState.FAILED
        reason = f"{lost}, and no attempts are left"
    values = state_changes(target, at, reason, {})
    values["worker"] = None
    if not expired_only:  # given up, not failed: the attempt does not count
        values["max_attempts"] = instance.max_attempts + 1
    with db.write() as conn:
        row = conn.execute(
            sa.update(instances)
            .where(
                _held(instance.id, instance.worker, number),
                _c.lease_expires_at < at if expired_only else sa.true(),
            )
            .values(values)
            .returning(*instances.c)
        ).one_or_none()
        if row is None:
            return None
        conn.execute(
            sa.update(attempts)
            .where(
                attempts.c.instance_id == instance.id,
                attempts.c.number == number,
                attempts.c.state == InstanceState.RUNNING.value,
            )
            .values(state=InstanceState.FAILED.value, finished_at=at, error=lost)
        )
        conn.execute(
            sa.insert(instance_events).values(
                instance_id=instance.id,
                created_at=at,
                actor=actor,
                action="reclaim",
                from_state=InstanceState.RUNNING.value,
                to_state=target.value,
                detail=reason,
            )
        )
        if target is InstanceState.WAITING_RESOURCES:
            notify(conn, channel)
    return instance_from_mapping(row._mapping)
