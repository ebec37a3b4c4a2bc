"""Which nodes a command names: workflows or nodes of a workspace, or all of them."""

from __future__ import annotations

from collections.abc import Iterable

from lakeworks.errors import UserError
from lakeworks.spec.models import Workspace


def select_nodes(workspace: Workspace, targets: Iterable[str]) -> list[str]:
    """Node keys named by ``targets`` (workflow names or node names); none = all."""
    wanted = list(targets)
    if not wanted:
        return [n.key for n in workspace.nodes()]
    keys: list[str] = []
    for target in wanted:
        if target in workspace.workflows:
            keys.extend(n.key for n in workspace.workflows[target].nodes.values())
            continue
        node = workspace.find_node(target)
        if node is None:
            candidates = [n.key for n in workspace.nodes() if n.name == target]
            hint = (
                f"'{target}' is ambiguous: {', '.join(candidates)}"
                if candidates
                else f"workflows: {', '.join(workspace.workflows) or '(none)'}; "
                "a node is named by its file name without extension"
            )
            raise UserError(f"no workflow or node named '{target}'", hint=hint)
        keys.append(node.key)
    return list(dict.fromkeys(keys))
