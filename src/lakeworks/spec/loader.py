"""Load a workspace folder into the models of ``spec.models``.

Layout::

    lakeworks.yml
    workflows/<workflow>/workflow.yml        (optional)
    workflows/<workflow>/<node>.sql|.py|.sh|.sync.yml|.stream.yml
    workflows/<workflow>/<node>.quality.yml  (a node only when it has a ``schedule``)

Every problem found is collected and raised together as ``ValidationFailed``, each
with its file and line.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import yaml

from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.spec.control_flow import (
    CONTROL_KINDS,
    check_node,
    load_control_node,
    separate_called,
)
from lakeworks.spec.headers import split_header
from lakeworks.spec.models import (
    LOOP_PARAMETERS,
    Defaults,
    LoopConfig,
    Node,
    NodeHeader,
    NodeKind,
    SourceSpan,
    Workflow,
    WorkflowConfig,
    Workspace,
    WorkspaceConfig,
)
from lakeworks.spec.roots import WORKSPACE_FILE
from lakeworks.spec.yaml_source import LineMap, load_model, parse_yaml, validate_model

WORKFLOW_FILE = "workflow.yml"
NAME_PATTERN = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_\-]{0,99}\Z")
"""Workspace, workflow and node names: 1-100 letters, digits, '_' and '-', not starting
with '-'. Anchored with ``\\A…\\Z`` (``$`` would accept a trailing newline)."""


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a valid workspace, workflow or node name."""
    return NAME_PATTERN.match(name) is not None


NODE_SUFFIXES: dict[str, NodeKind] = {
    ".sync.yml": NodeKind.SYNC,
    ".stream.yml": NodeKind.STREAM,
    ".branch.yml": NodeKind.BRANCH,
    ".merge.yml": NodeKind.MERGE,
    ".foreach.yml": NodeKind.FOREACH,
    ".dowhile.yml": NodeKind.DOWHILE,
    ".http.yml": NodeKind.HTTP,
    ".check.yml": NodeKind.CHECK,
    ".trigger.yml": NodeKind.TRIGGER,
    ".subflow.yml": NodeKind.SUBFLOW,
    ".sql": NodeKind.SQL,
    ".py": NodeKind.PYTHON,
    ".sh": NodeKind.SHELL,
}
IGNORED_SUFFIXES = (".quality.yml", ".md", ".txt")
MAX_NODE_FILE_BYTES = 5 * 1024 * 1024
"""The largest node file the loader (and the API) accepts."""
QUALITY_SUFFIX = ".quality.yml"
SCHEDULED_RULE_KEYS = ("schedule", "owner", "retries", "priority", "resource_group", "depends_on")
"""Keys of a scheduled rule file that are node settings (the rest belongs to the rules)."""


def workspace_config_lines(root: Path) -> LineMap | None:
    """Where each key of ``<root>/lakeworks.yml`` is (None when it cannot be read), so
    that problems found later (data source settings) can name their line."""
    path = root / WORKSPACE_FILE
    try:
        return parse_yaml(path.read_text(encoding="utf-8"), path)[1]
    except (OSError, UnicodeDecodeError, UserError):
        return None


def merge_defaults(*layers: Defaults) -> Defaults:
    """Later layers override earlier ones, key by key (unset keys do not override)."""
    merged: dict[str, object] = {}
    for layer in layers:
        merged.update(layer.model_dump(exclude_none=True, include=set(Defaults.model_fields)))
    return Defaults.model_validate(merged)


def node_kind_and_name(path: Path) -> tuple[NodeKind, str] | None:
    """The node kind and name a file stands for, or None if it is not a node file."""
    name = path.name
    if name.endswith(QUALITY_SUFFIX) and _has_schedule(path):
        return NodeKind.QUALITY, name[: -len(QUALITY_SUFFIX)]
    if name.endswith(IGNORED_SUFFIXES) or name == WORKFLOW_FILE or name.startswith("."):
        return None
    for suffix, kind in NODE_SUFFIXES.items():
        if name.endswith(suffix):
            return kind, name[: -len(suffix)]
    return None


def check_node_size(size: int, path: Path | str | None) -> None:
    """``UserError`` for a node file larger than ``MAX_NODE_FILE_BYTES``."""
    if size > MAX_NODE_FILE_BYTES:
        raise UserError(
            f"node file is too large ({size // 1024:,} KiB; at most"
            f" {MAX_NODE_FILE_BYTES // 1024 // 1024} MiB)",
            location=Location(path),
            hint="load bulk data with a sync node or from a file, not as SQL text",
        )


def _has_schedule(path: Path) -> bool:
    """Whether a rule file carries a ``schedule`` (YAML problems are the rule loader's)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("schedule") is not None


def _scheduled_rules_header(text: str, path: Path) -> NodeHeader:
    data, lines = parse_yaml(text, path)
    settings = {k: data[k] for k in SCHEDULED_RULE_KEYS if k in data}
    return validate_model(NodeHeader, settings, lines)


def _load_node(path: Path, workflow: str, kind: NodeKind, name: str, inherited: Defaults) -> Node:
    check_node_size(path.stat().st_size, path)
    text = path.read_text(encoding="utf-8")
    config = None
    if kind is NodeKind.QUALITY:
        header, code, first = _scheduled_rules_header(text, path), text, 1
    elif kind in (NodeKind.SYNC, NodeKind.STREAM):
        header, code, first = NodeHeader(), text, 1
    elif kind in CONTROL_KINDS:
        config = load_control_node(kind, text, path)
        header = NodeHeader.model_validate(
            config.model_dump(include=set(NodeHeader.model_fields), by_alias=True)
        )
        code, first = text, 1
    else:
        split = split_header(text, path)
        header, code, first = split.header, split.code, split.first_code_line
    settings = merge_defaults(inherited, header)
    return Node(
        workflow=workflow,
        name=name,
        kind=kind,
        path=path,
        code=code,
        header=header,
        span=SourceSpan(path, first),
        settings=settings,
        config=config,
    )


def _load_workflow(
    folder: Path, config_defaults: Defaults, problems: list[UserError]
) -> Workflow | None:
    name = folder.name
    if not is_valid_name(name):
        problems.append(
            UserError(
                f"invalid workflow name '{name}'",
                location=Location(folder),
                hint="use letters, digits, '_' and '-' only",
            )
        )
        return None
    config = WorkflowConfig()
    config_file = folder / WORKFLOW_FILE
    if config_file.is_file():
        try:
            config = load_model(WorkflowConfig, config_file)
        except ValidationFailed as exc:
            problems.extend(exc.errors)
        except UserError as exc:
            problems.append(exc)
    inherited = merge_defaults(config_defaults, config.defaults)
    if config.owner and config.defaults.owner is None:
        inherited = merge_defaults(inherited, Defaults(owner=config.owner))
    nodes: dict[str, Node] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        found = node_kind_and_name(path)
        if found is None:
            continue
        kind, node_name = found
        if not is_valid_name(node_name):
            problems.append(
                UserError(
                    f"invalid node name '{node_name}'",
                    location=Location(path),
                    hint="use letters, digits, '_' and '-' only (no dots)",
                )
            )
            continue
        if node_name in nodes:
            problems.append(
                UserError(
                    f"two files define node '{node_name}' ({nodes[node_name].path.name})",
                    location=Location(path),
                    hint="rename one of them",
                )
            )
            continue
        try:
            nodes[node_name] = _load_node(path, name, kind, node_name, inherited)
        except ValidationFailed as exc:
            problems.extend(exc.errors)
        except UserError as exc:
            problems.append(exc)
        except UnicodeDecodeError:
            problems.append(UserError("file is not UTF-8 text", location=Location(path)))
    bodies: dict[str, Workflow] = {}
    for node in nodes.values():
        if isinstance(node.config, LoopConfig) and node.config.body not in bodies:
            body = _load_body(folder, name, node, config, inherited, problems)
            if body is not None:
                bodies[body.name.rpartition("/")[2]] = body
    return Workflow(name=name, path=folder, config=config, nodes=nodes, bodies=bodies)


def _load_body(
    folder: Path,
    workflow: str,
    loop: Node,
    config: WorkflowConfig,
    inherited: Defaults,
    problems: list[UserError],
) -> Workflow | None:
    """The nodes of a loop's body folder, as the workflow ``<wf>/<folder>``."""
    assert isinstance(loop.config, LoopConfig)
    path = folder / loop.config.body
    if not path.is_dir():
        problems.append(
            UserError(
                f"loop body folder '{loop.config.body}' does not exist",
                location=Location(loop.path, _line_of(loop.path, "body:"), key="body"),
                hint=f"create {path} with the nodes to run per item",
            )
        )
        return None
    loaded = _load_workflow(path, inherited, problems)
    if loaded is None:
        return None
    name = f"{workflow}/{loop.config.body}"
    samples = dict.fromkeys(LOOP_PARAMETERS, "0")
    body_config = config.model_copy(update={"parameters": {**config.parameters, **samples}})
    nodes = {k: replace(n, workflow=name) for k, n in loaded.nodes.items()}
    if not nodes:
        problems.append(
            UserError(
                f"loop body folder '{loop.config.body}' holds no nodes",
                location=Location(loop.path, _line_of(loop.path, "body:"), key="body"),
                hint="add .sql, .py or .sh nodes to it",
            )
        )
    return Workflow(name=name, path=path, config=body_config, nodes=nodes)


def _line_of(path: Path, text: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number
    return None


def load_workspace(root: Path) -> Workspace:
    """Load and check the workspace at ``root``; raises ``ValidationFailed`` on problems."""
    root = root.resolve()
    config_file = root / WORKSPACE_FILE
    if not config_file.is_file():
        raise UserError(
            f"not a Lakeworks workspace: {config_file} does not exist",
            hint="create one with 'lakeworks init DIR --example sales', or pass -w DIR",
        )
    problems: list[UserError] = []
    try:
        config = load_model(WorkspaceConfig, config_file)
    except ValidationFailed as exc:
        raise exc from None
    if not is_valid_name(config.name):
        raise UserError(
            f"invalid workspace name {config.name!r}",
            location=Location(config_file, key="name"),
            hint="1-100 letters, digits, '_' and '-', not starting with '-'",
        )
    workflows: dict[str, Workflow] = {}
    workflows_dir = root / "workflows"
    if workflows_dir.is_dir():
        for folder in sorted(p for p in workflows_dir.iterdir() if p.is_dir()):
            if folder.name.startswith("."):
                continue
            workflow = _load_workflow(folder, config.defaults, problems)
            if workflow is not None:
                workflows[workflow.name] = workflow
    everything = Workspace(root=root, config=config, workflows=workflows)
    for node in everything.nodes():
        problems.extend(check_node(everything, node))
    workspace, called_problems = separate_called(everything)
    problems.extend(called_problems)
    if problems:
        raise ValidationFailed(problems)
    return workspace
