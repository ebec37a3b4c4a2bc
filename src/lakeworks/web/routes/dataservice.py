"""Data Service: the workspace's data APIs (state, versions and their diff, a dev test,
publish / unpublish / roll back), applications with their grants and limits, per-API
statistics and recent calls. Reads go through ``dataservice.studio``; changes are the
REST API's, called by the page's buttons and forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.errors import LakeworksError
from lakeworks.security.permissions import Permission as Perm
from lakeworks.web.render import page

router = APIRouter()


@router.get("/w/{workspace}/dataservice", response_class=HTMLResponse, name="console.dataservice")
def apis(request: Request, workspace: str, access: Access = guard(Perm.CODE_READ)) -> Response:
    """Every API with its route, published version and state; applications; statistics."""
    studio = services_of(request).dataservice.studio(workspace)
    problem = None
    summaries: list[Any] = []
    try:
        summaries = studio.summaries()
    except LakeworksError as exc:
        problem = exc.render()
    services_of(request).dataservice.calls.flush(timeout=2)
    stats = {s.api: s for s in studio.stats()}
    apps = [(app, studio.app(app.name)[1]) for app in studio.apps()]
    return page(
        request,
        "dataservice/apis.html",
        access,
        title="Data Service",
        module="dataservice",
        apis=summaries,
        stats=stats,
        apps=apps,
        problem=problem,
    )


@router.get(
    "/w/{workspace}/dataservice/apis/{group}/{name}",
    response_class=HTMLResponse,
    name="console.dataservice.api",
)
def api_page(
    request: Request,
    workspace: str,
    group: str,
    name: str,
    access: Access = guard(Perm.CODE_READ),
) -> Response:
    """One API: definition, parameters, SQL, versions (with a diff), test, publishing,
    the applications it is granted to, its statistics and recent calls."""
    services = services_of(request)
    studio = services.dataservice.studio(workspace)
    key = f"{group}/{name}"
    shown = studio.show(key)
    old = request.query_params.get("old", "").strip()
    new = request.query_params.get("new", "").strip() or "dev"
    diff = None
    diff_problem = None
    if old:
        try:
            diff = studio.diff(key, old, new)
        except LakeworksError as exc:
            diff_problem = exc.render()
    services.dataservice.calls.flush(timeout=2)
    stats = next(iter(studio.stats(key)), None)
    calls = studio.calls(key, 50) if access.can(Perm.LOGS_READ) else None
    apps = studio.apps()
    grants = {app.name: [g for g in studio.app(app.name)[1] if g.api == key] for app in apps}
    return page(
        request,
        "dataservice/api.html",
        access,
        title=f"API {key}",
        module="dataservice",
        api=shown,
        key=key,
        group=group,
        name=name,
        old=old,
        new=new,
        diff=diff,
        diff_problem=diff_problem,
        stats=stats,
        calls=calls,
        apps=apps,
        grants=grants,
    )
