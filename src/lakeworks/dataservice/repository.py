"""Store access for DataService Studio: versions, what is published, apps and grants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.dataservice.definition import ApiDefinition
from lakeworks.dataservice.tables import ds_apps, ds_grants, ds_published, ds_versions
from lakeworks.errors import Conflict, NotFound
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database


@dataclass(frozen=True)
class ApiVersion:
    workspace: str
    api: str
    version: int
    route: str
    definition: ApiDefinition
    created_at: datetime
    created_by: str
    note: str


@dataclass(frozen=True)
class Published:
    workspace: str
    api: str
    route: str
    version: int
    published_at: datetime
    published_by: str


@dataclass(frozen=True)
class App:
    id: int
    workspace: str
    name: str
    app_key: str
    secret_ref: str
    secret_hash: str
    description: str
    per_second: int | None
    per_day: int | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


@dataclass(frozen=True)
class Grant:
    app: str
    api: str
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


def _version(row: Any) -> ApiVersion:
    data = json.loads(row.definition_json)
    return ApiVersion(
        row.workspace,
        row.api,
        row.version,
        row.route,
        ApiDefinition.from_json(row.workspace, data),
        row.created_at,
        row.created_by,
        row.note,
    )


def _app(row: Any) -> App:
    return App(
        row.id,
        row.workspace,
        row.name,
        row.app_key,
        row.secret_ref,
        row.secret_hash,
        row.description,
        row.per_second,
        row.per_day,
        row.created_at,
        row.created_by,
        row.revoked_at,
    )


class DataServiceRepository:
    """Versions, publication state, applications and grants in the metadata store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- versions and publication ------------------------------------------------------

    def add_version(self, definition: ApiDefinition, actor: str, note: str) -> ApiVersion:
        """Store ``definition`` as the API's next version number."""
        c = ds_versions.c
        with self.db.write() as conn:
            last = conn.execute(
                sa.select(sa.func.max(c.version)).where(
                    c.workspace == definition.workspace, c.api == definition.key
                )
            ).scalar_one_or_none()
            values = {
                "workspace": definition.workspace,
                "api": definition.key,
                "version": (last or 0) + 1,
                "route": definition.route,
                "definition_json": json.dumps(definition.to_json(), sort_keys=True),
                "created_at": utcnow(),
                "created_by": actor,
                "note": note,
            }
            row = conn.execute(sa.insert(ds_versions).values(values).returning(*ds_versions.c))
            return _version(row.one())

    def versions(self, workspace: str, api: str) -> list[ApiVersion]:
        c = ds_versions.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(ds_versions)
                .where(c.workspace == workspace, c.api == api)
                .order_by(c.version)
            ).all()
        return [_version(r) for r in rows]

    def version(self, workspace: str, api: str, number: int) -> ApiVersion:
        c = ds_versions.c
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(ds_versions).where(
                    c.workspace == workspace, c.api == api, c.version == number
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"API '{api}' has no version {number}")
        return _version(row)

    def latest_version(self, workspace: str, api: str) -> ApiVersion | None:
        found = self.versions(workspace, api)
        return found[-1] if found else None

    def set_published(self, workspace: str, api: str, route: str, version: int, actor: str) -> None:
        """Serve ``version`` of ``api`` at ``route`` (replacing what was served)."""
        c = ds_published.c
        values = {
            "route": route,
            "version": version,
            "published_at": utcnow(),
            "published_by": actor,
        }
        try:
            with self.db.write() as conn:
                taken = conn.execute(
                    sa.select(c.workspace, c.api).where(
                        c.route == route, sa.or_(c.workspace != workspace, c.api != api)
                    )
                ).first()
                if taken is not None:
                    raise Conflict(
                        f"/dataservice/{route} is already served by {taken.workspace}:{taken.api}",
                        hint="unpublish that API or give this one another path",
                    )
                updated = conn.execute(
                    sa.update(ds_published)
                    .where(c.workspace == workspace, c.api == api)
                    .values(values)
                )
                if not updated.rowcount:
                    conn.execute(
                        sa.insert(ds_published).values(workspace=workspace, api=api, **values)
                    )
        except sa.exc.IntegrityError:
            raise Conflict(f"/dataservice/{route} is already served by another API") from None

    def unpublish(self, workspace: str, api: str) -> bool:
        c = ds_published.c
        with self.db.write() as conn:
            result = conn.execute(
                sa.delete(ds_published).where(c.workspace == workspace, c.api == api)
            )
        return bool(result.rowcount)

    def published(self, workspace: str | None = None) -> list[Published]:
        query = sa.select(ds_published).order_by(ds_published.c.route)
        if workspace is not None:
            query = query.where(ds_published.c.workspace == workspace)
        with self.db.read() as conn:
            return [Published(**r._mapping) for r in conn.execute(query).all()]

    def published_at(self, route: str) -> ApiVersion | None:
        """The version served at ``route``, or None."""
        p, v = ds_published.c, ds_versions.c
        query = (
            sa.select(ds_versions)
            .join(
                ds_published,
                sa.and_(p.workspace == v.workspace, p.api == v.api, p.version == v.version),
            )
            .where(p.route == route)
        )
        with self.db.read() as conn:
            row = conn.execute(query).one_or_none()
        return _version(row) if row is not None else None

    def published_versions(self) -> list[ApiVersion]:
        """Every served version (the OpenAPI document lists them)."""
        p, v = ds_published.c, ds_versions.c
        query = (
            sa.select(ds_versions)
            .join(
                ds_published,
                sa.and_(p.workspace == v.workspace, p.api == v.api, p.version == v.version),
            )
            .order_by(p.route)
        )
        with self.db.read() as conn:
            return [_version(r) for r in conn.execute(query).all()]

    # -- applications and grants -------------------------------------------------------

    def add_app(self, values: dict[str, Any]) -> App:
        try:
            with self.db.write() as conn:
                row = conn.execute(sa.insert(ds_apps).values(values).returning(*ds_apps.c)).one()
        except sa.exc.IntegrityError:
            raise Conflict(f"application '{values['name']}' already exists") from None
        return _app(row)

    def apps(self, workspace: str) -> list[App]:
        c = ds_apps.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(ds_apps).where(c.workspace == workspace).order_by(c.name)
            ).all()
        return [_app(r) for r in rows]

    def app(self, workspace: str, name: str) -> App:
        c = ds_apps.c
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(ds_apps).where(c.workspace == workspace, c.name == name)
            ).one_or_none()
        if row is None:
            raise NotFound(f"application '{name}' does not exist in workspace '{workspace}'")
        return _app(row)

    def app_by_key(self, app_key: str) -> App | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(ds_apps).where(ds_apps.c.app_key == app_key)).one_or_none()
        return _app(row) if row is not None else None

    def update_app(self, app_id: int, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(sa.update(ds_apps).where(ds_apps.c.id == app_id).values(values))

    def grant(self, app: App, api: str, actor: str, expires_at: datetime | None) -> Grant:
        c = ds_grants.c
        now = utcnow()
        with self.db.write() as conn:
            updated = conn.execute(
                sa.update(ds_grants)
                .where(c.app_id == app.id, c.api == api)
                .values(granted_at=now, granted_by=actor, expires_at=expires_at)
            )
            if not updated.rowcount:
                conn.execute(
                    sa.insert(ds_grants).values(
                        app_id=app.id,
                        api=api,
                        granted_at=now,
                        granted_by=actor,
                        expires_at=expires_at,
                    )
                )
        return Grant(app.name, api, now, actor, expires_at)

    def revoke_grant(self, app: App, api: str) -> bool:
        c = ds_grants.c
        with self.db.write() as conn:
            result = conn.execute(sa.delete(ds_grants).where(c.app_id == app.id, c.api == api))
        return bool(result.rowcount)

    def grants(self, app: App) -> list[Grant]:
        c = ds_grants.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(ds_grants).where(c.app_id == app.id).order_by(c.api)
            ).all()
        return [Grant(app.name, r.api, r.granted_at, r.granted_by, r.expires_at) for r in rows]
