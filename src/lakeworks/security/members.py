"""Workspace members and their roles."""

from __future__ import annotations

import builtins
from collections.abc import Iterable

import sqlalchemy as sa

from lakeworks.security.models import Member, User
from lakeworks.security.permissions import Role
from lakeworks.security.tables import users, workspace_members
from lakeworks.security.users import _user
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

_m = workspace_members.c


class MemberRepository:
    """Who belongs to which workspace, with which roles."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def roles_of(self, workspace: str, user_id: int) -> frozenset[Role]:
        """The roles the user holds in ``workspace`` (empty when not a member)."""
        query = sa.select(_m.role).where(_m.workspace == workspace, _m.user_id == user_id)
        with self._db.read() as conn:
            return frozenset(Role(r) for r in conn.execute(query).scalars())

    def set_roles(
        self, workspace: str, user_id: int, roles: Iterable[Role], *, actor: str
    ) -> frozenset[Role]:
        """Replace the user's roles in ``workspace`` (no roles removes the member)."""
        wanted = frozenset(Role(r) for r in roles)
        now = utcnow()
        with self._db.write() as conn:
            conn.execute(
                sa.delete(workspace_members).where(_m.workspace == workspace, _m.user_id == user_id)
            )
            if wanted:
                conn.execute(
                    sa.insert(workspace_members),
                    [
                        {
                            "workspace": workspace,
                            "user_id": user_id,
                            "role": role.value,
                            "created_at": now,
                            "created_by": actor,
                        }
                        for role in sorted(wanted)
                    ],
                )
        return wanted

    def members(self, workspace: str) -> builtins.list[Member]:
        """Every member of ``workspace`` with their roles, by user name."""
        query = (
            sa.select(users, _m.role)
            .join(workspace_members, _m.user_id == users.c.id)
            .where(_m.workspace == workspace)
            .order_by(users.c.username, _m.role)
        )
        found: dict[int, User] = {}
        roles: dict[int, set[Role]] = {}
        with self._db.read() as conn:
            for row in conn.execute(query):
                found.setdefault(row.id, _user(row))
                roles.setdefault(row.id, set()).add(Role(row.role))
        return [Member(user, frozenset(roles[id_])) for id_, user in found.items()]

    def workspaces_of(self, user_id: int) -> dict[str, frozenset[Role]]:
        """The workspaces the user belongs to, with the roles held in each."""
        query = sa.select(_m.workspace, _m.role).where(_m.user_id == user_id)
        result: dict[str, set[Role]] = {}
        with self._db.read() as conn:
            for workspace, role in conn.execute(query):
                result.setdefault(workspace, set()).add(Role(role))
        return {name: frozenset(roles) for name, roles in sorted(result.items())}

    def holders(self, workspace: str, role: Role) -> int:
        """How many members hold ``role``."""
        query = (
            sa.select(sa.func.count())
            .select_from(workspace_members)
            .where(_m.workspace == workspace, _m.role == role.value)
        )
        with self._db.read() as conn:
            return int(conn.execute(query).scalar_one())
