"""Executors of branch and merge nodes.

A branch evaluates its conditions over its bound inputs, publishes the output it took
and marks the same-run instances under the other outputs (and what follows them, up to
a merge) ``skipped`` with the reason "branch not taken". A merge succeeds when its
condition over its upstream states holds.
"""

from __future__ import annotations

from lakeworks.errors import UserCodeError, UserError
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.schedule.control_flow import (
    BRANCH_NOT_TAKEN,
    branch_skips,
    merge_holds,
    taken_output,
)
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.expressions import ExpressionError
from lakeworks.spec.models import MergeConfig
from lakeworks.store.database import Database
from lakeworks.store.models import Instance
from lakeworks.store.repositories import InstanceRepository

WAITING = (
    InstanceState.NOT_RUN,
    InstanceState.WAITING_TIME,
    InstanceState.WAITING_UPSTREAM,
    InstanceState.WAITING_RESOURCES,
)


def _repository(ctx: NodeRunContext) -> InstanceRepository:
    db = ctx.extras.get("db")
    if not isinstance(db, Database) or ctx.instance_id is None:
        raise UserError(f"{ctx.node.kind} nodes run only as recorded instances")
    return InstanceRepository(db)


def _descendants(repo: InstanceRepository, instance_id: int) -> list[Instance]:
    """The instances that wait for this one, at any depth (same run)."""
    seen: set[int] = set()
    stack = [instance_id]
    while stack:
        for child in repo.downstream_ids(stack.pop()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return repo.get_many(sorted(seen))


def run_branch_node(ctx: NodeRunContext) -> NodeResult:
    """Take the first output whose condition holds; skip the others' instances."""
    node = ctx.node
    try:
        taken = taken_output(node, ctx.inputs)
    except ExpressionError as exc:
        raise UserCodeError(f"{node.path.name}: {exc}") from None
    if taken is None:
        ctx.log("no condition holds: every output is skipped")
    else:
        ctx.log(f"branch taken: {taken}")
    skip = branch_skips(build_graph(ctx.workspace), node.key, taken)
    repo = _repository(ctx)
    assert ctx.instance_id is not None
    by_key = {i.node_key: i for i in _descendants(repo, ctx.instance_id)}
    for key in skip:
        instance = by_key.get(key)
        if instance is None:
            continue
        changed = repo.transition(
            instance.id,
            InstanceState.SKIPPED,
            expected=WAITING,
            reason=BRANCH_NOT_TAKEN,
            actor=node.key,
        )
        if changed is not None:
            ctx.log(f"skipped {key}: {BRANCH_NOT_TAKEN}")
    return NodeResult(
        rendered_code=node.code,
        output=[taken] if taken is not None else [],
        detail={"branch": taken},
    )


def run_merge_node(ctx: NodeRunContext) -> NodeResult:
    """Succeed when the condition over the upstream states holds; fail otherwise."""
    node = ctx.node
    assert isinstance(node.config, MergeConfig)
    repo = _repository(ctx)
    assert ctx.instance_id is not None
    upstream = repo.get_many(repo.upstream_ids(ctx.instance_id))
    states = {i.node_key.partition(".")[2]: InstanceState(i.state) for i in upstream}
    shown = ", ".join(f"{name}={state.value}" for name, state in sorted(states.items()))
    try:
        holds = merge_holds(node.config.condition, states)
    except ExpressionError as exc:
        raise UserCodeError(f"{node.path.name}: {exc}") from None
    if not holds:
        raise UserCodeError(f"merge condition '{node.config.condition}' does not hold ({shown})")
    ctx.log(f"merge condition '{node.config.condition}' holds ({shown})")
    return NodeResult(rendered_code=node.code)
