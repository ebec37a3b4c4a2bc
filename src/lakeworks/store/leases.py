"""Leases held by workers: finishing only what a worker still holds, reclaiming the rest.

A worker's claim is identified by (instance, worker, attempt number). Every write a
worker makes at the end of a run checks all three in the same statement, so a worker
that lost its lease (it stalled, or it was presumed dead and the instance runs
elsewhere now) can never overwrite the newer attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.store.claims import ClaimRequest, claim, claim_on
from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database
from lakeworks.store.driver_statements import DriverStatement
from lakeworks.store.end_statement import end_parameters, end_statement
from lakeworks.store.followups import enqueue
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.observers import add_events, observe
from lakeworks.store.records import instance_from_mapping, instances_from_rows
from lakeworks.store.scheduling import notify
from lakeworks.store.schema import attempts, instance_logs, instances
from lakeworks.store.statements import insert_ignoring
from lakeworks.store.transitions import settable_values, state_changes

_c = instances.c
_RUNNING = InstanceState.RUNNING.value
_bp = sa.bindparam

__all__ = [
    "ClaimRequest",
    "RunEnd",
    "StartRequest",
    "claim",
    "finish_and_claim",
    "finish_many",
    "reclaim",
]


def _held(instance_id: int, worker: str, attempt: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        _c.id == instance_id,
        _c.state == _RUNNING,
        _c.worker == worker,
        _c.attempts == attempt,
    )


# The hot statements of starting and finishing, built once with bound parameters
# (building SQLAlchemy statements per instance cost more than the database work) and
# executed on SQLite's cursor (``DriverStatement``: SQLAlchemy's per-execution work
# cost several times the database's).


_ADD_LOGS = DriverStatement(sa.insert(instance_logs))
_END_ATTEMPT = DriverStatement(
    sa.update(attempts)
    .where(attempts.c.instance_id == _bp("a_instance"), attempts.c.number == _bp("a_number"))
    .values(state=_bp("a_state"), finished_at=_bp("a_at"), error=_bp("a_error"))
)
_STATE_FOR_UPDATE = DriverStatement(
    sa.select(_c.state).where(_c.id == _bp("s_id")).with_for_update()
)
_START = DriverStatement(
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
_ADD_ATTEMPT = DriverStatement(sa.insert(attempts))
_FINISH: dict[tuple[str, ...], DriverStatement] = {}


def _finish_statement(columns: tuple[str, ...]) -> DriverStatement:
    """Move one held run to its end state, setting ``columns`` (``v_<column>``)."""
    statement = _FINISH.get(columns)
    if statement is None:
        statement = DriverStatement(
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


@dataclass(frozen=True)
class StartRequest:
    """Start one runnable instance outside the work queue (``lakeworks run``): with an
    end (``RunEnd.then_start``), in that end's transaction, at the moment of that end."""

    instance_id: int
    worker: str
    expected: tuple[InstanceState, ...]
    actor: str = "system"


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
    request = StartRequest(instance_id, worker, tuple(expected), actor)
    with db.write() as conn:
        return _start_on(conn, request, to_utc_naive(now))


def _start_on(conn: sa.Connection, request: StartRequest, at: datetime) -> Instance | None:
    allowed = {s.value for s in request.expected}
    found = _STATE_FOR_UPDATE.one_or_none(conn, {"s_id": request.instance_id})
    current = None if found is None else found["state"]
    if current not in allowed:
        return None
    row = _START.one_or_none(
        conn,
        {"s_id": request.instance_id, "s_state": current, "s_worker": request.worker, "s_at": at},
    )
    if row is None:
        return None
    claimed = instance_from_mapping(row)
    add_events(
        conn,
        [
            {
                "instance_id": request.instance_id,
                "created_at": at,
                "actor": request.actor,
                "action": "transition",
                "from_state": current,
                "to_state": _RUNNING,
                "detail": None,
            }
        ],
    )
    _ADD_ATTEMPT.execute_many(
        conn,
        [
            {
                "instance_id": request.instance_id,
                "number": claimed.attempts,
                "state": _RUNNING,
                "worker": request.worker,
                "started_at": at,
                "finished_at": None,
                "error": None,
            }
        ],
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
    then_claim: ClaimRequest | None = None
    """The worker's slot is free after this run: claim its next instance in the same
    transaction, at the moment of this end (``finish_and_claim``)."""
    then_start: StartRequest | None = None
    """Or start the given instance next, in the same transaction (``lakeworks run``)."""


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
    """End claimed runs in one transaction (``finish_and_claim`` without the claims)."""
    return [moved for moved, _ in finish_and_claim(db, ends)]


def finish_and_claim(
    db: Database, ends: Sequence[RunEnd]
) -> list[tuple[Instance | None, Instance | None]]:
    """End claimed runs in one transaction, moving each instance on only if its worker
    still holds that attempt. A ``followup`` (a row of the follow-up queue,
    ``store.followups.new_row``) is written with its end whether or not it is held
    (the work happened either way).

    Each attempt's outcome and last log lines are written either way (a run that lost
    its lease still leaves its record); an instance moves to its ``to_state`` (with an
    event, and a notification on its ``channel``) only while held. Returns, in the
    order of ``ends``, the updated instance, or None for one that was stopped,
    reclaimed or finished by someone else meanwhile. Runs that end together cost one
    transaction: on PostgreSQL one statement, on SQLite a few statements per batch plus
    one cheap statement on the cursor per run moved.

    Each end with ``then_claim`` also gets the next queued instance of its worker's
    group (or None when the queue has none), claimed in the same transaction: one
    claim per such end, so a slot never receives more than one instance. An end with
    ``then_start`` starts that instance instead (None when it is no longer runnable).
    Returns (moved instance or None, claimed or started instance or None) per end.
    """
    if not ends:
        return []
    stamped = [(end, utcnow() if end.now is None else to_utc_naive(end.now)) for end in ends]
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            moved = _finish_in_one_statement(conn, stamped)
        else:
            moved = _finish_in_steps(conn, stamped)
        following = _claim_next(conn, stamped)
        following.update(_start_next(conn, stamped))
    return [(moved.get(end.instance_id), following.get(n)) for n, end in enumerate(ends)]


def _start_next(
    conn: sa.Connection, stamped: Sequence[tuple[RunEnd, datetime]]
) -> dict[int, Instance]:
    """The instance each end with ``then_start`` started (at the end's moment), by the
    end's position; an instance no longer runnable is left out."""
    found: dict[int, Instance] = {}
    for n, (end, at) in enumerate(stamped):
        if end.then_start is not None:
            started = _start_on(conn, end.then_start, at)
            if started is not None:
                found[n] = started
    return found


def _claim_next(
    conn: sa.Connection, stamped: Sequence[tuple[RunEnd, datetime]]
) -> dict[int, Instance]:
    """The next instance of each end that asks for one (at the end's moment), by the
    end's position."""
    asking: dict[tuple[str, float, str, str, str], list[tuple[int, ClaimRequest]]] = {}
    for n, (end, at) in enumerate(stamped):
        if end.then_claim is not None:
            request = replace(end.then_claim, now=at)
            asking.setdefault(request.queue, []).append((n, request))
    found: dict[int, Instance] = {}
    for members in asking.values():
        latest = max((request for _, request in members), key=lambda r: r.at)
        claimed = claim_on(conn, latest, len(members))
        found.update(zip((n for n, _ in members), claimed, strict=False))
    return found


def _finish_in_steps(
    conn: sa.Connection, stamped: Sequence[tuple[RunEnd, datetime]]
) -> dict[int, Instance]:
    """``finish_and_claim``'s ends on SQLite: a few statements per batch."""
    _end_attempts(conn, stamped)
    lines = [
        {"instance_id": end.instance_id, "attempt": end.attempt, "created_at": at, "text": t}
        for end, at in stamped
        for t in end.log_lines
    ]
    _ADD_LOGS.execute_many(conn, lines)
    enqueue(conn, [end.followup for end, _ in stamped if end.followup is not None])
    rows = _move_held(conn, stamped)
    held = [(end, at) for end, at in stamped if end.instance_id in rows]
    add_events(
        conn,
        _finish_events(held),
    )
    for channel in dict.fromkeys(end.channel for end, _ in held if end.channel):
        notify(conn, channel)
    return rows


def _finish_in_one_statement(
    conn: sa.Connection, stamped: Sequence[tuple[RunEnd, datetime]]
) -> dict[int, Instance]:
    """``finish_and_claim``'s ends on PostgreSQL: one statement (``end_statement``)."""
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
    rows = {
        instance.id: instance
        for instance in instances_from_rows(conn.execute(end_statement(columns), params))
    }
    observe(
        conn,
        _finish_events([(end, at) for end, at in stamped if end.instance_id in rows]),
    )
    return rows


def _end_attempts(conn: sa.Connection, stamped: Sequence[tuple[RunEnd, datetime]]) -> None:
    updated = _END_ATTEMPT.execute_many(
        conn,
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
    if updated == len(stamped):
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
        # one statement per run (on SQLite's cursor: cheaper than compiling one
        # statement for the group)
        statement = _finish_statement(columns)
        rows = [
            row
            for end, values in members
            for row in statement.all(
                conn,
                {
                    "f_id": end.instance_id,
                    "f_worker": end.worker,
                    "f_attempt": end.attempt,
                    **{f"v_{name}": values[name] for name in columns},
                },
            )
        ]
        for row in rows:
            instance = instance_from_mapping(row)
            moved[instance.id] = instance
    return moved


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


def _finish_events(ends: Sequence[tuple[RunEnd, datetime]]) -> list[dict[str, object]]:
    """The ``finish`` event rows of run ends, each stamped with its time."""
    return [
        {
            "instance_id": end.instance_id,
            "created_at": at,
            "actor": end.actor,
            "action": "finish",
            "from_state": _RUNNING,
            "to_state": end.to_state.value,
            "detail": end.reason,
        }
        for end, at in ends
    ]
