"""One evaluation pass: signals and live instances against the rules, baselines predicted.

Runs after each scheduler pass (``alerts.plugin``), in one store transaction: the
signals it consumes are deleted in the transaction that opens their incidents and
queues their deliveries, so a crash repeats a pass instead of losing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC as _UTC
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lakeworks.alerts.baseline_tracker import BaselineTracker
from lakeworks.alerts.history import RunHistory
from lakeworks.alerts.incidents import IncidentWriter, Subject, recipients
from lakeworks.alerts.loader import AlertSet
from lakeworks.alerts.models import INSTANCE_TRIGGERS, TIME_TRIGGERS, RuleConfig, TriggerType
from lakeworks.alerts.tables import alert_signals
from lakeworks.alerts.timers import Timers
from lakeworks.integration.tables import sync_runs
from lakeworks.quality.tables import quality_results
from lakeworks.schedule.cycles import load_zone
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState
from lakeworks.store.schema import instances

S = InstanceState
SIGNAL_BATCH = 5000
SIGNAL_TTL = timedelta(days=7)
REPEAT_EVERY = timedelta(seconds=30)
"""Open incidents are looked at for their next alert at most this often."""
"""Signals nobody consumed (instances of another environment) are dropped after this."""


@dataclass
class PassReport:
    signals: int = 0
    opened: int = 0
    closed: int = 0
    repeated: int = 0
    baselines: int = 0
    seconds: float = 0.0


@dataclass
class RuleIndex:
    """Rules by what they watch, so an instance finds its rules without a scan."""

    by_node: dict[str, list[RuleConfig]] = field(default_factory=dict)
    by_workflow: dict[str, list[RuleConfig]] = field(default_factory=dict)
    by_group: dict[str, list[RuleConfig]] = field(default_factory=dict)
    everywhere: list[RuleConfig] = field(default_factory=list)

    @classmethod
    def build(cls, rules: Iterable[RuleConfig]) -> RuleIndex:
        index = cls()
        for rule in rules:
            o = rule.objects
            if o.workspace:
                index.everywhere.append(rule)
            for key in o.nodes:
                index.by_node.setdefault(key, []).append(rule)
            for name in o.workflows:
                index.by_workflow.setdefault(name, []).append(rule)
            for name in o.resource_groups:
                index.by_group.setdefault(name, []).append(rule)
        return index

    def of(self, node_key: str, workflow: str, group: str) -> list[RuleConfig]:
        found = [
            *self.everywhere,
            *self.by_node.get(node_key, ()),
            *self.by_workflow.get(workflow, ()),
            *self.by_group.get(group, ()),
        ]
        seen: set[str] = set()
        out = []
        for rule in found:
            if rule.name not in seen and node_key not in rule.objects.exclude:
                seen.add(rule.name)
                out.append(rule)
        return out


class AlertEvaluator:
    """Evaluates the rules and baselines of one workspace environment."""

    def __init__(
        self,
        db: Database,
        workspace: Workspace,
        env: str,
        alerts: AlertSet,
        extra_rules: dict[str, RuleConfig] | None = None,
    ) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env
        self.alerts = alerts
        self.zone = load_zone(workspace.config.timezone)
        rules = dict(alerts.rules)
        rules.update(extra_rules or {})
        self.rules = {name: rule for name, rule in rules.items() if rule.enabled}
        self.writer = IncidentWriter(workspace.name, env, self.zone)
        self.instance_rules = RuleIndex.build(
            r for r in self.rules.values() if r.trigger.type in INSTANCE_TRIGGERS
        )
        self.time_rules = RuleIndex.build(
            r for r in self.rules.values() if r.trigger.type in TIME_TRIGGERS
        )
        self._repeat_at: datetime | None = None
        self.history = RunHistory(db, workspace.name, env)
        self.timers = Timers(
            workspace.name,
            env,
            self.zone,
            [r for r in self.rules.values() if r.trigger.type in TIME_TRIGGERS],
            self.time_rules.of,
            self.history,
        )
        self.baselines = BaselineTracker(
            db, workspace, env, alerts, self.rules, self.writer, self.history
        )

    def people(self, rule: RuleConfig, owner: str | None) -> list[str]:
        return recipients(rule, owner, self.alerts.groups)

    def people_of(self, owner: str | None) -> Callable[[str], list[str]]:
        """Recipients by rule name, for an instance owned by ``owner``."""

        def of(name: str) -> list[str]:
            rule = self.rules.get(name)
            return [] if rule is None else self.people(rule, owner)

        return of

    def run_once(self, now: datetime) -> PassReport:
        """One pass at ``now`` (aware UTC or UTC-naive)."""
        started = time.perf_counter()
        at = now.replace(tzinfo=None) if now.tzinfo is None else _naive(now)
        report = PassReport()
        if self.history.stale(at):
            self.history.refresh(at, self._history_nodes(), force=True)
        try:
            with self.db.write() as conn:
                self._signals(conn, at, report)
                self._time_triggers(conn, at, report)
                report.baselines = self.baselines.update(conn, at)
                last = self._repeat_at
                if last is None or not last <= at < last + REPEAT_EVERY:
                    self._repeat_at = at
                    people = self.people_of(None)
                    report.repeated = self.writer.repeat_due(conn, self.rules, people, at)
        except BaseException:
            self.writer.forget()  # the cached incidents may hold what was rolled back
            self.baselines.forget()
            self.timers = Timers(
                self.workspace.name,
                self.env,
                self.zone,
                list(self.timers.rules.values()),
                self.time_rules.of,
                self.history,
            )
            raise
        report.seconds = time.perf_counter() - started
        return report

    def _history_nodes(self) -> set[str] | None:
        """Nodes whose run times are needed (None: all of them)."""
        factor = [
            r
            for r in self.rules.values()
            if r.trigger.type is TriggerType.RUN_TIME_OVER and r.trigger.factor
        ]
        if any(
            r.objects.workspace or r.objects.workflows or r.objects.resource_groups for r in factor
        ):
            return None
        nodes = {key for r in factor for key in r.objects.nodes}
        return nodes | self.baselines.history_nodes()

    # -- signals (instance triggers) -----------------------------------------------------

    def _signals(self, conn: sa.Connection, now: datetime, report: PassReport) -> None:
        s, i = alert_signals.c, instances.c
        rows = conn.execute(
            sa.select(
                s.id,
                s.instance_id,
                s.from_state,
                s.to_state,
                s.detail,
                i.node_key,
                i.workflow,
                i.resource_group,
                i.owner,
                i.cycle_time,
                i.attempts,
            )
            .join(instances, i.id == s.instance_id)
            .where(i.workspace == self.workspace.name, i.env == self.env)
            .order_by(s.id)
            .limit(SIGNAL_BATCH)
        ).all()
        report.signals = len(rows)
        if rows:
            quality = self._quality_failures(conn, [r.instance_id for r in rows])
            dirty = self._dirty_rows(conn, [r.instance_id for r in rows])
            succeeded = [r for r in rows if r.to_state == S.SUCCESS.value]
            self.timers.finished(r.instance_id for r in succeeded)
            report.closed += self.writer.close(
                conn,
                self.rules,
                [f"instance:{r.instance_id}" for r in succeeded],
                now,
                "succeeded",
                self.people_of(None),
            )
            for row in rows:
                self._signal(conn, row, quality, dirty, now, report)
            conn.execute(sa.delete(alert_signals).where(s.id.in_([r.id for r in rows])))
        conn.execute(sa.delete(alert_signals).where(s.created_at < now - SIGNAL_TTL))

    def _signal(
        self,
        conn: sa.Connection,
        row: Any,
        quality: dict[int, list[tuple[str, str, str]]],
        dirty: dict[int, int],
        now: datetime,
        report: PassReport,
    ) -> None:
        state = S(row.to_state)
        subject = Subject(
            key=f"instance:{row.instance_id}",
            instance_id=row.instance_id,
            summary=f"{row.node_key} {row.cycle_time:%Y-%m-%d %H:%M}",
            owner=row.owner,
        )
        for rule in self.instance_rules.of(row.node_key, row.workflow, row.resource_group):
            body = self._fires(rule, state, row, quality, dirty)
            if body is None:
                continue
            people = self.people(rule, row.owner)
            title = Subject(subject.key, subject.instance_id, f"{subject.summary}: {body}")
            if self.writer.open(conn, rule, rule.trigger.type.value, title, body, people, now):
                report.opened += 1

    @staticmethod
    def _fires(
        rule: RuleConfig,
        state: InstanceState,
        row: Any,
        quality: dict[int, list[tuple[str, str, str]]],
        dirty: dict[int, int],
    ) -> str | None:
        t = rule.trigger
        detail = f" ({row.detail})" if row.detail else ""
        if t.type is TriggerType.FAILED and state in (S.FAILED, S.WAITING_TIME):
            retry = ", will be retried" if state is S.WAITING_TIME else ""
            return f"attempt {row.attempts} failed{retry}{detail}"
        if t.type is TriggerType.RETRIES_EXHAUSTED and state is S.FAILED:
            return f"failed after {row.attempts} attempt(s){detail}"
        if t.type is TriggerType.SUCCEEDED and state is S.SUCCESS:
            return "succeeded"
        if t.type is TriggerType.QUALITY_FAILED and state in (S.SUCCESS, S.FAILED):
            failed = [
                f"{name} ({strength}): {message}"
                for name, strength, message in quality.get(int(str(row.instance_id)), [])
                if t.strength in ("any", strength)
            ]
            return "quality rule failed: " + "; ".join(failed) if failed else None
        if t.type is TriggerType.DIRTY_ROWS_OVER and state in (S.SUCCESS, S.FAILED):
            count = dirty.get(int(str(row.instance_id)), 0)
            limit = t.count or 0
            return f"{count} dirty rows (limit {limit})" if count > limit else None
        return None

    @staticmethod
    def _quality_failures(
        conn: sa.Connection, ids: list[int]
    ) -> dict[int, list[tuple[str, str, str]]]:
        q = quality_results.c
        found: dict[int, list[tuple[str, str, str]]] = {}
        rows = conn.execute(
            sa.select(q.instance_id, q.rule, q.strength, q.message).where(
                q.instance_id.in_(ids), q.verdict == "fail"
            )
        )
        for instance_id, rule, strength, message in rows:
            found.setdefault(instance_id, []).append((rule, strength, message))
        return found

    @staticmethod
    def _dirty_rows(conn: sa.Connection, ids: list[int]) -> dict[int, int]:
        r = sync_runs.c
        rows = conn.execute(
            sa.select(r.instance_id, sa.func.max(r.rows_dirty))
            .where(r.instance_id.in_(ids))
            .group_by(r.instance_id)
        )
        return {int(i): int(n or 0) for i, n in rows}

    # -- live instances (time triggers) --------------------------------------------------

    def _time_triggers(self, conn: sa.Connection, now: datetime, report: PassReport) -> None:
        known = self.writer.open_keys(conn)
        for rule, row, body in self.timers.due(conn, now, known):
            summary = f"{row.node_key} {row.cycle_time:%Y-%m-%d %H:%M}: {body}"
            subject = Subject(f"instance:{row.id}", row.id, summary, row.owner)
            people = self.people(rule, row.owner)
            if self.writer.open(conn, rule, rule.trigger.type.value, subject, body, people, now):
                report.opened += 1


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(_UTC).replace(tzinfo=None) if moment.tzinfo else moment
