"""Signing in and out, the caller's profile, password change, personal API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from lakeworks.api.audit import client_address
from lakeworks.api.auth import CSRF_COOKIE, SESSION_COOKIE, Access
from lakeworks.api.errors import ApiError
from lakeworks.api.inputs import Id
from lakeworks.api.routes.common import (
    Body,
    Ok,
    Out,
    Services,
    TokenOut,
    UserOut,
    audit_detail,
    guard,
    token_json,
    user_json,
)
from lakeworks.errors import NotFound, UserError
from lakeworks.security.permissions import Permission as Perm
from lakeworks.security.throttle import throttle_keys
from lakeworks.store.clock import utcnow

router = APIRouter(tags=["auth"])


class LoginBody(Body):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class PasswordBody(Body):
    current_password: str
    new_password: str


class TokenBody(Body):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=90, ge=1)
    """Days until the token expires; null for the longest allowed."""


class LoginOut(Out):
    user: UserOut
    csrf_token: str
    expires_at: str


class MeOut(Out):
    user: UserOut
    workspaces: dict[str, list[str]]
    via: str | None


class PasswordOut(Out):
    ok: bool
    sessions_ended: int


class TokenList(Out):
    items: list[TokenOut]


class NewTokenOut(TokenOut):
    token: str
    """The secret: shown in this response only."""


def _locked(until: Any) -> ApiError:
    seconds = max(1, int((until - utcnow()).total_seconds()))
    return ApiError(
        429,
        "locked",
        "too many failed sign-ins; try again later",
        details={"retry_after_seconds": seconds},
        headers={"Retry-After": str(seconds)},
    )


@router.post("/auth/login", response_model=LoginOut)
def login(
    body: LoginBody,
    request: Request,
    response: Response,
    services: Services,
    access: Access = guard(Perm.PUBLIC),
) -> dict[str, Any]:
    """Sign in with a user name and password; sets the session cookie and returns the
    CSRF token to send with writes. Repeated failures lock the account for a while."""
    request.state.actor = body.username.strip().lower()[:200]
    keys = throttle_keys(body.username, client_address(request.scope))
    locked = services.throttle.locked_until(keys)
    if locked is not None:
        raise _locked(locked)
    user = services.users.authenticate(body.username, body.password)
    if user is None:
        until = services.throttle.failure(keys)
        if until is not None:
            raise _locked(until)
        raise ApiError(401, "invalid_credentials", "wrong user name or password")
    services.throttle.success(keys)
    settings = services.settings
    secret, session = services.sessions.create(
        user.id,
        settings.session_ttl,
        client_ip=client_address(request.scope),
        user_agent=request.headers.get("user-agent"),
    )
    max_age = int(settings.session_ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max_age,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf_token,
        max_age=max_age,
        httponly=False,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return {
        "user": user_json(user),
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at.isoformat() + "Z",
    }


@router.post("/auth/logout", response_model=Ok)
def logout(
    response: Response, services: Services, access: Access = guard(Perm.AUTHENTICATED)
) -> dict[str, Any]:
    """End the current session (a token-authenticated call ends nothing)."""
    principal = access.principal
    if principal is not None and principal.session is not None:
        services.sessions.revoke(principal.session.id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return {"ok": True}


@router.get("/auth/me", response_model=MeOut)
def me(services: Services, access: Access = guard(Perm.AUTHENTICATED)) -> dict[str, Any]:
    """The caller and the workspaces they belong to, with their roles."""
    user = access.user
    if user.is_superuser:
        roles = {w.name: ["owner"] for w in services.workspaces.list()}
    else:
        roles = {
            name: sorted(r.value for r in held)
            for name, held in services.members.workspaces_of(user.id).items()
        }
    return {
        "user": user_json(user),
        "workspaces": roles,
        "via": access.principal and access.principal.via,
    }


@router.post("/auth/password", response_model=PasswordOut)
def change_password(
    body: PasswordBody, services: Services, access: Access = guard(Perm.AUTHENTICATED)
) -> dict[str, Any]:
    """Change the caller's password; every session ends (sign in again)."""
    user = access.user
    if services.users.authenticate(user.username, body.current_password) is None:
        raise ApiError(403, "forbidden", "the current password is wrong")
    services.users.set_password(user.id, body.new_password)
    ended = services.sessions.revoke_all(user.id)
    return {"ok": True, "sessions_ended": ended}


@router.get("/auth/tokens", response_model=TokenList)
def list_tokens(services: Services, access: Access = guard(Perm.AUTHENTICATED)) -> dict[str, Any]:
    """The caller's API tokens (never their secret)."""
    return {"items": [token_json(t) for t in services.tokens.list(access.user.id)]}


@router.post("/auth/tokens", status_code=201, response_model=NewTokenOut)
def create_token(
    body: TokenBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.AUTHENTICATED),
) -> dict[str, Any]:
    """A new personal API token; its secret is in this response only."""
    limit = services.settings.token_max_days
    days = body.expires_in_days or limit
    if days > limit:
        raise UserError(f"a token may live at most {limit} days", hint="ask for fewer days")
    secret, token = services.tokens.create(
        access.user.id, body.name, expires_at=utcnow() + timedelta(days=days)
    )
    audit_detail(request, token_id=token.id, name=token.name)
    return {**token_json(token), "token": secret}


@router.delete("/auth/tokens/{token_id}", response_model=TokenOut)
def revoke_token(
    token_id: Id, request: Request, services: Services, access: Access = guard(Perm.AUTHENTICATED)
) -> dict[str, Any]:
    """Revoke one of the caller's tokens; it stops working at once."""
    token = services.tokens.get(token_id)
    if token.user_id != access.user.id and not access.user.is_superuser:
        raise NotFound(f"API token {token_id} does not exist")
    audit_detail(request, token_id=token_id)
    return token_json(services.tokens.revoke(token_id))
