"""Plain records the metadata store returns. No behaviour beyond small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lakeworks.schedule.states import TERMINAL_STATES as TERMINAL_STATES
from lakeworks.schedule.states import InstanceState as InstanceState


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
    run_id: int | None = None

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


class RunState(StrEnum):
    """Where a run (one trigger of a set of instances) is: running, then finished."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Run:
    """One trigger of work: a manual run, a backfill, or a scheduled batch."""

    id: int
    workspace: str
    env: str
    run_type: RunType
    run_key: str
    created_at: datetime
    created_by: str
    description: str
    params_json: str
    state: RunState
    finished_at: datetime | None


@dataclass(frozen=True)
class NewInstance:
    """The insertable fields of an instance; optional ones have their defaults.

    Scheduled instances use ``run_key="schedule"``; manual runs and backfills use the
    ``run_key`` of their ``Run``. Times are UTC-naive (aware ones are converted).
    """

    workspace: str
    env: str
    node_key: str
    cycle_time: datetime
    bizdate: str
    workflow: str = ""
    run_type: RunType = RunType.SCHEDULED
    run_key: str = "schedule"
    state: InstanceState = InstanceState.NOT_RUN
    reason: str | None = None
    max_attempts: int = 1
    priority: int = 0
    resource_group: str = "default"
    owner: str | None = None
    node_version: int | None = None
    rendered_code: str | None = None
    next_attempt_at: datetime | None = None
    run_id: int | None = None

    @property
    def unique_key(self) -> tuple[str, str, str, str, str, datetime]:
        """The identity the database keeps unique: one instance per node and cycle."""
        return (
            self.workspace,
            self.env,
            str(self.run_type),
            self.run_key,
            self.node_key,
            self.cycle_time,
        )


@dataclass(frozen=True)
class InstanceEvent:
    """One recorded state change or operator action on an instance."""

    id: int
    instance_id: int
    created_at: datetime
    actor: str
    action: str
    from_state: InstanceState | None
    to_state: InstanceState | None
    detail: str | None
