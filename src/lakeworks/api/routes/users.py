"""Users of the installation (installation administrators only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.pagination import CursorParam, LimitParam, int_cursor, page
from lakeworks.api.routes.common import Body, Out, Services, UserOut, audit_detail, guard, user_json
from lakeworks.errors import Conflict
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["users"])


class NewUser(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str | None = None
    display_name: str | None = None
    superuser: bool = False


class UserChange(Body):
    display_name: str | None = None
    password: str | None = None
    disabled: bool | None = None
    superuser: bool | None = None


class UserPage(Out):
    items: list[UserOut]
    next_cursor: str | None


class UserDetail(UserOut):
    workspaces: dict[str, list[str]]


class UnlockOut(Out):
    username: str
    address: str | None
    cleared: int
    """How many lock records were cleared."""


@router.get("/users", response_model=UserPage)
def list_users(
    services: Services,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    access: Access = guard(Perm.INSTALLATION_ADMIN),
) -> dict[str, Any]:
    """Every user, in id order (keyset pages)."""
    rows = services.users.list(after_id=int_cursor(cursor), limit=limit + 1)
    items, next_cursor = page(rows, limit, lambda u: u.id)
    return {"items": [user_json(u) for u in items], "next_cursor": next_cursor}


@router.post("/users", status_code=201, response_model=UserOut)
def create_user(
    body: NewUser,
    request: Request,
    services: Services,
    access: Access = guard(Perm.INSTALLATION_ADMIN),
) -> dict[str, Any]:
    """Create a user (with a password to sign in, or without one for token-only use)."""
    user = services.users.create(
        body.username, body.password, superuser=body.superuser, display_name=body.display_name
    )
    audit_detail(request, username=user.username, superuser=user.is_superuser)
    return user_json(user)


@router.get("/users/{username}", response_model=UserDetail)
def get_user(
    username: str, services: Services, access: Access = guard(Perm.INSTALLATION_ADMIN)
) -> dict[str, Any]:
    user = services.users.by_name(username)
    workspaces = services.members.workspaces_of(user.id)
    return {
        **user_json(user),
        "workspaces": {n: sorted(r.value for r in roles) for n, roles in workspaces.items()},
    }


@router.patch("/users/{username}", response_model=UserOut)
def update_user(
    username: str,
    body: UserChange,
    request: Request,
    services: Services,
    access: Access = guard(Perm.INSTALLATION_ADMIN),
) -> dict[str, Any]:
    """Change a user: name shown, password, disabled, installation administrator.
    Disabling a user or setting their password ends their sessions."""
    user = services.users.by_name(username)
    changed = sorted(k for k, v in body.model_dump(exclude_unset=True).items() if k != "password")
    if body.disabled and user.id == access.user.id:
        raise Conflict("you cannot disable yourself")
    if body.display_name is not None:
        user = services.users.update_profile(user.id, body.display_name)
    if body.password is not None:
        services.users.set_password(user.id, body.password)
        services.sessions.revoke_all(user.id)
        changed.append("password")
    if body.superuser is not None:
        user = services.users.set_superuser(user.id, body.superuser)
    if body.disabled is not None:
        user = services.users.set_disabled(user.id, body.disabled)
        if body.disabled:
            services.sessions.revoke_all(user.id)
    audit_detail(request, username=user.username, changed=changed)
    return user_json(services.users.get(user.id))


class UnlockBody(Body):
    address: str | None = Field(
        default=None, max_length=100, description="Also unlock this client address."
    )


@router.post("/users/{username}/unlock", response_model=UnlockOut)
def unlock_user(
    username: str,
    request: Request,
    services: Services,
    body: UnlockBody | None = None,
    access: Access = guard(Perm.INSTALLATION_ADMIN),
) -> dict[str, Any]:
    """Lift the sign-in locks of a user (from every client address), and of an address
    when one is given."""
    user = services.users.by_name(username)
    address = body.address if body is not None else None
    cleared = services.throttle.unlock(user.username, address)
    audit_detail(request, username=user.username, address=address, cleared=cleared)
    return {"username": user.username, "address": address, "cleared": cleared}
