"""The frame: sign-in, the start page, a workspace's home, search."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lakeworks.api.auth import SESSION_COOKIE, Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.catalog.service import DataMap
from lakeworks.errors import LakeworksError
from lakeworks.security.permissions import Permission as Perm
from lakeworks.store.clock import utcnow
from lakeworks.store.models import RunType
from lakeworks.store.repositories import InstanceRepository
from lakeworks.web.graphs import definition_graph, instance_graph
from lakeworks.web.render import TEMPLATES, page, workspaces_of

router = APIRouter()

DAY_LIMIT = 2000


def safe_next(target: str | None) -> str:
    """Only paths of this site (no ``//host`` or scheme) may be the page after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse, name="console.login")
def login_page(
    request: Request, next: str | None = None, access: Access = guard(Perm.PUBLIC)
) -> Response:
    """The sign-in form; a signed-in browser goes straight on to ``next``."""
    wanted = safe_next(next)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and services_of(request).sessions.resolve(cookie) is not None:
        return RedirectResponse(wanted, status_code=303)
    return TEMPLATES.TemplateResponse(
        request, "login.html", {"next": wanted, "expired": bool(cookie)}
    )


@router.get("/favicon.ico", name="console.favicon")
def favicon(access: Access = guard(Perm.PUBLIC)) -> Response:
    """Browsers ask for it on every site; the console's icon is an SVG."""
    return RedirectResponse("/static/favicon.svg", status_code=308)


@router.get("/", response_class=HTMLResponse, name="console.start")
def start(request: Request, access: Access = guard(Perm.AUTHENTICATED)) -> Response:
    """The first workspace's home, or a page saying there is none yet."""
    names = workspaces_of(request, access)
    if len(names) >= 1:
        return RedirectResponse(f"/w/{names[0]}", status_code=303)
    return page(request, "start.html", access, title="Lakeworks")


@router.get("/w/{workspace}", response_class=HTMLResponse, name="console.home")
def home(request: Request, workspace: str, access: Access = guard(Perm.WORKSPACE_READ)) -> Response:
    """The workspace at a glance: the latest business day's instances in prod as a DAG
    coloured by state, counts per state, and the tables the catalog knows."""
    services = services_of(request)
    repo = InstanceRepository(services.db)
    latest = repo.list(
        workspace=workspace,
        env="prod",
        run_type=RunType.SCHEDULED,
        cycle_to=utcnow(),
        limit=1,
        order="desc",
    )
    day = latest[0].bizdate if latest else None
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    counts: Counter[str] = Counter()
    if day is not None:
        instances = repo.list(
            workspace=workspace,
            env="prod",
            bizdate=day,
            run_type=RunType.SCHEDULED,
            limit=DAY_LIMIT,
        )
        counts.update(i.state.value for i in instances)
        graph = instance_graph(services.db, workspace, "prod", instances)
    tables: list[Any] = []
    env_of_tables = "prod"
    for env in ("prod", "dev"):
        try:
            tables = DataMap(services.db, services.definition(workspace, env), env).catalog.tables()
        except LakeworksError:
            tables = []
        if tables:
            env_of_tables = env
            break
    if not graph["nodes"]:
        try:
            graph = definition_graph(services.definition(workspace, "dev"), workspace)
        except LakeworksError as exc:
            graph = {"nodes": [], "edges": [], "problem": exc.render()}
    return page(
        request,
        "home.html",
        access,
        title=workspace,
        day=day,
        counts=sorted(counts.items()),
        graph=graph,
        tables=tables[:50],
        tables_env=env_of_tables,
    )


@router.get("/w/{workspace}/envs/{env}/search", response_class=HTMLResponse, name="console.search")
def search(
    request: Request,
    workspace: str,
    env: str,
    q: str = Query("", max_length=200),
    access: Access = guard(Perm.MAP_READ),
) -> Response:
    """Tables, nodes and workflows matching ``q``."""
    services = services_of(request)
    hits: list[Any] = []
    workflows: list[str] = []
    problem = None
    text = q.strip()
    if text:
        try:
            ws = services.definition(workspace, env)
            hits = DataMap(services.db, ws, env).search(text, limit=50)
            workflows = [name for name in ws.all_workflows if text.lower() in name.lower()]
        except LakeworksError as exc:
            problem = exc.message
    return page(
        request,
        "search.html",
        access,
        title=f"Search: {text}" if text else "Search",
        q=text,
        hits=hits,
        workflows=workflows,
        problem=problem,
    )
