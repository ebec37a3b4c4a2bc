"""The API routers, one module per area; ``ROUTERS`` is what the app includes."""

from __future__ import annotations

from fastapi import APIRouter

from lakeworks.api.routes import (
    alerts,
    auth,
    backfills,
    code,
    datamap,
    dataservice,
    deployments,
    health,
    instances,
    operations,
    quality,
    query,
    runs,
    security,
    sources,
    streams,
    sync,
    sync_cursors,
    users,
    workspaces,
)

ROUTERS: list[APIRouter] = [
    health.router,
    alerts.router,
    auth.router,
    users.router,
    workspaces.router,
    code.router,
    deployments.router,
    instances.router,
    runs.router,
    operations.router,
    backfills.router,
    sources.router,
    sync.router,
    sync_cursors.router,
    streams.router,
    query.router,
    quality.router,
    datamap.router,
    dataservice.router,
    security.router,
]
