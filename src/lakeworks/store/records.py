"""Turning database rows into the plain records of ``store.models`` (and back)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from lakeworks.store.models import (
    Attempt,
    Instance,
    InstanceEvent,
    InstanceState,
    LogLine,
    NodeVersion,
    Run,
    RunState,
    RunType,
)


def _optional_state(value: str | None) -> InstanceState | None:
    return None if value is None else InstanceState(value)


def run_from_row(row: sa.Row[Any]) -> Run:
    m = row._mapping
    return Run(
        id=m["id"],
        workspace=m["workspace"],
        env=m["env"],
        run_type=RunType(m["run_type"]),
        run_key=m["run_key"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        description=m["description"],
        params_json=m["params_json"],
        state=RunState(m["state"]),
        finished_at=m["finished_at"],
    )


def node_version_from_row(row: sa.Row[Any]) -> NodeVersion:
    m = row._mapping
    return NodeVersion(
        id=m["id"],
        workspace=m["workspace"],
        env=m["env"],
        node_key=m["node_key"],
        version=m["version"],
        code_hash=m["code_hash"],
        code=m["code"],
        header_json=m["header_json"],
        created_at=m["created_at"],
    )


def instance_from_mapping(m: Any) -> Instance:
    """An ``Instance`` from a row mapping (or a dict) holding every instances column."""
    return Instance(
        id=m["id"],
        workspace=m["workspace"],
        env=m["env"],
        node_key=m["node_key"],
        workflow=m["workflow"],
        run_type=RunType(m["run_type"]),
        run_key=m["run_key"],
        cycle_time=m["cycle_time"],
        bizdate=m["bizdate"],
        state=InstanceState(m["state"]),
        reason=m["reason"],
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        priority=m["priority"],
        resource_group=m["resource_group"],
        owner=m["owner"],
        node_version=m["node_version"],
        rendered_code=m["rendered_code"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        next_attempt_at=m["next_attempt_at"],
        worker=m["worker"],
        lease_expires_at=m["lease_expires_at"],
        run_id=m["run_id"],
    )


def instances_from_rows(rows: Iterable[sa.Row[Any]]) -> list[Instance]:
    return [instance_from_mapping(row._mapping) for row in rows]


def attempt_from_row(row: sa.Row[Any]) -> Attempt:
    m = row._mapping
    return Attempt(
        id=m["id"],
        instance_id=m["instance_id"],
        number=m["number"],
        state=InstanceState(m["state"]),
        worker=m["worker"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        error=m["error"],
    )


def log_line_from_row(row: sa.Row[Any]) -> LogLine:
    m = row._mapping
    return LogLine(
        id=m["id"],
        instance_id=m["instance_id"],
        attempt=m["attempt"],
        created_at=m["created_at"],
        text=m["text"],
    )


def event_from_row(row: sa.Row[Any]) -> InstanceEvent:
    m = row._mapping
    return InstanceEvent(
        id=m["id"],
        instance_id=m["instance_id"],
        created_at=m["created_at"],
        actor=m["actor"],
        action=m["action"],
        from_state=_optional_state(m["from_state"]),
        to_state=_optional_state(m["to_state"]),
        detail=m["detail"],
    )
