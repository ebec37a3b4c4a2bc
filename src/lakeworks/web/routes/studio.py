"""Data Studio: the workflow tree, the node editor with its settings form, the DAGs,
a node's version history with diffs, and deployments."""

from __future__ import annotations

import difflib
import json
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.deploy.snapshot import content_hash
from lakeworks.errors import LakeworksError, NotFound
from lakeworks.security.permissions import Permission as Perm
from lakeworks.spec.models import Node, Workspace
from lakeworks.store.node_versions import NodeVersionRepository
from lakeworks.web.graphs import definition_graph
from lakeworks.web.render import page

router = APIRouter()


def _tree(ws: Workspace) -> list[dict[str, Any]]:
    return [
        {
            "name": wf.name,
            "nodes": [{"name": n.name, "kind": n.kind.value} for n in wf.nodes.values()],
        }
        for wf in ws.all_workflows.values()
    ]


def _dev(request: Request, workspace: str) -> tuple[Workspace | None, str | None]:
    """The dev definition, or the problem that keeps it from loading."""
    try:
        return services_of(request).definition(workspace, "dev"), None
    except LakeworksError as exc:
        return None, exc.render()


def _node(ws: Workspace, workflow: str, node: str) -> Node:
    wf = ws.all_workflows.get(workflow)
    if wf is None:
        raise NotFound(f"workflow '{workflow}' does not exist")
    found = wf.nodes.get(node)
    if found is None:
        raise NotFound(f"node '{node}' does not exist in workflow '{workflow}'")
    return found


@router.get("/w/{workspace}/studio", response_class=HTMLResponse, name="console.studio")
def studio(request: Request, workspace: str, access: Access = guard(Perm.CODE_READ)) -> Response:
    """The workflow tree and the workspace's DAG with its cross-workflow edges."""
    ws, problem = _dev(request, workspace)
    graph = definition_graph(ws, workspace) if ws else {"nodes": [], "edges": []}
    return page(
        request,
        "studio/index.html",
        access,
        title="Data Studio",
        module="studio",
        env="dev",
        tree=_tree(ws) if ws else [],
        graph=graph,
        problem=problem,
    )


@router.get(
    "/w/{workspace}/studio/{workflow}", response_class=HTMLResponse, name="console.workflow"
)
def workflow_page(
    request: Request, workspace: str, workflow: str, access: Access = guard(Perm.CODE_READ)
) -> Response:
    """A workflow: its DAG (with the nodes of other workflows it touches) and settings."""
    ws, problem = _dev(request, workspace)
    if ws is None:
        return studio(request, workspace, access)
    wf = ws.all_workflows.get(workflow)
    if wf is None:
        raise NotFound(f"workflow '{workflow}' does not exist in {workspace}")
    config_file = wf.path / "workflow.yml"
    return page(
        request,
        "studio/workflow.html",
        access,
        title=workflow,
        module="studio",
        env="dev",
        tree=_tree(ws),
        current_workflow=workflow,
        wf=wf,
        config_text=config_file.read_text(encoding="utf-8") if config_file.is_file() else "",
        graph=definition_graph(ws, workspace, workflow=workflow),
        called_workflows=set(ws.called),
        problem=problem,
    )


@router.get(
    "/w/{workspace}/studio/{workflow}/{node}", response_class=HTMLResponse, name="console.node"
)
def node_page(
    request: Request,
    workspace: str,
    workflow: str,
    node: str,
    access: Access = guard(Perm.CODE_READ),
) -> Response:
    """The node editor: code, settings form, validate, render, run in dev."""
    ws, problem = _dev(request, workspace)
    if ws is None:
        return studio(request, workspace, access)
    found = _node(ws, workflow, node)
    text = found.path.read_text(encoding="utf-8")
    relative = found.path.resolve().relative_to(ws.root.resolve()).as_posix()
    header = found.header.model_dump(mode="json", by_alias=True, exclude_unset=True)
    schedule = ws.node_schedule(found)
    return page(
        request,
        "studio/node.html",
        access,
        title=found.key,
        module="studio",
        env="dev",
        tree=_tree(ws),
        current_workflow=workflow,
        current_node=node,
        node=found,
        file=relative,
        content=text,
        content_hash=content_hash(text),
        header_json=json.dumps(header),
        effective=found.settings,
        schedule=schedule,
        resource_groups=sorted(ws.config.resource_groups),
        default_bizdate=f"{date.today() - timedelta(days=1):%Y%m%d}",
        problem=problem,
    )


def diff_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Unified-diff lines with their kind: ``hunk`` (file names and ``@@`` lines),
    ``add``, ``del`` or ``ctx``; a removed ``-- comment`` is a deletion, not a header."""
    out: list[tuple[str, str]] = []
    in_hunk = False
    for line in lines:
        if line.startswith("@@"):
            in_hunk = True
            out.append(("hunk", line))
        elif not in_hunk:
            out.append(("hunk", line))
        elif line.startswith("+"):
            out.append(("add", line))
        elif line.startswith("-"):
            out.append(("del", line))
        else:
            out.append(("ctx", line))
    return out


def _diff(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm=""
    )
    return diff_lines(list(lines))


@router.get(
    "/w/{workspace}/studio/{workflow}/{node}/history",
    response_class=HTMLResponse,
    name="console.node_history",
)
def node_history(
    request: Request,
    workspace: str,
    workflow: str,
    node: str,
    env: str = Query("prod", pattern="^(dev|prod)$"),
    a: int | None = Query(None, ge=1),
    b: int | None = Query(None, ge=1),
    access: Access = guard(Perm.CODE_READ),
) -> Response:
    """Every recorded version of the node, and the diff between two of them."""
    key = f"{workflow}.{node}"
    history = NodeVersionRepository(services_of(request).db).history(workspace, env, key)
    by_number = {v.version: v for v in history}
    diff: list[tuple[str, str]] = []
    if history:
        newest = history[-1].version
        b = b if b in by_number else newest
        a = a if a in by_number else max(1, b - 1) if (b - 1) in by_number else b
        diff = _diff(by_number[a].code, by_number[b].code, f"version {a}", f"version {b}")
    return page(
        request,
        "studio/history.html",
        access,
        title=f"{key} history",
        module="studio",
        env=env,
        key=key,
        workflow=workflow,
        node_name=node,
        history=list(reversed(history)),
        history_env=env,
        a=a,
        b=b,
        diff=diff,
    )


@router.get(
    "/w/{workspace}/studio-deployments", response_class=HTMLResponse, name="console.deployments"
)
def deployments(
    request: Request, workspace: str, access: Access = guard(Perm.DEPLOY_READ)
) -> Response:
    """Deployments to prod and releases: create (diff shown), approve, apply, roll back."""
    service = services_of(request).deployments(workspace)
    items = service.repo.list(workspace, service.env, state=None, before_id=None, limit=50)
    releases = service.repo.releases(workspace, service.env, before=None, limit=20)
    return page(
        request,
        "studio/deployments.html",
        access,
        title="Deployments",
        module="studio",
        env="prod",
        items=items,
        releases=releases,
    )


@router.get(
    "/w/{workspace}/studio-deployments/{deployment_id}",
    response_class=HTMLResponse,
    name="console.deployment",
)
def deployment_page(
    request: Request, workspace: str, deployment_id: int, access: Access = guard(Perm.DEPLOY_READ)
) -> Response:
    """One deployment: state, problems, the files it changes with their diffs."""
    service = services_of(request).deployments(workspace)
    deployment = service.get(deployment_id)
    if deployment.workspace != workspace:
        raise NotFound(f"deployment {deployment_id} does not exist in {workspace}")
    diffs = service.diff(deployment_id)
    rendered = {path: diff_lines(text.splitlines()) for path, text in diffs.items()}
    return page(
        request,
        "studio/deployment.html",
        access,
        title=f"Deployment {deployment_id}",
        module="studio",
        env="prod",
        d=deployment,
        diffs=rendered,
        me=access.username,
    )
