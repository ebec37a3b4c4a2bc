"""Loading and checking control-flow nodes (branch, merge, for-each) and bindings.

Every problem names its file and line: an expression that cannot be parsed or names an
unknown input, a binding to a node that does not exist or publishes no output, a
``branch:`` reference to a node that is not a branch or to an output it does not have.
"""

from __future__ import annotations

from pathlib import Path

from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.spec.expressions import ExpressionError, parse_expression
from lakeworks.spec.models import (
    BranchConfig,
    CheckConfig,
    DoWhileConfig,
    ForeachConfig,
    HttpConfig,
    MergeConfig,
    Node,
    NodeHeader,
    NodeKind,
    SubflowConfig,
    TriggerConfig,
    Workflow,
    Workspace,
)
from lakeworks.spec.outputs import binding_source, parse_json_path
from lakeworks.spec.yaml_source import parse_yaml, validate_model

MERGE_SHORTHANDS = ("all", "any")
CONTROL_KINDS = frozenset(
    {
        NodeKind.BRANCH,
        NodeKind.MERGE,
        NodeKind.FOREACH,
        NodeKind.DOWHILE,
        NodeKind.HTTP,
        NodeKind.CHECK,
        NodeKind.TRIGGER,
        NodeKind.SUBFLOW,
    }
)
"""Node kinds written as one YAML file (header keys and the kind's own keys)."""


def load_control_node(kind: NodeKind, text: str, path: Path) -> NodeHeader:
    """The validated config of a YAML control-flow node (branch, merge, for-each, HTTP)."""
    data, lines = parse_yaml(text, path)
    if data is None:
        data = {}
    if kind is NodeKind.BRANCH:
        branch = validate_model(BranchConfig, data, lines)
        known = frozenset(branch.bindings)
        problems: list[UserError] = []
        for index, condition in enumerate(branch.conditions):
            try:
                parse_expression(condition.when, known)
            except ExpressionError as exc:
                problems.append(
                    UserError(
                        str(exc),
                        location=lines.location(("conditions", index, "when")),
                        hint="conditions may use the names under 'inputs:', literals, "
                        "comparisons, 'in', 'and'/'or'/'not'",
                    )
                )
        outputs = [c.output for c in branch.conditions]
        for index, name in enumerate(outputs):
            if name in outputs[:index]:
                problems.append(
                    UserError(
                        f"branch output '{name}' is named twice",
                        location=lines.location(("conditions", index, "output")),
                        hint="give each condition its own output name",
                    )
                )
        if problems:
            raise ValidationFailed(problems)
        return branch
    if kind is NodeKind.DOWHILE:
        return validate_model(DoWhileConfig, data, lines)
    if kind is NodeKind.TRIGGER:
        return validate_model(TriggerConfig, data, lines)
    if kind is NodeKind.CHECK:
        return validate_model(CheckConfig, data, lines)
    if kind is NodeKind.SUBFLOW:
        return validate_model(SubflowConfig, data, lines)
    if kind is NodeKind.HTTP:
        http = validate_model(HttpConfig, data, lines)
        if http.output_path is not None:
            try:
                parse_json_path(http.output_path)
            except ValueError as exc:
                raise UserError(
                    str(exc),
                    location=lines.location(("output_path",)),
                    hint="write e.g. $.data.items or $.rows[0].id",
                ) from None
        return http.model_copy(update={"output": http.output or http.output_path is not None})
    if kind is NodeKind.FOREACH:
        loop = validate_model(ForeachConfig, data, lines)
        if loop.items not in loop.bindings:
            raise UserError(
                f"items: '{loop.items}' is not one of the inputs",
                location=lines.location(("items",)),
                hint="bind it under 'inputs:', e.g. inputs: {regions: assign_regions.outputs}",
            )
        return loop
    merge = validate_model(MergeConfig, data, lines)
    if merge.condition not in MERGE_SHORTHANDS:
        try:
            parse_expression(merge.condition)
        except ExpressionError as exc:
            raise UserError(
                str(exc),
                location=lines.location(("condition",)),
                hint="use all, any, or an expression such as \"a == 'success' or b == 'success'\"",
            ) from None
    return merge


def _line_of(node: Node, text: str) -> int | None:
    for number, line in enumerate(node.path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number
    return None


def check_node(workspace: Workspace, node: Node) -> list[UserError]:
    """Problems with ``node``'s bindings and branch references (empty when fine)."""
    problems: list[UserError] = []
    for name, binding in node.header.bindings.items():
        where = Location(node.path, _line_of(node, binding), key=f"inputs.{name}")
        source_ref = binding_source(binding)
        source = workspace.find_node(source_ref) if source_ref else None
        if source_ref is None:
            problems.append(
                UserError(
                    f"input '{name}' is bound to '{binding}', which is not '<node>.outputs'",
                    location=where,
                    hint=f"write e.g. {{{name}: assign_regions.outputs}}",
                )
            )
        elif source is None:
            problems.append(
                UserError(
                    f"input '{name}' is bound to unknown node '{source_ref}'",
                    location=where,
                    hint="name a node as 'workflow.node' or by its file name",
                )
            )
        elif not source.header.output:
            problems.append(
                UserError(
                    f"input '{name}' is bound to {source.key}, which publishes no output",
                    location=where,
                    hint=f"add 'output: true' to the header of {source.path.name}",
                )
            )
    if isinstance(node.config, DoWhileConfig):
        problems.extend(_check_end(workspace, node, node.config))
    if isinstance(node.config, CheckConfig):
        problems.extend(_check_targets(workspace, node, node.config))
    for ref, output in node.header.branch.items():
        where = Location(node.path, _line_of(node, ref), key="branch")
        target = workspace.find_node(ref)
        if target is None and (node.path.parent / f"{ref}.branch.yml").is_file():
            continue  # the branch file itself has problems, reported on their own
        if target is None or not isinstance(target.config, BranchConfig):
            problems.append(
                UserError(
                    f"'branch:' names '{ref}', which is not a branch node",
                    location=where,
                    hint="name a <name>.branch.yml node",
                )
            )
            continue
        names = [c.output for c in target.config.conditions]
        if output not in names:
            problems.append(
                UserError(
                    f"branch node {target.key} has no output '{output}'",
                    location=where,
                    hint=f"its outputs: {', '.join(names)}",
                )
            )
    return problems


def _check_end(workspace: Workspace, node: Node, config: DoWhileConfig) -> list[UserError]:
    body = workspace.workflows[node.workflow].bodies.get(config.body)
    if body is None:
        return []  # the missing folder is reported by the loader
    end = body.nodes.get(config.end)
    where = Location(node.path, _line_of(node, "end:"), key="end")
    if end is None:
        return [
            UserError(
                f"end node '{config.end}' is not in the loop body '{config.body}'",
                location=where,
                hint=f"name one of: {', '.join(sorted(body.nodes)) or 'no nodes'}",
            )
        ]
    if not end.header.output:
        return [
            UserError(
                f"end node '{config.end}' publishes no output",
                location=where,
                hint=f"add 'output: true' to {end.path.name}; it prints or selects true to go on",
            )
        ]
    return []


def _check_targets(workspace: Workspace, node: Node, config: CheckConfig) -> list[UserError]:
    """Unknown nodes, workflows, sync or stream nodes named by a check of this workspace."""
    if config.workspace not in (None, workspace.name):
        return []  # another workspace: its nodes are looked up when the check runs
    problems: list[UserError] = []
    wanted: list[tuple[str, str, NodeKind | None]] = [
        *((ref, "nodes", None) for ref in config.nodes),
        *(((config.sync_cursor, "sync_cursor", NodeKind.SYNC),) if config.sync_cursor else ()),
        *(((config.stream, "stream", NodeKind.STREAM),) if config.stream else ()),
    ]
    for ref, key, kind in wanted:
        target = workspace.find_node(ref)
        where = Location(node.path, _line_of(node, ref), key=key)
        if target is None:
            problems.append(
                UserError(
                    f"{key}: node '{ref}' does not exist in workspace {workspace.name}",
                    location=where,
                    hint="name a node as 'workflow.node' (or 'workspace: other' for another "
                    "workspace)",
                )
            )
        elif kind is not None and target.kind is not kind:
            problems.append(
                UserError(
                    f"{key}: {target.key} is a {target.kind} node, not a {kind} node",
                    location=where,
                    hint=f"name a *.{kind}.yml node",
                )
            )
    for name in config.workflows:
        if name not in workspace.workflows:
            problems.append(
                UserError(
                    f"workflows: workflow '{name}' does not exist in workspace {workspace.name}",
                    location=Location(node.path, _line_of(node, name), key="workflows"),
                    hint=f"workflows: {', '.join(workspace.workflows) or '(none)'}",
                )
            )
    return problems


def _calls(workflow: Workflow) -> list[tuple[Node, str]]:
    return [
        (n, n.config.workflow)
        for n in workflow.nodes.values()
        if isinstance(n.config, SubflowConfig)
    ]


def separate_called(workspace: Workspace) -> tuple[Workspace, list[UserError]]:
    """The workspace with the workflows that sub-workflow nodes call moved out of
    ``workflows`` into ``called`` (they run only inside their callers), and the problems
    with those calls: an unknown workflow, one that has a schedule of its own, a
    workflow that calls itself (at any depth)."""
    problems: list[UserError] = []
    called: set[str] = set()
    for workflow in workspace.workflows.values():
        for node, name in _calls(workflow):
            where = Location(node.path, _line_of(node, "workflow:"), key="workflow")
            target = workspace.workflows.get(name)
            if target is None:
                problems.append(
                    UserError(
                        f"sub-workflow node calls workflow '{name}', which does not exist",
                        location=where,
                        hint=f"workflows: {', '.join(workspace.workflows) or '(none)'}",
                    )
                )
                continue
            scheduled = "schedule" in target.config.model_fields_set or any(
                n.header.schedule is not None for n in target.nodes.values()
            )
            if scheduled:
                problems.append(
                    UserError(
                        f"workflow '{name}' is called by {node.key} but has a schedule of its own",
                        location=where,
                        hint=f"remove 'schedule:' from {name}'s workflow.yml and nodes: a called "
                        "workflow runs with its caller's cycle",
                    )
                )
            called.add(name)
    for workflow in workspace.workflows.values():
        for node, _ in _calls(workflow):
            loop = _call_cycle(workspace, node.workflow)
            if loop:
                problems.append(
                    UserError(
                        f"workflow '{node.workflow}' calls itself: {' -> '.join(loop)}",
                        location=Location(node.path, _line_of(node, "workflow:"), key="workflow"),
                        hint="a sub-workflow cannot call its caller",
                    )
                )
                break
    separated = Workspace(
        root=workspace.root,
        config=workspace.config,
        workflows={k: w for k, w in workspace.workflows.items() if k not in called},
        called={k: w for k, w in workspace.workflows.items() if k in called},
    )
    return separated, problems


def _call_cycle(workspace: Workspace, start: str) -> list[str]:
    """The chain of calls leading from ``start`` back to it (empty: none)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        workflow = workspace.workflows.get(name)
        if workflow is None:
            continue
        for _, callee in _calls(workflow):
            if callee == start:
                return [*path, callee]
            if callee not in seen:
                seen.add(callee)
                stack.append((callee, [*path, callee]))
    return []
