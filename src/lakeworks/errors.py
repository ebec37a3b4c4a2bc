"""The error hierarchy. The subclass says who must act and whether a retry can help.

- ``UserError``: the user must fix something (a spec, SQL, a parameter). Shown with
  file, line and a hint, never with a traceback. Never retried.
- ``TransientError``: a network blip, a lock, a timeout. Retried by policy.
- ``PermissionDenied``, ``NotFound``, ``Conflict``: the usual API outcomes.
- ``UserCodeError``: user code (SQL, Python, shell) failed while running; recorded on
  the instance, never crashes a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where in the user's files an error points: file, 1-based line and column, key."""

    file: Path | str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        where = ":".join(parts)
        if self.key:
            where = f"{where} (key '{self.key}')" if where else f"key '{self.key}'"
        return where


class LakeworksError(Exception):
    """Root of every error Lakeworks raises on purpose."""

    code = "error"
    retryable = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The error as shown to a person: message, then the hint if any."""
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UserError(LakeworksError):
    """Bad input from the user: spec, SQL, parameters, command arguments."""

    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location or Location()

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message

    def render(self) -> str:
        text = str(self)
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ValidationFailed(UserError):
    """Several user errors found together (all are reported at once)."""

    def __init__(self, errors: list[UserError]) -> None:
        count = len(errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found")
        self.errors = errors

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


class TransientError(LakeworksError):
    """A failure that may pass on its own (network, lock, timeout); always retried.

    ``exhausted``: the code that raised it already retried per the user's own setting
    (e.g. a sync's ``retries``), so the runtime retries it only per the node's policy.
    """

    code = "transient"
    retryable = True
    exhausted = False


class PermissionDenied(LakeworksError):
    """The caller may not do this."""

    code = "forbidden"


class NotFound(LakeworksError):
    """The named thing does not exist."""

    code = "not_found"


class Conflict(LakeworksError):
    """The action conflicts with the current state (already running, duplicate, ...)."""

    code = "conflict"


class UserCodeError(LakeworksError):
    """User code (a node's SQL, Python or shell) failed while running."""

    code = "user_code_failed"


class CheckAgain(LakeworksError):
    """A check (sensor) node's condition does not hold yet: the instance waits and is
    run again after ``delay_seconds``, holding no worker slot meanwhile."""

    code = "waiting"

    def __init__(self, message: str, *, delay_seconds: float) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds
