"""Time triggers: when each live instance would fire each time rule, kept in a heap.

Live (unfinished) instances of the lookback window are read at most every
``REFRESH``; for every (rule, instance) the moment the trigger would fire is computed
once and pushed on a heap, so a pass only pops what came due. Instances that finish
are dropped as their signals arrive. Between reloads an instance that started or
queued after the last read is seen at the next reload (at most ``REFRESH`` late).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from lakeworks.alerts.history import RunHistory
from lakeworks.alerts.models import RuleConfig, TriggerType
from lakeworks.schedule.cycles import local_midnight
from lakeworks.store.models import InstanceState as S
from lakeworks.store.schema import instance_events, instances
from lakeworks.store.statements import chunked

UNFINISHED = sorted(s.value for s in S if s not in (S.SUCCESS, S.SKIPPED, S.FROZEN))
"""States of an instance that is not finished (a frozen one is left alone on purpose)."""
LOOKBACK = timedelta(days=2)
"""How far back unfinished cycles are watched."""
REFRESH = timedelta(seconds=60)
_TINY = timedelta(microseconds=1)


def states_for(trigger: TriggerType) -> frozenset[str]:
    """The instance states a time trigger can fire in."""
    if trigger is TriggerType.RUN_TIME_OVER:
        return frozenset({S.RUNNING.value})
    if trigger is TriggerType.QUEUE_WAITING_OVER:
        return frozenset({S.WAITING_RESOURCES.value})
    return frozenset(UNFINISHED)


def time_scans(rules: Iterable[RuleConfig]) -> list[tuple[list[str], list[str] | None]]:
    """The reads of live instances the time rules need: ``(states, nodes or None)``.

    Rules on named nodes read only those nodes; rules on the workspace, workflows or
    resource groups read every node, but only in the states their trigger fires in.
    """
    broad: set[str] = set()
    narrow: set[str] = set()
    nodes: set[str] = set()
    for rule in rules:
        o = rule.objects
        states = states_for(rule.trigger.type)
        if o.workspace or o.workflows or o.resource_groups:
            broad |= states
        if o.nodes:
            narrow |= states
            nodes.update(o.nodes)
    scans: list[tuple[list[str], list[str] | None]] = []
    if broad:
        scans.append((sorted(broad), None))
    if narrow:
        scans.append((sorted(narrow), sorted(nodes)))
    return scans


class Timers:
    """The due time triggers of one workspace environment."""

    def __init__(
        self,
        workspace: str,
        env: str,
        zone: ZoneInfo,
        rules: list[RuleConfig],
        rules_of: Any,
        history: RunHistory,
    ) -> None:
        self.workspace = workspace
        self.env = env
        self.zone = zone
        self.rules = {r.name: r for r in rules}
        self.rules_of = rules_of
        """``(node_key, workflow, group) -> rules`` watching that instance."""
        self.history = history
        self.scans = time_scans(rules)
        self.rows: dict[int, Any] = {}
        self.queued_since: dict[int, datetime] = {}
        self._heap: list[tuple[datetime, int, str, int]] = []
        self._loaded_at: datetime | None = None

    def finished(self, ids: Iterable[int]) -> None:
        """Forget instances that finished (their triggers no longer fire)."""
        for id_ in ids:
            self.rows.pop(id_, None)

    def due(
        self, conn: sa.Connection, now: datetime, skip: set[tuple[str, str]]
    ) -> list[tuple[RuleConfig, Any, str]]:
        """``(rule, instance row, message)`` of every trigger due at ``now``, once each;
        pairs in ``skip`` (open incidents: ``(rule, "instance:<id>")``) are left out."""
        if not self.scans:
            return []
        loaded = self._loaded_at
        if loaded is None or now - loaded >= REFRESH or now < loaded:
            self._load(conn, now)
        out = []
        while self._heap and self._heap[0][0] <= now:
            _, _, name, id_ = heapq.heappop(self._heap)
            row, rule = self.rows.get(id_), self.rules.get(name)
            if row is None or rule is None or (name, f"instance:{id_}") in skip:
                continue
            out.append((rule, row, self.message(rule, row, now)))
        return out

    def _load(self, conn: sa.Connection, now: datetime) -> None:
        self.rows = {}
        for states, nodes in self.scans:
            for row in self._live(conn, now, states, nodes):
                self.rows[row.id] = row
        waiting = [r.id for r in self.rows.values() if r.state == S.WAITING_RESOURCES.value]
        self.queued_since = _queued_since(conn, waiting)
        heap: list[tuple[datetime, int, str, int]] = []
        for row in self.rows.values():
            for rule in self.rules_of(row.node_key, row.workflow, row.resource_group):
                at = self.fires_at(rule, row)
                if at is not None:
                    heap.append((at, len(heap), rule.name, row.id))
        heapq.heapify(heap)
        self._heap = heap
        self._loaded_at = now

    def _live(
        self, conn: sa.Connection, now: datetime, states: list[str], nodes: list[str] | None
    ) -> list[Any]:
        i = instances.c
        query = sa.select(
            i.id,
            i.node_key,
            i.workflow,
            i.resource_group,
            i.owner,
            i.cycle_time,
            i.state,
            i.started_at,
        ).where(
            i.workspace == self.workspace,
            i.env == self.env,
            i.state.in_(states),
            i.cycle_time <= now,
            i.cycle_time >= now - LOOKBACK,
        )
        if nodes is None:
            return list(conn.execute(query))
        found: list[Any] = []
        for chunk in chunked(nodes):
            found.extend(conn.execute(query.where(i.node_key.in_(chunk))))
        return found

    def fires_at(self, rule: RuleConfig, row: Any) -> datetime | None:
        """When ``rule`` fires for this instance if it stays as it is (None: never)."""
        t = rule.trigger
        cycle: datetime = row.cycle_time
        if t.type is TriggerType.NOT_FINISHED_BY and t.deadline is not None:
            local_day = cycle.replace(tzinfo=UTC).astimezone(self.zone).date()
            deadline = local_midnight(local_day, self.zone) + t.deadline
            return deadline.astimezone(UTC).replace(tzinfo=None)
        if t.type is TriggerType.CYCLE_OVERDUE and t.minutes:
            return cycle + timedelta(minutes=t.minutes)
        if t.type is TriggerType.RUN_TIME_OVER and row.state == S.RUNNING.value:
            limit = self._limit(rule, row.node_key)
            if limit is None or row.started_at is None:
                return None
            started: datetime = row.started_at
            return started + limit + _TINY
        if t.type is TriggerType.QUEUE_WAITING_OVER and t.minutes:
            since = self.queued_since.get(row.id)
            return None if since is None else since + timedelta(minutes=t.minutes)
        return None

    def _limit(self, rule: RuleConfig, node_key: str) -> timedelta | None:
        t = rule.trigger
        if t.minutes is not None:
            return timedelta(minutes=t.minutes)
        usual = self.history.mean(node_key)
        return None if usual is None else usual * (t.factor or 1)

    def message(self, rule: RuleConfig, row: Any, now: datetime) -> str:
        t = rule.trigger
        if t.type is TriggerType.NOT_FINISHED_BY:
            return f"not finished by {t.at}"
        if t.type is TriggerType.CYCLE_OVERDUE:
            return f"not finished {t.minutes:g} min after its cycle time"
        if t.type is TriggerType.RUN_TIME_OVER:
            ran = (now - row.started_at).total_seconds() / 60
            limit = self._limit(rule, row.node_key) or timedelta(0)
            return f"running {ran:.1f} min (limit {limit.total_seconds() / 60:.1f} min)"
        return f"waiting for resources in '{row.resource_group}' over {t.minutes:g} min"


def _queued_since(conn: sa.Connection, ids: list[int]) -> dict[int, datetime]:
    e = instance_events.c
    out: dict[int, datetime] = {}
    for chunk in chunked(ids):
        rows = conn.execute(
            sa.select(e.instance_id, sa.func.max(e.created_at))
            .where(e.instance_id.in_(chunk), e.to_state == S.WAITING_RESOURCES.value)
            .group_by(e.instance_id)
        )
        out.update((int(i), at) for i, at in rows)
    return out
