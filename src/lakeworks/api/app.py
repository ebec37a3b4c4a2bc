"""The FastAPI application: routers, error handlers, the audit middleware.

The web console mounts itself on this app (``lakeworks.web.app.install_console``);
``lakeworks up`` does so, the API does not import the console.

``create_app(services)`` builds the app around already opened services, so that
``lakeworks up``, tests and benchmarks assemble the same thing. The OpenAPI document
is served at ``/api/openapi.json`` and the interactive docs at ``/api/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from lakeworks import __version__
from lakeworks.api import gateway
from lakeworks.api.audit import AuditMiddleware
from lakeworks.api.errors import ERROR_RESPONSES, ErrorOut, install_error_handlers
from lakeworks.api.inputs import BodyLimit
from lakeworks.api.proxies import TrustedProxies, parse_networks
from lakeworks.api.routes import ROUTERS
from lakeworks.api.routes.instances import LogPage
from lakeworks.api.services import ServerServices

OPENAPI_URL = "/api/openapi.json"


def create_app(
    services: ServerServices,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    health: Callable[[], Mapping[str, str]] | None = None,
) -> FastAPI:
    """The API app over ``services``; ``on_startup``/``on_shutdown`` run in its lifespan
    (``lakeworks up`` starts and stops the scheduler and worker there); ``health`` says
    how the scheduler and worker are (``GET /api/health``)."""
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
    app.state.health = health
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    app.add_middleware(AuditMiddleware, audit=services.audit)
    networks = parse_networks(services.settings.trusted_proxies)
    app.add_middleware(TrustedProxies, networks=networks)
    for router in ROUTERS:
        app.include_router(router, prefix="/api", responses=ERROR_RESPONSES)
    app.router.routes.extend(gateway.ROUTES)
    _add_components(app, (ErrorOut, LogPage))
    return app


def _add_components(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Put ``models`` into the OpenAPI components: they are referenced by ``$ref`` from
    responses that name no response model (errors, the log's two media types)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]
