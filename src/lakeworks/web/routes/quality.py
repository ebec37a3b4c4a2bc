"""Data Quality: the rules of each table, their results with a trend chart; failed
samples are read through the API (grants and masking apply, and it is audited)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.errors import LakeworksError
from lakeworks.quality.models import Rule
from lakeworks.quality.repository import QualityResultRepository
from lakeworks.quality.workspace import load_workspace_rules
from lakeworks.security.permissions import Permission as Perm
from lakeworks.web.charts import trend
from lakeworks.web.render import page

router = APIRouter()


@router.get(
    "/w/{workspace}/envs/{env}/quality", response_class=HTMLResponse, name="console.quality"
)
def quality(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.QUALITY_READ)
) -> Response:
    """Rules by table; the latest results (of one table or rule when chosen)."""
    services = services_of(request)
    table = request.query_params.get("table", "").strip().lower() or None
    rule = request.query_params.get("rule", "").strip() or None
    rules: dict[str, list[Rule]] = {}
    problem = None
    try:
        rule_set = load_workspace_rules(services.definition(workspace, env))
        for item in rule_set.rules:
            rules.setdefault(item.table, []).append(item)
    except LakeworksError as exc:
        problem = exc.render()
    results = QualityResultRepository(services.db, workspace, env).list(
        table=table, rule=rule, limit=100
    )
    chart = None
    if rule is not None:
        chart = trend(
            [(r.bizdate or "", r.value, r.verdict.value) for r in reversed(results)], unit=""
        )
    return page(
        request,
        "quality.html",
        access,
        title="Data Quality",
        module="quality",
        rules=rules,
        results=results,
        table=table,
        rule=rule,
        chart=chart,
        problem=problem,
    )
