"""Mounting the console on the API app: its routers, its static files, its error pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lakeworks.web.errors import install_error_pages
from lakeworks.web.render import HERE, TEMPLATES
from lakeworks.web.routes import ROUTERS

STATIC_PATH = "/static"


def install_console(app: FastAPI) -> None:
    """Add the console to ``app`` (after the API's error handlers are installed)."""
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="static")
    install_error_pages(app, TEMPLATES)
