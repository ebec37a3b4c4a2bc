"""Serving published APIs: authenticate the application, check its grant and the rate
limits, run the request, cache, mask, and log the call. Masking rules apply to the
calling application unless a rule exempts it (``app:<name>``).

Framework-free: the HTTP surface hands over a ``GatewayRequest`` and writes back the
``GatewayResponse``. What is published, applications and grants are read from the store
and kept for ``REFRESH_SECONDS`` (so a publish, rollback, revocation or new grant made
by any process is served everywhere within that time; the process that made the change
sees it at once). Rate limits and nonces go to the store on every request that needs
them, so they hold across processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lakeworks.dataservice.backends import Backend, QueryFailed, open_backend
from lakeworks.dataservice.calls import Call, CallLog
from lakeworks.dataservice.limits import Limit, RateLimiter
from lakeworks.dataservice.params import BadRequest
from lakeworks.dataservice.repository import ApiVersion, App, DataServiceRepository, Grant
from lakeworks.dataservice.runner import run_request
from lakeworks.dataservice.signing import WINDOW, content_md5, same, signature, string_to_sign
from lakeworks.engines.base import Engine
from lakeworks.errors import LakeworksError, TransientError, UserError
from lakeworks.security.masking import applicable_rules
from lakeworks.security.models import MaskingRule
from lakeworks.store.clock import utcnow

log = logging.getLogger(__name__)
REFRESH_SECONDS = 1.0
SOURCES_SECONDS = 10.0
CACHE_ENTRIES = 10_000
PREFIX = "/dataservice/"


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    path: str
    """The full path, ``/dataservice/<group>/<path>``."""
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    """Lower-case names."""
    body: bytes = b""
    client: str | None = None


@dataclass
class GatewayResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    """The body as sent (JSON)."""


class Refused(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class _AppEntry:
    app: App
    secret: str
    grants: dict[str, Grant]


class _Expiring:
    """A small map whose entries are re-read after ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        value = load()
        with self._lock:
            self._items[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Gateway:
    """Answers requests to ``/dataservice/...`` for every published API."""

    def __init__(
        self,
        repository: DataServiceRepository,
        *,
        secret: Callable[[str, str], str],
        engine: Callable[[str, str], Engine],
        data_sources: Callable[[str], Mapping[str, Mapping[str, Any]]],
        masking: Callable[[str], list[MaskingRule]],
        call_log: CallLog,
        limiter: RateLimiter,
        env: str = "prod",
    ) -> None:
        self.repository = repository
        self._secret = secret
        self._engine = engine
        self._data_sources = data_sources
        self._masking = masking
        self.calls = call_log
        self.limiter = limiter
        self.env = env
        self._routes = _Expiring(REFRESH_SECONDS)
        self._apps = _Expiring(REFRESH_SECONDS)
        self._rules = _Expiring(REFRESH_SECONDS)
        self._backends: dict[tuple[str, str], tuple[float, str, Backend]] = {}
        self._backend_lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget what was read from the store (after a change made in this process)."""
        self._routes.clear()
        self._apps.clear()
        self._rules.clear()

    # -- the request -------------------------------------------------------------------

    def handle(self, request: GatewayRequest) -> GatewayResponse:
        started = time.perf_counter()
        route = request.path.removeprefix(PREFIX).strip("/")
        version: ApiVersion | None = None
        app: App | None = None
        rows = 0
        cached = False
        try:
            version = self._routes.get(route, lambda: self.repository.published_at(route))
            if version is None:
                raise Refused(404, "not_found", f"no published API at {PREFIX}{route}")
            spec = version.definition.spec
            if request.method != spec.method:
                raise Refused(
                    405, "method_not_allowed", f"{PREFIX}{route} answers {spec.method} only"
                )
            entry = self._authenticate(request)
            app = entry.app
            self._authorize(entry, version)
            self._limit(entry.app, version)
            raw, from_text = self._parameters(request, spec.method)
            response, cached = self._answer(version, app, raw, from_text)
            rows = len(response.body["data"]["rows"])
        except Refused as refused:
            response = GatewayResponse(
                refused.status,
                {"error": {"code": refused.code, "message": refused.message}},
                refused.headers,
            )
        except BadRequest as bad:
            details = {"hint": bad.hint} if bad.hint else {}
            response = GatewayResponse(
                400, {"error": {"code": "bad_request", "message": bad.message, **details}}
            )
        except QueryFailed as failed:
            response = GatewayResponse(
                failed.status, {"error": {"code": failed.code, "message": failed.message}}
            )
        except UserError as bad:
            response = GatewayResponse(400, {"error": {"code": "bad_request", "message": str(bad)}})
        except TransientError as busy:
            log.warning("data API %s: %s", route, busy.message)
            response = GatewayResponse(
                503,
                {"error": {"code": "unavailable", "message": "busy; retry shortly"}},
                {"retry-after": "1"},
            )
        except Exception:
            log.exception("data API %s failed", route)
            response = GatewayResponse(
                500, {"error": {"code": "internal", "message": "internal error"}}
            )
        payload = json.dumps(response.body, separators=(",", ":"), default=str)
        response.headers.setdefault("content-type", "application/json")
        response.content = payload.encode()
        error = None if response.status < 400 else payload[:500]
        self.calls.record(
            Call(
                route=route,
                status=response.status,
                duration_ms=(time.perf_counter() - started) * 1000,
                workspace=version.workspace if version else None,
                api=version.api if version else None,
                version=version.version if version else None,
                app_key=app.app_key if app else _claimed_key(request),
                rows=rows,
                bytes=len(payload),
                client=request.client,
                cached=cached,
                error=error,
            )
        )
        return response

    # -- authentication ----------------------------------------------------------------

    def _entry(self, app_key: str) -> _AppEntry | None:
        def load() -> _AppEntry | None:
            app = self.repository.app_by_key(app_key)
            if app is None:
                return None
            grants = {g.api: g for g in self.repository.grants(app)}
            return _AppEntry(app, self._secret(app.workspace, app.secret_ref), grants)

        found: _AppEntry | None = self._apps.get(app_key, load)
        return found

    def _authenticate(self, request: GatewayRequest) -> _AppEntry:
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            key, dot, secret = token.strip().partition(".")
            if scheme.lower() != "bearer" or not dot:
                raise _unauthenticated("use 'Authorization: Bearer <app key>.<app secret>'")
            entry = self._entry(key)
            digest = hashlib.sha256(secret.encode()).hexdigest()
            if entry is None or not same(digest, entry.app.secret_hash):
                raise _unauthenticated("unknown application key or wrong secret")
            self._check_app(entry)
            return entry
        if "x-ca-key" in request.headers:
            return self._verify_signature(request)
        raise _unauthenticated("send a bearer token or a signed request (X-Ca-* headers)")

    def _check_app(self, entry: _AppEntry) -> None:
        if entry.app.revoked_at is not None:
            raise _unauthenticated(f"application '{entry.app.name}' was revoked")

    def _verify_signature(self, request: GatewayRequest) -> _AppEntry:
        headers = request.headers
        key = headers.get("x-ca-key", "")
        entry = self._entry(key)
        if entry is None:
            raise _unauthenticated("unknown application key")
        method = headers.get("x-ca-signature-method", "HmacSHA256")
        if method != "HmacSHA256":
            raise _unauthenticated("X-Ca-Signature-Method must be HmacSHA256")
        stamp = headers.get("x-ca-timestamp", "")
        nonce = headers.get("x-ca-nonce", "")
        sent = headers.get("x-ca-signature", "")
        if not stamp.isdigit() or not nonce or not sent or len(nonce) > 128:
            raise _unauthenticated("X-Ca-Timestamp, X-Ca-Nonce and X-Ca-Signature are required")
        at = datetime(1970, 1, 1) + timedelta(milliseconds=int(stamp[:16]))
        now = utcnow()
        if abs(now - at) > WINDOW:
            raise _unauthenticated("X-Ca-Timestamp is outside the 15-minute window")
        if request.body and headers.get("content-md5", "") != content_md5(request.body):
            raise _unauthenticated("Content-MD5 does not match the body")
        text = string_to_sign(request.method, request.path, request.query, headers)
        if not same(signature(entry.secret, text), sent):
            raise _unauthenticated("the signature does not match")
        self._check_app(entry)
        if not self.limiter.use_nonce(key, nonce, now + WINDOW):
            raise _unauthenticated("X-Ca-Nonce was already used")
        return entry

    def _authorize(self, entry: _AppEntry, version: ApiVersion) -> None:
        grant = entry.grants.get(version.api)
        if entry.app.workspace != version.workspace or grant is None:
            raise Refused(
                403,
                "forbidden",
                f"application '{entry.app.name}' is not granted {version.api}",
            )
        if not grant.active(utcnow()):
            raise Refused(
                403, "forbidden", f"the grant of {version.api} to '{entry.app.name}' expired"
            )

    def _limit(self, app: App, version: ApiVersion) -> None:
        limits = version.definition.spec.limits
        refusal = self.limiter.check(
            [
                Limit(f"app:{app.app_key}", app.per_second, app.per_day),
                Limit(f"api:{version.workspace}/{version.api}", limits.per_second, limits.per_day),
            ],
            utcnow(),
        )
        if refusal is not None:
            raise Refused(
                429,
                "too_many_requests",
                f"{refusal.subject.split(':')[0]} limit of {refusal.limit} requests per"
                f" {refusal.window} reached",
                {"retry-after": str(refusal.retry_after)},
            )

    # -- answering ---------------------------------------------------------------------

    def _parameters(self, request: GatewayRequest, method: str) -> tuple[dict[str, Any], bool]:
        if method == "GET":
            raw: dict[str, Any] = {}
            for key, value in request.query:
                raw.setdefault(key, []).append(value)
            return {k: v if len(v) > 1 else v[0] for k, v in raw.items()}, True
        if not request.body:
            return {}, False
        try:
            body = json.loads(request.body)
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object of parameters")
        return body, False

    def _answer(
        self, version: ApiVersion, app: App, raw: dict[str, Any], from_text: bool
    ) -> tuple[GatewayResponse, bool]:
        spec = version.definition.spec
        every = self._rules.get(version.workspace, lambda: self._masking(version.workspace))
        rules = applicable_rules(every, frozenset({f"app:{app.name}"}))
        key = ""
        if spec.cache_ttl_seconds:
            # Apps exempt from different rules must not share cached rows.
            masked_by = sorted(r.id for r in rules)
            key = json.dumps(
                [version.workspace, version.api, version.version, raw, masked_by],
                sort_keys=True,
                default=str,
            )
            with self._cache_lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] > time.monotonic():
                    self._cache.move_to_end(key)
                    return GatewayResponse(200, {**hit[1], "request_id": uuid.uuid4().hex}), True
        backend = self._backend(version)
        try:
            outcome = run_request(
                version.definition, backend, raw, from_text=from_text, masking=rules
            )
        except QueryFailed:
            raise
        except LakeworksError as exc:
            if isinstance(exc, UserError):
                raise
            raise QueryFailed(exc.message[:300], 502, "backend") from None
        body = outcome.body()
        body["api"] = {"name": version.api, "version": version.version}
        if key:
            with self._cache_lock:
                self._cache[key] = (time.monotonic() + spec.cache_ttl_seconds, body)
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return GatewayResponse(200, body), False

    def _backend(self, version: ApiVersion) -> Backend:
        """The backend of an API; a data source's settings are re-read every
        ``SOURCES_SECONDS`` and a changed one gets a new backend (connections)."""
        name = version.definition.spec.backend
        key = (version.workspace, name)
        now = time.monotonic()
        with self._backend_lock:
            found = self._backends.get(key)
        if found is not None and (name == "warehouse" or now - found[0] < SOURCES_SECONDS):
            return found[2]
        sources = self._data_sources(version.workspace) if name != "warehouse" else {}
        config = json.dumps(sources.get(name), sort_keys=True, default=str)
        with self._backend_lock:
            found = self._backends.get(key)
            if found is not None and found[1] == config:
                self._backends[key] = (now, config, found[2])
                return found[2]
            backend = open_backend(name, lambda: self._engine(version.workspace, self.env), sources)
            self._backends[key] = (now, config, backend)
        if found is not None:
            found[2].close()
        return backend

    def close(self) -> None:
        with self._backend_lock:
            backends = list(self._backends.values())
            self._backends.clear()
        for _checked, _config, backend in backends:
            backend.close()


def _claimed_key(request: GatewayRequest) -> str | None:
    """The application key a refused request claimed (for the call log)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and "." in header:
        return header[7:].strip().partition(".")[0][:64] or None
    return request.headers.get("x-ca-key", "")[:64] or None


def _unauthenticated(message: str) -> Refused:
    return Refused(401, "unauthenticated", message, {"www-authenticate": "Bearer"})
