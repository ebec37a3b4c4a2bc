"""Data Integration: data sources (add, edit; secrets are write-only), sync runs with
their progress, quarantined rows and cursors."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.api.routes.sources import source_json
from lakeworks.errors import LakeworksError
from lakeworks.integration.state import SyncState
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.spec.models import NodeKind
from lakeworks.web.render import page

router = APIRouter()


@router.get("/w/{workspace}/integration", response_class=HTMLResponse, name="console.integration")
def integration(
    request: Request, workspace: str, access: Access = guard(Perm.SOURCES_READ)
) -> Response:
    """Data sources of the dev folder, and the sync runs and cursors of each env."""
    services = services_of(request)
    env = request.query_params.get("env", "prod")
    env = env if env in ("dev", "prod") else "prod"
    sources = []
    sync_nodes: list[str] = []
    problem = None
    try:
        ws = services.definition(workspace, "dev")
        sources = [source_json(n, dict(c)) for n, c in sorted(ws.config.data_sources.items())]
        sync_nodes = [n.key for n in ws.nodes() if n.kind is NodeKind.SYNC]
    except LakeworksError as exc:
        problem = exc.render()
    state = SyncState(services.db, workspace, env)
    runs = state.runs(None, limit=50)
    cursors = {key: state.cursor_record(key) for key in sync_nodes}
    return page(
        request,
        "integration.html",
        access,
        title="Data Integration",
        module="integration",
        env=env,
        sources=sources,
        runs=runs,
        cursors=cursors,
        sync_env=env,
        problem=problem,
        running=any(r.state == "running" for r in runs),
        may_operate=access.can(RUN_OR_OPERATE.for_env(env)),
    )
