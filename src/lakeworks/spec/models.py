"""Workspace-as-code models. Pure data: loading from files lives in ``loader``.

Config objects written by users are pydantic models with unknown keys rejected; the
loaded workspace is a tree of frozen dataclasses that the rest of Lakeworks reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakeworks.spec.kinds import NodeKind as NodeKind


class Strict(BaseModel):
    """Base for user-written config: unknown keys are errors.

    The docstring under each field documents it; ``spec.reference`` reads them from the
    source for ``docs/settings.md`` (pydantic's ``use_attribute_docstrings`` would parse
    every model's source at each start of every command).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class RunMode(StrEnum):
    NORMAL = "normal"
    FROZEN = "frozen"
    DRY_RUN = "dry_run"


class RerunPolicy(StrEnum):
    ALWAYS = "always"
    AFTER_FAILURE = "after_failure"
    NEVER = "never"


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
    inputs: list[str] | dict[str, str] = Field(default_factory=list)
    """A list: tables a Python or shell node reads (SQL nodes' are read from the SQL).
    A mapping: parameters bound to upstream outputs (``{regions: assign_regions.outputs}``),
    each a same-cycle dependency."""
    partition_dependencies: bool = True
    """Wait for the upstream instances that write the date partitions this node reads
    (inferred from its SQL); false waits for the same cycle only."""
    partition_windows: dict[str, str] = Field(default_factory=dict)
    """Per table read: the partitions read, in days from the business date (``-6..0``,
    ``-1``); overrides what is inferred from the SQL."""
    connections: list[str] = Field(default_factory=list)
    """Data sources a Python or shell node uses (given to it as environment variables)."""
    output: bool = False
    """Publish an output when the node succeeds (an assignment node)."""
    branch: dict[str, str] = Field(default_factory=dict)
    """Branch node -> output name this node runs under; other outputs skip it."""

    @property
    def input_tables(self) -> list[str]:
        return self.inputs if isinstance(self.inputs, list) else []

    @property
    def bindings(self) -> dict[str, str]:
        """Parameter name -> ``<node>.outputs`` it is bound to."""
        return self.inputs if isinstance(self.inputs, dict) else {}


class BranchCondition(Strict):
    when: str
    """An expression over the inputs (``spec.expressions``)."""
    output: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


class BranchConfig(NodeHeader):
    """``<name>.branch.yml``: ordered conditions; the first that holds is taken."""

    conditions: list[BranchCondition] = Field(min_length=1, max_length=50)


class MergeConfig(NodeHeader):
    """``<name>.merge.yml``: succeeds when ``condition`` over its upstream states holds.

    ``all``: every upstream succeeded or was skipped by a branch; ``any``: at least one
    succeeded; otherwise an expression where each upstream node name is its state
    (``'success'``, ``'skipped'``, ``'failed'``).
    """

    condition: str = "all"


class SecretRef(Strict):
    """Where a secret comes from: an environment variable, or a value encrypted with
    the workspace's key (``lakeworks`` settings encryption)."""

    env: str | None = None
    encrypted: str | None = None


class HttpConfig(NodeHeader):
    """``<name>.http.yml``: call a URL. ``url``, ``headers`` and ``body`` may use
    parameters, bound inputs and ``${secret.NAME}`` for each entry of ``secrets``.
    A status outside ``expected_status`` (default: any 2xx) fails the attempt; 5xx,
    429 and connection errors are retried. ``output_path`` (``$.data.items``) makes
    that part of the JSON response the node's output."""

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expected_status: list[int] = Field(default_factory=list)
    request_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    output_path: str | None = None


class CheckConfig(NodeHeader):
    """``<name>.check.yml``: wait until one condition holds, checked every
    ``interval_seconds`` until ``max_checks`` checks or the ``deadline``, holding no
    worker slot in between. The condition is one of: a table (or one of its partitions,
    ``ds=...``) has rows; a file exists (local, or ``s3://bucket/key``); a sync node's
    cursor or a stream node's watermark has passed the instance's cycle time; named
    nodes or workflows (of this or another workspace) succeeded in a cycle window.
    With ``unchanged_minutes``, a table or file must also have stayed the same that
    long."""

    table: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    partition: str | None = None
    file: str | None = None
    """A path (relative to the workspace) or ``s3://bucket/key``."""
    endpoint: str | None = None
    """For ``s3://`` files: the URL of an S3-compatible server (credentials from the
    ``AWS_*`` environment variables)."""
    sync_cursor: str | None = None
    """A sync node whose committed cursor (a time) must have reached the cycle time."""
    stream: str | None = None
    """A stream node whose watermark must have reached the cycle time."""
    nodes: list[str] = Field(default_factory=list)
    """Nodes (``workflow.node``) whose instances in ``window`` must have succeeded."""
    workflows: list[str] = Field(default_factory=list)
    """Workflows every node of which must have succeeded in ``window``."""
    workspace: str | None = None
    """The workspace of ``nodes``/``workflows`` (default: this one)."""
    window: Literal["same_day", "previous_day", "last_days"] = "same_day"
    """Business dates looked at: the instance's, the day before, or the last ``days``."""
    days: int = Field(default=1, ge=1, le=366)
    """For ``window: last_days``: how many business dates, ending with the instance's."""
    mode: Literal["all", "any"] = "all"
    """``all`` targets must have succeeded, or ``any`` one of them."""
    unchanged_minutes: float | None = Field(default=None, gt=0)
    """A table's row count, or a file's modification time, unchanged this long."""
    interval_seconds: float = Field(default=60, ge=0)
    max_checks: int = Field(default=10, ge=1, le=100_000)
    deadline: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    """HH:MM (workspace time) on the day of the cycle time: the check fails when it
    still does not hold then (the first HH:MM at or after the cycle time)."""

    @property
    def dependency_targets(self) -> list[str]:
        return [*self.nodes, *self.workflows]

    @model_validator(mode="after")
    def _one_target(self) -> CheckConfig:
        given = [
            key
            for key, value in (
                ("table", self.table),
                ("file", self.file),
                ("sync_cursor", self.sync_cursor),
                ("stream", self.stream),
                ("nodes/workflows", self.dependency_targets or None),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give one of 'table' (with an optional 'partition'), 'file', "
                "'sync_cursor', 'stream' or 'nodes'/'workflows'"
                + (f" (not {' and '.join(given)})" if given else "")
            )
        if self.partition is not None and self.table is None:
            raise ValueError("'partition' needs a 'table'")
        if self.unchanged_minutes is not None and self.table is None and self.file is None:
            raise ValueError("'unchanged_minutes' applies to a 'table' or a 'file'")
        if self.workspace is not None and not self.dependency_targets:
            raise ValueError("'workspace' applies to 'nodes' or 'workflows'")
        return self


class TriggerConfig(NodeHeader):
    """``<name>.trigger.yml``: the instance waits for one external call (``lakeworks ops
    trigger``, ``POST …/instances/{id}/trigger``) and its upstream, in either order;
    looked for every ``interval_seconds``, failing after ``timeout_hours``."""

    interval_seconds: float = Field(default=30, gt=0)
    timeout_hours: float = Field(default=24, gt=0)


MAX_LOOP_ITEMS = 1024
"""Most items a for-each node loops over."""

LOOP_PARAMETERS = ("dag.foreach.current", "dag.offset", "dag.loopTimes")
"""Parameters a for-each body reads: the item, its offset (from 0), its count (from 1)."""


class LoopConfig(NodeHeader):
    """A node that runs the nodes of the sub-folder ``body`` (its loop body)."""

    body: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


class ForeachConfig(LoopConfig):
    """``<name>.foreach.yml``: run the nodes of the sub-folder ``body`` once per item of
    the bound input ``items`` (a 1-D array, or the rows of a 2-D one), ``parallel`` at
    a time."""

    items: str
    parallel: int = Field(default=1, ge=1, le=64)


class DoWhileConfig(LoopConfig):
    """``<name>.dowhile.yml``: run the body, then read the output of its node ``end``:
    ``true`` runs the body again, anything else stops; at most ``max_loops`` times."""

    end: str
    max_loops: int = Field(default=MAX_LOOP_ITEMS, ge=1, le=MAX_LOOP_ITEMS)


class SubflowConfig(NodeHeader):
    """``<name>.subflow.yml``: run the workflow ``workflow`` (one with no schedule of its
    own) as part of the caller's run, for the caller's business date; its state is the
    called run's. ``parameters`` are passed down (they win over the called workflow's)."""

    workflow: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


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
    config: NodeHeader | None = None
    """The whole file of a YAML node kind (branch, merge), validated."""

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
    bodies: dict[str, Workflow] = field(default_factory=dict)
    """Loop bodies (sub-folders named by for-each nodes), by folder name; their nodes
    are named ``<workflow>/<folder>.<node>`` and run only inside their loop."""


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

    called: dict[str, Workflow] = field(default_factory=dict)
    """Workflows that sub-workflow nodes call: not scheduled or run on their own, so
    not among ``workflows``."""

    @property
    def all_workflows(self) -> dict[str, Workflow]:
        """Every workflow folder, scheduled or called, by name (for browsing and editing)."""
        return dict(sorted({**self.workflows, **self.called}.items()))

    def nodes(self) -> list[Node]:
        """All nodes of all workflows (not those of called workflows)."""
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

    def body_of(self, node: Node) -> Workspace:
        """A workspace holding only the loop body of the for-each or do-while ``node``."""
        assert isinstance(node.config, LoopConfig)
        body = self.workflows[node.workflow].bodies[node.config.body]
        return Workspace(
            root=self.root, config=self.config, workflows={body.name: body}, called=self.called
        )

    def called_by(self, node: Node) -> Workspace:
        """A workspace holding only the workflow a sub-workflow ``node`` calls."""
        assert isinstance(node.config, SubflowConfig)
        called = self.called[node.config.workflow]
        return Workspace(
            root=self.root,
            config=self.config,
            workflows={called.name: called},
            called=self.called,
        )

    def find_node(self, ref: str) -> Node | None:
        """A node by ``workflow.node`` or by bare name when that is unambiguous."""
        if "." in ref:
            wf_name, _, node_name = ref.partition(".")
            wf = self.workflows.get(wf_name)
            if wf and node_name in wf.nodes:
                return wf.nodes[node_name]
        matches = [n for n in self.nodes() if n.name == ref]
        return matches[0] if len(matches) == 1 else None
