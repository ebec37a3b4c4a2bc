"""Mounting the console on the API app: its routers, its static files, its error pages."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    app.add_middleware(ServerTiming)


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` to console pages: the time the server spent
    until the response started (what the console benchmark reports)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(("/api", STATIC_PATH)):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                millis = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={millis:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)
