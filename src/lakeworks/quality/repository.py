"""Stored quality results: written in one batch per check, read for history and trends."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.quality.evaluator import RuleResult
from lakeworks.quality.history import Observation, SeriesKey
from lakeworks.quality.models import Verdict
from lakeworks.quality.tables import quality_results
from lakeworks.store.clock import optional_utc_naive, utcnow
from lakeworks.store.database import Database

HISTORY_VERDICTS = (Verdict.PASS, Verdict.WARN, Verdict.FAIL, Verdict.SKIPPED)
"""Evaluations whose observed value counts as history (not ``error``)."""


@dataclass(frozen=True)
class StoredResult:
    """One stored evaluation of one rule."""

    id: int
    workspace: str
    env: str
    rule: str
    template: str
    strength: str
    table: str
    partition_spec: str
    partition: str | None
    metric_key: str
    cycle_time: datetime | None
    bizdate: str | None
    instance_id: int | None
    value: float | None
    observed: float | None
    baseline: float | None
    warn_min: float | None
    warn_max: float | None
    fail_min: float | None
    fail_max: float | None
    verdict: Verdict
    message: str
    sample: list[dict[str, Any]]
    duration_ms: float
    owner: str | None
    created_at: datetime

    @property
    def blocked(self) -> bool:
        """Whether this result failed the node that wrote the table (a strong rule at its
        fail level or unable to run, checked after a node run); weak rules only warn."""
        return (
            self.instance_id is not None
            and self.strength == "strong"
            and self.verdict in (Verdict.FAIL, Verdict.ERROR)
        )


def _from_row(row: sa.Row[Any]) -> StoredResult:
    m = row._mapping
    return StoredResult(
        id=m["id"],
        workspace=m["workspace"],
        env=m["env"],
        rule=m["rule"],
        template=m["template"],
        strength=m["strength"],
        table=m["table_name"],
        partition_spec=m["partition_spec"],
        partition=m["partition_filter"],
        metric_key=m["metric_key"],
        cycle_time=m["cycle_time"],
        bizdate=m["bizdate"],
        instance_id=m["instance_id"],
        value=m["value"],
        observed=m["observed"],
        baseline=m["baseline"],
        warn_min=m["warn_min"],
        warn_max=m["warn_max"],
        fail_min=m["fail_min"],
        fail_max=m["fail_max"],
        verdict=Verdict(m["verdict"]),
        message=m["message"],
        sample=json.loads(m["sample_json"]) if m["sample_json"] else [],
        duration_ms=m["duration_ms"],
        owner=m["owner"],
        created_at=m["created_at"],
    )


class QualityResultRepository:
    """Quality results of one workspace and environment."""

    def __init__(self, db: Database, workspace: str, env: str) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env

    def record(
        self,
        results: Sequence[RuleResult],
        *,
        cycle_time: datetime | None,
        bizdate: str | None,
        instance_id: int | None = None,
    ) -> list[int]:
        """Store ``results`` in one transaction; returns their ids in order."""
        if not results:
            return []
        now = utcnow()
        cycle = optional_utc_naive(cycle_time)
        rows = [
            {
                "workspace": self.workspace,
                "env": self.env,
                "rule": r.rule.name,
                "template": r.rule.template.value,
                "strength": r.rule.strength.value,
                "table_name": r.rule.table,
                "partition_spec": r.rule.partition or "",
                "partition_filter": r.partition,
                "metric_key": r.metric_key,
                "cycle_time": cycle,
                "bizdate": bizdate,
                "instance_id": instance_id,
                "value": r.value,
                "observed": r.observed,
                "baseline": r.baseline,
                "warn_min": r.rule.warn.min,
                "warn_max": r.rule.warn.max,
                "fail_min": r.rule.fail.min,
                "fail_max": r.rule.fail.max,
                "verdict": r.verdict.value,
                "message": r.message,
                "sample_json": json.dumps(list(r.sample), default=str) if r.sample else None,
                "duration_ms": r.duration_seconds * 1000.0,
                "owner": r.rule.owner,
                "created_at": now,
            }
            for r in results
        ]
        statement = quality_results.insert().returning(
            quality_results.c.id, sort_by_parameter_order=True
        )
        with self.db.write() as conn:
            return [int(i) for i in conn.execute(statement, rows).scalars().all()]

    def observations(
        self, key: SeriesKey, *, since: datetime | None, before: datetime
    ) -> list[Observation]:
        """Observed values of one metric series with ``since <= cycle_time < before``."""
        t = quality_results.c
        query = sa.select(t.id, t.cycle_time, t.observed).where(
            t.workspace == self.workspace,
            t.env == self.env,
            t.table_name == key.table,
            t.metric_key == key.metric_key,
            t.partition_spec == key.partition_spec,
            t.observed.is_not(None),
            t.cycle_time.is_not(None),
            t.cycle_time < optional_utc_naive(before),
            t.verdict.in_([v.value for v in HISTORY_VERDICTS]),
        )
        if since is not None:
            query = query.where(t.cycle_time >= optional_utc_naive(since))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [Observation(r.cycle_time, float(r.observed), int(r.id)) for r in rows]

    def list(
        self,
        *,
        table: str | None = None,
        rule: str | None = None,
        instance_id: int | None = None,
        limit: int = 100,
    ) -> list[StoredResult]:
        """Stored results, newest first, optionally for one table, rule or instance."""
        t = quality_results.c
        query = sa.select(quality_results).where(t.workspace == self.workspace, t.env == self.env)
        if table is not None:
            query = query.where(t.table_name == table.lower())
        if rule is not None:
            query = query.where(t.rule == rule)
        if instance_id is not None:
            query = query.where(t.instance_id == instance_id)
        query = query.order_by(t.id.desc()).limit(limit)
        with self.db.read() as conn:
            return [_from_row(r) for r in conn.execute(query).all()]
