"""Workspace-as-code models. Pure data: loading from files lives in ``loader``.

Config objects written by users are pydantic models with unknown keys rejected; the
loaded workspace is a tree of frozen dataclasses that the rest of Lakeworks reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base for user-written config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunMode(StrEnum):
    NORMAL = "normal"
    FROZEN = "frozen"
    DRY_RUN = "dry_run"


class RerunPolicy(StrEnum):
    ALWAYS = "always"
    AFTER_FAILURE = "after_failure"
    NEVER = "never"


class NodeKind(StrEnum):
    SQL = "sql"
    PYTHON = "python"
    SHELL = "shell"
    SYNC = "sync"
    STREAM = "stream"
    VIRTUAL = "virtual"


class Defaults(Strict):
    """Settings a node inherits from its workflow, which inherits from the workspace."""

    owner: str | None = None
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_delay_seconds: float | None = Field(default=None, ge=0)
    retry_backoff: float | None = Field(default=None, ge=1)
    timeout_seconds: float | None = Field(default=None, gt=0)
    priority: int | None = None
    resource_group: str | None = None
    rerun_policy: RerunPolicy | None = None
    engine: str | None = None


class ScheduleSpec(Strict):
    """When a node runs. ``cron`` wins over ``cycle``; times are in the workspace zone.

    cycle: minute|hour|day|week|month|year; ``every`` is the step for minute/hour;
    ``at`` is HH:MM; ``weekdays`` (1=Mon..7=Sun) for week; ``monthdays`` (or -1 for the
    last day) for month; ``start``/``end`` bound the active period (YYYY-MM-DD);
    ``until`` (HH:MM) is the last start time of the day for minute/hour cycles.
    """

    cycle: Literal["minute", "hour", "day", "week", "month", "year"] = "day"
    every: int = Field(default=1, ge=1)
    at: str = "00:00"
    until: str | None = None
    weekdays: list[int] = Field(default_factory=list)
    monthdays: list[int] = Field(default_factory=list)
    months: list[int] = Field(default_factory=list)
    cron: str | None = None
    timezone: str | None = None
    start: str | None = None
    end: str | None = None
    self_dependency: bool = False
    depends_on_previous: list[str] = Field(default_factory=list)


class NodeHeader(Defaults):
    """The settings block at the top of a node file (all optional)."""

    depends_on: list[str] = Field(default_factory=list)
    run_mode: RunMode = RunMode.NORMAL
    dialect: str | None = None
    description: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    schedule: ScheduleSpec | None = None
    tags: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list)


class WorkflowConfig(Strict):
    """``workflows/<name>/workflow.yml``."""

    description: str | None = None
    owner: str | None = None
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    parameters: dict[str, str] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    tags: list[str] = Field(default_factory=list)


class EngineConfig(Strict):
    """A warehouse engine. ``type`` selects the implementation (``duckdb`` by default)."""

    type: str = "duckdb"
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class EnvironmentConfig(Strict):
    """An environment (dev or prod): which engine, and where its data lives."""

    engine: str = "default"
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")


class ResourceGroupConfig(Strict):
    slots: int = Field(default=4, ge=1)
    description: str | None = None


class LayerRule(Strict):
    prefix: str
    description: str | None = None


class WorkspaceConfig(Strict):
    """``lakeworks.yml`` at the root of a workspace."""

    name: str
    description: str | None = None
    timezone: str = "UTC"
    sql_dialect: str = "maxcompute"
    engines: dict[str, EngineConfig] = Field(default_factory=lambda: {"default": EngineConfig()})
    environments: dict[str, EnvironmentConfig] = Field(
        default_factory=lambda: {"dev": EnvironmentConfig(), "prod": EnvironmentConfig()}
    )
    parameters: dict[str, str] = Field(default_factory=dict)
    resource_groups: dict[str, ResourceGroupConfig] = Field(
        default_factory=lambda: {"default": ResourceGroupConfig()}
    )
    defaults: Defaults = Field(default_factory=Defaults)
    layers: dict[str, LayerRule] = Field(default_factory=dict)
    data_sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    max_parallel: int = Field(default=4, ge=1)


@dataclass(frozen=True)
class SourceSpan:
    """Where a node's code starts in its file (1-based line of the first code line)."""

    path: Path
    first_code_line: int = 1


@dataclass(frozen=True)
class Node:
    """One node of a workflow, loaded from one file."""

    workflow: str
    name: str
    kind: NodeKind
    path: Path
    code: str
    header: NodeHeader
    span: SourceSpan
    settings: Defaults
    """Effective settings: node header over workflow defaults over workspace defaults."""

    @property
    def key(self) -> str:
        """Workspace-unique identity ``workflow.node``."""
        return f"{self.workflow}.{self.name}"

    @property
    def schedule(self) -> ScheduleSpec | None:
        return self.header.schedule


@dataclass(frozen=True)
class Workflow:
    name: str
    path: Path
    config: WorkflowConfig
    nodes: dict[str, Node] = field(default_factory=dict)


@dataclass(frozen=True)
class Workspace:
    """A loaded workspace: config plus every workflow and node, in file order."""

    root: Path
    config: WorkspaceConfig
    workflows: dict[str, Workflow] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state_dir(self) -> Path:
        """The workspace's private folder for the embedded store and warehouse."""
        return self.root / ".lakeworks"

    def nodes(self) -> list[Node]:
        """All nodes of all workflows."""
        return [n for wf in self.workflows.values() for n in wf.nodes.values()]

    def node_schedule(self, node: Node) -> ScheduleSpec:
        """The node's own schedule, else its workflow's."""
        return node.header.schedule or self.workflows[node.workflow].config.schedule

    def parameters_for(self, node: Node) -> dict[str, str]:
        """User parameters visible to a node: workspace < workflow < node."""
        merged = dict(self.config.parameters)
        merged.update(self.workflows[node.workflow].config.parameters)
        merged.update(node.header.parameters)
        return merged

    def dialect_for(self, node: Node) -> str:
        """The SQL dialect a node is written in."""
        return node.header.dialect or self.config.sql_dialect

    def find_node(self, ref: str) -> Node | None:
        """A node by ``workflow.node`` or by bare name when that is unambiguous."""
        if "." in ref:
            wf_name, _, node_name = ref.partition(".")
            wf = self.workflows.get(wf_name)
            if wf and node_name in wf.nodes:
                return wf.nodes[node_name]
        matches = [n for n in self.nodes() if n.name == ref]
        return matches[0] if len(matches) == 1 else None
