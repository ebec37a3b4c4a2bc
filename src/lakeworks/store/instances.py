"""Instances: one run of one node for one cycle, their dependencies and state changes."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from lakeworks.errors import Conflict, NotFound
from lakeworks.store.bulk import allocate_ids, insert_rows
from lakeworks.store.clock import optional_utc_naive, to_utc_naive, utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import (
    Instance,
    InstanceEvent,
    InstanceState,
    NewInstance,
    RunType,
)
from lakeworks.store.observers import add_events
from lakeworks.store.records import event_from_row, instance_from_mapping, instances_from_rows
from lakeworks.store.schema import instance_dependencies, instance_events, instances
from lakeworks.store.statements import chunked, insert_ignoring
from lakeworks.store.transitions import settable_values, state_changes, states_of

Key = tuple[str, str, str, str, str, datetime]


_deps = instance_dependencies
_IGNORE_ATTEMPTS = 3


def _row_for(item: NewInstance, now: datetime) -> dict[str, Any]:
    if not item.run_key:
        raise ValueError(f"instance of {item.node_key!r} needs a non-empty run_key")
    return {
        "workspace": item.workspace,
        "env": item.env,
        "node_key": item.node_key,
        "workflow": item.workflow,
        "run_type": RunType(item.run_type).value,
        "run_key": item.run_key,
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
        "rendered_code": item.rendered_code,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "next_attempt_at": optional_utc_naive(item.next_attempt_at),
        "worker": None,
        "lease_expires_at": None,
        "run_id": item.run_id,
    }


def _key(row: Mapping[Any, Any]) -> Key:
    return (
        row["workspace"],
        row["env"],
        row["run_type"],
        row["run_key"],
        row["node_key"],
        row["cycle_time"],
    )


def _instance_key(instance: Instance) -> Key:
    return (
        instance.workspace,
        instance.env,
        instance.run_type.value,
        instance.run_key,
        instance.node_key,
        instance.cycle_time,
    )


def _edge_rows(edges: Iterable[tuple[int, int]]) -> builtins.list[dict[str, int]]:
    return [{"instance_id": c, "upstream_instance_id": p} for c, p in sorted(edges)]


def _describe(key: Key) -> str:
    workspace, env, run_type, run_key, node_key, cycle_time = key
    return (
        f"node {node_key!r} at cycle {cycle_time.isoformat(sep=' ')}"
        f" ({workspace}/{env}, {run_type} run {run_key!r})"
    )


def _check_pairs(pairs: Iterable[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    checked: list[tuple[int, int]] = []
    for child, parent in pairs:
        for index in (child, parent):
            if not 0 <= index < count:
                raise ValueError(f"dependency index {index} is outside the {count} new instances")
        if child == parent:
            raise ValueError(f"instance {child} cannot depend on itself")
        checked.append((child, parent))
    return checked


class InstanceRepository:
    """Create, find, link and move instances through their states."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- creating -------------------------------------------------------------------

    def create_many(
        self,
        items: Sequence[NewInstance],
        *,
        dependencies: Iterable[tuple[int, int]] = (),
        on_conflict: Literal["error", "ignore"] = "error",
    ) -> builtins.list[Instance]:
        """Insert instances and the dependencies between them in one transaction.

        ``dependencies`` are ``(child_index, parent_index)`` pairs into ``items``.
        Returns one ``Instance`` per item, in order. With ``on_conflict="error"`` an
        instance that already exists for the same (workspace, env, run type, run key,
        node, cycle) raises ``Conflict`` and nothing is written; with ``"ignore"`` the
        existing instance is returned in its place (and dependencies are still added).
        """
        if on_conflict not in ("error", "ignore"):
            raise ValueError(f"on_conflict must be 'error' or 'ignore', not {on_conflict!r}")
        items = builtins.list(items)
        pairs = _check_pairs(dependencies, len(items))
        if not items:
            return []
        now = utcnow()
        rows = [_row_for(item, now) for item in items]
        if on_conflict == "error":
            self._refuse_duplicates(rows)
        for _ in range(_IGNORE_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    if on_conflict == "error":
                        created = self._insert_new(conn, rows)
                        insert_rows(
                            conn,
                            _deps,
                            _edge_rows({(created[c].id, created[p].id) for c, p in pairs}),
                        )
                    else:
                        created = self._insert_missing(conn, rows)
                        self._insert_edges(
                            conn, sorted({(created[c].id, created[p].id) for c, p in pairs})
                        )
                return created
            except sa.exc.IntegrityError as exc:
                # "ignore": another writer inserted some of these rows since we looked
                if on_conflict == "error":
                    raise self._conflict_for(rows) from exc
                error = exc
        raise Conflict("could not create the instances: other writers kept conflicting") from error

    def add_dependencies(self, edges: Iterable[tuple[int, int]]) -> int:
        """Link existing instances: ``(instance_id, upstream_instance_id)`` pairs.

        Pairs already present are skipped; returns how many pairs were given.
        ``NotFound`` when an id does not exist.
        """
        pairs = sorted(set(edges))
        for child, parent in pairs:
            if child == parent:
                raise ValueError(f"instance {child} cannot depend on itself")
        if not pairs:
            return 0
        try:
            with self._db.write() as conn:
                self._insert_edges(conn, pairs)
        except sa.exc.IntegrityError as exc:
            raise NotFound("an instance in these dependencies does not exist") from exc
        return len(pairs)

    @staticmethod
    def _refuse_duplicates(rows: Sequence[Mapping[str, Any]]) -> None:
        seen: set[Key] = set()
        for row in rows:
            key = _key(row)
            if key in seen:
                raise Conflict(f"the same instance is listed twice: {_describe(key)}")
            seen.add(key)

    @staticmethod
    def _insert_new(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> builtins.list[Instance]:
        if not rows:
            return []
        ids = allocate_ids(conn, instances, len(rows))
        full = [{"id": id_, **row} for row, id_ in zip(rows, ids, strict=True)]
        # writers that overlap take the unique-index locks in the same (key) order,
        # so two schedulers planning the same cycles wait for each other, not deadlock
        insert_rows(conn, instances, sorted(full, key=_key))
        return [instance_from_mapping(row) for row in full]

    def _insert_missing(
        self, conn: sa.Connection, rows: Sequence[dict[str, Any]]
    ) -> builtins.list[Instance]:
        unique: dict[Key, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(_key(row), row)
        found = self._select_by_keys(conn, builtins.list(unique))
        missing = [row for key, row in unique.items() if key not in found]
        for instance in self._insert_new(conn, missing):
            found[_instance_key(instance)] = instance
        return [found[_key(row)] for row in rows]

    @staticmethod
    def _select_by_keys(conn: sa.Connection, keys: Sequence[Key]) -> dict[Key, Instance]:
        """The existing instances with these keys.

        Keys are grouped by (workspace, env, run type, run key); each group is fetched
        by node and the group's cycle range through the unique index, then filtered.
        """
        groups: dict[tuple[str, str, str, str], builtins.list[Key]] = {}
        for key in keys:
            groups.setdefault(key[:4], []).append(key)
        wanted = set(keys)
        found: dict[Key, Instance] = {}
        for (workspace, env, run_type, run_key), members in groups.items():
            nodes = sorted({key[4] for key in members})
            cycles = [key[5] for key in members]
            for chunk in chunked(nodes):
                query = sa.select(instances).where(
                    instances.c.workspace == workspace,
                    instances.c.env == env,
                    instances.c.run_type == run_type,
                    instances.c.run_key == run_key,
                    instances.c.node_key.in_(chunk),
                    instances.c.cycle_time.between(min(cycles), max(cycles)),
                )
                for row in conn.execute(query):
                    key = _key(row._mapping)
                    if key in wanted:
                        found[key] = instance_from_mapping(row._mapping)
        return found

    @staticmethod
    def _insert_edges(conn: sa.Connection, edges: Sequence[tuple[int, int]]) -> None:
        if edges:
            conn.execute(insert_ignoring(conn, _deps), _edge_rows(edges))

    def _conflict_for(self, rows: Sequence[Mapping[str, Any]]) -> Conflict:
        with self._db.read() as conn:
            existing = self._select_by_keys(conn, [_key(row) for row in rows])
        if existing:
            key, instance = next(iter(existing.items()))
            return Conflict(
                f"an instance already exists for {_describe(key)} (id {instance.id})",
                hint="pass on_conflict='ignore' to reuse existing instances",
            )
        return Conflict("the instances conflict with existing rows (run or instance missing?)")

    # -- reading --------------------------------------------------------------------

    def get(self, id: int) -> Instance:
        """The instance with this id; ``NotFound`` if there is none."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(instances).where(instances.c.id == id)).one_or_none()
        if row is None:
            raise NotFound(f"instance {id} does not exist")
        return instance_from_mapping(row._mapping)

    def get_many(self, ids: Iterable[int]) -> builtins.list[Instance]:
        """The instances with these ids that exist, ordered by id."""
        wanted = sorted(set(ids))
        found: builtins.list[Instance] = []
        with self._db.read() as conn:
            for chunk in chunked(wanted):
                query = (
                    sa.select(instances).where(instances.c.id.in_(chunk)).order_by(instances.c.id)
                )
                found.extend(instances_from_rows(conn.execute(query)))
        return found

    def list(
        self,
        *,
        workspace: str | None = None,
        env: str | None = None,
        run_id: int | None = None,
        states: Iterable[InstanceState | str] | None = None,
        node_keys: Iterable[str] | None = None,
        bizdate: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        run_type: RunType | str | None = None,
        cycle_from: datetime | None = None,
        cycle_to: datetime | None = None,
        after_id: int | None = None,
        limit: int = 100,
        order: Literal["asc", "desc"] = "asc",
    ) -> builtins.list[Instance]:
        """A page of instances matching every given filter, ordered by id.

        Keyset pagination: pass the last id of a page as ``after_id`` to get the next
        one (ids above it for ``asc``, below it for ``desc``). ``cycle_from`` is
        inclusive and ``cycle_to`` exclusive.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        c = instances.c
        conditions: builtins.list[sa.ColumnElement[bool]] = []
        equals: dict[str, object] = {
            "workspace": workspace,
            "env": env,
            "run_id": run_id,
            "bizdate": bizdate,
            "workflow": workflow,
            "owner": owner,
            "run_type": None if run_type is None else RunType(run_type).value,
        }
        conditions.extend(c[name] == value for name, value in equals.items() if value is not None)
        if states is not None:
            conditions.append(c.state.in_(sorted(s.value for s in states_of(states))))
        if node_keys is not None:
            conditions.append(c.node_key.in_(sorted(set(node_keys))))
        if cycle_from is not None:
            conditions.append(c.cycle_time >= to_utc_naive(cycle_from))
        if cycle_to is not None:
            conditions.append(c.cycle_time < to_utc_naive(cycle_to))
        if after_id is not None:
            conditions.append(c.id > after_id if order == "asc" else c.id < after_id)
        query = (
            sa.select(instances)
            .where(*conditions)
            .order_by(c.id.asc() if order == "asc" else c.id.desc())
            .limit(limit)
        )
        with self._db.read() as conn:
            return instances_from_rows(conn.execute(query))

    def upstream_ids(self, id: int) -> builtins.list[int]:
        """Ids of the instances this one waits for, ascending."""
        query = (
            sa.select(_deps.c.upstream_instance_id)
            .where(_deps.c.instance_id == id)
            .order_by(_deps.c.upstream_instance_id)
        )
        with self._db.read() as conn:
            return builtins.list(conn.execute(query).scalars())

    def downstream_ids(self, id: int) -> builtins.list[int]:
        """Ids of the instances waiting for this one, ascending."""
        query = (
            sa.select(_deps.c.instance_id)
            .where(_deps.c.upstream_instance_id == id)
            .order_by(_deps.c.instance_id)
        )
        with self._db.read() as conn:
            return builtins.list(conn.execute(query).scalars())

    def dependencies_for(self, ids: Iterable[int]) -> dict[int, builtins.list[int]]:
        """For each id, the ids of its upstream instances (ascending; ``[]`` if none)."""
        wanted = sorted(set(ids))
        result: dict[int, builtins.list[int]] = {id_: [] for id_ in wanted}
        with self._db.read() as conn:
            for chunk in chunked(wanted):
                query = (
                    sa.select(_deps.c.instance_id, _deps.c.upstream_instance_id)
                    .where(_deps.c.instance_id.in_(chunk))
                    .order_by(_deps.c.instance_id, _deps.c.upstream_instance_id)
                )
                for child, parent in conn.execute(query):
                    result[child].append(parent)
        return result

    # -- changing state -------------------------------------------------------------

    def transition(
        self,
        id: int,
        to_state: InstanceState | str,
        *,
        expected: Iterable[InstanceState | str] | None = None,
        reason: str | None = None,
        actor: str = "system",
        action: str = "transition",
        **fields: Any,
    ) -> Instance | None:
        """Compare-and-set the state; ``None`` when the current state is not ``expected``.

        Records an ``instance_events`` row, sets the timestamps (see
        ``transitions.state_changes``) and any extra instance columns in ``fields``.
        ``NotFound`` if the instance does not exist.
        """
        target = InstanceState(to_state)
        allowed = None if expected is None else states_of(expected)
        values = settable_values(fields)
        with self._db.write() as conn:
            current = conn.execute(
                sa.select(instances.c.state).where(instances.c.id == id).with_for_update()
            ).scalar_one_or_none()
            if current is None:
                raise NotFound(f"instance {id} does not exist")
            if allowed is not None and InstanceState(current) not in allowed:
                return None
            now = utcnow()
            row = conn.execute(
                sa.update(instances)
                .where(instances.c.id == id, instances.c.state == current)
                .values(state_changes(target, now, reason, values))
                .returning(*instances.c)
            ).one_or_none()
            if row is None:
                return None
            add_events(
                conn,
                [
                    {
                        "instance_id": id,
                        "created_at": now,
                        "actor": actor,
                        "action": action,
                        "from_state": current,
                        "to_state": target.value,
                        "detail": reason,
                    }
                ],
            )
        return instance_from_mapping(row._mapping)

    def set_many_state(
        self,
        ids: Iterable[int],
        to_state: InstanceState | str,
        reason: str | None = None,
        actor: str = "system",
        *,
        expected: Iterable[InstanceState | str] | None = None,
        action: str = "transition",
    ) -> int:
        """Move many instances to ``to_state`` in one transaction, with one event each.

        With ``expected``, only instances currently in one of those states move.
        Unknown ids are skipped. Returns how many instances changed.
        """
        target = InstanceState(to_state)
        allowed = None if expected is None else sorted(s.value for s in states_of(expected))
        wanted = sorted(set(ids))
        changed = 0
        with self._db.write() as conn:
            for chunk in chunked(wanted):
                query = sa.select(instances.c.id, instances.c.state).where(
                    instances.c.id.in_(chunk)
                )
                if allowed is not None:
                    query = query.where(instances.c.state.in_(allowed))
                locked = query.order_by(instances.c.id).with_for_update()
                current = {row[0]: row[1] for row in conn.execute(locked)}
                if not current:
                    continue
                now = utcnow()
                conn.execute(
                    sa.update(instances)
                    .where(instances.c.id.in_(sorted(current)))
                    .values(state_changes(target, now, reason, {}))
                )
                add_events(
                    conn,
                    [
                        {
                            "instance_id": id_,
                            "created_at": now,
                            "actor": actor,
                            "action": action,
                            "from_state": state,
                            "to_state": target.value,
                            "detail": reason,
                        }
                        for id_, state in sorted(current.items())
                    ],
                )
                changed += len(current)
        return changed

    def record_event(
        self, id: int, action: str, *, actor: str = "system", detail: str | None = None
    ) -> InstanceEvent:
        """Record an operator action or note that is not a state change."""
        values = {
            "instance_id": id,
            "created_at": utcnow(),
            "actor": actor,
            "action": action,
            "from_state": None,
            "to_state": None,
            "detail": detail,
        }
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    sa.insert(instance_events).values(values).returning(*instance_events.c)
                ).one()
        except sa.exc.IntegrityError as exc:
            raise NotFound(f"instance {id} does not exist") from exc
        return event_from_row(row)

    def events(self, id: int) -> builtins.list[InstanceEvent]:
        """Every recorded state change and action of the instance, oldest first."""
        query = (
            sa.select(instance_events)
            .where(instance_events.c.instance_id == id)
            .order_by(instance_events.c.id)
        )
        with self._db.read() as conn:
            return [event_from_row(row) for row in conn.execute(query)]
