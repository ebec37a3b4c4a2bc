"""Shared pieces of the routers: dependencies and record serialisers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, model_validator

from lakeworks.api.auth import Guard, services_of
from lakeworks.api.services import ServerServices
from lakeworks.security.models import ApiToken, User
from lakeworks.security.permissions import Requirement
from lakeworks.store.models import Instance

Services = Annotated[ServerServices, Depends(services_of)]


def guard(requirement: Requirement, *, data_access: bool = False) -> Any:
    """``Depends(Guard(...))``: the permission a route needs."""
    return Depends(Guard(requirement, data_access=data_access))


def audit_detail(request: Request, **detail: Any) -> None:
    """Add to what the audit log records about this request."""
    current = dict(getattr(request.state, "audit_detail", None) or {})
    current.update(detail)
    request.state.audit_detail = current


def _check_unicode(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_unicode(item)


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused, and so is text that cannot
    be written as UTF-8 (JSON may carry lone surrogates)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _valid_unicode(self) -> Body:
        _check_unicode(self.__dict__)
        _check_unicode(self.__pydantic_extra__ or {})
        return self


class Out(BaseModel):
    """Base of response models: every route declares its answer's shape (the OpenAPI
    document carries it); a key the model does not know is a server error, so the
    model and the route cannot drift apart."""

    model_config = ConfigDict(extra="forbid")


class Ok(Out):
    ok: bool = True


class OkWarnings(Out):
    ok: bool = True
    warnings: list[str] = []


class UserOut(Out):
    id: int
    username: str
    display_name: str | None
    is_superuser: bool
    disabled: bool
    created_at: str | None
    last_login_at: str | None


class TokenOut(Out):
    id: int
    name: str
    prefix: str
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class InstanceOut(Out):
    id: int
    node: str
    workflow: str
    env: str
    run_type: str
    run_id: int | None
    cycle_time: str | None
    bizdate: str
    state: str
    reason: str | None
    attempts: int
    max_attempts: int
    priority: int
    resource_group: str
    owner: str | None
    node_version: int | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    worker: str | None


class InstanceFull(InstanceOut):
    rendered_code: str | None
    next_attempt_at: str | None
    lease_expires_at: str | None


def iso(value: datetime | None) -> str | None:
    """A UTC-naive store time as ISO 8601 with ``Z``."""
    return None if value is None else value.isoformat() + "Z"


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "is_superuser": user.is_superuser,
        "disabled": user.disabled,
        "created_at": iso(user.created_at),
        "last_login_at": iso(user.last_login_at),
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


def instance_json(instance: Instance, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": instance.id,
        "node": instance.node_key,
        "workflow": instance.workflow,
        "env": instance.env,
        "run_type": instance.run_type.value,
        "run_id": instance.run_id,
        "cycle_time": iso(instance.cycle_time),
        "bizdate": instance.bizdate,
        "state": instance.state.value,
        "reason": instance.reason,
        "attempts": instance.attempts,
        "max_attempts": instance.max_attempts,
        "priority": instance.priority,
        "resource_group": instance.resource_group,
        "owner": instance.owner,
        "node_version": instance.node_version,
        "created_at": iso(instance.created_at),
        "started_at": iso(instance.started_at),
        "finished_at": iso(instance.finished_at),
        "duration_seconds": instance.duration_seconds,
        "worker": instance.worker,
    }
    if full:
        data["rendered_code"] = instance.rendered_code
        data["next_attempt_at"] = iso(instance.next_attempt_at)
        data["lease_expires_at"] = iso(instance.lease_expires_at)
    return data
