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

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


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
    QUALITY = "quality"
    """A ``*.quality.yml`` rule file with a ``schedule``: its rules on their own cycle."""


class Defaults(Strict):
    """Settings a node inherits from its workflow, which inherits from the workspace."""

    owner: str | None = None
    """Who answers for the node (shown in Operations, alerts and the Data Map)."""
    retries: int | None = Field(default=None, ge=0, le=100)
    """Extra attempts of a scheduled instance after a failure (0: none)."""
    retry_delay_seconds: float | None = Field(default=None, ge=0)
    """Wait before the first retry."""
    retry_backoff: float | None = Field(default=None, ge=1)
    """Each further retry waits this many times longer."""
    timeout_seconds: float | None = Field(default=None, gt=0)
    """An attempt running longer is stopped and fails."""
    priority: int | None = None
    """Higher runs first when workers have fewer slots than queued instances."""
    resource_group: str | None = None
    """The resource group (of ``lakeworks.yml``) whose slots the node runs in."""
    rerun_policy: RerunPolicy | None = None
    """Whether an instance may be rerun: ``always``, ``after_failure`` or ``never``."""
    engine: str | None = None
    """The warehouse engine (of ``lakeworks.yml``'s ``engines``) the node runs on."""


class ScheduleSpec(Strict):
    """When a node runs. ``cron`` wins over ``cycle``; times are in the workspace zone.

    cycle: minute|hour|day|week|month|year; ``every`` is the step for minute/hour;
    ``at`` is HH:MM; ``weekdays`` (1=Mon..7=Sun) for week; ``monthdays`` (or -1 for the
    last day) for month; ``start``/``end`` bound the active period (YYYY-MM-DD);
    ``until`` (HH:MM) is the last start time of the day for minute/hour cycles.
    """

    cycle: Literal["minute", "hour", "day", "week", "month", "year"] = "day"
    """How often the node runs."""
    every: int = Field(default=1, ge=1)
    """The step for minute and hour cycles (``every: 6`` with ``cycle: hour``)."""
    at: str = "00:00"
    """HH:MM: the time of day (the first start for minute and hour cycles)."""
    until: str | None = None
    """HH:MM: the last start time of the day for minute and hour cycles."""
    weekdays: list[int] = Field(default_factory=list)
    """Week cycles: the days it runs (1 = Monday … 7 = Sunday)."""
    monthdays: list[int] = Field(default_factory=list)
    """Month cycles: the days it runs (-1 = the last day of the month)."""
    months: list[int] = Field(default_factory=list)
    """Year cycles: the months it runs (1-12)."""
    cron: str | None = None
    """A cron expression; wins over ``cycle``."""
    timezone: str | None = None
    """The zone of the times (default: the workspace's ``timezone``)."""
    start: str | None = None
    """YYYY-MM-DD: the first day of the active period."""
    end: str | None = None
    """YYYY-MM-DD: the last day of the active period."""
    self_dependency: bool = False
    """Each instance waits for the node's previous cycle (so cycles run in order, also in
    parallel backfills)."""
    depends_on_previous: list[str] = Field(default_factory=list)
    """Nodes whose instances of the previous cycle each instance waits for."""


class NodeHeader(Defaults):
    """The settings block at the top of a node file (all optional)."""

    depends_on: list[str] = Field(default_factory=list)
    """Nodes to wait for besides those inferred from the tables the node reads."""
    run_mode: RunMode = RunMode.NORMAL
    """``normal``; ``frozen`` (its instances do not run; what is downstream waits) or
    ``dry_run`` (its instances succeed without running)."""
    dialect: str | None = None
    """The SQL dialect of the node (default: the workspace's ``sql_dialect``)."""
    description: str | None = None
    """What the node does (shown in the Data Map)."""
    parameters: dict[str, str] = Field(default_factory=dict)
    """Parameters for the node's code; values may use ``${bizdate}`` and the like."""
    schedule: ScheduleSpec | None = None
    """The node's own schedule (default: its workflow's)."""
    tags: list[str] = Field(default_factory=list)
    """Labels to search and filter by."""
    outputs: list[str] = Field(default_factory=list)
    """Tables a Python or shell node writes (SQL nodes' are read from the SQL)."""
    inputs: list[str] = Field(default_factory=list)
    """Tables a Python or shell node reads (SQL nodes' are read from the SQL)."""
    partition_dependencies: bool = True
    """Wait for the upstream instances that write the date partitions this node reads
    (inferred from its SQL); false waits for the same cycle only."""
    partition_windows: dict[str, str] = Field(default_factory=dict)
    """Per table read: the partitions read, in days from the business date (``-6..0``,
    ``-1``); overrides what is inferred from the SQL."""
    connections: list[str] = Field(default_factory=list)
    """Data sources a Python or shell node uses (given to it as environment variables)."""


class WorkflowConfig(Strict):
    """``workflows/<name>/workflow.yml``."""

    description: str | None = None
    """What the workflow does."""
    owner: str | None = None
    """Who answers for the workflow."""
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    """The schedule of every node that has none of its own."""
    parameters: dict[str, str] = Field(default_factory=dict)
    """Parameters for every node of the workflow (a node's own win)."""
    defaults: Defaults = Field(default_factory=Defaults)
    """Settings every node inherits unless its header sets them."""
    tags: list[str] = Field(default_factory=list)
    """Labels to search and filter by."""


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
