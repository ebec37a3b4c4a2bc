"""Signed requests in the shape of Alibaba Cloud API Gateway (``X-Ca-*`` headers). Pure.

The client sends ``X-Ca-Key`` (the application key), ``X-Ca-Timestamp`` (milliseconds
since the epoch), ``X-Ca-Nonce`` (unique per request), ``X-Ca-Signature-Method:
HmacSHA256`` and ``X-Ca-Signature``: the Base64 HMAC-SHA256, keyed by the application
secret, of::

    METHOD \\n Accept \\n Content-MD5 \\n Content-Type \\n Date \\n
    x-ca-key:<key>\\n x-ca-nonce:<nonce>\\n x-ca-timestamp:<ms>\\n
    <path>[?<query parameters sorted by name, as name=value joined by &>]

A JSON body is covered by ``Content-MD5`` (Base64 MD5 of the body bytes), which the
server checks. The timestamp must be within ``WINDOW`` of the server's clock and a
nonce is accepted once (the store remembers it for the window).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import timedelta

WINDOW = timedelta(minutes=15)
SIGNED_HEADERS = ("x-ca-key", "x-ca-nonce", "x-ca-timestamp")
METHOD = "HmacSHA256"


def content_md5(body: bytes) -> str:
    """The ``Content-MD5`` header value of a body."""
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def path_and_parameters(path: str, query: Iterable[tuple[str, str]]) -> str:
    """``path?a=1&b=2`` with parameters sorted by name (then value); ``path`` if none."""
    pairs = sorted(query)
    if not pairs:
        return path
    return path + "?" + "&".join(f"{k}={v}" if v != "" else k for k, v in pairs)


def string_to_sign(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """The text that is signed; ``headers`` keys are lower-case."""
    lines = [
        method.upper(),
        headers.get("accept", ""),
        headers.get("content-md5", ""),
        headers.get("content-type", ""),
        headers.get("date", ""),
    ]
    signed = "".join(f"{name}:{headers.get(name, '')}\n" for name in SIGNED_HEADERS)
    return "\n".join(lines) + "\n" + signed + path_and_parameters(path, query)


def signature(secret: str, text: str) -> str:
    """Base64 HMAC-SHA256 of ``text`` keyed by ``secret``."""
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign(
    key: str,
    secret: str,
    method: str,
    path: str,
    *,
    query: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    timestamp_ms: int,
    nonce: str,
    content_type: str = "",
    accept: str = "application/json",
) -> dict[str, str]:
    """The headers that sign a request (what a client library does)."""
    headers = {
        "accept": accept,
        "x-ca-key": key,
        "x-ca-nonce": nonce,
        "x-ca-timestamp": str(timestamp_ms),
    }
    if content_type:
        headers["content-type"] = content_type
    if body is not None:
        headers["content-md5"] = content_md5(body)
    text = string_to_sign(method, path, query, headers)
    return {
        **headers,
        "x-ca-signature-method": METHOD,
        "x-ca-signature-headers": ",".join(SIGNED_HEADERS),
        "x-ca-signature": signature(secret, text),
    }


def same(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
