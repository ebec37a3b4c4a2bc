"""The HTTP trigger node: its instance waits for one external call and its upstream.

The call (``lakeworks ops trigger``, ``POST …/instances/{id}/trigger``, or by node and
business date) is recorded with the instance, so it may come before or after the
upstream succeeded; a second call is refused. While it waits the instance is
``waiting_time`` with the reason "waiting for trigger" and holds no worker slot.
"""

from __future__ import annotations

import math
from datetime import date

from lakeworks.errors import CheckAgain, Conflict, NotFound, UserCodeError, UserError
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.models import NodeKind, TriggerConfig, Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Instance
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import InstanceRepository

WAITING_FOR_TRIGGER = "waiting for trigger"


def run_trigger_node(ctx: NodeRunContext) -> NodeResult:
    """Succeed once triggered; otherwise look again after the interval."""
    config = ctx.node.config
    assert isinstance(config, TriggerConfig)
    db = ctx.extras.get("db")
    if not isinstance(db, Database) or ctx.instance_id is None:
        raise UserError("trigger nodes run only as recorded instances")
    actor = OutputRepository(db).triggered_by(ctx.instance_id)
    if actor is not None:
        ctx.log(f"triggered by {actor}")
        return NodeResult(rendered_code=ctx.node.code, detail={"triggered_by": actor})
    limit = max(1, math.ceil(config.timeout_hours * 3600 / config.interval_seconds))
    if ctx.attempt >= limit:
        raise UserCodeError(f"no trigger came within {config.timeout_hours:g} hours")
    raise CheckAgain(WAITING_FOR_TRIGGER, delay_seconds=config.interval_seconds)


def find_instance(
    db: Database, workspace: Workspace, env: str, node_ref: str, bizdate: date
) -> Instance:
    """The (newest) instance of a node for a business date."""
    node = workspace.find_node(node_ref)
    if node is None:
        raise NotFound(f"node {node_ref} does not exist in workspace {workspace.name}")
    found = InstanceRepository(db).list(
        workspace=workspace.name,
        env=env,
        node_keys=[node.key],
        bizdate=f"{bizdate:%Y%m%d}",
        limit=1,
        order="desc",
    )
    if not found:
        raise NotFound(f"no instance of {node.key} for bizdate {bizdate:%Y%m%d} in {env}")
    return found[0]


def trigger_instance(db: Database, workspace: Workspace, instance_id: int, actor: str) -> Instance:
    """Release a trigger node's instance (once); it runs as soon as its upstream is done."""
    repo = InstanceRepository(db)
    instance = repo.get(instance_id)
    node = workspace.find_node(instance.node_key)
    if node is None or node.kind is not NodeKind.TRIGGER:
        raise UserError(
            f"instance {instance_id} ({instance.node_key}) is not of a trigger node",
            hint="trigger the instance of a <name>.trigger.yml node",
        )
    if instance.state in (InstanceState.SUCCESS, InstanceState.FAILED, InstanceState.SKIPPED):
        raise Conflict(f"instance {instance_id} has already ended ({instance.state.value})")
    if not OutputRepository(db).trigger(instance_id, actor):
        raise Conflict(f"instance {instance_id} was already triggered")
    woken = None
    if instance.state is InstanceState.WAITING_TIME and instance.reason == WAITING_FOR_TRIGGER:
        woken = repo.transition(  # look now rather than at the next interval
            instance.id,
            InstanceState.WAITING_TIME,
            expected=[InstanceState.WAITING_TIME],
            reason="triggered",
            actor=actor,
            action="trigger",
            next_attempt_at=None,
        )
    if woken is None:
        repo.record_event(instance.id, "trigger", actor=actor, detail=f"triggered by {actor}")
    return repo.get(instance_id)
