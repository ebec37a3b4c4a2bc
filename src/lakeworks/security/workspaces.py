"""The workspaces a server knows: name, folder (the dev source of truth), settings."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lakeworks.errors import Conflict, NotFound
from lakeworks.security.models import WorkspaceRecord
from lakeworks.security.tables import workspaces
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database


def _record(row: sa.Row[Any]) -> WorkspaceRecord:
    m = row._mapping
    return WorkspaceRecord(
        id=m["id"],
        name=m["name"],
        root=m["root"],
        require_approval=bool(m["require_approval"]),
        created_at=m["created_at"],
        created_by=m["created_by"],
    )


class WorkspaceRepository:
    """Register, find and configure workspaces."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def register(
        self, name: str, root: Path, *, actor: str, require_approval: bool = True
    ) -> WorkspaceRecord:
        """Register a workspace folder, or return the existing record when the same
        name already points at the same folder (``Conflict`` for another folder)."""
        folder = str(root.resolve())
        existing = self.find(name)
        if existing is not None:
            if existing.root != folder:
                raise Conflict(
                    f"workspace '{name}' is already registered at {existing.root}",
                    hint="rename the workspace in lakeworks.yml or remove the other one",
                )
            return existing
        values = {
            "name": name,
            "root": folder,
            "require_approval": require_approval,
            "created_at": utcnow(),
            "created_by": actor,
        }
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    sa.insert(workspaces).values(values).returning(*workspaces.c)
                ).one()
        except sa.exc.IntegrityError:
            found = self.find(name)
            if found is not None and found.root == folder:
                return found
            raise Conflict(f"workspace '{name}' is already registered") from None
        return _record(row)

    def find(self, name: str) -> WorkspaceRecord | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(workspaces).where(workspaces.c.name == name)).one_or_none()
        return None if row is None else _record(row)

    def get(self, name: str) -> WorkspaceRecord:
        found = self.find(name)
        if found is None:
            raise NotFound(f"workspace '{name}' does not exist")
        return found

    def list(self, names: builtins.list[str] | None = None) -> builtins.list[WorkspaceRecord]:
        """All workspaces (or those named), by name."""
        query = sa.select(workspaces).order_by(workspaces.c.name)
        if names is not None:
            query = query.where(workspaces.c.name.in_(sorted(set(names))))
        with self._db.read() as conn:
            return [_record(row) for row in conn.execute(query)]

    def set_require_approval(self, name: str, required: bool) -> WorkspaceRecord:
        with self._db.write() as conn:
            row = conn.execute(
                sa.update(workspaces)
                .where(workspaces.c.name == name)
                .values(require_approval=required)
                .returning(*workspaces.c)
            ).one_or_none()
        if row is None:
            raise NotFound(f"workspace '{name}' does not exist")
        return _record(row)
