"""The states of an instance: the vocabulary the planning core and the store share."""

from __future__ import annotations

from enum import StrEnum


class InstanceState(StrEnum):
    """Where an instance is in its life. Terminal states end a run."""

    NOT_RUN = "not_run"
    WAITING_TIME = "waiting_time"
    WAITING_UPSTREAM = "waiting_upstream"
    WAITING_RESOURCES = "waiting_resources"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"
    FROZEN = "frozen"
    SUSPENDED = "suspended"
    BLOCKED = "blocked"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        InstanceState.SUCCESS,
        InstanceState.FAILED,
        InstanceState.SKIPPED,
        InstanceState.STOPPED,
        InstanceState.BLOCKED,
    }
)
