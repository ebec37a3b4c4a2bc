"""Testing a data source's connection: connect, authenticate, list or read one thing.

Each connector module may expose ``probe(name, config, context, timeout) -> Probed``;
``probe_data_source`` times it and turns every failure into a ``ProbeResult`` with the
step that failed and a hint (wrong password, nothing listening, no answer in time),
so the CLI, the API and the console show the same outcome.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from lakeworks.connectors.credentials import redact
from lakeworks.connectors.registry import ConnectorContext, connector_module, parse_config
from lakeworks.errors import LakeworksError, UserError

DEFAULT_TIMEOUT = 10.0
"""Seconds a connection test may take before it is reported as unanswered."""


@dataclass(frozen=True)
class Probed:
    """What a connector's probe found: the server's version and what it listed."""

    server: str | None
    detail: str


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one connection test, as shown to a person."""

    name: str
    type: str
    ok: bool
    seconds: float
    server: str | None = None
    detail: str | None = None
    error: str | None = None
    hint: str | None = None

    def render(self) -> str:
        """One or two lines: success with latency and version, or the error and hint."""
        latency = f"{self.seconds * 1000:.0f} ms"
        if self.ok:
            version = f", {self.server}" if self.server else ""
            return f"{self.name} ({self.type}): connected in {latency}{version}; {self.detail}"
        text = f"{self.name} ({self.type}): failed after {latency}: {self.error}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("password authentication failed", "access denied", "authentication failed", "sasl"),
        "the server refused the user or password: check 'user' and the password "
        "(password_env names a variable of the server's environment; a stored password "
        "is changed by saving the data source with a new one)",
    ),
    (
        ("connection refused", "can't connect", "could not connect", "errno 111"),
        "nothing answers at that host and port: is the server running, are 'host' and "
        "'port' right, does a firewall let this machine in?",
    ),
    (
        ("timeout", "timed out", "no answer"),
        "no answer in time: check 'host' (a wrong address often hangs) and the firewall",
    ),
    (
        ('role "', "unknown user"),
        "the server has no such user: check 'user'",
    ),
    (
        ("does not exist", "unknown database", "no such", "no file", "no folder", "no bucket"),
        "the database, bucket or folder named in the settings does not exist",
    ),
    (
        ("name or service not known", "nodename nor servname", "could not translate host"),
        "the host name does not resolve: check 'host'",
    ),
    (
        ("cannot be decrypted", "no key is loaded"),
        "the stored password cannot be decrypted: save the data source with its password again",
    ),
)


def hint_for(message: str) -> str | None:
    """A hint for a driver's failure message (None when nothing fits)."""
    lowered = message.lower()
    for words, hint in _HINTS:
        if any(word in lowered for word in words):
            return hint
    return None


def probe_data_source(
    name: str,
    raw: dict[str, Any],
    context: ConnectorContext | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> ProbeResult:
    """Test the data source ``name`` declared as ``raw``: never raises for a failed
    connection (the result says what failed); ``UserError`` for invalid settings."""
    config = parse_config(name, raw)
    module = connector_module(config.type)
    probe = getattr(module, "probe", None)
    type_name = config.type
    if probe is None:
        return ProbeResult(
            name,
            type_name,
            ok=False,
            seconds=0.0,
            error=f"'{type_name}' data sources cannot be tested",
            hint="run a sync node that reads it (lakeworks run --node NODE)",
        )
    started = time.perf_counter()
    try:
        found = cast(Probed, probe(name, config, context or ConnectorContext(), timeout))
    except LakeworksError as exc:
        message = redact(exc.message)
        elapsed = time.perf_counter() - started
        hint = hint_for(message) or exc.hint
        if elapsed >= timeout and hint is None:
            hint = hint_for("timeout")
        return ProbeResult(name, type_name, False, elapsed, error=message, hint=hint)
    except Exception as exc:  # a driver's own error: shown, never a traceback
        message = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        elapsed = time.perf_counter() - started
        return ProbeResult(name, type_name, False, elapsed, error=message, hint=hint_for(message))
    elapsed = time.perf_counter() - started
    return ProbeResult(name, type_name, True, elapsed, server=found.server, detail=found.detail)


def counted(number: int, noun: str) -> str:
    """``1 table``, ``3 tables``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def whole_seconds(timeout: float) -> int:
    """A driver's integer connect timeout for ``timeout`` seconds (at least 1)."""
    return max(1, round(timeout))


def require(condition: bool, message: str, hint: str | None = None) -> None:
    """Fail a probe with a user error when ``condition`` does not hold."""
    if not condition:
        raise UserError(message, hint=hint)
