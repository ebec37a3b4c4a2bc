"""A claim from the work queue in one statement (PostgreSQL).

The pick (``FOR UPDATE SKIP LOCKED``, at most ``limit`` rows), the take (running, the
worker, the lease, ``attempts + 1``), the attempt record and the ``claim`` event are
one statement of data-modifying CTEs, so a claim costs one round trip inside its
transaction instead of four.

The pick is a ``MATERIALIZED`` CTE: PostgreSQL evaluates it exactly once, and the
update joins its rows by id. (``UPDATE … WHERE id IN (SELECT … SKIP LOCKED LIMIT n)``
may be re-evaluated by the plan, each time skipping the rows locked by the time
before, and then takes far more than ``n`` rows: a worker held more runs than its
slots.) The ``LIMIT`` applies after the locking, so rows skipped as locked do not
count against it.

The pick reads the queue in claim order (the partial index ``ix_instances_queue``), and
the take joins only the picked rows by id: they are locked, and were still queued when
locked (the lock re-checks the pick's conditions), so the take needs no other
condition. With one, a planner that believed few instances were queued (statistics
taken before a backfill queued thousands) joined the picked rows against every
queued instance.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lakeworks.store.models import InstanceState
from lakeworks.store.schema import instances

_QUEUED = InstanceState.WAITING_RESOURCES.value
_RUNNING = InstanceState.RUNNING.value

_CLAIMABLE = """
    {t}.state = '{queued}'
    AND {t}.resource_group = :q_group
    AND {t}.workspace = :q_workspace
    AND {t}.env = :q_env
    AND ({t}.next_attempt_at IS NULL OR {t}.next_attempt_at <= :q_at)
"""

_SQL = f"""
WITH pick AS MATERIALIZED (
    SELECT q.id FROM instances AS q
    WHERE {_CLAIMABLE.format(t="q", queued=_QUEUED)}
      AND q.priority = (
        SELECT band.priority FROM instances AS band
        WHERE {_CLAIMABLE.format(t="band", queued=_QUEUED)}
          AND band.priority < :q_ceiling
        ORDER BY band.priority DESC
        LIMIT 1
      )
    ORDER BY q.cycle_time, q.id
    LIMIT :q_limit
    FOR UPDATE OF q SKIP LOCKED
),
took AS (
    UPDATE instances
    SET state = '{_RUNNING}', reason = NULL, worker = :q_worker,
        attempts = instances.attempts + 1, started_at = :q_at, finished_at = NULL,
        lease_expires_at = :q_lease_until
    FROM pick
    WHERE instances.id = pick.id
    RETURNING instances.*
),
attempt AS (
    INSERT INTO attempts (instance_id, number, state, worker, started_at, finished_at, error)
    SELECT took.id, took.attempts, '{_RUNNING}', :q_worker, :q_at, NULL, NULL FROM took
    ON CONFLICT DO NOTHING
),
event AS (
    INSERT INTO instance_events
        (instance_id, created_at, actor, action, from_state, to_state, detail)
    SELECT took.id, :q_at, :q_worker, 'claim', '{_QUEUED}', '{_RUNNING}',
           'attempt ' || took.attempts
    FROM took
)
SELECT * FROM took
"""

CLAIM: Any = (
    sa.text(_SQL)
    .bindparams(
        sa.bindparam("q_limit", type_=sa.Integer),
        sa.bindparam("q_ceiling", type_=sa.Integer),
        sa.bindparam("q_at", type_=instances.c.started_at.type),
        sa.bindparam("q_lease_until", type_=instances.c.lease_expires_at.type),
    )
    .columns(*instances.c)
)
"""Claim up to ``q_limit`` instances of the highest queued priority below
``q_ceiling``; returns the claimed rows (every ``instances`` column)."""
