"""Small builders of real workspace models for scheduling tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakeworks.schedule.graph import DependencyGraph, build_graph
from lakeworks.spec.models import (
    Defaults,
    Node,
    NodeHeader,
    NodeKind,
    ResourceGroupConfig,
    ScheduleSpec,
    SourceSpan,
    Workflow,
    WorkflowConfig,
    Workspace,
    WorkspaceConfig,
)

ROOT = Path("/nonexistent/ws")


def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def node(
    name: str,
    *,
    workflow: str = "wf",
    depends_on: Iterable[str] = (),
    schedule: ScheduleSpec | None = None,
    settings: dict[str, Any] | None = None,
    **header: Any,
) -> Node:
    """A virtual node (no code) with the given header fields."""
    head = NodeHeader(depends_on=list(depends_on), schedule=schedule, **header)
    return Node(
        workflow=workflow,
        name=name,
        kind=NodeKind.VIRTUAL,
        path=ROOT / "workflows" / workflow / f"{name}.sql",
        code="",
        header=head,
        span=SourceSpan(ROOT / "workflows" / workflow / f"{name}.sql"),
        settings=Defaults(**(settings or {})),
    )


def workspace(
    *nodes: Node,
    timezone: str = "UTC",
    workflow_schedule: ScheduleSpec | None = None,
    groups: dict[str, int] | None = None,
) -> Workspace:
    """A workspace holding ``nodes`` (grouped into workflows by their ``workflow``)."""
    workflows: dict[str, Workflow] = {}
    for item in nodes:
        wf = workflows.get(item.workflow)
        if wf is None:
            wf = Workflow(
                name=item.workflow,
                path=ROOT / "workflows" / item.workflow,
                config=WorkflowConfig(schedule=workflow_schedule or ScheduleSpec()),
            )
            workflows[item.workflow] = wf
        wf.nodes[item.name] = item
    config = WorkspaceConfig(
        name="test",
        timezone=timezone,
        resource_groups={
            name: ResourceGroupConfig(slots=slots)
            for name, slots in (groups or {"default": 4}).items()
        },
    )
    return Workspace(root=ROOT, config=config, workflows=workflows)


def graph_of(ws: Workspace) -> DependencyGraph:
    """The real dependency graph of ``ws``."""
    return build_graph(ws)


def hourly(**kw: Any) -> ScheduleSpec:
    return ScheduleSpec(cycle="hour", **kw)


def daily(at: str = "00:00", **kw: Any) -> ScheduleSpec:
    return ScheduleSpec(cycle="day", at=at, **kw)
