"""Data quality results (with bad-row samples only for readers of the table, masked)
and running a table's rules on demand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.inputs import QueryId
from lakeworks.api.routes.common import Body, Out, Services, audit_detail, guard, iso
from lakeworks.quality.repository import QualityResultRepository, StoredResult
from lakeworks.security.grants import denied_tables
from lakeworks.security.masking import MASKING_METHODS, applicable_rules, rule_for
from lakeworks.security.models import MaskingRule
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["quality"])


class QualityRun(Body):
    table: str = Field(min_length=1)
    bizdate: str = Field(pattern=r"^\d{4}-?\d{2}-?\d{2}$")
    rule: str | None = None


def _masked_sample(
    sample: list[dict[str, Any]], table: str, rules: list[MaskingRule]
) -> list[dict[str, Any]]:
    masked = []
    for row in sample:
        out = {}
        for column, value in row.items():
            rule = rule_for(rules, table, column)
            out[column] = (
                value if rule is None or value is None else MASKING_METHODS[rule.method](value)
            )
        masked.append(out)
    return masked


def result_json(r: StoredResult, *, sample: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        "id": r.id,
        "rule": r.rule,
        "template": r.template,
        "strength": r.strength,
        "table": r.table,
        "partition": r.partition,
        "bizdate": r.bizdate,
        "cycle_time": iso(r.cycle_time),
        "instance_id": r.instance_id,
        "value": r.value,
        "baseline": r.baseline,
        "thresholds": {
            "warn_min": r.warn_min,
            "warn_max": r.warn_max,
            "fail_min": r.fail_min,
            "fail_max": r.fail_max,
        },
        "verdict": r.verdict.value,
        "message": r.message,
        "sample": sample,
        "owner": r.owner,
        "created_at": iso(r.created_at),
    }


class Thresholds(Out):
    warn_min: float | None
    warn_max: float | None
    fail_min: float | None
    fail_max: float | None


class QualityResultOut(Out):
    id: int
    rule: str
    template: str
    strength: str
    table: str
    partition: str | None
    bizdate: str | None
    cycle_time: str | None
    instance_id: int | None
    value: float | None
    baseline: float | None
    thresholds: Thresholds
    verdict: str
    message: str | None
    sample: list[dict[str, Any]] | None
    """Failing rows, masked; null for callers who may not read the table."""
    owner: str | None
    created_at: str | None


class QualityResults(Out):
    items: list[QualityResultOut]


class QualityRunItem(Out):
    rule: str
    verdict: str
    value: float | None
    message: str | None


class QualityRunOut(Out):
    items: list[QualityRunItem]


@router.get("/workspaces/{workspace}/envs/{env}/quality/results", response_model=QualityResults)
def quality_results(
    workspace: str,
    env: str,
    request: Request,
    services: Services,
    table: str | None = None,
    rule: str | None = None,
    instance_id: QueryId = None,
    limit: int = Query(100, ge=1, le=1000),
    access: Access = guard(Perm.QUALITY_READ, data_access=True),
) -> dict[str, Any]:
    """Rule results newest first. Bad-row samples are shown only to callers who may
    read the table, with masking applied; others get ``sample: null``."""
    results = QualityResultRepository(services.db, workspace, env).list(
        table=table, rule=rule, instance_id=instance_id, limit=limit
    )
    grants = services.grants.grants(workspace)
    rules = applicable_rules(services.grants.masking_rules(workspace), access.subjects.names)
    tables = {r.table for r in results}
    refused = set(denied_tables(grants, access.subjects, env, tables, "read"))
    audit_detail(request, tables=sorted(tables - refused))
    return {
        "items": [
            result_json(
                r,
                sample=None if r.table in refused else _masked_sample(r.sample, r.table, rules),
            )
            for r in results
        ]
    }


@router.post("/workspaces/{workspace}/envs/{env}/quality/run", response_model=QualityRunOut)
def run_quality(
    workspace: str,
    env: str,
    body: QualityRun,
    request: Request,
    services: Services,
    access: Access = guard(RUN_OR_OPERATE, data_access=True),
) -> dict[str, Any]:
    """Evaluate (and record) the rules of a table for a business date, now."""
    from lakeworks.quality.manual import run_table
    from lakeworks.schedule.bizdates import parse_bizdate

    ws = services.definition(workspace, env)
    results = run_table(
        ws,
        services.engine(workspace, env),
        services.db,
        body.table,
        parse_bizdate(body.bizdate),
        rule=body.rule,
    )
    audit_detail(request, table=body.table, bizdate=body.bizdate, rules=len(results))
    return {
        "items": [
            {
                "rule": r.rule.name,
                "verdict": r.verdict.value,
                "value": r.value,
                "message": r.message,
            }
            for r in results
        ]
    }
