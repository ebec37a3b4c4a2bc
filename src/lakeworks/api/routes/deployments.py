"""Deployments to prod (create from the dev folder, diff, approve, apply) and releases
(list, read, roll back to any earlier one)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.inputs import Id
from lakeworks.api.pagination import CursorParam, LimitParam, int_cursor, page
from lakeworks.api.routes.common import Body, Out, Services, audit_detail, guard, iso
from lakeworks.deploy.models import Deployment, DeploymentState, Release
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["deployments"])


class NewDeployment(Body):
    description: str = Field(default="", max_length=2000)


class Decision(Body):
    note: str | None = Field(default=None, max_length=2000)


class RollbackBody(Body):
    description: str = Field(default="", max_length=2000)
    apply: bool = Field(default=False, description="Apply at once when no approval is needed.")


class ProblemOut(Out):
    message: str
    file: str | None
    line: int | None
    column: int | None
    key: str | None
    hint: str | None


class DeploymentFile(Out):
    path: str
    change: str
    node: str | None
    hash: str
    pinned_version: int | None


class DeploymentOut(Out):
    id: int
    env: str
    state: str
    kind: str
    description: str
    source: str
    base_release: int | None
    rollback_to: int | None
    requires_approval: bool
    summary: dict[str, Any]
    problems: list[ProblemOut]
    warnings: list[str]
    created_by: str
    created_at: str | None
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    applied_by: str | None
    applied_at: str | None
    release: int | None


class DeploymentDetail(DeploymentOut):
    files: list[DeploymentFile]


class ReleaseOut(Out):
    number: int
    env: str
    deployment_id: int
    created_at: str | None
    created_by: str
    nodes: dict[str, int]


class ReleaseDetail(ReleaseOut):
    files: dict[str, str] | None = None
    """Path → content, with ``files=true``."""


class RollbackOut(DeploymentDetail):
    applied_release: ReleaseOut | None = None


class DeploymentPage(Out):
    items: list[DeploymentOut]
    next_cursor: str | None


class ReleasePage(Out):
    items: list[ReleaseOut]
    next_cursor: str | None


class DiffOut(Out):
    files: dict[str, str]
    """Path → unified diff."""


def deployment_json(d: Deployment, *, files: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": d.id,
        "env": d.env,
        "state": d.state.value,
        "kind": d.kind,
        "description": d.description,
        "source": d.source,
        "base_release": d.base_release,
        "rollback_to": d.rollback_to,
        "requires_approval": d.requires_approval,
        "summary": d.summary,
        "problems": [asdict(p) for p in d.problems],
        "warnings": d.warnings,
        "created_by": d.created_by,
        "created_at": iso(d.created_at),
        "decided_by": d.decided_by,
        "decided_at": iso(d.decided_at),
        "decision_note": d.decision_note,
        "applied_by": d.applied_by,
        "applied_at": iso(d.applied_at),
        "release": d.release,
    }
    if files:
        data["files"] = [
            {
                "path": f.path,
                "change": f.change.value,
                "node": f.node_key,
                "hash": f.blob_hash,
                "pinned_version": f.node_version,
            }
            for f in d.files
        ]
    return data


def release_json(r: Release) -> dict[str, Any]:
    return {
        "number": r.number,
        "env": r.env,
        "deployment_id": r.deployment_id,
        "created_at": iso(r.created_at),
        "created_by": r.created_by,
        "nodes": r.nodes,
    }


@router.get("/workspaces/{workspace}/deployments", response_model=DeploymentPage)
def list_deployments(
    workspace: str,
    services: Services,
    state: DeploymentState | None = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    access: Access = guard(Perm.DEPLOY_READ),
) -> dict[str, Any]:
    """Deployments to prod, newest first."""
    service = services.deployments(workspace)
    rows = service.repo.list(
        workspace, service.env, state=state, before_id=int_cursor(cursor), limit=limit + 1
    )
    items, next_cursor = page(rows, limit, lambda d: d.id)
    return {"items": [deployment_json(d) for d in items], "next_cursor": next_cursor}


@router.post(
    "/workspaces/{workspace}/deployments", status_code=201, response_model=DeploymentDetail
)
def create_deployment(
    workspace: str,
    body: NewDeployment,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DEPLOY_CREATE),
) -> dict[str, Any]:
    """Package the dev folder as a deployment: its diff against prod and validation.
    One that fails validation is kept as ``invalid`` and can never be applied."""
    service = services.deployments(workspace)
    deployment = service.create_from_folder(
        services.source(workspace).home,
        actor=access.username,
        description=body.description,
        source="dev folder",
    )
    audit_detail(request, deployment=deployment.id, state=deployment.state.value)
    return deployment_json(deployment, files=True)


@router.get("/workspaces/{workspace}/deployments/{deployment_id}", response_model=DeploymentDetail)
def get_deployment(
    workspace: str,
    deployment_id: Id,
    services: Services,
    access: Access = guard(Perm.DEPLOY_READ),
) -> dict[str, Any]:
    return deployment_json(services.deployments(workspace).get(deployment_id), files=True)


@router.get("/workspaces/{workspace}/deployments/{deployment_id}/diff", response_model=DiffOut)
def deployment_diff(
    workspace: str,
    deployment_id: Id,
    services: Services,
    path: str | None = Query(None, description="One file only."),
    access: Access = guard(Perm.DEPLOY_READ),
) -> dict[str, Any]:
    """Unified diffs of the files the deployment changes, against prod."""
    return {"files": services.deployments(workspace).diff(deployment_id, path)}


@router.post(
    "/workspaces/{workspace}/deployments/{deployment_id}/approve", response_model=DeploymentOut
)
def approve_deployment(
    workspace: str,
    deployment_id: Id,
    body: Decision,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DEPLOY_APPROVE),
) -> dict[str, Any]:
    """Approve a deployment waiting for approval (a deployer other than its author)."""
    deployment = services.deployments(workspace).approve(
        deployment_id, actor=access.username, note=body.note
    )
    audit_detail(request, deployment=deployment_id)
    return deployment_json(deployment)


@router.post(
    "/workspaces/{workspace}/deployments/{deployment_id}/reject", response_model=DeploymentOut
)
def reject_deployment(
    workspace: str,
    deployment_id: Id,
    body: Decision,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DEPLOY_APPROVE),
) -> dict[str, Any]:
    deployment = services.deployments(workspace).reject(
        deployment_id, actor=access.username, note=body.note
    )
    audit_detail(request, deployment=deployment_id)
    return deployment_json(deployment)


@router.post("/workspaces/{workspace}/deployments/{deployment_id}/apply", response_model=ReleaseOut)
def apply_deployment(
    workspace: str,
    deployment_id: Id,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DEPLOY_APPLY),
) -> dict[str, Any]:
    """Apply a ready deployment: prod's new release, written in one transaction."""
    release = services.deployments(workspace).apply(deployment_id, actor=access.username)
    audit_detail(request, deployment=deployment_id, release=release.number)
    return release_json(release)


@router.get("/workspaces/{workspace}/releases", response_model=ReleasePage)
def list_releases(
    workspace: str,
    services: Services,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    access: Access = guard(Perm.DEPLOY_READ),
) -> dict[str, Any]:
    """Prod releases, newest first."""
    service = services.deployments(workspace)
    rows = service.repo.releases(workspace, service.env, before=int_cursor(cursor), limit=limit + 1)
    items, next_cursor = page(rows, limit, lambda r: r.number)
    return {"items": [release_json(r) for r in items], "next_cursor": next_cursor}


@router.get(
    "/workspaces/{workspace}/releases/{number}",
    response_model=ReleaseDetail,
    response_model_exclude_unset=True,
)
def get_release(
    workspace: str,
    number: Id,
    services: Services,
    files: bool = Query(False, description="Include the files' contents."),
    access: Access = guard(Perm.DEPLOY_READ),
) -> dict[str, Any]:
    service = services.deployments(workspace)
    data = release_json(service.repo.release(workspace, service.env, number))
    if files:
        data["files"] = service.release_files(number)
    return data


@router.post(
    "/workspaces/{workspace}/releases/{number}/rollback",
    status_code=201,
    response_model=RollbackOut,
)
def rollback(
    workspace: str,
    number: Id,
    body: RollbackBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DEPLOY_APPLY),
) -> dict[str, Any]:
    """A deployment restoring release ``number`` exactly (its files and node versions);
    with ``apply`` it is applied at once when it needs no approval."""
    service = services.deployments(workspace)
    deployment = service.create_rollback(
        number, actor=access.username, description=body.description
    )
    result = deployment_json(deployment, files=True)
    if body.apply and deployment.state is DeploymentState.READY:
        release = service.apply(deployment.id, actor=access.username)
        result = deployment_json(service.get(deployment.id), files=True)
        result["applied_release"] = release_json(release)
    audit_detail(request, deployment=deployment.id, rollback_to=number, state=result["state"])
    return result
