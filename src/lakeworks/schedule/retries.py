"""Retry timing and rerun rules of a node.

A node with ``retries: N`` gets up to ``N + 1`` attempts. After failed attempt ``n``
the next one waits ``retry_delay_seconds * retry_backoff ** (n - 1)``. A node whose
``rerun_policy`` is ``never`` is not retried automatically either (as in DataWorks,
where automatic rerun on failure needs a rerunnable node).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lakeworks.schedule.states import InstanceState
from lakeworks.spec.models import Defaults, RerunPolicy

DEFAULT_RETRY_DELAY_SECONDS = 60.0
DEFAULT_RETRY_BACKOFF = 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and when a failed instance is tried again."""

    max_attempts: int = 1
    delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS
    backoff: float = DEFAULT_RETRY_BACKOFF

    @classmethod
    def from_settings(cls, settings: Defaults) -> RetryPolicy:
        """The policy of a node's effective settings."""
        retries = settings.retries or 0
        if settings.rerun_policy == RerunPolicy.NEVER:
            retries = 0
        return cls(
            max_attempts=retries + 1,
            delay_seconds=(
                DEFAULT_RETRY_DELAY_SECONDS
                if settings.retry_delay_seconds is None
                else settings.retry_delay_seconds
            ),
            backoff=DEFAULT_RETRY_BACKOFF
            if settings.retry_backoff is None
            else settings.retry_backoff,
        )

    def delay(self, failed_attempt: int) -> timedelta:
        """The wait after failed attempt number ``failed_attempt`` (1-based)."""
        if failed_attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {failed_attempt}")
        return timedelta(seconds=self.delay_seconds * self.backoff ** (failed_attempt - 1))

    def next_attempt_at(self, failed_at: datetime, failed_attempt: int) -> datetime | None:
        """When the next attempt may start, or None when no attempts are left."""
        if failed_attempt >= self.max_attempts:
            return None
        return failed_at + self.delay(failed_attempt)


def rerun_refusal(policy: RerunPolicy | None, state: InstanceState) -> str | None:
    """Why an operator may not rerun an instance in ``state``, or None if allowed."""
    if state in (InstanceState.RUNNING,):
        return "the instance is running; stop it first"
    if policy == RerunPolicy.NEVER:
        return "the node's rerun policy is 'never'"
    if policy == RerunPolicy.AFTER_FAILURE and state == InstanceState.SUCCESS:
        return "the node's rerun policy allows a rerun only after a failure"
    return None
