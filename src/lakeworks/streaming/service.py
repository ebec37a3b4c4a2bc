"""Operating stream nodes — start, stop, pause, resume, reset position, status — for
the CLI, the API and the console alike.

Starting records a manual run with one instance of the node, queued for a worker of the
node's resource group; the instance follows its source until stopped. Pause and resume
are the operator's wish in ``stream_status``, read by the running stream every second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from lakeworks.engines.base import Engine
from lakeworks.errors import Conflict, NotFound
from lakeworks.runtime import ops
from lakeworks.spec.models import Node, Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState, NewInstance, RunType
from lakeworks.store.operations import OperationsStore
from lakeworks.store.repositories import InstanceRepository, NodeVersionRepository, RunRepository
from lakeworks.streaming import positions
from lakeworks.streaming.opening import stream_node
from lakeworks.streaming.spec import CdcSource
from lakeworks.streaming.status import PAUSED, RUNNING, StreamStatus, StreamStatusStore

ACTIVE = {InstanceState.WAITING_RESOURCES, InstanceState.RUNNING, InstanceState.WAITING_TIME}
STREAM_MAX_ATTEMPTS = 1000
"""A stream instance whose worker died is queued again (practically) forever."""


def _active_instance(db: Database, status: StreamStatus | None) -> Instance | None:
    if status is None or status.instance_id is None:
        return None
    try:
        instance = ops.get_instance(db, status.instance_id)
    except NotFound:
        return None
    return instance if instance.state in ACTIVE else None


def start(db: Database, actor: str, workspace: Workspace, env: str, ref: str) -> Instance:
    """Queue a long-lived instance of a stream node for a worker; refused when one is
    already queued or running."""
    from lakeworks.schedule.planning import node_run_settings  # not on `stream run`'s path

    node = stream_node(workspace, ref)
    statuses = StreamStatusStore(db, workspace.name, env)
    active = _active_instance(db, statuses.get(node.key))
    if active is not None:
        raise Conflict(
            f"stream {node.key} already has instance {active.id} ({active.state.value})",
            hint="stop it first: lakeworks stream stop " + node.key,
        )
    settings = node_run_settings(workspace, node)
    run = RunRepository(db).create(
        workspace.name, env, RunType.MANUAL, actor, description=f"stream {node.key}"
    )
    version = NodeVersionRepository(db).record(
        workspace.name, env, node.key, node.code, node.header.model_dump_json()
    )
    now = utcnow().replace(microsecond=0)
    created = InstanceRepository(db).create_many(
        [
            NewInstance(
                workspace=workspace.name,
                env=env,
                node_key=node.key,
                workflow=node.workflow,
                cycle_time=now,
                bizdate=f"{now - timedelta(days=1):%Y%m%d}",
                run_type=RunType.MANUAL,
                run_key=run.run_key,
                run_id=run.id,
                state=InstanceState.WAITING_RESOURCES,
                reason=f"stream started by {actor}",
                max_attempts=STREAM_MAX_ATTEMPTS,
                priority=settings.priority,
                resource_group=settings.resource_group,
                owner=settings.owner,
                node_version=version.version,
            )
        ]
    )
    instance = created[0]
    statuses.update(node.key, desired=RUNNING, instance_id=instance.id)
    OperationsStore(db).record(
        actor,
        "stream_start",
        node.key,
        workspace=workspace.name,
        env=env,
        detail=json.dumps({"instance": instance.id}),
    )
    return instance


def stop(db: Database, actor: str, workspace: Workspace, env: str, ref: str) -> int:
    """Stop the stream's instance (it flushes what it holds first); returns its id."""
    node = stream_node(workspace, ref)
    active = _active_instance(db, StreamStatusStore(db, workspace.name, env).get(node.key))
    if active is None:
        raise Conflict(f"stream {node.key} is not running", hint="lakeworks stream start")
    ops.stop(db, actor, [active.id])
    return active.id


def set_desired(
    db: Database, actor: str, workspace: Workspace, env: str, ref: str, desired: str
) -> None:
    """Pause (``paused``) or resume (``running``) a stream node."""
    node = stream_node(workspace, ref)
    StreamStatusStore(db, workspace.name, env).update(node.key, desired=desired)
    action = "stream_pause" if desired == PAUSED else "stream_resume"
    OperationsStore(db).record(actor, action, node.key, workspace=workspace.name, env=env)


def check_resettable(db: Database, workspace: Workspace, env: str, ref: str) -> Node:
    """The node, when its position may be reset (no instance of it queued or running)."""
    node = stream_node(workspace, ref)
    active = _active_instance(db, StreamStatusStore(db, workspace.name, env).get(node.key))
    if active is not None:
        raise Conflict(
            f"stream {node.key} is running (instance {active.id}); stop it before a reset",
            hint="lakeworks stream stop " + node.key,
        )
    return node


def reset(engine: Engine, workspace: Workspace, env: str, node: Node) -> ResetDone:
    """Forget a stream's positions; a PostgreSQL CDC stream's replication slot and
    publication are dropped too (the server stops keeping WAL for it, and the next
    start takes a new snapshot)."""
    from lakeworks.streaming.opening import load_spec
    from lakeworks.streaming.postgres_cdc import open_cdc_follower, slot_name

    forgotten = positions.reset_positions(engine, node.key)
    spec = load_spec(node)
    if not isinstance(spec.source, CdcSource):
        return ResetDone(forgotten, None)
    raw = workspace.config.data_sources.get(spec.source.data_source)
    if raw is None:
        return ResetDone(forgotten, None)
    follower = open_cdc_follower(
        spec.source.data_source,
        raw,
        spec.source,
        spec.target,
        slot_name(workspace.name, env, node.key),
    )
    return ResetDone(forgotten, follower.slot if follower.drop() else None)


def statuses(db: Database, workspace: Workspace, env: str) -> list[StreamStatus]:
    """The status of every stream node that ever ran in this environment."""
    return StreamStatusStore(db, workspace.name, env).list()


def status(db: Database, workspace: Workspace, env: str, ref: str) -> StreamStatus:
    node = stream_node(workspace, ref)
    found = StreamStatusStore(db, workspace.name, env).get(node.key)
    if found is None:
        raise NotFound(f"stream {node.key} has not run in {env}", hint="lakeworks stream start")
    return found


@dataclass(frozen=True)
class ResetDone:
    """What a reset forgot: positions, and the replication slot it dropped."""

    forgotten: dict[str, int]
    dropped_slot: str | None


def confirm_text(node_key: str, done: ResetDone) -> str:
    """What a reset forgot, for its confirmation message."""
    text = (
        f"{node_key}: forgot positions {json.dumps(done.forgotten, sort_keys=True)}"
        if done.forgotten
        else f"{node_key}: no stored position"
    )
    if done.dropped_slot:
        text += f"; dropped replication slot {done.dropped_slot} (the next start takes a snapshot)"
    return text
