"""Baselines in the store: today's key instances, their ancestors, the prediction, alerts.

For every baseline and live period (today and yesterday for daily baselines, this
hour and the last for hourly ones) the tracker finds the key instances, walks their
stored dependency edges to the ancestors, predicts with ``schedule.baselines.predict``,
records ``baseline_status``, raises the ancestors' priority to the baseline's (so a
full resource group runs them first) and opens incidents on warning, breach and
key-path events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lakeworks.alerts.history import RunHistory
from lakeworks.alerts.incidents import IncidentWriter, Subject, recipients
from lakeworks.alerts.loader import AlertSet
from lakeworks.alerts.models import BaselineConfig, RuleConfig, TriggerType
from lakeworks.alerts.tables import baseline_status
from lakeworks.schedule.baselines import (
    DONE_STATES,
    BaselineState,
    History,
    Observed,
    predict,
)
from lakeworks.schedule.cycles import load_zone, local_midnight
from lakeworks.schedule.dependencies import InstanceKey
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState
from lakeworks.store.schema import instance_dependencies, instances
from lakeworks.store.statements import chunked

EDGES_REFRESH = timedelta(minutes=5)
PREDICT_EVERY = timedelta(seconds=30)
"""A baseline whose instances did not change is predicted again after this."""
MOVED = frozenset(
    s.value
    for s in (
        InstanceState.RUNNING,
        InstanceState.SUCCESS,
        InstanceState.SKIPPED,
        InstanceState.FAILED,
        InstanceState.STOPPED,
    )
)
"""States the prediction needs to see (any other is waiting)."""
BUMPABLE = [
    s.value
    for s in (
        InstanceState.WAITING_TIME,
        InstanceState.WAITING_UPSTREAM,
        InstanceState.WAITING_RESOURCES,
        InstanceState.NOT_RUN,
    )
]


@dataclass
class _Period:
    """The instance graph of one baseline period, cached between passes."""

    key_ids: list[int]
    upstream: dict[int, list[int]]
    keys: dict[int, InstanceKey]
    """(node, cycle) of every instance of the period."""
    loaded_at: datetime
    state: str | None = None
    """The state alerted on last (None: not yet in this process)."""
    events: set[str] = field(default_factory=set)
    written: tuple[str, ...] | None = None
    """What ``baseline_status`` holds, so that an unchanged prediction is not rewritten."""
    stored: bool = False
    pending: list[int] = field(default_factory=list)
    """Instances of the period not seen done yet."""
    final: bool = False
    """Every key instance is done: nothing changes until the graph is reloaded."""
    seen: int | None = None
    """A hash of the observed states the last prediction was made from."""
    predicted_at: datetime | None = None


class BaselineTracker:
    def __init__(
        self,
        db: Database,
        workspace: Workspace,
        env: str,
        alerts: AlertSet,
        rules: dict[str, RuleConfig],
        writer: IncidentWriter,
        history: RunHistory,
    ) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env
        self.alerts = alerts
        self.rules = rules
        self.writer = writer
        self.history = history
        self.zone = load_zone(workspace.config.timezone)
        self._periods: dict[tuple[str, datetime], _Period] = {}
        self._done: dict[int, Observed] = {}
        self._moving: dict[int, Observed] = {}
        """Instances last seen running, failed or stopped."""
        self._reloaded = True
        """Instances seen done; read again when the period graphs are reloaded (reruns)."""
        self._nodes: set[str] = set()

    def forget(self) -> None:
        """Drop what is cached of the store (after a failed transaction)."""
        self._periods.clear()
        self._done.clear()
        self._moving.clear()
        self._reloaded = True

    def history_nodes(self) -> set[str]:
        """Nodes whose run times the predictions need (known after the first pass)."""
        return set(self._nodes) | {k for b in self.alerts.baselines.values() for k in b.nodes}

    def periods(self, baseline: BaselineConfig, now: datetime) -> list[tuple[datetime, datetime]]:
        """Live ``(period start, committed finish)`` pairs, UTC-naive."""
        aware = now.replace(tzinfo=UTC)
        out = []
        if baseline.period == "hourly":
            hour = aware.replace(minute=0, second=0, microsecond=0)
            for start in (hour - timedelta(hours=1), hour):
                out.append((start, start + baseline.offset))
        else:
            today = aware.astimezone(self.zone).date()
            for day in (today - timedelta(days=1), today):
                start = local_midnight(day, self.zone)
                out.append((start, start + baseline.offset))
        return [(_naive(s), _naive(c)) for s, c in out]

    def update(self, conn: sa.Connection, now: datetime) -> int:
        if not self.alerts.baselines:
            return 0
        live: list[tuple[BaselineConfig, datetime, datetime, _Period]] = []
        for baseline in self.alerts.baselines.values():
            length = timedelta(hours=1) if baseline.period == "hourly" else timedelta(days=1)
            for start, committed in self.periods(baseline, now):
                period = self._period(conn, baseline, start, start + length, now)
                if period is not None and not period.final:
                    live.append((baseline, start, committed, period))
        self.prune(
            {
                (b.name, start)
                for b in self.alerts.baselines.values()
                for start, _ in self.periods(b, now)
            }
        )
        observed = self._observe_live(conn, [p for *_, p in live])
        if self._reloaded:
            self._nodes = {k[0] for *_, p in live for k in p.keys.values()}
            self.history.ensure(self._nodes)
            self._reloaded = False
        history = self.history.as_history()
        for baseline, start, committed, period in live:
            seen = hash(tuple(observed.get(i) for i in period.pending))
            last = period.predicted_at
            if seen == period.seen and last is not None and last <= now < last + PREDICT_EVERY:
                continue  # nothing moved: the last prediction stands a little longer
            self._predict(conn, baseline, start, committed, period, observed, history, now)
            period.seen, period.predicted_at = seen, now
            period.final = all(
                (o := observed.get(i)) is not None and o.state in DONE_STATES
                for i in period.key_ids
            )
        return len(live)

    def _observe_live(self, conn: sa.Connection, periods: list[_Period]) -> dict[int, Observed]:
        """The started and finished instances of ``periods``.

        Only instances that may have moved since the last pass are read: those seen
        running or failed, and waiting ones whose upstream is all done (the others
        cannot have started). Done ones are kept; a graph reload reads everything again.
        """
        done, moving = self._done, self._moving
        checked: set[int] = set()
        while True:  # a finished instance lets its children be read in the same pass
            candidates = {
                id_
                for period in periods
                for id_ in period.pending
                if id_ not in done
                and id_ not in checked
                and (id_ in moving or all(p in done for p in period.upstream[id_]))
            }
            if not candidates:
                break
            checked |= candidates
            fresh = self._observe(conn, sorted(candidates))
            for id_ in candidates:
                obs = fresh.get(id_)
                if obs is None:
                    moving.pop(id_, None)
                elif obs.state in DONE_STATES:
                    done[id_] = obs
                    moving.pop(id_, None)
                else:
                    moving[id_] = obs
        observed: dict[int, Observed] = {}
        for period in periods:
            period.pending = [i for i in period.pending if i not in done]
            for id_ in period.upstream:
                obs = done.get(id_) or moving.get(id_)
                if obs is not None:
                    observed[id_] = obs
        return observed

    def _period(
        self,
        conn: sa.Connection,
        baseline: BaselineConfig,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> _Period | None:
        cached = self._periods.get((baseline.name, start))
        # spread the reloads of many baselines over a minute instead of one pass
        refresh = EDGES_REFRESH + timedelta(seconds=sum(map(ord, baseline.name)) % 60)
        if cached is not None and (cached.final or now - cached.loaded_at < refresh):
            return cached
        i = instances.c
        key_ids = list(
            conn.execute(
                sa.select(i.id).where(
                    i.workspace == self.workspace.name,
                    i.env == self.env,
                    i.run_key == "schedule",
                    i.node_key.in_(baseline.nodes),
                    i.cycle_time >= start,
                    i.cycle_time < end,
                )
            ).scalars()
        )
        if not key_ids:
            return None
        upstream: dict[int, list[int]] = {id_: [] for id_ in key_ids}
        for child, parent in conn.execute(_ancestor_edges(key_ids)):
            upstream.setdefault(child, []).append(parent)
            upstream.setdefault(parent, [])
        period = _Period(key_ids, upstream, self._keys(conn, sorted(upstream)), now)
        period.pending = sorted(upstream)
        for id_ in upstream:
            self._done.pop(id_, None)
            self._moving.pop(id_, None)
        self._reloaded = True
        if cached is not None:
            period.state, period.events = cached.state, cached.events
            period.written, period.stored = cached.written, cached.stored
            period.seen, period.predicted_at = cached.seen, cached.predicted_at
        self._periods[(baseline.name, start)] = period
        self._bump(conn, baseline, sorted(set(upstream) | set(key_ids)))
        return period

    def prune(self, live: set[tuple[str, datetime]]) -> None:
        """Forget periods that are no longer live."""
        for key in [k for k in self._periods if k not in live]:
            del self._periods[key]

    def _bump(self, conn: sa.Connection, baseline: BaselineConfig, ids: list[int]) -> None:
        """Give the baseline's waiting instances at least its priority."""
        i = instances.c
        for chunk in chunked(ids):
            conn.execute(
                sa.update(instances)
                .where(
                    i.id.in_(chunk),
                    i.state.in_(BUMPABLE),
                    i.priority < baseline.priority,
                )
                .values(priority=baseline.priority)
            )

    @staticmethod
    def _keys(conn: sa.Connection, ids: list[int]) -> dict[int, InstanceKey]:
        i = instances.c
        out: dict[int, InstanceKey] = {}
        for chunk in chunked(ids):
            query = sa.select(i.id, i.node_key, i.cycle_time).where(i.id.in_(chunk))
            out.update((id_, (node, cycle)) for id_, node, cycle in conn.execute(query))
        return out

    @staticmethod
    def _observe(conn: sa.Connection, ids: list[int]) -> dict[int, Observed]:
        """Instances that started or finished; the others are waiting (left out)."""
        i = instances.c
        out: dict[int, Observed] = {}
        for chunk in chunked(ids):
            # by primary key only: with a state condition SQLite may scan a state index
            query = sa.select(i.id, i.state, i.started_at, i.finished_at).where(i.id.in_(chunk))
            for id_, state, started, finished in conn.execute(query):
                if state in MOVED:
                    out[id_] = Observed(InstanceState(state), started, finished)
        return out

    def _predict(
        self,
        conn: sa.Connection,
        baseline: BaselineConfig,
        start: datetime,
        committed: datetime,
        period: _Period,
        observed: dict[int, Observed],
        history: History,
        now: datetime,
    ) -> None:
        keys = period.keys
        known = [i for i in period.key_ids if i in keys]
        if not known:
            return
        upstream = {
            keys[child]: [keys[p] for p in parents if p in keys]
            for child, parents in period.upstream.items()
            if child in keys
        }
        states = {keys[i]: observed[i] for i in period.upstream if i in observed and i in keys}
        p = predict(
            [keys[i] for i in known], upstream, states, history, now, committed, baseline.margin
        )
        path = [f"{n}@{c:%Y-%m-%d %H:%M}" for n, c in p.key_path]
        events = [
            {
                "kind": e.kind.value,
                "instance": f"{e.key[0]}@{e.key[1]:%Y-%m-%d %H:%M}",
                "detail": e.detail,
            }
            for e in p.events
        ]
        path_json, events_json = json.dumps(path), json.dumps(events)
        minute = p.predicted_finish.replace(second=0, microsecond=0)
        signature = (p.state.value, minute.isoformat(), path_json, events_json)
        if signature != period.written:
            self._write(
                conn,
                baseline,
                start,
                committed,
                p.state,
                p.predicted_finish,
                signature,
                period,
                now,
            )
        fresh = [e for e in events if f"{e['kind']}:{e['instance']}" not in period.events]
        if p.state.value != period.state or fresh:
            changed = p.state.value != period.state
            self._alert(
                conn, baseline, start, p.state, fresh, path, p.predicted_finish, now, changed
            )
            period.state = p.state.value
            period.events.update(f"{e['kind']}:{e['instance']}" for e in fresh)

    def _write(
        self,
        conn: sa.Connection,
        baseline: BaselineConfig,
        start: datetime,
        committed: datetime,
        state: BaselineState,
        predicted: datetime,
        signature: tuple[str, str, str, str],
        period: _Period,
        now: datetime,
    ) -> None:
        values = {
            "priority": baseline.priority,
            "committed_at": committed,
            "state": state.value,
            "predicted_finish": predicted,
            "key_path_json": signature[2],
            "events_json": signature[3],
            "updated_at": now,
        }
        b = baseline_status.c
        where = (
            b.workspace == self.workspace.name,
            b.env == self.env,
            b.baseline == baseline.name,
            b.period == start,
        )
        if not period.stored:
            period.stored = (
                conn.execute(sa.select(b.state).where(*where)).scalar_one_or_none() is not None
            )
        if period.stored:
            conn.execute(sa.update(baseline_status).where(*where).values(values))
        else:
            conn.execute(
                sa.insert(baseline_status).values(
                    workspace=self.workspace.name,
                    env=self.env,
                    baseline=baseline.name,
                    period=start,
                    **values,
                )
            )
            period.stored = True
        period.written = signature

    def _rules(self, baseline: str, trigger: TriggerType) -> list[RuleConfig]:
        return [
            r
            for r in self.rules.values()
            if r.trigger.type is trigger
            and (baseline in r.objects.baselines or r.objects.workspace)
        ]

    def _alert(
        self,
        conn: sa.Connection,
        baseline: BaselineConfig,
        start: datetime,
        state: BaselineState,
        events: list[dict[str, str]],
        path: list[str],
        predicted: datetime,
        now: datetime,
        changed: bool,
    ) -> None:
        base = f"baseline:{baseline.name}:{start:%Y-%m-%dT%H:%M}"
        label = f"baseline {baseline.name} ({start:%Y-%m-%d %H:%M})"
        finish = f"predicted finish {predicted:%Y-%m-%d %H:%M} UTC"
        slowest = f"key path: {' -> '.join(path[-5:])}"
        groups = self.alerts.groups
        if changed and state in (BaselineState.WARNING, BaselineState.BREACHED):
            for rule in self._rules(baseline.name, TriggerType.BASELINE_WARNING):
                subject = Subject(f"{base}:warning", None, f"{label} is at risk: {finish}")
                self.writer.open(
                    conn,
                    rule,
                    "baseline_warning",
                    subject,
                    slowest,
                    recipients(rule, None, groups),
                    now,
                )
        if changed and state is BaselineState.BREACHED:
            for rule in self._rules(baseline.name, TriggerType.BASELINE_BREACHED):
                subject = Subject(f"{base}:breached", None, f"{label} breached: {finish}")
                self.writer.open(
                    conn,
                    rule,
                    "baseline_breached",
                    subject,
                    slowest,
                    recipients(rule, None, groups),
                    now,
                )
        for event in events:
            for rule in self._rules(baseline.name, TriggerType.BASELINE_EVENT):
                subject = Subject(
                    f"{base}:{event['kind']}:{event['instance']}",
                    None,
                    f"{label}: {event['instance']} {event['kind']} ({event['detail']})",
                )
                self.writer.open(
                    conn,
                    rule,
                    "baseline_event",
                    subject,
                    finish,
                    recipients(rule, None, groups),
                    now,
                )
        if changed and state in (BaselineState.SAFE, BaselineState.FINISHED):
            rules = self.rules

            def people(name: str) -> list[str]:
                rule = rules.get(name)
                return [] if rule is None else recipients(rule, None, groups)

            keys = [f"{base}:warning"]
            if state is BaselineState.FINISHED:
                keys.append(f"{base}:breached")
            self.writer.close(conn, self.rules, keys, now, f"{label}: {state.value}", people)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _ancestor_edges(key_ids: list[int]) -> Any:
    """Every dependency edge above ``key_ids``, in one recursive query."""
    d = instance_dependencies.c
    seed = sa.select(d.upstream_instance_id.label("id")).where(d.instance_id.in_(key_ids))
    above = seed.cte("ancestors", recursive=True)
    above = above.union(sa.select(d.upstream_instance_id).join(above, d.instance_id == above.c.id))
    return sa.select(d.instance_id, d.upstream_instance_id).where(
        sa.or_(d.instance_id.in_(key_ids), d.instance_id.in_(sa.select(above.c.id)))
    )
