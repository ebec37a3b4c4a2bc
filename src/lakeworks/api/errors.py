"""One error shape for every API failure: ``{"error": {"code", "message", "details"}}``.

Messages and details pass through secret redaction; unexpected exceptions become a
plain ``internal`` error (the traceback goes to the server log, redacted, never to
the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lakeworks.errors import (
    Conflict,
    LakeworksError,
    NotFound,
    PermissionDenied,
    TransientError,
    UserCodeError,
    UserError,
    ValidationFailed,
)
from lakeworks.security.secrets import redact

log = logging.getLogger("lakeworks.api")

_HTTP_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str
    """Machine-readable: ``invalid``, ``forbidden``, ``not_found``, ``locked``…"""
    message: str
    details: dict[str, Any]
    """``hint``, ``location`` (file, line, column, key), ``problems``… when known."""


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for status, description in (
        (400, "Invalid input (with its location and a hint when known)"),
        (401, "Not signed in"),
        (403, "Not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Request body too large"),
        (422, "The request does not match its schema"),
        (429, "Too many failed sign-ins"),
        (503, "Busy or unavailable; retry"),
    )
}
"""Documented on every route, so the OpenAPI document carries the error shape (by
reference: a model per route and status made building the document 3x slower; the
app adds ``ErrorOut`` to the components once)."""


class ApiError(Exception):
    """An HTTP error with our code, message and details (raised by route code)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The JSON error response; remembers the code for the audit log."""
    request.state.error_code = code
    body = {"error": {"code": code, "message": redact(message), "details": _clean(details or {})}}
    return JSONResponse(body, status_code=status, headers=headers)


def _user_error_details(error: UserError) -> dict[str, Any]:
    where = error.location
    details: dict[str, Any] = {}
    if where.file is not None or where.line is not None or where.key is not None:
        details["location"] = {
            "file": None if where.file is None else str(where.file),
            "line": where.line,
            "column": where.column,
            "key": where.key,
        }
    if error.hint:
        details["hint"] = error.hint
    return details


def lakeworks_error(request: Request, exc: LakeworksError) -> JSONResponse:
    """Map the error hierarchy onto HTTP statuses."""
    if isinstance(exc, ValidationFailed):
        problems = [{"message": e.message, **_user_error_details(e)} for e in exc.errors]
        return error_response(request, 400, "invalid", exc.message, {"problems": problems})
    if isinstance(exc, UserError):
        return error_response(request, 400, "invalid", exc.message, _user_error_details(exc))
    details = {"hint": exc.hint} if exc.hint else {}
    if isinstance(exc, PermissionDenied):
        return error_response(request, 403, "forbidden", exc.message, details)
    if isinstance(exc, NotFound):
        return error_response(request, 404, "not_found", exc.message, details)
    if isinstance(exc, Conflict):
        return error_response(request, 409, "conflict", exc.message, details)
    if isinstance(exc, TransientError):
        return error_response(
            request, 503, "unavailable", exc.message, details, {"Retry-After": "1"}
        )
    if isinstance(exc, UserCodeError):
        return error_response(request, 400, "query_failed", exc.message, details)
    return error_response(request, 500, exc.code or "error", exc.message, details)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every failure the same shape."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def on_lakeworks(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LakeworksError)
        return lakeworks_error(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {
                "location": [str(part) for part in error.get("loc", ())],
                "message": error.get("msg", "invalid"),
                "type": error.get("type", ""),
            }
            for error in exc.errors()
        ]
        return error_response(
            request, 422, "invalid_request", "the request is not valid", {"problems": problems}
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(request, exc.status_code, code, message, None, headers)

    async def on_out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # A number too large for the store (an id past 2**63, a date past year 9999)
        # that no declared bound caught: the input is wrong, not the server.
        log.warning("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            request,
            400,
            "invalid",
            "a value in the request is out of range",
            {"hint": "ids are positive 64-bit integers"},
        )

    async def on_bad_text(request: Request, exc: Exception) -> JSONResponse:
        log.warning("undecodable text on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            request,
            400,
            "invalid",
            "text in the request is not valid Unicode",
            {"hint": "send UTF-8 text"},
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request, 500, "internal", "internal error; see the server log")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(LakeworksError, on_lakeworks)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(UnicodeError, on_bad_text)
    app.add_exception_handler(OverflowError, on_out_of_range)
    app.add_exception_handler(DataError, on_out_of_range)
    app.add_exception_handler(Exception, on_unexpected)
