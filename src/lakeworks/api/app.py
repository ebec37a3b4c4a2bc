"""The FastAPI application: routers, error handlers, the audit middleware.

The web console mounts itself on this app (``lakeworks.web.app.install_console``);
``lakeworks up`` does so, the API does not import the console.

``create_app(services)`` builds the app around already opened services, so that
``lakeworks up``, tests and benchmarks assemble the same thing. The OpenAPI document
is served at ``/api/openapi.json`` and the interactive docs at ``/api/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lakeworks import __version__
from lakeworks.api import gateway
from lakeworks.api.audit import AuditMiddleware
from lakeworks.api.errors import install_error_handlers
from lakeworks.api.routes import ROUTERS
from lakeworks.api.services import ServerServices

OPENAPI_URL = "/api/openapi.json"


def create_app(
    services: ServerServices,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """The API app over ``services``; ``on_startup``/``on_shutdown`` run in its lifespan
    (``lakeworks up`` starts and stops the scheduler and worker there)."""
    from lakeworks.bootstrap import install_alerts

    install_alerts()  # operations through the API (rerun, set success, stop) may alert

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(
        title="Lakeworks",
        version=__version__,
        description="Develop, schedule, operate and govern data pipelines.",
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(AuditMiddleware, audit=services.audit)
    for router in ROUTERS:
        app.include_router(router, prefix="/api")
    app.router.routes.extend(gateway.ROUTES)
    return app
