"""Workspaces, their settings and their members with roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import (
    Body,
    Ok,
    Out,
    Services,
    UserOut,
    audit_detail,
    guard,
    iso,
    user_json,
)
from lakeworks.errors import Conflict, PermissionDenied, UserError
from lakeworks.security.models import WorkspaceRecord
from lakeworks.security.permissions import PRIVILEGED_ROLES, Role, parse_role
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["workspaces"])

NAME_SCHEMA_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,99}$"
"""``spec.loader.NAME_PATTERN`` for JSON Schema (pydantic's regex engine and JSON Schema
read ``$`` as the very end of the text, so no trailing newline passes)."""


class NewWorkspace(Body):
    name: str = Field(min_length=1, max_length=100, pattern=NAME_SCHEMA_PATTERN)
    path: str | None = None
    """An existing workspace folder to register; without it an empty one is created."""
    require_approval: bool = True


class WorkspaceChange(Body):
    require_approval: bool | None = None


class MemberRoles(Body):
    roles: list[str] = Field(min_length=1)


class WorkspaceOut(Out):
    name: str
    root: str
    require_approval: bool
    created_at: str | None
    created_by: str | None


class MyWorkspace(WorkspaceOut):
    my_roles: list[str]


class WorkspaceList(Out):
    items: list[MyWorkspace]


class WorkspaceDetail(MyWorkspace):
    prod_release: int | None


class MemberOut(Out):
    user: UserOut
    roles: list[str]


class MemberList(Out):
    items: list[MemberOut]


def workspace_json(record: WorkspaceRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "root": record.root,
        "require_approval": record.require_approval,
        "created_at": iso(record.created_at),
        "created_by": record.created_by,
    }


@router.get("/workspaces", response_model=WorkspaceList)
def list_workspaces(
    services: Services, access: Access = guard(Perm.AUTHENTICATED)
) -> dict[str, Any]:
    """The workspaces the caller belongs to (all of them for administrators)."""
    user = access.user
    if user.is_superuser:
        records = services.workspaces.list()
        roles = {r.name: ["owner"] for r in records}
    else:
        held = services.members.workspaces_of(user.id)
        records = services.workspaces.list(list(held))
        roles = {n: sorted(r.value for r in rs) for n, rs in held.items()}
    return {"items": [{**workspace_json(r), "my_roles": roles.get(r.name, [])} for r in records]}


@router.post("/workspaces", status_code=201, response_model=WorkspaceOut)
def create_workspace(
    body: NewWorkspace,
    request: Request,
    services: Services,
    access: Access = guard(Perm.INSTALLATION_ADMIN),
) -> dict[str, Any]:
    """Register a workspace folder, or create an empty workspace and register it."""
    from lakeworks.spec.init import init_workspace
    from lakeworks.spec.loader import load_workspace

    if body.path:
        root = Path(body.path).expanduser()
        loaded = load_workspace(root)
        if loaded.name != body.name:
            raise UserError(
                f"the folder holds workspace '{loaded.name}', not '{body.name}'",
                hint="use the name in its lakeworks.yml",
            )
    else:
        base = services.settings.workspaces_dir
        if base is None:
            raise UserError("this server has no folder for new workspaces", hint="pass a path")
        root = base / body.name
        if root.exists():
            raise Conflict(f"{root} exists already")
        init_workspace(root)
        config = root / "lakeworks.yml"
        config.write_text(
            config.read_text(encoding="utf-8").replace(f"name: {root.name}", f"name: {body.name}"),
            encoding="utf-8",
        )
    record = services.workspaces.register(
        body.name, root, actor=access.username, require_approval=body.require_approval
    )
    services.grants.seed_defaults(record.name, access.username)
    services.forget_workspace_names()
    audit_detail(request, workspace=record.name, root=record.root)
    return workspace_json(record)


@router.get("/workspaces/{workspace}", response_model=WorkspaceDetail)
def get_workspace(
    workspace: str, services: Services, access: Access = guard(Perm.WORKSPACE_READ)
) -> dict[str, Any]:
    """A workspace: settings, the caller's roles, the current prod release."""
    record = services.record(workspace)
    release = services.source(workspace).release_number("prod")
    return {
        **workspace_json(record),
        "my_roles": sorted(r.value for r in access.roles),
        "prod_release": release,
    }


@router.patch("/workspaces/{workspace}", response_model=WorkspaceOut)
def update_workspace(
    workspace: str,
    body: WorkspaceChange,
    request: Request,
    services: Services,
    access: Access = guard(Perm.WORKSPACE_MANAGE),
) -> dict[str, Any]:
    """Change workspace settings (whether deployments need a deployer's approval)."""
    record = services.record(workspace)
    if body.require_approval is not None:
        record = services.workspaces.set_require_approval(workspace, body.require_approval)
    audit_detail(request, **body.model_dump(exclude_unset=True))
    return workspace_json(record)


@router.get("/workspaces/{workspace}/members", response_model=MemberList)
def list_members(
    workspace: str, services: Services, access: Access = guard(Perm.MEMBERS_READ)
) -> dict[str, Any]:
    services.record(workspace)
    return {
        "items": [
            {"user": user_json(m.user), "roles": sorted(r.value for r in m.roles)}
            for m in services.members.members(workspace)
        ]
    }


def _check_privileged(access: Access, before: frozenset[Role], after: frozenset[Role]) -> None:
    touched = (before ^ after) & PRIVILEGED_ROLES
    if touched and not access.can(Perm.SECURITY_MANAGE):
        raise PermissionDenied(
            f"only security admins and owners may grant or take {', '.join(sorted(touched))}",
        )


@router.put("/workspaces/{workspace}/members/{username}", response_model=MemberOut)
def set_member(
    workspace: str,
    username: str,
    body: MemberRoles,
    request: Request,
    services: Services,
    access: Access = guard(Perm.MEMBERS_MANAGE),
) -> dict[str, Any]:
    """Make a user a member with exactly these roles."""
    services.record(workspace)
    user = services.users.by_name(username)
    roles = frozenset(parse_role(r) for r in body.roles)
    before = services.members.roles_of(workspace, user.id)
    _check_privileged(access, before, roles)
    _keep_an_owner(services, workspace, before, roles)
    services.members.set_roles(workspace, user.id, roles, actor=access.username)
    audit_detail(
        request,
        member=user.username,
        roles_before=sorted(r.value for r in before),
        roles=sorted(r.value for r in roles),
    )
    return {"user": user_json(user), "roles": sorted(r.value for r in roles)}


@router.delete("/workspaces/{workspace}/members/{username}", response_model=Ok)
def remove_member(
    workspace: str,
    username: str,
    request: Request,
    services: Services,
    access: Access = guard(Perm.MEMBERS_MANAGE),
) -> dict[str, Any]:
    """Remove a member from the workspace."""
    user = services.users.by_name(username)
    before = services.members.roles_of(workspace, user.id)
    _check_privileged(access, before, frozenset())
    _keep_an_owner(services, workspace, before, frozenset())
    services.members.set_roles(workspace, user.id, (), actor=access.username)
    audit_detail(request, member=user.username, roles_before=sorted(r.value for r in before))
    return {"ok": True}


def _keep_an_owner(
    services: Any, workspace: str, before: frozenset[Role], after: frozenset[Role]
) -> None:
    losing = Role.OWNER in before and Role.OWNER not in after
    if losing and services.members.holders(workspace, Role.OWNER) <= 1:
        raise Conflict("a workspace keeps at least one owner")
