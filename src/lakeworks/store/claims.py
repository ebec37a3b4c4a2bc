"""Claiming queued instances for a worker.

A claim takes up to ``limit`` queued instances of one resource group: highest priority
first, then earliest cycle, then id, priority by priority. Each step reads the highest
queued priority below the last one through the index of queued instances
(``ix_instances_queue``: group, workspace, environment, priority, cycle, id), in cycle
order, so a claim costs the same with ten or a hundred thousand queued instances.
Each claimed instance gets ``attempts + 1``, the worker, a lease until ``now +
lease_seconds``, a ``claim`` event and its attempt record (running), all in the claim's
transaction.

On PostgreSQL a step is one statement (``claim_statement``) with ``FOR UPDATE SKIP
LOCKED``: concurrent workers never claim the same instance. On SQLite (one writer at a
time) it is a pick and a take.

``claim_on`` claims inside a transaction the caller holds: a worker's slot whose run
just ended claims its next instance in the transaction that records the end
(``leases.finish_and_claim``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lakeworks.store.claim_statement import CLAIM
from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database, plan_once
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.observers import add_events, observe
from lakeworks.store.records import instances_from_rows
from lakeworks.store.schema import attempts, instances
from lakeworks.store.statements import insert_ignoring

_c = instances.c
_QUEUED = InstanceState.WAITING_RESOURCES.value
_RUNNING = InstanceState.RUNNING.value
_bp = sa.bindparam
_NO_CEILING = 2**31 - 1


@dataclass(frozen=True)
class ClaimRequest:
    """Who claims from which queue, and when."""

    worker: str
    lease_seconds: float
    group: str
    workspace: str
    env: str
    now: datetime | None = None
    """When the claim is made; None: now (or, with an end, the moment of that end)."""

    @property
    def queue(self) -> tuple[str, float, str, str, str]:
        """Requests of the same queue and worker can be claimed together."""
        return (self.worker, self.lease_seconds, self.group, self.workspace, self.env)

    @property
    def at(self) -> datetime:
        """``now`` as a stored (UTC-naive) time."""
        return utcnow() if self.now is None else to_utc_naive(self.now)


def _claimable(table: Any) -> sa.ColumnElement[bool]:
    c = table.c
    return sa.and_(
        # written out (not a parameter): SQLite uses a partial index only for a query
        # whose condition names its value
        c.state == sa.literal(_QUEUED, literal_execute=True),
        c.resource_group == _bp("q_group"),
        c.workspace == _bp("q_workspace"),
        c.env == _bp("q_env"),
        sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= _bp("q_at")),
    )


_band = instances.alias("band")
_TOP_PRIORITY = (
    sa.select(_band.c.priority)
    .where(_claimable(_band), _band.c.priority < _bp("q_ceiling"))
    .order_by(_band.c.priority.desc())
    .limit(1)
    .scalar_subquery()
)
_PICK = (
    sa.select(_c.id, _c.priority)
    .where(_claimable(instances), _c.priority == _TOP_PRIORITY)
    .order_by(_c.cycle_time, _c.id)
    .limit(_bp("q_limit", type_=sa.Integer))
)
_TAKE = (
    sa.update(instances)
    .where(_c.id.in_(_bp("q_ids", expanding=True)), _c.state == _QUEUED)
    .values(
        state=_RUNNING,
        reason=None,
        worker=_bp("q_worker"),
        attempts=_c.attempts + 1,
        started_at=_bp("q_at"),
        finished_at=None,
        lease_expires_at=_bp("q_lease_until"),
    )
    .returning(*instances.c)
)


def claim(
    db: Database,
    *,
    worker: str,
    lease_seconds: float,
    limit: int,
    group: str,
    workspace: str,
    env: str,
    now: datetime,
) -> list[Instance]:
    """Claim up to ``limit`` queued instances of one resource group for ``worker``."""
    request = ClaimRequest(worker, lease_seconds, group, workspace, env, now)
    with db.write() as conn:
        return claim_on(conn, request, limit)


def claim_on(conn: sa.Connection, request: ClaimRequest, limit: int) -> list[Instance]:
    """``claim`` inside the caller's transaction; the claimed instances in claim order."""
    at = request.at
    params: dict[str, Any] = {
        "q_group": request.group,
        "q_workspace": request.workspace,
        "q_env": request.env,
        "q_at": at,
        "q_ceiling": _NO_CEILING,
        "q_worker": request.worker,
        "q_lease_until": at + timedelta(seconds=request.lease_seconds),
    }
    if conn.dialect.name == "postgresql":
        plan_once(conn)  # the claim's plan is the same for any values
        claimed: list[Instance] = []
        while len(claimed) < limit:
            taken = instances_from_rows(
                conn.execute(CLAIM, {**params, "q_limit": limit - len(claimed)})
            )
            if not taken:
                break
            claimed.extend(taken)
            params["q_ceiling"] = taken[0].priority
        observe(conn, _claim_events(claimed, request.worker, at))  # recorded by CLAIM
    else:
        claimed = _pick_and_take(conn, params, limit)
        if claimed:
            conn.execute(
                insert_ignoring(conn, attempts),
                [
                    {
                        "instance_id": i.id,
                        "number": i.attempts,
                        "state": _RUNNING,
                        "worker": request.worker,
                        "started_at": at,
                        "finished_at": None,
                        "error": None,
                    }
                    for i in claimed
                ],
            )
            add_events(conn, _claim_events(claimed, request.worker, at))
    claimed.sort(key=lambda i: (-i.priority, i.cycle_time, i.id))
    return claimed


def _pick_and_take(conn: sa.Connection, params: dict[str, Any], limit: int) -> list[Instance]:
    picked: list[int] = []
    while len(picked) < limit:
        rows = conn.execute(_PICK, {**params, "q_limit": limit - len(picked)}).all()
        if not rows:
            break
        picked.extend(row[0] for row in rows)
        params["q_ceiling"] = rows[0][1]
    if not picked:
        return []
    taking = {k: params[k] for k in ("q_worker", "q_at", "q_lease_until")}
    return instances_from_rows(conn.execute(_TAKE, {**taking, "q_ids": picked}))


def _claim_events(claimed: list[Instance], worker: str, at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "instance_id": i.id,
            "created_at": at,
            "actor": worker,
            "action": "claim",
            "from_state": _QUEUED,
            "to_state": _RUNNING,
            "detail": f"attempt {i.attempts}",
        }
        for i in claimed
    ]
