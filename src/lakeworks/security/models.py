"""Plain records of the security area (users, sessions, tokens, members, rules, audit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lakeworks.security.permissions import Role


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str | None
    is_superuser: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    has_password: bool = True


@dataclass(frozen=True)
class LoginSession:
    id: int
    user_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    client_ip: str | None


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Member:
    user: User
    roles: frozenset[Role]


@dataclass(frozen=True)
class WorkspaceRecord:
    id: int
    name: str
    root: str
    require_approval: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class TableGrant:
    id: int
    workspace: str
    env: str
    """``dev``, ``prod`` or ``*`` for every environment."""
    subject: str
    """``user:<name>`` or ``role:<role>``."""
    table_pattern: str
    """A table name or a glob (``ods_*``, ``*``), lower case."""
    privilege: str
    """``read`` or ``write`` (write implies read)."""
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class MaskingRule:
    id: int
    workspace: str
    table_pattern: str
    column_pattern: str
    method: str
    exempt: tuple[str, ...]
    """Who sees the real values: subjects (``user:<name>``, ``role:<role>``) and
    DataService applications (``app:<name>``)."""
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor: str
    workspace: str | None
    action: str
    method: str
    target: str
    status: int
    outcome: str
    client_ip: str | None
    user_agent: str | None
    detail: str | None
