"""Leases held by workers: finishing only what a worker still holds, reclaiming the rest.

A worker's claim is identified by (instance, worker, attempt number). Every write a
worker makes at the end of a run checks all three in the same statement, so a worker
that lost its lease (it stalled, or it was presumed dead and the instance runs
elsewhere now) can never overwrite the newer attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database
from lakeworks.store.end_statement import end_parameters, end_statement
from lakeworks.store.followups import enqueue
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.claim_statement import CLAIM
from lakeworks.store.observers import add_events, observe
from lakeworks.store.records import instance_from_mapping, instances_from_rows
from lakeworks.store.scheduling import notify
from lakeworks.store.schema import attempts, instance_logs, instances
from lakeworks.store.statements import insert_ignoring
from lakeworks.store.transitions import settable_values, state_changes

_c = instances.c
_QUEUED = InstanceState.WAITING_RESOURCES.value
_RUNNING = InstanceState.RUNNING.value
_bp = sa.bindparam
_NO_CEILING = 2**31 - 1


def _held(instance_id: int, worker: str, attempt: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        _c.id == instance_id,
        _c.state == _RUNNING,
        _c.worker == worker,
        _c.attempts == attempt,
    )


# The hot statements of claiming and finishing, built once with bound parameters:
# building SQLAlchemy statements per instance cost more than the database work.


def _claimable(table: Any) -> sa.ColumnElement[bool]:
    c = table.c
    return sa.and_(
        c.state == _QUEUED,
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
_PICK_LOCKED = _PICK.with_for_update(skip_locked=True, of=instances)
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
_ADD_LOGS = sa.insert(instance_logs)
_END_ATTEMPT = (
    sa.update(attempts)
    .where(attempts.c.instance_id == _bp("a_instance"), attempts.c.number == _bp("a_number"))
    .values(state=_bp("a_state"), finished_at=_bp("a_at"), error=_bp("a_error"))
)
_STATE_FOR_UPDATE = sa.select(_c.state).where(_c.id == _bp("s_id")).with_for_update()
_START = (
    sa.update(instances)
    .where(_c.id == _bp("s_id"), _c.state == _bp("s_state"))
    .values(
        state=_RUNNING,
        reason=None,
        worker=_bp("s_worker"),
        attempts=_c.attempts + 1,
        started_at=_bp("s_at"),
        finished_at=None,
    )
    .returning(*instances.c)
)
_ADD_ATTEMPT = sa.insert(attempts)
_FINISH: dict[tuple[str, ...], Any] = {}


def _finish_statement(columns: tuple[str, ...]) -> Any:
    statement = _FINISH.get(columns)
    if statement is None:
        statement = (
            sa.update(instances)
            .where(
                _c.id == _bp("f_id"),
                _c.state == _RUNNING,
                _c.worker == _bp("f_worker"),
                _c.attempts == _bp("f_attempt"),
            )
            .values({name: _bp(f"v_{name}") for name in columns})
            .returning(*instances.c)
        )
        _FINISH[columns] = statement
    return statement


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
    """Claim up to ``limit`` queued instances of one resource group for ``worker``.

    Highest priority first, then earliest cycle, then id, priority by priority: each
    step reads the highest queued priority below the last one through the ``(state,
    priority, cycle_time)`` index, in cycle order, so a claim costs the same with ten
    or a hundred thousand queued instances (one query that sorts the whole queue on
    every claim did not). ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent
    workers never claim the same instance. Each claimed instance gets ``attempts +
    1``, the worker, a lease until ``now + lease_seconds``, a ``claim`` event and its
    attempt record (running), all in the claim's transaction.
    """
    at = to_utc_naive(now)
    pick = _PICK_LOCKED if db.supports_skip_locked else _PICK
    params: dict[str, Any] = {
        "q_group": group,
        "q_workspace": workspace,
        "q_env": env,
        "q_at": at,
        "q_ceiling": _NO_CEILING,
    }
    if db.supports_skip_locked:
        return _claim_in_one_statement(db, worker, lease_seconds, limit, params)
    picked: list[int] = []
    with db.write() as conn:
        while len(picked) < limit:
            rows = conn.execute(pick, {**params, "q_limit": limit - len(picked)}).all()
            if not rows:
                break
            picked.extend(row[0] for row in rows)
            params["q_ceiling"] = rows[0][1]
        if not picked:
            return []
        claimed = instances_from_rows(
            conn.execute(
                _TAKE,
                {
                    "q_ids": picked,
                    "q_worker": worker,
                    "q_at": at,
                    "q_lease_until": at + timedelta(seconds=lease_seconds),
                },
            )
        )
        if claimed:
            conn.execute(
                insert_ignoring(conn, attempts),
                [
                    {
                        "instance_id": i.id,
                        "number": i.attempts,
                        "state": _RUNNING,
                        "worker": worker,
                        "started_at": at,
                        "finished_at": None,
                        "error": None,
                    }
                    for i in claimed
                ],
            )
            add_events(
                conn,
                [
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
                ],
            )
    claimed.sort(key=lambda i: (-i.priority, i.cycle_time, i.id))
    return claimed


def _claim_in_one_statement(
    db: Database, worker: str, lease_seconds: float, limit: int, params: dict[str, Any]
) -> list[Instance]:
    """``claim`` on PostgreSQL: one statement per priority band (``claim_statement``)."""
    at = params["q_at"]
    params = {
        **params,
        "q_worker": worker,
        "q_lease_until": at + timedelta(seconds=lease_seconds),
    }
    claimed: list[Instance] = []
    with db.write() as conn:
        while len(claimed) < limit:
            taken = instances_from_rows(
                conn.execute(CLAIM, {**params, "q_limit": limit - len(claimed)})
            )
            if not taken:
                break
            claimed.extend(taken)
            params["q_ceiling"] = taken[0].priority
        observe(
            conn,
            [
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
            ],
        )
    claimed.sort(key=lambda i: (-i.priority, i.cycle_time, i.id))
    return claimed


def start_here(
    db: Database,
    instance_id: int,
    *,
    worker: str,
    expected: Sequence[InstanceState],
    actor: str,
    now: datetime,
) -> Instance | None:
    """Claim a runnable instance outside the work queue (``lakeworks run``) and record its
    next attempt, in one transaction. None when it is not in an ``expected`` state."""
    at = to_utc_naive(now)
    allowed = {s.value for s in expected}
    with db.write() as conn:
        current = conn.execute(_STATE_FOR_UPDATE, {"s_id": instance_id}).scalar_one_or_none()
        if current not in allowed:
            return None
        row = conn.execute(
            _START, {"s_id": instance_id, "s_state": current, "s_worker": worker, "s_at": at}
        ).one_or_none()
        if row is None:
            return None
        claimed = instance_from_mapping(row._mapping)
        add_events(
            conn,
            [
                {
                    "instance_id": instance_id,
                    "created_at": at,
                    "actor": actor,
                    "action": "transition",
                    "from_state": current,
                    "to_state": _RUNNING,
                    "detail": None,
                }
            ],
        )
        conn.execute(
            _ADD_ATTEMPT,
            {
                "instance_id": instance_id,
                "number": claimed.attempts,
                "state": _RUNNING,
                "worker": worker,
                "started_at": at,
                "finished_at": None,
                "error": None,
            },
        )
    return claimed


@dataclass(frozen=True)
class RunEnd:
    """The end of one claimed run, as ``finish_many`` records it."""

    instance_id: int
    worker: str
    attempt: int
    to_state: InstanceState
    reason: str | None
    attempt_state: InstanceState
    attempt_error: str | None = None
    log_lines: Sequence[str] = ()
    actor: str = "system"
    now: datetime | None = None
    fields: Mapping[str, Any] | None = None
    channel: str | None = None
    followup: Mapping[str, Any] | None = None


def finish_if_held(
    db: Database,
    instance_id: int,
    *,
    worker: str,
    attempt: int,
    to_state: InstanceState,
    reason: str | None,
    attempt_state: InstanceState,
    attempt_error: str | None = None,
    log_lines: Sequence[str] = (),
    actor: str = "system",
    now: datetime | None = None,
    fields: Mapping[str, Any] | None = None,
    channel: str | None = None,
    followup: Mapping[str, Any] | None = None,
) -> Instance | None:
    """End one claimed run (``finish_many`` of one ``RunEnd``)."""
    end = RunEnd(
        instance_id=instance_id,
        worker=worker,
        attempt=attempt,
        to_state=to_state,
        reason=reason,
        attempt_state=attempt_state,
        attempt_error=attempt_error,
        log_lines=log_lines,
        actor=actor,
        now=now,
        fields=fields,
        channel=channel,
        followup=followup,
    )
    return finish_many(db, [end])[0]


def finish_many(db: Database, ends: Sequence[RunEnd]) -> list[Instance | None]:
    """End claimed runs in one transaction, moving each instance on only if its worker
    still holds that attempt. A ``followup`` (a row of the follow-up queue,
    ``store.followups.new_row``) is written with its end whether or not it is held
    (the work happened either way).

    Each attempt's outcome and last log lines are written either way (a run that lost
    its lease still leaves its record); an instance moves to its ``to_state`` (with an
    event, and a notification on its ``channel``) only while held. Returns, in the
    order of ``ends``, the updated instance, or None for one that was stopped,
    reclaimed or finished by someone else meanwhile. Statements are per batch, not
    per run: runs that end together cost one transaction of a few statements.
    """
    if not ends:
        return []
    stamped = [(end, utcnow() if end.now is None else to_utc_naive(end.now)) for end in ends]
    if db.dialect_name == "postgresql":
        return _finish_in_one_statement(db, stamped)
    with db.write() as conn:
        _end_attempts(conn, stamped)
        lines = [
            {"instance_id": end.instance_id, "attempt": end.attempt, "created_at": at, "text": t}
            for end, at in stamped
            for t in end.log_lines
        ]
        if lines:
            conn.execute(_ADD_LOGS, lines)
        enqueue(conn, [end.followup for end, _ in stamped if end.followup is not None])
        rows = _move_held(conn, stamped)
        held = [(end, at) for end, at in stamped if end.instance_id in rows]
        add_events(
            conn,
            [
                {
                    "instance_id": end.instance_id,
                    "created_at": at,
                    "actor": end.actor,
                    "action": "finish",
                    "from_state": _RUNNING,
                    "to_state": end.to_state.value,
                    "detail": end.reason,
                }
                for end, at in held
            ],
        )
        for channel in dict.fromkeys(end.channel for end, _ in held if end.channel):
            notify(conn, channel)
    return [rows.get(end.instance_id) for end in ends]


def _finish_in_one_statement(
    db: Database, stamped: Sequence[tuple[RunEnd, datetime]]
) -> list[Instance | None]:
    """``finish_many`` on PostgreSQL: one statement for the batch (``end_statement``)."""
    values = [
        state_changes(end.to_state, at, end.reason, settable_values(end.fields or {}))
        for end, at in stamped
    ]
    columns = tuple(sorted({name for v in values for name in v}))
    params = end_parameters(
        [
            (
                end.instance_id,
                end.worker,
                end.attempt,
                at,
                end.actor,
                end.attempt_state.value,
                end.attempt_error,
                end.channel,
            )
            for end, at in stamped
        ],
        values,
        columns,
        [(end.instance_id, end.attempt, at, t) for end, at in stamped for t in end.log_lines],
        [end.followup for end, _ in stamped if end.followup is not None],
    )
    with db.write() as conn:
        rows = {
            instance.id: instance
            for instance in instances_from_rows(conn.execute(end_statement(columns), params))
        }
        observe(
            conn,
            [
                {
                    "instance_id": end.instance_id,
                    "created_at": at,
                    "actor": end.actor,
                    "action": "finish",
                    "from_state": _RUNNING,
                    "to_state": end.to_state.value,
                    "detail": end.reason,
                }
                for end, at in stamped
                if end.instance_id in rows
            ],
        )
    return [rows.get(end.instance_id) for end, _ in stamped]


def _end_attempts(conn: sa.Connection, stamped: Sequence[tuple[RunEnd, datetime]]) -> None:
    updated = conn.execute(
        _END_ATTEMPT,
        [
            {
                "a_instance": end.instance_id,
                "a_number": end.attempt,
                "a_state": end.attempt_state.value,
                "a_at": at,
                "a_error": end.attempt_error,
            }
            for end, at in stamped
        ],
    )
    if updated.rowcount == len(stamped):
        return
    # some runs were claimed without an attempt row: record theirs (the others exist)
    conn.execute(
        insert_ignoring(conn, attempts),
        [
            {
                "instance_id": end.instance_id,
                "number": end.attempt,
                "worker": end.worker,
                "started_at": at,
                "state": end.attempt_state.value,
                "finished_at": at,
                "error": end.attempt_error,
            }
            for end, at in stamped
        ],
    )


def _move_held(
    conn: sa.Connection, stamped: Sequence[tuple[RunEnd, datetime]]
) -> dict[int, Instance]:
    """Move the held instances to their end states; the moved ones by id."""
    groups: dict[tuple[str, ...], list[tuple[RunEnd, dict[str, Any]]]] = {}
    for end, at in stamped:
        values = state_changes(end.to_state, at, end.reason, settable_values(end.fields or {}))
        groups.setdefault(tuple(sorted(values)), []).append((end, values))
    moved: dict[int, Instance] = {}
    for columns, members in groups.items():
        if len(members) == 1:
            end, values = members[0]
            result = conn.execute(
                _finish_statement(columns),
                {
                    "f_id": end.instance_id,
                    "f_worker": end.worker,
                    "f_attempt": end.attempt,
                    **{f"v_{name}": values[name] for name in columns},
                },
            )
        else:
            result = conn.execute(_finish_group_statement(columns, members))
        for row in result:
            instance = instance_from_mapping(row._mapping)
            moved[instance.id] = instance
    return moved


def _finish_group_statement(
    columns: tuple[str, ...], members: Sequence[tuple[RunEnd, Mapping[str, Any]]]
) -> Any:
    """One UPDATE for several held runs ending with the same columns: each column's
    value picked by instance id (``CASE id WHEN … THEN …``)."""
    holders = [(end.instance_id, end.worker, end.attempt) for end, _ in members]
    return (
        sa.update(instances)
        .where(
            sa.tuple_(_c.id, _c.worker, _c.attempts).in_(holders),
            _c.state == _RUNNING,
        )
        .values(
            {
                name: sa.case(
                    {
                        end.instance_id: sa.bindparam(None, values[name], type_=_c[name].type)
                        for end, values in members
                    },
                    value=_c.id,
                )
                for name in columns
            }
        )
        .returning(*instances.c)
    )


def reclaim(
    db: Database,
    instance: Instance,
    *,
    now: datetime,
    actor: str,
    channel: str | None = None,
    expired_only: bool = True,
    why: str | None = None,
    holder_dead: bool = False,
) -> Instance | None:
    """Take back an instance whose worker let its lease expire (or gives it up).

    Its attempt is recorded as failed; the instance goes back to the queue for a new
    attempt, or fails when no attempts are left. None if the lease was renewed or
    the instance moved on meanwhile. A worker that shuts down releases what it holds
    with ``expired_only=False`` and its own ``why``. ``holder_dead``: the worker is
    known to be dead (its process is gone), so its lease need not expire first.
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
                _c.lease_expires_at < at if expired_only and not holder_dead else sa.true(),
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
        add_events(
            conn,
            [
                {
                    "instance_id": instance.id,
                    "created_at": at,
                    "actor": actor,
                    "action": "reclaim",
                    "from_state": InstanceState.RUNNING.value,
                    "to_state": target.value,
                    "detail": reason,
                }
            ],
        )
        if target is InstanceState.WAITING_RESOURCES:
            notify(conn, channel)
    return instance_from_mapping(row._mapping)
