"""The audit middleware: one audit log entry per change and per data access.

Every request with a method other than GET/HEAD/OPTIONS is recorded — allowed or not,
even when no route matched — and so is every GET whose guard marks it as a data
access (ad-hoc queries, previews, logs). The entry is written when the response
starts, before the client sees the answer. Routes add what they did through
``request.state.audit_detail``.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakeworks.security.audit import AuditLog

log = logging.getLogger("lakeworks.api.audit")
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class AuditMiddleware:
    """Pure ASGI middleware (no buffering, works with streamed responses)."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        method = str(scope["method"])
        written = False

        async def send_and_audit(message: Message) -> None:
            nonlocal written
            if message["type"] == "http.response.start" and not written:
                written = True
                if method not in _SAFE or state.get("data_access"):
                    await anyio.to_thread.run_sync(
                        self._record, scope, state, method, int(message["status"])
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_and_audit)
        except Exception:
            if not written:  # an unexpected error: the outer layer answers 500
                written = True
                if method not in _SAFE or state.get("data_access"):
                    state.setdefault("error_code", "internal")
                    await anyio.to_thread.run_sync(self._record, scope, state, method, 500)
            raise

    def _record(self, scope: Scope, state: dict[str, Any], method: str, status: int) -> None:
        path = str(scope.get("path", ""))
        query = scope.get("query_string", b"").decode("latin-1")
        detail: dict[str, Any] = dict(state.get("audit_detail") or {})
        if state.get("error_code"):
            detail["error"] = state["error_code"]
        try:
            self.audit.record(
                actor=str(state.get("actor") or "anonymous"),
                workspace=state.get("workspace"),
                action=str(state.get("action") or f"http.{method.lower()}"),
                method=method,
                target=f"{path}?{query}" if query else path,
                status=status,
                client_ip=client_address(scope),
                user_agent=_header(scope, b"user-agent"),
                detail=detail or None,
            )
        except Exception:
            log.exception("could not write the audit log entry for %s %s", method, path)
