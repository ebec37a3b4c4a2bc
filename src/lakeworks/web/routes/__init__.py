"""The console's routers, one module per area; ``ROUTERS`` is what the app includes."""

from __future__ import annotations

from fastapi import APIRouter

from lakeworks.web.routes import (
    admin,
    datamap,
    dataservice,
    frame,
    integration,
    monitoring,
    ops,
    quality,
    query,
    streams,
    studio,
)

ROUTERS: list[APIRouter] = [
    frame.router,
    studio.router,
    ops.router,
    streams.router,
    integration.router,
    quality.router,
    monitoring.router,
    dataservice.router,
    datamap.router,
    query.router,
    admin.router,
]
