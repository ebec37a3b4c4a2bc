"""Plain records the metadata store returns. No behaviour beyond small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


class RunType(StrEnum):
    """Why an instance exists: the schedule, a manual run, or a backfill."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"


@dataclass(frozen=True)
class NodeVersion:
    id: int
    workspace: str
    env: str
    node_key: str
    version: int
    code_hash: str
    code: str
    header_json: str
    created_at: datetime


@dataclass(frozen=True)
class Instance:
    id: int
    workspace: str
    env: str
    node_key: str
    workflow: str
    run_type: RunType
    run_key: str
    cycle_time: datetime
    bizdate: str
    state: InstanceState
    reason: str | None
    attempts: int
    max_attempts: int
    priority: int
    resource_group: str
    owner: str | None
    node_version: int | None
    rendered_code: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    worker: str | None
    lease_expires_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


@dataclass(frozen=True)
class Attempt:
    id: int
    instance_id: int
    number: int
    state: InstanceState
    worker: str | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class LogLine:
    id: int
    instance_id: int
    attempt: int
    created_at: datetime
    text: str
