"""Planning for control-flow nodes: what a branch skips, when a merge holds.

Pure: given the dependency graph and the states of instances, say which nodes of the
same cycle a branch's decision skips and whether a merge node's condition holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from lakeworks.schedule.graph import DependencyGraph
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.expressions import parse_expression
from lakeworks.spec.models import BranchConfig, Node, NodeKind

BRANCH_NOT_TAKEN = "branch not taken"
"""The reason recorded on instances a branch skipped."""


def _output_under(child: Node, branch: Node) -> str | None:
    for ref, output in child.header.branch.items():
        if ref in (branch.key, branch.name):
            return output
    return None


def taken_output(branch: Node, values: Mapping[str, object]) -> str | None:
    """The output of the first condition that holds (None: none holds).

    ``ExpressionError`` when a condition cannot be evaluated (it names the expression
    and the values).
    """
    assert isinstance(branch.config, BranchConfig)
    for condition in branch.config.conditions:
        if parse_expression(condition.when).evaluate(values):
            return condition.output
    return None


def branch_skips(graph: DependencyGraph, branch_key: str, taken: str | None) -> list[str]:
    """Node keys a branch's decision skips, parents first.

    The children under another output than ``taken`` are skipped, and their
    descendants, except merge nodes and what follows them (a merge joins the branches
    back). Children without a ``branch:`` entry for this node always run.
    """
    branch = graph.nodes[branch_key]
    start = [
        child
        for child in graph.downstream(branch_key)
        if (output := _output_under(graph.nodes[child], branch)) is not None and output != taken
    ]
    skipped: set[str] = set()
    stack = list(start)
    while stack:
        key = stack.pop()
        if key in skipped or graph.nodes[key].kind is NodeKind.MERGE:
            continue
        skipped.add(key)
        stack.extend(graph.downstream(key))
    return graph.topological_order(skipped)


def merge_holds(condition: str, upstream: Mapping[str, InstanceState]) -> bool:
    """Whether a merge node's condition holds over its upstream states.

    ``upstream`` maps each upstream node's name to its state. ``all``: every one
    succeeded or was skipped; ``any``: at least one succeeded; otherwise an expression
    where each name stands for its state's value (``'success'``, ``'skipped'``…).
    """
    ok = {InstanceState.SUCCESS, InstanceState.SKIPPED}
    if condition == "all":
        return all(state in ok for state in upstream.values())
    if condition == "any":
        return any(state is InstanceState.SUCCESS for state in upstream.values())
    values = {name: state.value for name, state in upstream.items()}
    return bool(parse_expression(condition).evaluate(values))
