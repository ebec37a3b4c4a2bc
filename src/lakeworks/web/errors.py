"""Readable error pages for the console (the API keeps its JSON errors).

The API's exception handlers decide status, code and message once; for a path outside
``/api`` the console turns their answer into a page: 401 sends the browser to sign-in
with the wanted page as ``next``, 403/404 explain, 500 shows a request id that is also
in the server log next to the traceback.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

log = logging.getLogger("lakeworks.web")

Handler = Callable[[Request, Any], Response | Awaitable[Response]]

TITLES = {
    400: "That did not work",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    422: "That did not work",
    429: "Too many attempts",
    500: "Something went wrong",
}


def is_console(request: Request) -> bool:
    return not request.url.path.startswith("/api")


def sign_in_url(request: Request) -> str:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(wanted, safe="")


def install_error_pages(app: FastAPI, templates: Jinja2Templates) -> None:
    """Wrap every installed handler: JSON under ``/api``, a page elsewhere."""

    def wrap(handler: Handler) -> Handler:
        async def either(request: Request, exc: Exception) -> Response:
            called = handler(request, exc)
            answer = await called if inspect.isawaitable(called) else called
            if not is_console(request):
                return answer
            if answer.status_code == 401:
                return RedirectResponse(sign_in_url(request), status_code=303)
            error: dict[str, Any] = json.loads(bytes(answer.body)).get("error", {})
            if answer.status_code == 404 and error.get("message") == "Not Found":
                error["message"] = f"There is no page at {request.url.path}."
            request_id = None
            if answer.status_code >= 500:
                request_id = uuid.uuid4().hex[:12]
                log.error(
                    "request %s: %s %s failed",
                    request_id,
                    request.method,
                    request.url.path,
                    exc_info=exc,
                )
            return templates.TemplateResponse(
                request,
                "error.html",
                {
                    "status": answer.status_code,
                    "heading": TITLES.get(answer.status_code, "Error"),
                    "message": error.get("message", ""),
                    "hint": (error.get("details") or {}).get("hint"),
                    "request_id": request_id,
                },
                status_code=answer.status_code,
            )

        return either

    for key, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(key, wrap(handler))
