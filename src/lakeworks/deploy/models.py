"""Plain records of deployments and releases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DeploymentState(StrEnum):
    INVALID = "invalid"
    """Validation failed; it can never be applied."""
    PENDING_APPROVAL = "pending_approval"
    READY = "ready"
    """Validated (and approved when required): it can be applied."""
    APPLIED = "applied"
    REJECTED = "rejected"


class FileChange(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    REMOVED = "removed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Problem:
    """A validation problem, located in the deployed files."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None
    hint: str | None = None

    def render(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class DeploymentFile:
    path: str
    blob_hash: str
    change: FileChange
    node_key: str | None = None
    node_version: int | None = None


@dataclass(frozen=True)
class Deployment:
    id: int
    workspace: str
    env: str
    state: DeploymentState
    kind: str
    """``change`` or ``rollback``."""
    description: str
    source: str
    base_release: int | None
    rollback_to: int | None
    requires_approval: bool
    summary: dict[str, Any]
    problems: list[Problem]
    warnings: list[str]
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    applied_by: str | None
    applied_at: datetime | None
    release: int | None
    files: list[DeploymentFile] = field(default_factory=list)


@dataclass(frozen=True)
class Release:
    id: int
    workspace: str
    env: str
    number: int
    deployment_id: int
    created_at: datetime
    created_by: str
    nodes: dict[str, int] = field(default_factory=dict)
    """Node key → node version in this release."""
