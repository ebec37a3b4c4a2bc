"""Workflows and nodes: read, create, update, delete, validate, render.

Edits write the dev workspace folder (validated as a whole before anything is written,
each file replaced atomically). What runs in prod is read under ``/envs/prod/``: the
current release, with each node's version.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Body, OkWarnings, Out, Services, audit_detail, guard, iso
from lakeworks.deploy.editing import WorkspaceEditor
from lakeworks.deploy.snapshot import content_hash
from lakeworks.errors import Conflict, LakeworksError, NotFound, UserError, ValidationFailed
from lakeworks.security.permissions import Permission as Perm
from lakeworks.spec.loader import NODE_SUFFIXES, is_valid_name
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.store.node_versions import NodeVersionRepository

router = APIRouter(tags=["code"])

SUFFIXES = {
    **{kind: suffix for suffix, kind in NODE_SUFFIXES.items()},
    NodeKind.QUALITY: ".quality.yml",
}


class WorkflowBody(Body):
    content: str = Field(description="The text of workflow.yml.")
    base_hash: str | None = Field(default=None, description="Hash of the text you edited.")


class NodeBody(Body):
    content: str = Field(description="The whole node file: optional header, then code.")
    kind: NodeKind | None = Field(default=None, description="Needed for a new node.")
    base_hash: str | None = Field(
        default=None, description="Hash of the file you edited; omit to overwrite blindly."
    )


class NodeSummary(Out):
    key: str
    name: str
    workflow: str
    kind: str
    file: str
    owner: str | None
    description: str | None
    run_mode: str


class NodeDetail(NodeSummary):
    content: str
    hash: str
    header: dict[str, Any]
    settings: dict[str, Any]
    schedule: dict[str, Any]
    reads: list[str]
    writes: list[str]
    io_problems: list[str]


class WorkflowItem(Out):
    name: str
    description: str | None
    owner: str | None
    schedule: dict[str, Any]
    nodes: list[str]


class WorkflowList(Out):
    items: list[WorkflowItem]


class WorkflowDetail(Out):
    name: str
    content: str
    hash: str | None
    config: dict[str, Any]
    nodes: list[NodeSummary]


class Saved(Out):
    ok: bool
    file: str
    hash: str
    warnings: list[str]


class NodeSaved(Saved):
    key: str


class ProblemOut(Out):
    message: str
    file: str | None
    line: int | None
    column: int | None
    key: str | None
    hint: str | None


class ValidationOut(Out):
    ok: bool
    nodes: int
    problems: list[ProblemOut]
    warnings: list[str]


class StatementOut(Out):
    line: int
    atomic: bool
    steps: list[str]


class Rendered(Out):
    node: str
    bizdate: str
    code: str
    statements: list[StatementOut] | None = None


class EnvNode(NodeSummary):
    version: int | None


class EnvNodes(Out):
    release: int | None
    items: list[EnvNode]


class NodeVersionOut(Out):
    version: int
    code_hash: str
    code: str
    header: Any
    created_at: str | None


class NodeVersions(Out):
    items: list[NodeVersionOut]


def _relative(ws: Workspace, node: Node) -> str:
    return node.path.resolve().relative_to(ws.root.resolve()).as_posix()


def _node_summary(ws: Workspace, node: Node) -> dict[str, Any]:
    return {
        "key": node.key,
        "name": node.name,
        "workflow": node.workflow,
        "kind": node.kind.value,
        "file": _relative(ws, node),
        "owner": node.settings.owner,
        "description": node.header.description,
        "run_mode": node.header.run_mode.value,
    }


def _node_detail(ws: Workspace, node: Node) -> dict[str, Any]:
    from lakeworks.schedule.node_io import node_io

    text = node.path.read_text(encoding="utf-8")
    detail = _node_summary(ws, node)
    detail.update(
        content=text,
        hash=content_hash(text),
        header=node.header.model_dump(mode="json", by_alias=True),
        settings=node.settings.model_dump(mode="json"),
        schedule=ws.node_schedule(node).model_dump(mode="json"),
    )
    try:
        io = node_io(ws, node)
        detail.update(reads=sorted(io.reads), writes=sorted(io.writes), io_problems=[])
    except LakeworksError as exc:
        detail.update(reads=[], writes=[], io_problems=[exc.render()])
    return detail


def _editor(services: Services, workspace: str) -> WorkspaceEditor:
    return WorkspaceEditor(services.source(workspace).home)


def _find(ws: Workspace, workflow: str, node: str) -> Node:
    wf = ws.all_workflows.get(workflow)
    if wf is None:
        raise NotFound(f"workflow '{workflow}' does not exist")
    found = wf.nodes.get(node)
    if found is None:
        raise NotFound(f"node '{node}' does not exist in workflow '{workflow}'")
    return found


@router.get("/workspaces/{workspace}/workflows", response_model=WorkflowList)
def list_workflows(
    workspace: str, services: Services, access: Access = guard(Perm.CODE_READ)
) -> dict[str, Any]:
    """The workflows of the dev folder with their nodes."""
    ws = services.definition(workspace, "dev")
    return {
        "items": [
            {
                "name": wf.name,
                "description": wf.config.description,
                "owner": wf.config.owner,
                "schedule": wf.config.schedule.model_dump(mode="json"),
                "nodes": [n.name for n in wf.nodes.values()],
            }
            for wf in ws.all_workflows.values()
        ]
    }


@router.get("/workspaces/{workspace}/workflows/{workflow}", response_model=WorkflowDetail)
def get_workflow(
    workspace: str, workflow: str, services: Services, access: Access = guard(Perm.CODE_READ)
) -> dict[str, Any]:
    """A workflow: its workflow.yml text and settings, and its nodes."""
    ws = services.definition(workspace, "dev")
    wf = ws.all_workflows.get(workflow)
    if wf is None:
        raise NotFound(f"workflow '{workflow}' does not exist")
    config_file = wf.path / "workflow.yml"
    text = config_file.read_text(encoding="utf-8") if config_file.is_file() else ""
    return {
        "name": wf.name,
        "content": text,
        "hash": content_hash(text) if text else None,
        "config": wf.config.model_dump(mode="json"),
        "nodes": [_node_summary(ws, n) for n in wf.nodes.values()],
    }


@router.put("/workspaces/{workspace}/workflows/{workflow}", response_model=Saved)
def put_workflow(
    workspace: str,
    workflow: str,
    body: WorkflowBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.CODE_EDIT),
) -> dict[str, Any]:
    """Create a workflow or replace its workflow.yml (validated before writing)."""
    _check_name(workflow, "workflow")
    path = f"workflows/{workflow}/workflow.yml"
    expected = {path: body.base_hash} if body.base_hash is not None else None
    warnings = _editor(services, workspace).change({path: body.content}, expected=expected)
    audit_detail(request, file=path, hash=content_hash(body.content))
    return {"ok": True, "file": path, "hash": content_hash(body.content), "warnings": warnings}


@router.delete("/workspaces/{workspace}/workflows/{workflow}", response_model=OkWarnings)
def delete_workflow(
    workspace: str,
    workflow: str,
    request: Request,
    services: Services,
    access: Access = guard(Perm.CODE_EDIT),
) -> dict[str, Any]:
    """Remove a workflow and its nodes (refused if other nodes still need them)."""
    warnings = _editor(services, workspace).remove_workflow(workflow)
    audit_detail(request, workflow=workflow)
    return {"ok": True, "warnings": warnings}


@router.get("/workspaces/{workspace}/workflows/{workflow}/nodes/{node}", response_model=NodeDetail)
def get_node(
    workspace: str,
    workflow: str,
    node: str,
    services: Services,
    access: Access = guard(Perm.CODE_READ),
) -> dict[str, Any]:
    """A node: its file (header and code), effective settings, tables read and written."""
    ws = services.definition(workspace, "dev")
    return _node_detail(ws, _find(ws, workflow, node))


@router.put("/workspaces/{workspace}/workflows/{workflow}/nodes/{node}", response_model=NodeSaved)
def put_node(
    workspace: str,
    workflow: str,
    node: str,
    body: NodeBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.CODE_EDIT),
) -> dict[str, Any]:
    """Create or replace a node file. The whole workspace is validated with the change
    first; nothing is written when it does not load. ``base_hash`` guards against
    overwriting someone else's edit."""
    _check_name(workflow, "workflow")
    _check_name(node, "node")
    ws = services.definition(workspace, "dev")
    existing = ws.all_workflows.get(workflow)
    current = existing.nodes.get(node) if existing else None
    kind = body.kind or (current.kind if current else None)
    if kind is None:
        raise UserError("a new node needs a kind", hint="sql, python, shell or sync")
    if kind not in SUFFIXES:
        raise UserError(f"nodes of kind '{kind.value}' have no file", hint="choose another kind")
    path = f"workflows/{workflow}/{node}{SUFFIXES[kind]}"
    changes: dict[str, str | None] = {path: body.content}
    expected: dict[str, str | None] = {}
    if current is not None:
        old = _relative(ws, current)
        if old != path:
            changes[old] = None  # the kind changed: the file is renamed
        if body.base_hash is not None:
            expected[old] = body.base_hash
    elif body.base_hash is not None:
        raise Conflict(f"node '{node}' does not exist (any more)")
    else:
        expected[path] = None
    warnings = _editor(services, workspace).change(changes, expected=expected)
    audit_detail(request, file=path, hash=content_hash(body.content), created=current is None)
    return {
        "ok": True,
        "key": f"{workflow}.{node}",
        "file": path,
        "hash": content_hash(body.content),
        "warnings": warnings,
    }


@router.delete(
    "/workspaces/{workspace}/workflows/{workflow}/nodes/{node}", response_model=OkWarnings
)
def delete_node(
    workspace: str,
    workflow: str,
    node: str,
    request: Request,
    services: Services,
    access: Access = guard(Perm.CODE_EDIT),
) -> dict[str, Any]:
    """Remove a node (refused when the workspace would not load without it)."""
    ws = services.definition(workspace, "dev")
    found = _find(ws, workflow, node)
    path = _relative(ws, found)
    warnings = _editor(services, workspace).change({path: None})
    audit_detail(request, file=path)
    return {"ok": True, "warnings": warnings}


@router.post("/workspaces/{workspace}/validate", response_model=ValidationOut)
def validate(
    workspace: str, services: Services, access: Access = guard(Perm.CODE_READ)
) -> dict[str, Any]:
    """Validate the dev folder: settings, nodes, SQL, parameters, dependencies, rules."""
    from lakeworks.catalog.column_check import catalog_lookup
    from lakeworks.deploy.validate import check_workspace

    home = services.source(workspace).home
    state = home / ".lakeworks"
    loaded, report = check_workspace(
        home,
        catalog=catalog_lookup(services.db, "dev"),
        cache_dir=state / "cache" if state.is_dir() else None,
    )
    nodes = len(loaded.nodes()) if loaded else 0
    return {
        "ok": report.ok,
        "nodes": nodes,
        "problems": [p.__dict__ for p in report.problems],
        "warnings": report.warnings,
    }


@router.get(
    "/workspaces/{workspace}/workflows/{workflow}/nodes/{node}/render",
    response_model=Rendered,
    response_model_exclude_unset=True,
)
def render_node(
    workspace: str,
    workflow: str,
    node: str,
    services: Services,
    bizdate: str = Query(description="Business date YYYYMMDD."),
    translated: bool = Query(False, description="Show the SQL the engine runs."),
    access: Access = guard(Perm.CODE_READ),
) -> dict[str, Any]:
    """The code a node runs for a business date, parameters filled in."""
    from lakeworks.runtime.cycles import cycle_time_for, local_cycle_time, param_context
    from lakeworks.schedule.bizdates import parse_bizdate
    from lakeworks.sql.params import render

    ws = services.definition(workspace, "dev")
    found = _find(ws, workflow, node)
    day = parse_bizdate(bizdate)
    cycle = local_cycle_time(ws, cycle_time_for(ws, day, ws.node_schedule(found).at))
    text = render(
        found.code,
        param_context(ws, found, cycle),
        path=found.path,
        first_line=found.span.first_code_line,
    )
    result: dict[str, Any] = {"node": found.key, "bizdate": f"{day:%Y%m%d}", "code": text}
    if translated and found.kind is NodeKind.SQL:
        from lakeworks.sql.translate import translate_script

        engine = services.engine(workspace, "dev")
        result["statements"] = [
            {"line": s.line, "atomic": s.atomic, "steps": s.steps}
            for s in translate_script(
                text,
                source_dialect=ws.dialect_for(found),
                target_dialect=engine.capabilities.dialect,
                path=found.path,
            )
        ]
    return result


@router.get("/workspaces/{workspace}/envs/{env}/nodes", response_model=EnvNodes)
def env_nodes(
    workspace: str, env: str, services: Services, access: Access = guard(Perm.CODE_READ)
) -> dict[str, Any]:
    """The nodes that run in an environment (prod: the current release, with versions)."""
    source = services.source(workspace)
    try:
        ws = source.current(env)
    except ValidationFailed as exc:
        raise UserError(f"the {env} definition does not load: {exc.render()}") from None
    versions = source.node_versions(env)
    return {
        "release": source.release_number(env) if env != "dev" else None,
        "items": [{**_node_summary(ws, n), "version": versions.get(n.key)} for n in ws.nodes()],
    }


@router.get(
    "/workspaces/{workspace}/envs/{env}/nodes/{node_key}/versions", response_model=NodeVersions
)
def node_versions(
    workspace: str,
    env: str,
    node_key: str,
    services: Services,
    access: Access = guard(Perm.CODE_READ),
) -> dict[str, Any]:
    """Every recorded version of a node in an environment, oldest first."""
    history = NodeVersionRepository(services.db).history(workspace, env, node_key)
    if not history:
        raise NotFound(f"node {node_key} has no versions in {env}")
    return {
        "items": [
            {
                "version": v.version,
                "code_hash": v.code_hash,
                "code": v.code,
                "header": v.header_json,
                "created_at": iso(v.created_at),
            }
            for v in history
        ]
    }


def _check_name(name: str, what: str) -> None:
    if not is_valid_name(name):
        raise UserError(f"invalid {what} name '{name}'", hint="letters, digits, '_' and '-'")
