"""Instance logs: lines a node printed, per attempt, readable while it runs."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from lakeworks.errors import NotFound
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import LogLine
from lakeworks.store.records import log_line_from_row
from lakeworks.store.schema import instance_logs


class LogRepository:
    """Append and read log lines."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, instance_id: int, attempt: int, lines: Sequence[str]) -> None:
        """Append lines in order, in one batched insert; ``NotFound`` for an unknown instance."""
        if isinstance(lines, str):
            raise TypeError("append() takes a sequence of lines, not one string")
        if not lines:
            return
        now = utcnow()
        rows = [
            {"instance_id": instance_id, "attempt": attempt, "created_at": now, "text": line}
            for line in lines
        ]
        try:
            with self._db.write() as conn:
                conn.execute(sa.insert(instance_logs), rows)
        except sa.exc.IntegrityError as exc:
            raise NotFound(f"instance {instance_id} does not exist") from exc

    def read(
        self,
        instance_id: int,
        *,
        attempt: int | None = None,
        after_id: int = 0,
        limit: int = 10000,
    ) -> list[LogLine]:
        """Lines in the order they were appended; pass the last id seen to follow a log."""
        query = (
            sa.select(instance_logs)
            .where(instance_logs.c.instance_id == instance_id, instance_logs.c.id > after_id)
            .order_by(instance_logs.c.id)
            .limit(limit)
        )
        if attempt is not None:
            query = query.where(instance_logs.c.attempt == attempt)
        with self._db.read() as conn:
            return [log_line_from_row(row) for row in conn.execute(query)]
