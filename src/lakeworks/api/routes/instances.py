"""Instances of an environment: list (filtered, keyset pages), one instance with its
dependencies, attempts and events, and its log (a page, or streamed while it runs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from lakeworks.api.auth import Access
from lakeworks.api.inputs import Id, QueryId
from lakeworks.api.pagination import CursorParam, LimitParam, int_cursor, page
from lakeworks.api.routes.common import (
    InstanceFull,
    InstanceOut,
    Out,
    Services,
    audit_detail,
    guard,
    instance_json,
    iso,
)
from lakeworks.errors import NotFound, UserError
from lakeworks.security.permissions import Permission as Perm
from lakeworks.security.secrets import redact
from lakeworks.store.models import Instance, InstanceState, RunType
from lakeworks.store.repositories import AttemptRepository, InstanceRepository, LogRepository

router = APIRouter(tags=["instances"])

FOLLOW_LIMIT_SECONDS = 3600.0


class InstancePage(Out):
    items: list[InstanceOut]
    next_cursor: str | None


class AttemptOut(Out):
    number: int
    state: str
    worker: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None


class InstanceDetail(InstanceFull):
    upstream: list[int]
    downstream: list[int]
    attempt_history: list[AttemptOut]


class EventOut(Out):
    id: int
    at: str | None
    actor: str | None
    action: str | None
    from_state: str | None
    to_state: str | None
    detail: Any


class EventList(Out):
    items: list[EventOut]


class LogLine(Out):
    id: int
    attempt: int | None
    at: str | None
    text: str


class LogPage(Out):
    items: list[LogLine]
    last_id: int


def _instance(services: Services, workspace: str, env: str, instance_id: int) -> Instance:
    instance = InstanceRepository(services.db).get(instance_id)
    if instance.workspace != workspace or instance.env != env:
        raise NotFound(f"instance {instance_id} does not exist in {workspace} ({env})")
    return instance


def _states(values: list[str] | None) -> list[InstanceState] | None:
    if not values:
        return None
    wanted: list[InstanceState] = []
    for value in values:
        for part in value.split(","):
            try:
                wanted.append(InstanceState(part.strip()))
            except ValueError:
                raise UserError(
                    f"unknown state '{part}'",
                    hint="one of: " + ", ".join(s.value for s in InstanceState),
                ) from None
    return wanted


@router.get("/workspaces/{workspace}/envs/{env}/instances", response_model=InstancePage)
def list_instances(
    workspace: str,
    env: str,
    services: Services,
    state: list[str] | None = Query(None, description="States (repeat or comma-separate)."),
    node: list[str] | None = Query(None, description="Node keys workflow.node."),
    workflow: str | None = None,
    owner: str | None = None,
    bizdate: str | None = Query(None, pattern=r"^\d{8}$"),
    run_type: RunType | None = None,
    run_id: QueryId = None,
    cycle_from: datetime | None = Query(None, description="Cycle time from (inclusive)."),
    cycle_to: datetime | None = Query(None, description="Cycle time to (exclusive)."),
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """Instances newest first, filtered; pass ``next_cursor`` back for the next page."""
    rows = InstanceRepository(services.db).list(
        workspace=workspace,
        env=env,
        states=_states(state),
        node_keys=node,
        workflow=workflow,
        owner=owner,
        bizdate=bizdate,
        run_type=run_type,
        run_id=run_id,
        cycle_from=cycle_from,
        cycle_to=cycle_to,
        after_id=int_cursor(cursor),
        limit=limit + 1,
        order="desc",
    )
    items, next_cursor = page(rows, limit, lambda i: i.id)
    return {"items": [instance_json(i) for i in items], "next_cursor": next_cursor}


@router.get(
    "/workspaces/{workspace}/envs/{env}/instances/{instance_id}", response_model=InstanceDetail
)
def get_instance(
    workspace: str,
    env: str,
    instance_id: Id,
    services: Services,
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """One instance: the rendered code that ran, its upstream and downstream, attempts."""
    instance = _instance(services, workspace, env, instance_id)
    repo = InstanceRepository(services.db)
    attempts = AttemptRepository(services.db).for_instance(instance_id)
    return {
        **instance_json(instance, full=True),
        "upstream": repo.upstream_ids(instance_id),
        "downstream": repo.downstream_ids(instance_id),
        "attempt_history": [
            {
                "number": a.number,
                "state": a.state.value,
                "worker": a.worker,
                "started_at": iso(a.started_at),
                "finished_at": iso(a.finished_at),
                "error": None if a.error is None else redact(a.error),
            }
            for a in attempts
        ],
    }


@router.get(
    "/workspaces/{workspace}/envs/{env}/instances/{instance_id}/events", response_model=EventList
)
def instance_events(
    workspace: str,
    env: str,
    instance_id: Id,
    services: Services,
    access: Access = guard(Perm.INSTANCES_READ),
) -> dict[str, Any]:
    """Every state change and operator action on the instance, oldest first."""
    _instance(services, workspace, env, instance_id)
    return {
        "items": [
            {
                "id": e.id,
                "at": iso(e.created_at),
                "actor": e.actor,
                "action": e.action,
                "from_state": e.from_state.value if e.from_state else None,
                "to_state": e.to_state.value if e.to_state else None,
                "detail": e.detail,
            }
            for e in InstanceRepository(services.db).events(instance_id)
        ]
    }


@router.get(
    "/workspaces/{workspace}/envs/{env}/instances/{instance_id}/log",
    response_model=None,
    responses={
        200: {
            "description": "A page of lines, or with follow=true a plain-text stream.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/LogPage"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
def instance_log(
    workspace: str,
    env: str,
    instance_id: Id,
    request: Request,
    services: Services,
    attempt: int | None = Query(None, ge=1, le=1_000_000),
    after_id: int = Query(0, ge=0, description="The last line id seen."),
    limit: int = Query(1000, ge=1, le=10000),
    follow: bool = Query(False, description="Stream lines as plain text until it finishes."),
    access: Access = guard(Perm.LOGS_READ, data_access=True),
) -> dict[str, Any] | StreamingResponse:
    """The instance's log: a page of lines (JSON), or with ``follow`` a plain-text
    stream that ends when the instance is no longer running."""
    _instance(services, workspace, env, instance_id)
    logs = LogRepository(services.db)
    audit_detail(request, instance=instance_id, follow=follow)
    if not follow:
        lines = logs.read(instance_id, attempt=attempt, after_id=after_id, limit=limit)
        return {
            "items": [
                {
                    "id": ln.id,
                    "attempt": ln.attempt,
                    "at": iso(ln.created_at),
                    "text": redact(ln.text),
                }
                for ln in lines
            ],
            "last_id": lines[-1].id if lines else after_id,
        }
    poll = services.settings.log_poll_seconds
    instances = InstanceRepository(services.db)

    def stream() -> Iterator[str]:
        last = after_id
        deadline = time.monotonic() + FOLLOW_LIMIT_SECONDS
        while True:
            lines = logs.read(instance_id, attempt=attempt, after_id=last, limit=1000)
            for line in lines:
                yield redact(line.text) + "\n"
                last = line.id
            if lines and len(lines) == 1000:
                continue
            state = instances.get(instance_id).state
            if state.is_terminal or state is InstanceState.FROZEN or time.monotonic() > deadline:
                for line in logs.read(instance_id, attempt=attempt, after_id=last, limit=10000):
                    yield redact(line.text) + "\n"
                return
            time.sleep(poll)

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")
