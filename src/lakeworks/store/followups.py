"""The durable queue of work that follows an instance's end (migration ``0008``).

When an instance ends, the row describing what it did (state, tables read and
written, rows) is written in the same transaction as its final state, so a crash
between the instance's end and the follow-up work (the Data Map's run lineage,
harvest and column lineage, OpenLineage events) loses nothing. A drainer takes rows in
batches: first those its own process wrote (``owner``), then rows whose owner has not
touched them for ``stale_seconds`` (the process died). A row is deleted once its work
is done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lakeworks.store.database import Database
from lakeworks.store.driver_statements import DriverStatement
from lakeworks.store.schema import Id, Timestamp, metadata

instance_followups = sa.Table(
    "instance_followups",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("instance_id", Id, nullable=False),
    sa.Column("workspace", sa.String(), nullable=False),
    sa.Column("env", sa.String(), nullable=False),
    sa.Column("node_key", sa.String(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("owner", sa.String(), nullable=False),
    sa.Column("claimed_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_instance_followups_scope", "workspace", "env", "owner", "id"),
)

_f = instance_followups.c
_INSERT = DriverStatement(sa.insert(instance_followups))


@dataclass(frozen=True)
class FollowupRow:
    """One queued instance end."""

    id: int
    instance_id: int
    workspace: str
    env: str
    node_key: str
    attempt: int
    state: str
    payload: dict[str, Any]
    created_at: datetime


def new_row(
    *,
    instance_id: int,
    workspace: str,
    env: str,
    node_key: str,
    attempt: int,
    state: str,
    payload: Mapping[str, Any],
    owner: str,
    at: datetime,
) -> dict[str, Any]:
    """The values of a queue row, for ``enqueue`` inside the instance's final write."""
    return {
        "instance_id": instance_id,
        "workspace": workspace,
        "env": env,
        "node_key": node_key,
        "attempt": attempt,
        "state": state,
        "payload": json.dumps(payload, separators=(",", ":"), default=str),
        "owner": owner,
        "claimed_at": at,
        "created_at": at,
    }


def enqueue(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add rows in the caller's transaction (the one that records the instance's end)."""
    _INSERT.execute_many(conn, rows)


def take(
    db: Database,
    *,
    workspace: str,
    env: str,
    owner: str,
    limit: int,
    now: datetime,
    stale_seconds: float,
) -> list[FollowupRow]:
    """Up to ``limit`` rows to work on: this owner's first, then abandoned ones.

    Abandoned rows (untouched for ``stale_seconds``) are taken over: their owner and
    claim time are set in the same transaction, so two drainers do not both take them.
    """
    scope = sa.and_(_f.workspace == workspace, _f.env == env)
    with db.write() as conn:
        rows = list(
            conn.execute(
                sa.select(instance_followups)
                .where(scope, _f.owner == owner)
                .order_by(_f.id)
                .limit(limit)
            )
        )
        if len(rows) < limit:
            stale = now - timedelta(seconds=stale_seconds)
            query = (
                sa.select(instance_followups)
                .where(scope, _f.owner != owner, _f.claimed_at < stale)
                .order_by(_f.id)
                .limit(limit - len(rows))
            )
            if db.dialect_name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            others = list(conn.execute(query))
            if others:
                conn.execute(
                    sa.update(instance_followups)
                    .where(_f.id.in_([r.id for r in others]))
                    .values(owner=owner, claimed_at=now)
                )
            rows += others
    return [
        FollowupRow(
            id=r.id,
            instance_id=r.instance_id,
            workspace=r.workspace,
            env=r.env,
            node_key=r.node_key,
            attempt=r.attempt,
            state=r.state,
            payload=json.loads(r.payload),
            created_at=r.created_at,
        )
        for r in rows
    ]


def done(db: Database, ids: Sequence[int]) -> None:
    """Remove rows whose work is done."""
    if not ids:
        return
    with db.write() as conn:
        for start in range(0, len(ids), 500):
            conn.execute(sa.delete(instance_followups).where(_f.id.in_(ids[start : start + 500])))


def pending(db: Database, workspace: str, env: str) -> int:
    """How many instance ends still wait for their follow-up work."""
    with db.read() as conn:
        count = conn.execute(
            sa.select(sa.func.count())
            .select_from(instance_followups)
            .where(_f.workspace == workspace, _f.env == env)
        ).scalar_one()
    return int(count)
