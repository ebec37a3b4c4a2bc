"""Operations Center records: node controls, the operator action log, run settlement.

- ``schedule_nodes``: each node's scheduling settings as the scheduler last saw them,
  and whether an operator froze the node (future instances are created frozen).
- ``ops_actions``: who did what, when, to which instances.
- Runs (backfills) are settled when none of their instances can make progress.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lakeworks.errors import NotFound
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState, Run, RunState, RunType
from lakeworks.store.records import run_from_row
from lakeworks.store.scheduler_tables import ops_actions, schedule_nodes
from lakeworks.store.schema import instance_dependencies, instances, runs
from lakeworks.store.statements import chunked

_n = schedule_nodes.c
_a = ops_actions.c
_c = instances.c
_deps = instance_dependencies

DONE = (InstanceState.SUCCESS.value, InstanceState.SKIPPED.value)
UNSETTLED = (
    InstanceState.NOT_RUN.value,
    InstanceState.WAITING_TIME.value,
    InstanceState.WAITING_RESOURCES.value,
    InstanceState.RUNNING.value,
    InstanceState.SUSPENDED.value,
    InstanceState.FROZEN.value,
)
"""States in which an instance of a run may still make progress."""


@dataclass(frozen=True)
class NodeControl:
    """A node's scheduling settings as last planned, and the operator's freeze."""

    workspace: str
    env: str
    node_key: str
    workflow: str
    owner: str | None
    rerun_policy: str | None
    max_attempts: int
    frozen: bool
    frozen_by: str | None
    updated_at: datetime


@dataclass(frozen=True)
class OpsAction:
    """One recorded operator action."""

    id: int
    created_at: datetime
    actor: str
    action: str
    workspace: str | None
    env: str | None
    target: str
    detail: str | None


def _control(row: sa.Row[object]) -> NodeControl:
    m = row._mapping
    return NodeControl(
        m["workspace"],
        m["env"],
        m["node_key"],
        m["workflow"],
        m["owner"],
        m["rerun_policy"],
        m["max_attempts"],
        bool(m["frozen"]),
        m["frozen_by"],
        m["updated_at"],
    )


def _action(row: sa.Row[object]) -> OpsAction:
    m = row._mapping
    return OpsAction(
        m["id"],
        m["created_at"],
        m["actor"],
        m["action"],
        m["workspace"],
        m["env"],
        m["target"],
        m["detail"],
    )


def _upsert(conn: sa.Connection) -> object:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(schedule_nodes)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(schedule_nodes)


class OperationsStore:
    """Node controls, the action log and run settlement."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- node controls --------------------------------------------------------------

    def sync_nodes(
        self,
        workspace: str,
        env: str,
        nodes: Iterable[tuple[str, str, str | None, str | None, int]],
    ) -> None:
        """Upsert ``(node_key, workflow, owner, rerun_policy, max_attempts)`` rows.

        An operator's freeze is kept.
        """
        now = utcnow()
        rows = [
            {
                "workspace": workspace,
                "env": env,
                "node_key": key,
                "workflow": workflow,
                "owner": owner,
                "rerun_policy": policy,
                "max_attempts": attempts,
                "frozen": False,
                "frozen_by": None,
                "updated_at": now,
            }
            for key, workflow, owner, policy, attempts in nodes
        ]
        if not rows:
            return
        with self._db.write() as conn:
            statement: object = _upsert(conn)
            excluded = statement.excluded  # type: ignore[attr-defined]
            upsert = statement.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["workspace", "env", "node_key"],
                set_={
                    "workflow": excluded.workflow,
                    "owner": excluded.owner,
                    "rerun_policy": excluded.rerun_policy,
                    "max_attempts": excluded.max_attempts,
                    "updated_at": excluded.updated_at,
                },
            )
            conn.execute(upsert, rows)

    def node_controls(
        self, workspace: str, env: str, keys: Iterable[str] | None = None
    ) -> dict[str, NodeControl]:
        """Controls of the workspace's nodes (all, or those in ``keys``)."""
        query = sa.select(schedule_nodes).where(_n.workspace == workspace, _n.env == env)
        out: dict[str, NodeControl] = {}
        with self._db.read() as conn:
            if keys is None:
                out = {c.node_key: c for c in map(_control, conn.execute(query))}
            else:
                for chunk in chunked(sorted(set(keys))):
                    rows = conn.execute(query.where(_n.node_key.in_(chunk)))
                    out.update((c.node_key, c) for c in map(_control, rows))
        return out

    def set_frozen(
        self, workspace: str, env: str, node_key: str, frozen: bool, actor: str
    ) -> NodeControl:
        """Freeze or unfreeze a node; ``NotFound`` if no scheduler has seen it."""
        with self._db.write() as conn:
            row = conn.execute(
                sa.update(schedule_nodes)
                .where(_n.workspace == workspace, _n.env == env, _n.node_key == node_key)
                .values(frozen=frozen, frozen_by=actor if frozen else None, updated_at=utcnow())
                .returning(*schedule_nodes.c)
            ).one_or_none()
        if row is None:
            raise NotFound(
                f"node {node_key} is not scheduled in {workspace}/{env}",
                hint="a node becomes known once a scheduler has planned it",
            )
        return _control(row)

    # -- the action log -------------------------------------------------------------

    def record(
        self,
        actor: str,
        action: str,
        target: str,
        *,
        workspace: str | None = None,
        env: str | None = None,
        detail: str | None = None,
    ) -> OpsAction:
        """Record one operator action."""
        values = {
            "created_at": utcnow(),
            "actor": actor,
            "action": action,
            "workspace": workspace,
            "env": env,
            "target": target,
            "detail": detail,
        }
        with self._db.write() as conn:
            row = conn.execute(sa.insert(ops_actions).values(values).returning(*ops_actions.c))
            return _action(row.one())

    def actions(
        self,
        *,
        workspace: str | None = None,
        env: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> builtins.list[OpsAction]:
        """Recorded actions, newest first; ``before_id`` continues a previous page."""
        query = sa.select(ops_actions).order_by(_a.id.desc()).limit(limit)
        if workspace is not None:
            query = query.where(_a.workspace == workspace)
        if env is not None:
            query = query.where(_a.env == env)
        if before_id is not None:
            query = query.where(_a.id < before_id)
        with self._db.read() as conn:
            return [_action(row) for row in conn.execute(query)]

    # -- graph walks and runs -------------------------------------------------------

    def downstream_closure(self, ids: Iterable[int]) -> builtins.list[int]:
        """Every instance that waits, directly or not, for one of ``ids`` (ascending)."""
        seen: set[int] = set()
        frontier = sorted(set(ids))
        with self._db.read() as conn:
            while frontier:
                found: set[int] = set()
                for chunk in chunked(frontier):
                    query = sa.select(_deps.c.instance_id).where(
                        _deps.c.upstream_instance_id.in_(chunk)
                    )
                    found.update(conn.execute(query).scalars())
                frontier = sorted(found - seen)
                seen.update(found)
        return sorted(seen)

    def open_runs(self, workspace: str, env: str) -> builtins.list[Run]:
        """Backfill runs not finished yet."""
        query = sa.select(runs).where(
            runs.c.workspace == workspace,
            runs.c.env == env,
            runs.c.run_type == RunType.BACKFILL.value,
            runs.c.state == RunState.RUNNING.value,
        )
        with self._db.read() as conn:
            return [run_from_row(row) for row in conn.execute(query)]

    def settle(self, run_id: int) -> RunState | None:
        """Finish the run when none of its instances can make progress; its new state.

        None while an instance is waiting, queued or running, or waits for upstream
        instances that are all done (it is about to be queued).
        """
        parent = instances.alias("parent")
        ready_child = sa.and_(
            _c.state == InstanceState.WAITING_UPSTREAM.value,
            ~sa.exists(
                sa.select(1)
                .select_from(_deps.join(parent, parent.c.id == _deps.c.upstream_instance_id))
                .where(_deps.c.instance_id == _c.id, parent.c.state.not_in(DONE))
            ),
        )
        waiting_outside = sa.and_(
            _c.state == InstanceState.WAITING_UPSTREAM.value,
            sa.exists(
                sa.select(1)
                .select_from(_deps.join(parent, parent.c.id == _deps.c.upstream_instance_id))
                .where(
                    _deps.c.instance_id == _c.id,
                    sa.or_(parent.c.run_id.is_(None), parent.c.run_id != run_id),
                    parent.c.state.in_((*UNSETTLED, InstanceState.WAITING_UPSTREAM.value)),
                )
            ),
        )  # a backfill that waits for scheduled instances (--wait-outside) is not stuck
        with self._db.write() as conn:
            busy = conn.execute(
                sa.select(_c.id)
                .where(
                    _c.run_id == run_id,
                    sa.or_(_c.state.in_(UNSETTLED), ready_child, waiting_outside),
                )
                .limit(1)
            ).first()
            if busy is not None:
                return None
            bad = conn.execute(
                sa.select(_c.id).where(_c.run_id == run_id, _c.state.not_in(DONE)).limit(1)
            ).first()
            state = RunState.SUCCESS if bad is None else RunState.FAILED
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id, runs.c.state == RunState.RUNNING.value)
                .values(state=state.value, finished_at=utcnow())
            )
        return state

    def state_counts(self, run_id: int) -> dict[InstanceState, int]:
        """How many instances of a run are in each state."""
        query = sa.select(_c.state, sa.func.count()).where(_c.run_id == run_id).group_by(_c.state)
        with self._db.read() as conn:
            return {InstanceState(state): int(n) for state, n in conn.execute(query)}

    def reopen(self, run_ids: Sequence[int]) -> None:
        """Mark finished backfill runs as running again (an instance was rerun)."""
        wanted = sorted({r for r in run_ids if r is not None})
        if not wanted:
            return
        with self._db.write() as conn:
            for chunk in chunked(wanted):
                conn.execute(
                    sa.update(runs)
                    .where(runs.c.id.in_(chunk), runs.c.run_type == RunType.BACKFILL.value)
                    .values(state=RunState.RUNNING.value, finished_at=None)
                )

    def stop_run(self, run_id: int) -> None:
        """Mark a run stopped."""
        with self._db.write() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(state=RunState.STOPPED.value, finished_at=utcnow())
            )
