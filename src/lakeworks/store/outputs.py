"""Outputs published by instances and iterations of loops (migration ``0014``).

An instance publishes one JSON value: a rerun of it replaces the value; a rerun of a
downstream instance reads the one stored. A for-each instance records each iteration
(offset, item, the run of its body, its state), so a rerun runs only the iterations
that did not succeed. A trigger node's instance is released by one external call,
recorded here (a second one is refused). A check node waiting for something to stay
unchanged keeps what it saw last and since when (migration ``0024``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.schema import Id, Timestamp, instance_dependencies, instances, metadata


def _instance_key(table: str) -> sa.Column[int]:
    """The instance a row belongs to (deleted with it): the key of these tables."""
    return sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE", name=f"fk_{table}_instance"),
        primary_key=True,
    )


instance_outputs = sa.Table(
    "instance_outputs",
    metadata,
    _instance_key("instance_outputs"),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

loop_iterations = sa.Table(
    "loop_iterations",
    metadata,
    _instance_key("loop_iterations"),
    sa.Column("offset", sa.Integer(), primary_key=True),
    sa.Column("item", sa.Text(), nullable=False),
    sa.Column("run_id", Id, nullable=True),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

instance_triggers = sa.Table(
    "instance_triggers",
    metadata,
    _instance_key("instance_triggers"),
    sa.Column("actor", sa.String(), nullable=False),
    sa.Column("triggered_at", Timestamp, nullable=False),
)

check_observations = sa.Table(
    "check_observations",
    metadata,
    _instance_key("check_observations"),
    sa.Column("fingerprint", sa.Text(), nullable=False),
    sa.Column("since", Timestamp, nullable=False),
)

_o = instance_outputs.c
_i = loop_iterations.c


@dataclass(frozen=True)
class Iteration:
    instance_id: int
    offset: int
    item: str
    run_id: int | None
    state: str


class OutputRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, instance_id: int, value: str) -> None:
        """Store (or replace) the output of an instance."""
        with self._db.write() as conn:
            conn.execute(sa.delete(instance_outputs).where(_o.instance_id == instance_id))
            conn.execute(
                sa.insert(instance_outputs).values(
                    instance_id=instance_id, value=value, created_at=utcnow()
                )
            )

    def get(self, instance_id: int) -> str | None:
        with self._db.read() as conn:
            return conn.execute(
                sa.select(_o.value).where(_o.instance_id == instance_id)
            ).scalar_one_or_none()

    def of_upstream(self, instance_id: int) -> dict[str, str | None]:
        """Node key -> output (None: none stored) of each upstream instance of one."""
        deps = instance_dependencies.c
        query = (
            sa.select(instances.c.node_key, _o.value)
            .select_from(
                instance_dependencies.join(
                    instances, instances.c.id == deps.upstream_instance_id
                ).outerjoin(instance_outputs, _o.instance_id == deps.upstream_instance_id)
            )
            .where(deps.instance_id == instance_id)
        )
        with self._db.read() as conn:
            return {str(k): v for k, v in conn.execute(query)}

    def record_iteration(
        self, instance_id: int, offset: int, item: str, state: str, run_id: int | None = None
    ) -> None:
        """Record (or update) one iteration of a for-each instance."""
        with self._db.write() as conn:
            conn.execute(
                sa.delete(loop_iterations).where(_i.instance_id == instance_id, _i.offset == offset)
            )
            conn.execute(
                sa.insert(loop_iterations).values(
                    instance_id=instance_id,
                    offset=offset,
                    item=item,
                    run_id=run_id,
                    state=state,
                    updated_at=utcnow(),
                )
            )

    def iterations(self, instance_id: int) -> list[Iteration]:
        """The iterations recorded for a for-each instance, by offset."""
        query = sa.select(loop_iterations).where(_i.instance_id == instance_id).order_by(_i.offset)
        with self._db.read() as conn:
            return [
                Iteration(r.instance_id, r.offset, r.item, r.run_id, r.state)
                for r in conn.execute(query)
            ]

    def trigger(self, instance_id: int, actor: str) -> bool:
        """Record the external call releasing an instance; False if it was already."""
        t = instance_triggers.c
        with self._db.write() as conn:
            done = conn.execute(
                sa.select(t.instance_id).where(t.instance_id == instance_id)
            ).first()
            if done is not None:
                return False
            conn.execute(
                sa.insert(instance_triggers).values(
                    instance_id=instance_id, actor=actor, triggered_at=utcnow()
                )
            )
            return True

    def triggered_by(self, instance_id: int) -> str | None:
        """Who released the instance (None: not yet)."""
        t = instance_triggers.c
        with self._db.read() as conn:
            return conn.execute(
                sa.select(t.actor).where(t.instance_id == instance_id)
            ).scalar_one_or_none()

    def observe(self, instance_id: int, fingerprint: str, now: datetime | None = None) -> datetime:
        """Record what a check saw; since when it has been the same (``now``, UTC-naive,
        if it changed)."""
        c = check_observations.c
        now = now or utcnow()
        with self._db.write() as conn:
            row = conn.execute(
                sa.select(c.fingerprint, c.since).where(c.instance_id == instance_id)
            ).first()
            if row is not None and row.fingerprint == fingerprint:
                return row.since  # type: ignore[no-any-return]
            conn.execute(sa.delete(check_observations).where(c.instance_id == instance_id))
            conn.execute(
                sa.insert(check_observations).values(
                    instance_id=instance_id, fingerprint=fingerprint, since=now
                )
            )
        return now
