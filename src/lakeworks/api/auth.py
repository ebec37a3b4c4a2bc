"""Who is calling, and may they do this: authentication, CSRF and the route guard.

A caller authenticates with ``Authorization: Bearer <API token>`` or with the session
cookie set at login. Cookie-authenticated writes must carry the session's CSRF token
in ``X-CSRF-Token`` (a page on another site can make the browser send the cookie, but
cannot read the token). Every route declares what it needs with ``Guard``; the guard
answers 401 without credentials and 403 when the caller's roles in the route's
workspace lack the permission (``security.permissions.MATRIX``).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from lakeworks.api.errors import ApiError
from lakeworks.api.inputs import check_path_names, check_path_text
from lakeworks.api.services import ENVIRONMENTS, ServerServices
from lakeworks.security.credentials import same
from lakeworks.security.grants import Subjects
from lakeworks.security.models import ApiToken, LoginSession, User
from lakeworks.security.permissions import (
    EnvPermission,
    Permission,
    Requirement,
    Role,
    permissions_of,
)

SESSION_COOKIE = "lakeworks_session"
CSRF_COOKIE = "lakeworks_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user: User
    via: str
    """``session`` or ``token``."""
    session: LoginSession | None = None
    token: ApiToken | None = None

    @property
    def username(self) -> str:
        return self.user.username


@dataclass(frozen=True)
class Access:
    """What the guard established for a request."""

    principal: Principal | None
    workspace: str | None = None
    env: str | None = None
    roles: frozenset[Role] = frozenset()

    @property
    def user(self) -> User:
        if self.principal is None:
            raise ApiError(401, "unauthenticated", "sign in first")
        return self.principal.user

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def workspace_name(self) -> str:
        assert self.workspace is not None, "route has no {workspace}"
        return self.workspace

    @property
    def env_name(self) -> str:
        assert self.env is not None, "route has no {env}"
        return self.env

    def can(self, permission: Permission) -> bool:
        return permission in permissions_of(self.roles)

    @property
    def subjects(self) -> Subjects:
        return Subjects(self.username, self.roles)


def services_of(request: Request) -> ServerServices:
    services: ServerServices = request.app.state.services
    return services


def _unauthenticated(message: str = "sign in or send an API token") -> ApiError:
    return ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request) -> Principal:
    """The caller, from a bearer token or the session cookie (CSRF checked for writes)."""
    services = services_of(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _unauthenticated("use 'Authorization: Bearer <token>'")
        resolved = services.tokens.resolve(credentials.strip())
        if resolved is None:
            raise _unauthenticated("the API token is unknown, revoked or expired")
        token, user = resolved
        principal = Principal(user, "token", token=token)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise _unauthenticated()
        found = services.sessions.resolve(cookie)
        if found is None:
            raise _unauthenticated("the session ended; sign in again")
        session, user = found
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not same(sent, session.csrf_token):
                raise ApiError(
                    403,
                    "csrf",
                    "missing or wrong CSRF token",
                    details={"hint": f"send the csrf_token from login in the {CSRF_HEADER} header"},
                )
        principal = Principal(user, "session", session=session)
    request.state.actor = principal.username
    return principal


def workspace_roles(
    services: ServerServices, principal: Principal, workspace: str
) -> frozenset[Role]:
    """The caller's roles in ``workspace`` (an installation administrator is an owner)."""
    if principal.user.is_superuser:
        return frozenset({Role.OWNER})
    return services.members.roles_of(workspace, principal.user.id)


class Guard:
    """The dependency every route declares: the permission it needs, and whether it
    reads data (reads of data are audited like changes)."""

    def __init__(self, requirement: Requirement, *, data_access: bool = False) -> None:
        self.requirement = requirement
        self.data_access = data_access

    def __repr__(self) -> str:
        return f"Guard({self.requirement})"

    def __call__(self, request: Request) -> Access:
        route = request.scope.get("route")
        request.state.action = getattr(route, "name", None) or request.url.path
        request.state.data_access = self.data_access
        check_path_text(request.path_params)
        if self.requirement is Permission.PUBLIC:
            check_path_names(request.path_params)
            return Access(None)
        principal = authenticate(request)
        if self.requirement is Permission.AUTHENTICATED:
            check_path_names(request.path_params)
            return Access(principal)
        if self.requirement is Permission.INSTALLATION_ADMIN:
            if not principal.user.is_superuser:
                raise ApiError(403, "forbidden", "only installation administrators may do this")
            check_path_names(request.path_params)
            return Access(principal)
        workspace = request.path_params.get("workspace")
        if not isinstance(workspace, str):
            raise RuntimeError(f"route {request.url.path} needs a {{workspace}} path parameter")
        request.state.workspace = workspace
        env = request.path_params.get("env")
        if env is not None and env not in ENVIRONMENTS:
            raise ApiError(
                404, "not_found", f"unknown environment '{env}'", details={"hint": "dev or prod"}
            )
        if isinstance(self.requirement, EnvPermission):
            if not isinstance(env, str):
                raise RuntimeError(f"route {request.url.path} needs an {{env}} path parameter")
            needed = self.requirement.for_env(env)
        else:
            needed = self.requirement
        roles = workspace_roles(services_of(request), principal, workspace)
        if not roles:
            raise ApiError(403, "forbidden", f"you are not a member of workspace '{workspace}'")
        if needed not in permissions_of(roles):
            raise ApiError(
                403,
                "forbidden",
                f"your roles ({', '.join(sorted(r.value for r in roles))}) do not allow"
                f" {needed.value} in '{workspace}'",
            )
        check_path_names(request.path_params)
        return Access(principal, workspace, env if isinstance(env, str) else None, roles)
