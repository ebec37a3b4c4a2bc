"""What the scheduler reads and writes in batches: planning state, candidates, upstream
states, and many state changes at once (each a compare-and-set with an event).

Every query here works on many instances at a time: the scheduler never issues one
query per instance per pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.store.clock import to_utc_naive, utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState, NewInstance, RunType
from lakeworks.store.observers import add_events
from lakeworks.store.records import instances_from_rows
from lakeworks.store.scheduler_tables import instance_pending_upstream, scheduler_state
from lakeworks.store.schema import instance_dependencies, instance_events, instances
from lakeworks.store.statements import chunked, insert_ignoring
from lakeworks.store.transitions import state_changes

_c = instances.c
_deps = instance_dependencies
_QUIET = (
    InstanceState.WAITING_TIME.value,
    InstanceState.WAITING_UPSTREAM.value,
    InstanceState.WAITING_RESOURCES.value,
    InstanceState.RUNNING.value,
)
"""States whose arrival the downstream of an instance does not notice."""
_pending = instance_pending_upstream

CycleKey = tuple[str, datetime]
"""``(node_key, cycle_time)`` with a UTC-naive cycle time, as stored."""


@dataclass(frozen=True)
class PlanningState:
    """How far a workspace environment's schedule has been planned."""

    workspace: str
    env: str
    history_start: datetime
    """The first planned instant (UTC-naive): cycles before it are never created."""
    planned_until: datetime
    """Instances exist for every cycle before this instant (UTC-naive)."""
    updated_at: datetime


@dataclass(frozen=True)
class UpstreamRef:
    """One instance another instance waits for; ``instance_id`` None: not created yet."""

    instance_id: int | None
    node_key: str
    cycle_time: datetime
    state: InstanceState | None


@dataclass(frozen=True)
class StateChange:
    """Move ``instance_id`` from ``from_state`` to ``to_state`` (a compare-and-set)."""

    instance_id: int
    from_state: InstanceState
    to_state: InstanceState
    reason: str | None


def notify(conn: sa.Connection, channel: str | None) -> None:
    """Send a PostgreSQL notification on ``channel`` when the transaction commits."""
    if channel and conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": channel})


def _new_row(item: NewInstance, now: datetime) -> dict[str, Any]:
    """The instances row of a planned scheduled instance."""
    return {
        "workspace": item.workspace,
        "env": item.env,
        "node_key": item.node_key,
        "workflow": item.workflow,
        "run_type": RunType.SCHEDULED.value,
        "run_key": "schedule",
        "cycle_time": to_utc_naive(item.cycle_time),
        "bizdate": item.bizdate,
        "state": InstanceState(item.state).value,
        "reason": item.reason,
        "attempts": 0,
        "max_attempts": item.max_attempts,
        "priority": item.priority,
        "resource_group": item.resource_group,
        "owner": item.owner,
        "node_version": item.node_version,
        "rendered_code": None,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "next_attempt_at": None,
        "worker": None,
        "lease_expires_at": None,
        "run_id": None,
    }


def _state_from_row(row: Any) -> PlanningState:
    m = row._mapping
    return PlanningState(
        m["workspace"], m["env"], m["history_start"], m["planned_until"], m["updated_at"]
    )


class SchedulingStore:
    """Batched reads and writes of the scheduler."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- planning -------------------------------------------------------------------

    def planning_state(self, workspace: str, env: str) -> PlanningState | None:
        """The stored planning state, or None before the first plan."""
        query = sa.select(scheduler_state).where(
            scheduler_state.c.workspace == workspace, scheduler_state.c.env == env
        )
        with self._db.read() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else _state_from_row(row)

    def begin_planning(self, workspace: str, env: str, history_start: datetime) -> PlanningState:
        """Record the first planned instant unless another scheduler already did.

        Returns the stored state, whichever scheduler wrote it.
        """
        start = to_utc_naive(history_start)
        values = {
            "workspace": workspace,
            "env": env,
            "history_start": start,
            "planned_until": start,
            "updated_at": utcnow(),
        }
        with self._db.write() as conn:
            conn.execute(insert_ignoring(conn, scheduler_state).values(values))
        state = self.planning_state(workspace, env)
        assert state is not None
        return state

    def advance_planning(self, workspace: str, env: str, until: datetime) -> None:
        """Move ``planned_until`` forward to ``until`` (never backwards)."""
        moment = to_utc_naive(until)
        with self._db.write() as conn:
            conn.execute(
                sa.update(scheduler_state)
                .where(
                    scheduler_state.c.workspace == workspace,
                    scheduler_state.c.env == env,
                    scheduler_state.c.planned_until < moment,
                )
                .values(planned_until=moment, updated_at=utcnow())
            )

    def existing_cycles(
        self, workspace: str, env: str, start: datetime, end: datetime, nodes: Sequence[str]
    ) -> set[CycleKey]:
        """``(node_key, cycle_time)`` of the scheduled instances of ``nodes`` in
        ``[start, end)`` (read node by node through the ``(node_key, cycle_time)`` index)."""
        found: set[CycleKey] = set()
        with self._db.read() as conn:
            for chunk in chunked(sorted(set(nodes))):
                query = sa.select(_c.node_key, _c.cycle_time).where(
                    _c.node_key.in_(chunk),
                    _c.cycle_time >= to_utc_naive(start),
                    _c.cycle_time < to_utc_naive(end),
                    _c.workspace == workspace,
                    _c.env == env,
                    _c.run_type == RunType.SCHEDULED.value,
                    _c.run_key == "schedule",
                )
                found.update((row[0], row[1]) for row in conn.execute(query))
        return found

    def create_planned(
        self,
        items: Sequence[NewInstance],
        *,
        inside: Iterable[tuple[int, int]] = (),
        outside: Iterable[tuple[int, str, datetime]] = (),
    ) -> int:
        """Create planned scheduled instances and all their dependencies atomically.

        ``inside`` are ``(child, parent)`` index pairs into ``items``; ``outside`` are
        ``(child index, node_key, cycle_time)`` upstream instances by key: linked when
        they exist, else remembered as pending. Instances that already exist (another
        scheduler was first) are kept and linked the same way, so planning the same
        window twice, or concurrently, leaves one instance per cycle and the same edges.
        Returns how many instances were new.
        """
        if not items:
            return 0
        now = utcnow()
        rows = [_new_row(item, now) for item in items]
        keys = [(row["node_key"], row["cycle_time"]) for row in rows]
        scope = items[0]
        with self._db.write() as conn:
            before = self._ids(conn, scope.workspace, scope.env, keys)
            fresh = [row for row, key in zip(rows, keys, strict=True) if key not in before]
            if fresh:
                conn.execute(insert_ignoring(conn, instances), fresh)
            ids = self._ids(conn, scope.workspace, scope.env, keys)
            edges = {(ids[keys[c]], ids[keys[p]]) for c, p in inside}
            wanted = [(c, node, to_utc_naive(cycle)) for c, node, cycle in outside]
            found = self._ids(conn, scope.workspace, scope.env, [(n, t) for _, n, t in wanted])
            pending = set()
            for c, node, cycle in wanted:
                parent = found.get((node, cycle))
                if parent is None:
                    pending.add((ids[keys[c]], node, cycle))
                elif parent != ids[keys[c]]:
                    edges.add((ids[keys[c]], parent))
            if edges:
                conn.execute(
                    insert_ignoring(conn, _deps),
                    [{"instance_id": c, "upstream_instance_id": p} for c, p in sorted(edges)],
                )
            if pending:
                conn.execute(
                    insert_ignoring(conn, _pending),
                    [
                        {"instance_id": c, "node_key": n, "cycle_time": t}
                        for c, n, t in sorted(pending)
                    ],
                )
        return len(ids) - len(before)

    def scheduled_ids(
        self, workspace: str, env: str, keys: Sequence[CycleKey]
    ) -> dict[CycleKey, int]:
        """Ids of the scheduled instances with these ``(node, UTC-naive cycle)`` keys."""
        with self._db.read() as conn:
            return self._ids(conn, workspace, env, keys)

    @staticmethod
    def _ids(
        conn: sa.Connection, workspace: str, env: str, keys: Sequence[CycleKey]
    ) -> dict[CycleKey, int]:
        """Ids of the scheduled instances with these keys (missing ones left out)."""
        wanted = set(keys)
        if not wanted:
            return {}
        low = min(cycle for _, cycle in wanted)
        high = max(cycle for _, cycle in wanted)
        found: dict[CycleKey, int] = {}
        for chunk in chunked(sorted({node for node, _ in wanted})):
            query = sa.select(_c.id, _c.node_key, _c.cycle_time).where(
                _c.workspace == workspace,
                _c.env == env,
                _c.run_type == RunType.SCHEDULED.value,
                _c.run_key == "schedule",
                _c.node_key.in_(chunk),
                _c.cycle_time.between(low, high),
            )
            for id_, node, cycle in conn.execute(query):
                if (node, cycle) in wanted:
                    found[(node, cycle)] = id_
        return found

    def wait_for_scheduled(
        self, workspace: str, env: str, waits: Sequence[tuple[int, str, datetime]]
    ) -> tuple[int, int]:
        """Make instances wait for scheduled ones by ``(child id, node_key, cycle_time)``:
        linked at once when the scheduled instance exists, else remembered as pending
        and linked when the scheduler creates it. Returns (linked, pending)."""
        wanted = [(c, node, to_utc_naive(cycle)) for c, node, cycle in waits]
        if not wanted:
            return 0, 0
        with self._db.write() as conn:
            found = self._ids(conn, workspace, env, [(n, t) for _, n, t in wanted])
            edges = {(c, found[(n, t)]) for c, n, t in wanted if (n, t) in found}
            pending = {(c, n, t) for c, n, t in wanted if (n, t) not in found}
            if edges:
                conn.execute(
                    insert_ignoring(conn, _deps),
                    [{"instance_id": c, "upstream_instance_id": p} for c, p in sorted(edges)],
                )
            if pending:
                conn.execute(
                    insert_ignoring(conn, _pending),
                    [
                        {"instance_id": c, "node_key": n, "cycle_time": t}
                        for c, n, t in sorted(pending)
                    ],
                )
        return len(edges), len(pending)

    def link_pending(self, workspace: str, env: str) -> int:
        """Turn pending upstream keys whose instance now exists into dependencies."""
        child = instances.alias("child")
        parent = instances.alias("parent")
        query = (
            sa.select(
                _pending.c.instance_id, parent.c.id, _pending.c.node_key, _pending.c.cycle_time
            )
            .select_from(
                _pending.join(child, child.c.id == _pending.c.instance_id).join(
                    parent,
                    sa.and_(
                        parent.c.workspace == child.c.workspace,
                        parent.c.env == child.c.env,
                        # pending keys name scheduled instances: of a scheduled child,
                        # or of a backfill that waits for those outside it
                        parent.c.run_type == RunType.SCHEDULED.value,
                        parent.c.run_key == "schedule",
                        parent.c.node_key == _pending.c.node_key,
                        parent.c.cycle_time == _pending.c.cycle_time,
                    ),
                )
            )
            .where(child.c.workspace == workspace, child.c.env == env)
        )
        with self._db.write() as conn:
            found = conn.execute(query).all()
            if not found:
                return 0
            conn.execute(
                insert_ignoring(conn, _deps),
                [{"instance_id": c, "upstream_instance_id": p} for c, p, _, _ in found],
            )
            conn.execute(
                sa.delete(_pending).where(
                    _pending.c.instance_id == sa.bindparam("c_id"),
                    _pending.c.node_key == sa.bindparam("c_node"),
                    _pending.c.cycle_time == sa.bindparam("c_cycle"),
                ),
                [{"c_id": c, "c_node": n, "c_cycle": t} for c, _, n, t in found],
            )
        return len(found)

    # -- evaluation -----------------------------------------------------------------

    def candidates(
        self,
        workspace: str,
        env: str,
        now: datetime,
        *,
        run_types: Sequence[RunType] = (RunType.SCHEDULED, RunType.BACKFILL),
        after_id: int = 0,
        limit: int = 2000,
        waiting_upstream: bool = True,
    ) -> list[Instance]:
        """Instances the scheduler must decide about, by id.

        New ones (``not_run``, any time), and waiting ones whose cycle time has come
        and whose retry time (if any) has passed; without ``waiting_upstream`` the
        instances already waiting for upstream ones are left out (see
        ``children_of_changes``).
        """
        at = to_utc_naive(now)
        waiting = [InstanceState.WAITING_TIME.value]
        if waiting_upstream:
            waiting.append(InstanceState.WAITING_UPSTREAM.value)
        due = sa.and_(
            _c.state.in_(waiting),
            _c.cycle_time <= at,
            sa.or_(_c.next_attempt_at.is_(None), _c.next_attempt_at <= at),
        )
        query = (
            sa.select(instances)
            .where(
                _c.workspace == workspace,
                _c.env == env,
                _c.run_type.in_([t.value for t in run_types]),
                _c.id > after_id,
                sa.or_(_c.state == InstanceState.NOT_RUN.value, due),
            )
            .order_by(_c.id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return instances_from_rows(conn.execute(query))

    def last_event_id(self) -> int:
        """The newest instance event id (0 when there is none)."""
        with self._db.read() as conn:
            return int(conn.execute(sa.select(sa.func.max(instance_events.c.id))).scalar() or 0)

    def children_of_changes(
        self,
        workspace: str,
        env: str,
        after: int,
        upto: int,
        *,
        run_types: Sequence[RunType] = (RunType.SCHEDULED, RunType.BACKFILL),
    ) -> list[Instance]:
        """Instances waiting for upstream ones that wait for an instance whose state
        changed in events ``(after, upto]`` in a way their downstream notices (done,
        failed, stopped, frozen, suspended, reset): one query, the changed ids never
        leave the database."""
        e = instance_events.c
        changed = (
            sa.select(_deps.c.instance_id)
            .select_from(_deps.join(instance_events, e.instance_id == _deps.c.upstream_instance_id))
            .where(
                e.id > after,
                e.id <= upto,
                e.to_state.is_not(None),
                e.to_state.not_in(_QUIET),
            )
        )
        query = (
            sa.select(instances)
            .where(
                _c.id.in_(changed),
                _c.state == InstanceState.WAITING_UPSTREAM.value,
                _c.workspace == workspace,
                _c.env == env,
                _c.run_type.in_([t.value for t in run_types]),
            )
            .order_by(_c.id)
        )
        with self._db.read() as conn:
            return instances_from_rows(conn.execute(query))

    def upstream_of(self, ids: Iterable[int]) -> dict[int, list[UpstreamRef]]:
        """For each id, the instances it waits for with their states (pending ones too)."""
        wanted = sorted(set(ids))
        result: dict[int, list[UpstreamRef]] = {id_: [] for id_ in wanted}
        with self._db.read() as conn:
            for chunk in chunked(wanted):
                query = (
                    sa.select(_deps.c.instance_id, _c.id, _c.node_key, _c.cycle_time, _c.state)
                    .select_from(_deps.join(instances, _c.id == _deps.c.upstream_instance_id))
                    .where(_deps.c.instance_id.in_(chunk))
                    .order_by(_deps.c.instance_id, _c.cycle_time, _c.node_key)
                )
                for child, id_, node, cycle, state in conn.execute(query):
                    result[child].append(UpstreamRef(id_, node, cycle, InstanceState(state)))
                pending = (
                    sa.select(_pending.c.instance_id, _pending.c.node_key, _pending.c.cycle_time)
                    .where(_pending.c.instance_id.in_(chunk))
                    .order_by(_pending.c.instance_id, _pending.c.cycle_time)
                )
                for child, node, cycle in conn.execute(pending):
                    result[child].append(UpstreamRef(None, node, cycle, None))
        return result

    def apply(
        self,
        changes: Iterable[StateChange],
        *,
        actor: str,
        now: datetime | None = None,
        action: str = "schedule",
        channel: str | None = None,
    ) -> list[int]:
        """Carry out many compare-and-set state changes in one transaction.

        Changes with the same states and reason go in one statement; a change whose
        instance is no longer in ``from_state`` is skipped. A change of state records
        an event (a change of reason alone does not). ``channel`` is notified when
        the transaction commits. Returns the ids that changed.
        """
        at = utcnow() if now is None else to_utc_naive(now)
        groups: dict[tuple[InstanceState, InstanceState, str | None], list[int]] = {}
        for change in changes:
            key = (change.from_state, change.to_state, change.reason)
            groups.setdefault(key, []).append(change.instance_id)
        if not groups:
            return []
        changed: list[int] = []
        events: list[dict[str, Any]] = []
        with self._db.write() as conn:
            if self._db.supports_skip_locked:
                # another scheduler deciding about the same instances has them: skip
                free = self._lock(conn, sorted(i for ids in groups.values() for i in ids))
                groups = {k: [i for i in ids if i in free] for k, ids in groups.items()}
            for (before, after, reason), ids in groups.items():
                values = state_changes(after, at, reason, {})
                if after is InstanceState.SKIPPED:
                    values["started_at"] = at
                for chunk in chunked(sorted(ids)):
                    rows = conn.execute(
                        sa.update(instances)
                        .where(_c.id.in_(chunk), _c.state == before.value)
                        .values(values)
                        .returning(_c.id)
                    )
                    moved = list(rows.scalars())
                    changed.extend(moved)
                    if before is not after:
                        events.extend(
                            {
                                "instance_id": id_,
                                "created_at": at,
                                "actor": actor,
                                "action": action,
                                "from_state": before.value,
                                "to_state": after.value,
                                "detail": reason,
                            }
                            for id_ in moved
                        )
            add_events(conn, events)
            notify(conn, channel)
        return changed

    @staticmethod
    def _lock(conn: sa.Connection, ids: Sequence[int]) -> set[int]:
        """Lock these instances in id order, skipping those another writer holds."""
        locked: set[int] = set()
        for chunk in chunked(ids):
            query = (
                sa.select(_c.id)
                .where(_c.id.in_(chunk))
                .order_by(_c.id)
                .with_for_update(skip_locked=True)
            )
            locked.update(conn.execute(query).scalars())
        return locked

    def send(self, channel: str) -> None:
        """Notify ``channel`` now (PostgreSQL; nothing on SQLite)."""
        if self._db.dialect_name == "postgresql":
            with self._db.write() as conn:
                notify(conn, channel)
