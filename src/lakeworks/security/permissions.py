"""Roles, permissions and THE permission matrix: the one place that says who may do what.

Every API route names the permission it needs (``lakeworks.api.auth.Guard``); a test
walks every route with every role and checks the answer against ``MATRIX``. Routes
under ``/envs/{env}/`` may need a different permission per environment
(``EnvPermission``): developers run things in dev, operators operate prod.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from lakeworks.errors import UserError


class Role(StrEnum):
    """A member's role in one workspace. A member may hold several."""

    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    OPERATOR = "operator"
    DEPLOYER = "deployer"
    VIEWER = "viewer"
    SECURITY_ADMIN = "security_admin"


class Permission(StrEnum):
    """One kind of action. Workspace permissions are granted through roles;
    ``INSTALLATION_ADMIN`` only to superusers; ``AUTHENTICATED`` to any signed-in user;
    ``PUBLIC`` to anyone."""

    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    INSTALLATION_ADMIN = "installation.admin"

    WORKSPACE_READ = "workspace.read"
    WORKSPACE_MANAGE = "workspace.manage"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    CODE_READ = "code.read"
    CODE_EDIT = "code.edit"
    DEV_RUN = "dev.run"
    INSTANCES_READ = "instances.read"
    LOGS_READ = "logs.read"
    PROD_OPERATE = "prod.operate"
    DEPLOY_READ = "deploy.read"
    DEPLOY_CREATE = "deploy.create"
    DEPLOY_APPROVE = "deploy.approve"
    DEPLOY_APPLY = "deploy.apply"
    SOURCES_READ = "sources.read"
    SOURCES_MANAGE = "sources.manage"
    DATA_QUERY = "data.query"
    DATA_WRITE = "data.write"
    QUALITY_READ = "quality.read"
    MAP_READ = "map.read"
    MAP_BUILD = "map.build"
    SECURITY_READ = "security.read"
    SECURITY_MANAGE = "security.manage"
    AUDIT_READ = "audit.read"
    API_PUBLISH = "api.publish"
    """Publish, unpublish and roll back data APIs (DataService Studio)."""
    API_APPS_MANAGE = "api.apps.manage"
    """Create and revoke API applications, grant them APIs, set their limits."""


GLOBAL_PERMISSIONS = frozenset(
    {Permission.PUBLIC, Permission.AUTHENTICATED, Permission.INSTALLATION_ADMIN}
)
"""Permissions not granted by workspace roles."""

P = Permission

_READ = frozenset(
    {
        P.WORKSPACE_READ,
        P.MEMBERS_READ,
        P.CODE_READ,
        P.INSTANCES_READ,
        P.DEPLOY_READ,
        P.SOURCES_READ,
        P.QUALITY_READ,
        P.MAP_READ,
    }
)
"""What every member may see: code, schedules, instances, deployments, the data map."""

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(set(Permission) - GLOBAL_PERMISSIONS),
    Role.ADMIN: _READ
    | {
        P.WORKSPACE_MANAGE,
        P.MEMBERS_MANAGE,
        P.CODE_EDIT,
        P.DEV_RUN,
        P.LOGS_READ,
        P.PROD_OPERATE,
        P.DEPLOY_CREATE,
        P.DEPLOY_APPROVE,
        P.DEPLOY_APPLY,
        P.SOURCES_MANAGE,
        P.DATA_QUERY,
        P.DATA_WRITE,
        P.MAP_BUILD,
        P.API_PUBLISH,
        P.API_APPS_MANAGE,
    },
    Role.DEVELOPER: _READ
    | {
        P.CODE_EDIT,
        P.DEV_RUN,
        P.LOGS_READ,
        P.DEPLOY_CREATE,
        P.DATA_QUERY,
        P.DATA_WRITE,
        P.MAP_BUILD,
    },
    Role.OPERATOR: _READ | {P.PROD_OPERATE, P.LOGS_READ, P.DATA_QUERY},
    Role.DEPLOYER: _READ | {P.DEPLOY_CREATE, P.DEPLOY_APPROVE, P.DEPLOY_APPLY, P.API_PUBLISH},
    Role.VIEWER: _READ | {P.DATA_QUERY},
    Role.SECURITY_ADMIN: _READ
    | {P.MEMBERS_MANAGE, P.SECURITY_READ, P.SECURITY_MANAGE, P.AUDIT_READ, P.API_APPS_MANAGE},
}
"""Which workspace permissions each role holds. Table grants and masking rules further
limit what ``DATA_QUERY`` and ``DATA_WRITE`` may touch."""

PRIVILEGED_ROLES = frozenset({Role.OWNER, Role.SECURITY_ADMIN})
"""Roles that only holders of ``SECURITY_MANAGE`` may hand out (an admin cannot make
themselves a security admin)."""


@dataclass(frozen=True)
class EnvPermission:
    """A permission that depends on the environment a route acts on."""

    dev: Permission
    prod: Permission

    def for_env(self, env: str) -> Permission:
        """The permission needed in ``env`` (any environment but dev counts as prod)."""
        return self.dev if env == "dev" else self.prod

    def __str__(self) -> str:
        return f"dev:{self.dev} prod:{self.prod}"


RUN_OR_OPERATE = EnvPermission(dev=P.DEV_RUN, prod=P.PROD_OPERATE)
"""Running and operating instances: developers in dev, operators in prod."""

Requirement = Permission | EnvPermission


def parse_role(text: str) -> Role:
    """A role from its name; ``UserError`` listing the roles otherwise."""
    try:
        return Role(text.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        raise UserError(
            f"unknown role '{text}'", hint="roles: " + ", ".join(r.value for r in Role)
        ) from None


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Every workspace permission the given roles hold together."""
    granted: set[Permission] = set()
    for role in roles:
        granted |= MATRIX[role]
    return frozenset(granted)


def allowed(roles: Iterable[Role], permission: Permission) -> bool:
    """Whether members holding ``roles`` have ``permission`` (workspace permissions only)."""
    return permission in permissions_of(roles)
