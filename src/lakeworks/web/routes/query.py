"""Ad-hoc SQL: an editor whose queries run through the API (same grants and masking)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import guard
from lakeworks.security.permissions import Permission as Perm
from lakeworks.web.render import page

router = APIRouter()


@router.get("/w/{workspace}/envs/{env}/query", response_class=HTMLResponse, name="console.query")
def query(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.DATA_QUERY)
) -> Response:
    """The SQL editor; results come from ``POST /api/.../query``."""
    return page(
        request,
        "query.html",
        access,
        title="Ad-hoc SQL",
        module="query",
        sql=request.query_params.get("sql", ""),
    )
