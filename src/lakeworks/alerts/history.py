"""Recent successful run times per node, read from the store and kept for a while."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from statistics import fmean

import sqlalchemy as sa

from lakeworks.schedule.baselines import History
from lakeworks.store.database import Database
from lakeworks.store.schema import instances
from lakeworks.store.statements import chunked

WINDOW = 10
"""Successful runs per node the expected run time is the mean of."""
REFRESH = timedelta(minutes=10)


class RunHistory:
    """Run times (seconds, newest last) of the last ``WINDOW`` successes of nodes."""

    def __init__(self, db: Database, workspace: str, env: str) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env
        self.durations: dict[str, list[float]] = {}
        self._loaded_at: datetime | None = None
        self._nodes: frozenset[str] | None = frozenset()

    def stale(self, now: datetime) -> bool:
        loaded = self._loaded_at
        return loaded is None or not loaded <= now < loaded + REFRESH

    def refresh(self, now: datetime, nodes: Iterable[str] | None, *, force: bool = False) -> None:
        """Reload every ``REFRESH`` (or when the wanted nodes change); None means all nodes."""
        wanted = None if nodes is None else frozenset(nodes)
        fresh = self._loaded_at is not None and now - self._loaded_at < REFRESH
        if (
            fresh
            and not force
            and (
                wanted == self._nodes
                or (self._nodes is None or (wanted is not None and wanted <= self._nodes))
            )
        ):
            return
        self._loaded_at, self._nodes = now, wanted
        if wanted is not None and not wanted:
            self.durations = {}
            return
        self.durations = self._load(None if wanted is None else sorted(wanted))

    def ensure(self, nodes: Iterable[str]) -> None:
        """Load the run times of ``nodes`` not loaded yet (kept until the next refresh)."""
        if self._nodes is None:
            return
        missing = sorted(set(nodes) - self._nodes)
        if missing:
            self.durations.update(self._load(missing))
            self._nodes = self._nodes | frozenset(missing)

    def _load(self, nodes: list[str] | None) -> dict[str, list[float]]:
        i = instances.c
        found: dict[str, list[float]] = {}
        groups: list[Sequence[str] | None] = [None] if nodes is None else list(chunked(nodes))
        with self.db.read() as conn:
            for group in groups:
                ranked = sa.select(
                    i.node_key,
                    i.started_at,
                    i.finished_at,
                    sa.func.row_number()
                    .over(partition_by=i.node_key, order_by=i.cycle_time.desc())
                    .label("n"),
                ).where(
                    i.workspace == self.workspace,
                    i.env == self.env,
                    i.state == "success",
                    i.started_at.is_not(None),
                    i.finished_at.is_not(None),
                )
                if group is not None:
                    ranked = ranked.where(i.node_key.in_(group))
                sub = ranked.subquery()
                rows = conn.execute(
                    sa.select(sub.c.node_key, sub.c.started_at, sub.c.finished_at)
                    .where(sub.c.n <= WINDOW)
                    .order_by(sub.c.node_key, sub.c.n.desc())
                )
                for key, started, finished in rows:
                    found.setdefault(key, []).append((finished - started).total_seconds())
        return found

    def mean(self, node_key: str) -> timedelta | None:
        runs = self.durations.get(node_key)
        return None if not runs else timedelta(seconds=fmean(runs))

    def as_history(self) -> History:
        return History(self.durations, window=WINDOW)
