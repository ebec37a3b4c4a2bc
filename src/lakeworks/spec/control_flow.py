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
    TriggerConfig,
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
