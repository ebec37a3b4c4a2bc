"""DataService Studio management: APIs (list, show, test, publish, unpublish, roll back,
diff), applications and grants, statistics and the call log, and the APIs a table or
column feeds. The logic is ``dataservice.studio``; the published APIs themselves are
served under ``/dataservice/`` (``api.gateway``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Body, Services, audit_detail, guard, iso
from lakeworks.dataservice.repository import ApiVersion, App, Grant
from lakeworks.dataservice.spec import Limits
from lakeworks.dataservice.studio import DataServiceStudio
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["dataservice"])
BASE = "/workspaces/{workspace}/dataservice"
API = BASE + "/apis/{group}/{name}"


def _studio(services: Services, workspace: str) -> DataServiceStudio:
    return services.dataservice.studio(workspace)


def version_json(version: ApiVersion) -> dict[str, Any]:
    return {
        "api": version.api,
        "version": version.version,
        "route": f"/dataservice/{version.route}",
        "created_at": iso(version.created_at),
        "created_by": version.created_by,
        "note": version.note,
    }


def app_json(app: App, grants: list[Grant] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": app.name,
        "app_key": app.app_key,
        "description": app.description,
        "per_second": app.per_second,
        "per_day": app.per_day,
        "created_at": iso(app.created_at),
        "created_by": app.created_by,
        "revoked_at": iso(app.revoked_at),
    }
    if grants is not None:
        data["grants"] = [
            {
                "api": g.api,
                "granted_at": iso(g.granted_at),
                "granted_by": g.granted_by,
                "expires_at": iso(g.expires_at),
            }
            for g in grants
        ]
    return data


@router.get(BASE + "/apis")
def list_apis(
    workspace: str, services: Services, access: Access = guard(Perm.CODE_READ)
) -> dict[str, Any]:
    """Every API of the workspace folder and every published one, with its state."""
    return {"items": [asdict(s) for s in _studio(services, workspace).summaries()]}


@router.get(API)
def show_api(
    workspace: str,
    group: str,
    name: str,
    services: Services,
    access: Access = guard(Perm.CODE_READ),
) -> dict[str, Any]:
    """An API's definition, SQL template, versions and what is published."""
    return _studio(services, workspace).show(f"{group}/{name}")


class TestBody(Body):
    parameters: dict[str, Any] = Field(default_factory=dict)


@router.post(API + "/test")
def test_api(
    workspace: str,
    group: str,
    name: str,
    body: TestBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DEV_RUN, data_access=True),
) -> dict[str, Any]:
    """Run the folder's definition in dev: the SQL as bound, the rows and the time."""
    audit_detail(request, api=f"{group}/{name}")
    outcome = _studio(services, workspace).test(f"{group}/{name}", body.parameters, from_text=False)
    return {
        **outcome.body(),
        "sql": outcome.sql.shown(),
        "bound": [str(v) for v in outcome.sql.values],
        "seconds": round(outcome.seconds, 4),
        "masked_columns": outcome.masked,
    }


class PublishBody(Body):
    note: str = Field(default="", max_length=2000)


@router.post(API + "/publish")
def publish_api(
    workspace: str,
    group: str,
    name: str,
    body: PublishBody,
    services: Services,
    access: Access = guard(Perm.API_PUBLISH),
) -> dict[str, Any]:
    """Store the folder's definition as the next version (if changed) and serve it."""
    version = _studio(services, workspace).publish(f"{group}/{name}", access.username, body.note)
    return version_json(version)


@router.post(API + "/unpublish")
def unpublish_api(
    workspace: str,
    group: str,
    name: str,
    services: Services,
    access: Access = guard(Perm.API_PUBLISH),
) -> dict[str, Any]:
    """Stop serving the API (its versions are kept)."""
    _studio(services, workspace).unpublish(f"{group}/{name}")
    return {"api": f"{group}/{name}", "published": False}


class RollbackBody(Body):
    version: int = Field(ge=1)


@router.post(API + "/rollback")
def rollback_api(
    workspace: str,
    group: str,
    name: str,
    body: RollbackBody,
    services: Services,
    access: Access = guard(Perm.API_PUBLISH),
) -> dict[str, Any]:
    """Serve an earlier version again."""
    studio = _studio(services, workspace)
    version = studio.rollback(f"{group}/{name}", body.version, access.username)
    return version_json(version)


@router.get(API + "/diff")
def diff_api(
    workspace: str,
    group: str,
    name: str,
    services: Services,
    old: str = Query(..., max_length=20, description="A version number, or dev"),
    new: str = Query("dev", max_length=20, description="A version number, or dev"),
    access: Access = guard(Perm.CODE_READ),
) -> dict[str, Any]:
    """A unified diff of two versions' settings, parameters and SQL."""
    return {"diff": _studio(services, workspace).diff(f"{group}/{name}", old, new)}


# -- applications ------------------------------------------------------------------------


@router.get(BASE + "/apps")
def list_apps(
    workspace: str, services: Services, access: Access = guard(Perm.CODE_READ)
) -> dict[str, Any]:
    """The workspace's API applications (never their secrets)."""
    return {"items": [app_json(a) for a in _studio(services, workspace).apps()]}


class AppBody(Body):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    per_second: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)


@router.post(BASE + "/apps", status_code=201)
def create_app(
    workspace: str, body: AppBody, services: Services, access: Access = guard(Perm.API_APPS_MANAGE)
) -> dict[str, Any]:
    """A new application; the secret (and the bearer token) are shown only here."""
    created = _studio(services, workspace).create_app(
        body.name,
        access.username,
        description=body.description,
        limits=Limits(per_second=body.per_second, per_day=body.per_day),
    )
    return {**app_json(created.app), "secret": created.secret, "token": created.token}


@router.get(BASE + "/apps/{app}")
def show_app(
    workspace: str, app: str, services: Services, access: Access = guard(Perm.CODE_READ)
) -> dict[str, Any]:
    found, grants = _studio(services, workspace).app(app)
    return app_json(found, grants)


@router.post(BASE + "/apps/{app}/revoke")
def revoke_app(
    workspace: str, app: str, services: Services, access: Access = guard(Perm.API_APPS_MANAGE)
) -> dict[str, Any]:
    """Revoke the application: its key and secret stop working."""
    return app_json(_studio(services, workspace).revoke_app(app))


class LimitsBody(Body):
    per_second: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)


@router.put(BASE + "/apps/{app}/limits")
def set_app_limits(
    workspace: str,
    app: str,
    body: LimitsBody,
    services: Services,
    access: Access = guard(Perm.API_APPS_MANAGE),
) -> dict[str, Any]:
    """Requests per second and per day for the application (null: unlimited)."""
    limits = Limits(per_second=body.per_second, per_day=body.per_day)
    return app_json(_studio(services, workspace).set_limits(app, limits))


class GrantBody(Body):
    until: datetime | None = Field(default=None, description="The grant ends then (UTC).")


@router.put(BASE + "/apps/{app}/grants/{group}/{name}")
def grant_api(
    workspace: str,
    app: str,
    group: str,
    name: str,
    body: GrantBody,
    services: Services,
    access: Access = guard(Perm.API_APPS_MANAGE),
) -> dict[str, Any]:
    """Let the application call an API (optionally until a time)."""
    grant = _studio(services, workspace).grant(app, f"{group}/{name}", access.username, body.until)
    return {"app": grant.app, "api": grant.api, "expires_at": iso(grant.expires_at)}


@router.delete(BASE + "/apps/{app}/grants/{group}/{name}")
def revoke_grant(
    workspace: str,
    app: str,
    group: str,
    name: str,
    services: Services,
    access: Access = guard(Perm.API_APPS_MANAGE),
) -> dict[str, Any]:
    _studio(services, workspace).revoke_grant(app, f"{group}/{name}")
    return {"app": app, "api": f"{group}/{name}", "granted": False}


# -- governance --------------------------------------------------------------------------


@router.get(BASE + "/stats")
def api_stats(
    workspace: str,
    services: Services,
    api: str | None = Query(None, max_length=200),
    since: datetime | None = Query(None),
    access: Access = guard(Perm.CODE_READ),
) -> dict[str, Any]:
    """Calls, errors, p50/p99 latency (ms) and rows per API."""
    services.dataservice.calls.flush(timeout=2)
    found = _studio(services, workspace).stats(api, since)
    return {"items": [asdict(s) for s in found]}


@router.get(BASE + "/calls")
def api_calls(
    workspace: str,
    services: Services,
    api: str | None = Query(None, max_length=200),
    limit: int = Query(100, ge=1, le=1000),
    access: Access = guard(Perm.LOGS_READ),
) -> dict[str, Any]:
    """The latest calls of the workspace's APIs (app, status, duration, rows, client)."""
    services.dataservice.calls.flush(timeout=2)
    items = _studio(services, workspace).calls(api, limit)
    for item in items:
        item["called_at"] = iso(item["called_at"])
    return {"items": items}


@router.get(BASE + "/impact")
def apis_reading(
    workspace: str,
    services: Services,
    table: str = Query(..., min_length=1, max_length=300),
    column: str | None = Query(None, max_length=300),
    access: Access = guard(Perm.MAP_READ),
) -> dict[str, Any]:
    """Published APIs that read a table (and return a column)."""
    return {"items": _studio(services, workspace).apis_reading(table, column)}
