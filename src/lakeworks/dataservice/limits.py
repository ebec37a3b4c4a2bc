"""Rate limits and request nonces kept in the metadata store, so that they hold across
every server process sharing it.

A limit counts requests in the current second and the current UTC day under a key per
application or API (``ds_counters``: one upsert per window, which returns the new
count). A request over a limit is refused with the seconds until its window ends. A
nonce is accepted once: its row lives for the signature window (``ds_nonces``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lakeworks.dataservice.tables import ds_counters, ds_nonces
from lakeworks.store.database import Database


@dataclass(frozen=True)
class Limit:
    """Requests allowed for ``subject`` (``app:<key>`` or ``api:<workspace>/<api>``)."""

    subject: str
    per_second: int | None
    per_day: int | None


@dataclass(frozen=True)
class Refusal:
    subject: str
    window: str
    limit: int
    retry_after: int


def _insert(db: Database) -> Any:
    if db.dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


class RateLimiter:
    """Counts requests per window in the store and says when a limit is exceeded."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert = _insert(db)

    def _bump(self, conn: sa.Connection, key: str, expires_at: datetime) -> int:
        insert = self._insert(ds_counters)
        statement = (
            insert.values(key=key, count=1, expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=[ds_counters.c.key], set_={"count": ds_counters.c.count + 1}
            )
            .returning(ds_counters.c.count)
        )
        return int(conn.execute(statement).scalar_one())

    def check(self, limits: Sequence[Limit], now: datetime) -> Refusal | None:
        """Count this request against every limit; the first one exceeded, or None."""
        active = [lim for lim in limits if lim.per_second or lim.per_day]
        if not active:
            return None
        second = int(now.timestamp()) if now.tzinfo else int((now - _EPOCH).total_seconds())
        day = now.strftime("%Y%m%d")
        day_end = datetime(now.year, now.month, now.day) + timedelta(days=1)
        refusal: Refusal | None = None
        with self.db.write() as conn:
            for limit in active:
                if limit.per_second:
                    count = self._bump(
                        conn, f"{limit.subject}:s:{second}", now + timedelta(seconds=5)
                    )
                    if count > limit.per_second and refusal is None:
                        refusal = Refusal(limit.subject, "second", limit.per_second, 1)
                if limit.per_day:
                    count = self._bump(conn, f"{limit.subject}:d:{day}", day_end)
                    if count > limit.per_day and refusal is None:
                        wait = max(1, math.ceil((day_end - now).total_seconds()))
                        refusal = Refusal(limit.subject, "day", limit.per_day, wait)
        return refusal

    def use_nonce(self, app_key: str, nonce: str, expires_at: datetime) -> bool:
        """Record ``nonce``; False when it was already used (a replay)."""
        insert = self._insert(ds_nonces)
        statement = insert.values(
            app_key=app_key, nonce=nonce, expires_at=expires_at
        ).on_conflict_do_nothing()
        with self.db.write() as conn:
            result = conn.execute(statement)
        return bool(result.rowcount)

    def prune(self, now: datetime) -> None:
        """Forget expired counters and nonces."""
        with self.db.write() as conn:
            conn.execute(sa.delete(ds_counters).where(ds_counters.c.expires_at < now))
            conn.execute(sa.delete(ds_nonces).where(ds_nonces.c.expires_at < now))


_EPOCH = datetime(1970, 1, 1)
