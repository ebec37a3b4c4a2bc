"""Attempts: each try at running an instance, by which worker, and how it ended."""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.errors import Conflict, NotFound
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Attempt, InstanceState
from lakeworks.store.records import attempt_from_row
from lakeworks.store.schema import attempts


class AttemptRepository:
    """Start, finish and list attempts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def start(self, instance_id: int, number: int, worker: str | None) -> Attempt:
        """Record attempt ``number`` (1-based) of an instance as running on ``worker``.

        ``Conflict`` if that attempt number exists; ``NotFound`` if the instance does not.
        """
        values = {
            "instance_id": instance_id,
            "number": number,
            "state": InstanceState.RUNNING.value,
            "worker": worker,
            "started_at": utcnow(),
            "finished_at": None,
            "error": None,
        }
        try:
            with self._db.write() as conn:
                row = conn.execute(sa.insert(attempts).values(values).returning(*attempts.c)).one()
        except sa.exc.IntegrityError as exc:
            if self._attempt_exists(instance_id, number):
                raise Conflict(
                    f"attempt {number} of instance {instance_id} was already started"
                ) from exc
            raise NotFound(f"instance {instance_id} does not exist") from exc
        return attempt_from_row(row)

    def finish(self, id: int, state: InstanceState | str, error: str | None = None) -> Attempt:
        """Mark the attempt finished in ``state`` with an optional error text."""
        final = InstanceState(state)
        with self._db.write() as conn:
            row = conn.execute(
                sa.update(attempts)
                .where(attempts.c.id == id)
                .values(state=final.value, finished_at=utcnow(), error=error)
                .returning(*attempts.c)
            ).one_or_none()
        if row is None:
            raise NotFound(f"attempt {id} does not exist")
        return attempt_from_row(row)

    def for_instance(self, instance_id: int) -> list[Attempt]:
        """The instance's attempts, first to last."""
        query = (
            sa.select(attempts)
            .where(attempts.c.instance_id == instance_id)
            .order_by(attempts.c.number, attempts.c.id)
        )
        with self._db.read() as conn:
            return [attempt_from_row(row) for row in conn.execute(query)]

    def _attempt_exists(self, instance_id: int, number: int) -> bool:
        query = sa.select(attempts.c.id).where(
            attempts.c.instance_id == instance_id, attempts.c.number == number
        )
        with self._db.read() as conn:
            return conn.execute(query).first() is not None
