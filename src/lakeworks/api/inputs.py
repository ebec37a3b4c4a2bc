"""Bounds on what a request may carry: path parameters, ids and the body size.

Every route's guard checks its path parameters: no control characters (a NUL or a
trailing newline) anywhere, before anything else; once the caller is allowed,
workspace, workflow and node names that match ``spec.loader.NAME_PATTERN`` (so ``.``
and ``..`` never reach the file system). Integer ids are declared with ``Id``, which
bounds them to the store's 64-bit columns. ``BodyLimit`` answers 413 for a body larger
than the configured limit, before it is read into memory.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakeworks.api.errors import ApiError
from lakeworks.spec.loader import is_valid_name

MAX_ID = 2**63 - 1
"""The largest id the store holds (signed 64-bit)."""

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="A numeric id.")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
"""Request bodies above this are refused with 413 (node files are bounded lower)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAMED = {"workspace": "workspace", "workflow": "workflow", "node": "node"}


def _invalid(message: str, hint: str) -> ApiError:
    return ApiError(400, "invalid", message, details={"hint": hint})


def check_path_text(params: dict[str, object]) -> None:
    """400 for a control character in any path parameter (checked before anything,
    authentication included, looks at the values)."""
    for key, value in params.items():
        if isinstance(value, str) and _CONTROL.search(value):
            raise _invalid(
                f"the {key.replace('_', ' ')} in the path contains a control character",
                "names and ids are printable text",
            )


def check_path_names(params: dict[str, object]) -> None:
    """400 for a workspace, workflow or node name (or node key) that cannot exist
    (checked once the caller is known to be allowed, so a stranger learns nothing)."""
    for key, value in params.items():
        if not isinstance(value, str):
            continue
        what = _NAMED.get(key)
        if what is not None and not is_valid_name(value):
            raise _invalid(
                f"invalid {what} name {value!r}",
                "1-100 letters, digits, '_' and '-', not starting with '-'",
            )
        if key == "node_key":
            workflow, dot, node = value.partition(".")
            if not dot or not is_valid_name(workflow) or not is_valid_name(node):
                raise _invalid(f"invalid node key {value!r}", "a node key is <workflow>.<node>")


class BodyLimit:
    """Pure ASGI middleware: 413 for a request body over ``max_bytes`` — from its
    ``Content-Length`` before reading, or once a streamed body grows past it."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"the request body is larger than {self.max_bytes // 1024} KiB")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await _answer_413(send, self.max_bytes)
                    return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, bounded, send)


async def _answer_413(send: Send, max_bytes: int) -> None:
    import json

    body = json.dumps(
        {
            "error": {
                "code": "too_large",
                "message": f"the request body is larger than {max_bytes // 1024} KiB",
                "details": {"hint": "send less at once"},
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
