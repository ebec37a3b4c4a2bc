"""Deleting old instances, logs and action records in small batches.

Old rows are found node by node through the ``(node_key, cycle_time)`` index, so that
pruning a store of millions of instances never scans the whole table at once; each
batch is its own short transaction. Deleting an instance deletes its attempts, logs,
events and dependency edges with it (foreign keys cascade).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.store.clock import to_utc_naive
from lakeworks.store.database import Database
from lakeworks.store.models import TERMINAL_STATES, RunState
from lakeworks.store.scheduler_tables import ops_actions
from lakeworks.store.schema import instance_dependencies, instance_logs, instances, runs

_c = instances.c
_deps = instance_dependencies
_FINISHED = sorted(s.value for s in TERMINAL_STATES)


class Pruner:
    """Batched deletes of old metadata."""

    def __init__(self, db: Database, *, batch: int = 2000) -> None:
        self._db = db
        self.batch = batch

    def node_keys(self, workspace: str | None = None, env: str | None = None) -> list[str]:
        """Every node key that has instances."""
        query = sa.select(_c.node_key).distinct()
        if workspace is not None:
            query = query.where(_c.workspace == workspace)
        if env is not None:
            query = query.where(_c.env == env)
        with self._db.read() as conn:
            return sorted(conn.execute(query).scalars())

    def _old(
        self, node_key: str, before: datetime, workspace: str | None, env: str | None
    ) -> sa.Select[Any]:
        query = sa.select(_c.id).where(_c.node_key == node_key, _c.cycle_time < before)
        if workspace is not None:
            query = query.where(_c.workspace == workspace)
        if env is not None:
            query = query.where(_c.env == env)
        return query

    def instances(
        self,
        node_key: str,
        before: datetime,
        *,
        workspace: str | None = None,
        env: str | None = None,
    ) -> int:
        """Delete the node's finished instances with a cycle before ``before``.

        An instance that an unfinished instance still waits for is kept (deleting it
        would drop the dependency and let its downstream run).
        """
        cutoff = to_utc_naive(before)
        child = instances.alias("child")
        waited_for = sa.exists(
            sa.select(1)
            .select_from(_deps.join(child, child.c.id == _deps.c.instance_id))
            .where(_deps.c.upstream_instance_id == _c.id, child.c.state.not_in(_FINISHED))
        )
        old = self._old(node_key, cutoff, workspace, env).where(
            _c.state.in_(_FINISHED), ~waited_for
        )
        deleted = 0
        while True:
            with self._db.write() as conn:
                ids = list(conn.execute(old.limit(self.batch)).scalars())
                if not ids:
                    return deleted
                conn.execute(sa.delete(instances).where(_c.id.in_(ids)))
            deleted += len(ids)

    def logs(
        self,
        node_key: str,
        before: datetime,
        *,
        workspace: str | None = None,
        env: str | None = None,
    ) -> int:
        """Delete the log lines of the node's instances with a cycle before ``before``."""
        cutoff = to_utc_naive(before)
        old = self._old(node_key, cutoff, workspace, env).where(_c.state.in_(_FINISHED))
        deleted = 0
        after = 0
        while True:
            with self._db.read() as conn:
                ids = list(
                    conn.execute(
                        old.where(_c.id > after).order_by(_c.id).limit(self.batch)
                    ).scalars()
                )
            if not ids:
                return deleted
            with self._db.write() as conn:
                result = conn.execute(
                    sa.delete(instance_logs).where(instance_logs.c.instance_id.in_(ids))
                )
            deleted += int(result.rowcount or 0)
            after = ids[-1]

    def empty_runs(self, before: datetime) -> int:
        """Delete finished runs created before ``before`` that have no instances left."""
        cutoff = to_utc_naive(before)
        orphan = ~sa.exists(sa.select(1).where(_c.run_id == runs.c.id))
        with self._db.write() as conn:
            result = conn.execute(
                sa.delete(runs).where(
                    runs.c.created_at < cutoff,
                    runs.c.state != RunState.RUNNING.value,
                    orphan,
                )
            )
        return int(result.rowcount or 0)

    def actions(self, before: datetime) -> int:
        """Delete operator action records older than ``before``."""
        cutoff = to_utc_naive(before)
        with self._db.write() as conn:
            result = conn.execute(sa.delete(ops_actions).where(ops_actions.c.created_at < cutoff))
        return int(result.rowcount or 0)
