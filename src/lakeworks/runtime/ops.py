"""The Operations Center service: look at instances and act on them.

Functions take the store and the acting user (``actor``) and return store records, so
that the CLI and the REST API call the same code. Every action is a compare-and-set
per instance with an event (who, when, from which state, why) and one entry in the
action log; instances an action does not apply to are returned with the reason.
Actions reach running work through the store: a stopped instance's worker notices
that it no longer holds the instance and interrupts it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from lakeworks.errors import NotFound, UserError
from lakeworks.runtime.wakeup import QUEUE, channel_name
from lakeworks.schedule.retries import rerun_refusal
from lakeworks.spec.models import NodeKind, RerunPolicy, Workspace
from lakeworks.spec.outputs import decode_output
from lakeworks.store.database import Database
from lakeworks.store.models import (
    Attempt,
    Instance,
    InstanceEvent,
    InstanceState,
    LogLine,
    Run,
    RunType,
)
from lakeworks.store.operations import OperationsStore, OpsAction
from lakeworks.store.outputs import Iteration, OutputRepository
from lakeworks.store.processes import ProcessInfo, ProcessRegistry
from lakeworks.store.repositories import (
    AttemptRepository,
    InstanceRepository,
    LogRepository,
    RunRepository,
)
from lakeworks.store.scheduling import SchedulingStore

S = InstanceState
WAITING = (S.NOT_RUN, S.WAITING_TIME, S.WAITING_UPSTREAM, S.WAITING_RESOURCES)
FINISHED = (S.SUCCESS, S.FAILED, S.SKIPPED, S.STOPPED, S.BLOCKED)


@dataclass(frozen=True)
class InstanceFilter:
    """Which instances to list; unset fields do not filter."""

    workspace: str | None = None
    env: str | None = None
    bizdate: str | None = None
    """``yyyymmdd``."""
    workflow: str | None = None
    nodes: tuple[str, ...] = ()
    """Node keys (``workflow.node``)."""
    states: tuple[InstanceState, ...] = ()
    owner: str | None = None
    run_type: RunType | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class Page:
    """One page of instances, newest first; ``next_before`` continues the listing."""

    items: list[Instance]
    next_before: int | None


@dataclass(frozen=True)
class InstanceDetail:
    """One instance with everything an operator looks at."""

    instance: Instance
    attempts: list[Attempt]
    events: list[InstanceEvent]
    upstream: list[Instance]
    downstream: list[Instance]
    run: Run | None
    output: str | None = None
    """The output (JSON) the instance published, if any."""
    iterations: list[Iteration] = field(default_factory=list)
    """A for-each instance's iterations."""


CONTROL_LABELS = {
    NodeKind.BRANCH: "branch",
    NodeKind.MERGE: "merge",
    NodeKind.FOREACH: "for-each",
    NodeKind.DOWHILE: "do-while",
    NodeKind.SUBFLOW: "sub-workflow",
    NodeKind.CHECK: "check",
    NodeKind.HTTP: "HTTP",
    NodeKind.TRIGGER: "HTTP trigger",
}


@dataclass(frozen=True)
class ControlView:
    """What a control-flow instance decided, for a person: the branch taken, its
    iterations (or the called workflow's run), its output."""

    kind: str | None
    """``branch``, ``for-each``… (None: not a control-flow node, or unknown)."""
    taken: str | None
    """A branch: the output taken ("" when no condition held)."""
    output: str | None
    """The published output as JSON text, cut to a readable length."""
    iterations: list[Iteration]
    succeeded: int

    @property
    def shown(self) -> bool:
        return self.kind is not None or self.output is not None or bool(self.iterations)


def control_view(
    workspace: Workspace | None, instance: Instance, output: str | None, iterations: list[Iteration]
) -> ControlView:
    """The control-flow summary of an instance (its node looked up in ``workspace``)."""
    node = workspace.find_node(instance.node_key) if workspace is not None else None
    kind = CONTROL_LABELS.get(node.kind) if node is not None else None
    taken = None
    if node is not None and node.kind is NodeKind.BRANCH and output is not None:
        value = decode_output(output)
        taken = str(value[0]) if isinstance(value, list) and value else ""
    shown = output if output is None or len(output) <= 500 else output[:499] + "…"
    done = sum(1 for it in iterations if it.state == "success")
    return ControlView(kind, taken, shown, iterations, done)


@dataclass(frozen=True)
class ActionResult:
    """What an action changed, and what it left alone (with why)."""

    action: str
    changed: list[Instance] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    record: OpsAction | None = None


# -- looking ---------------------------------------------------------------------------


def list_instances(
    db: Database, where: InstanceFilter, *, before_id: int | None = None, limit: int = 50
) -> Page:
    """A page of matching instances, newest first (keyset pagination on the id)."""
    if not 1 <= limit <= 1000:
        raise UserError(f"limit must be between 1 and 1000, not {limit}")
    items = InstanceRepository(db).list(
        workspace=where.workspace,
        env=where.env,
        run_id=where.run_id,
        states=where.states or None,
        node_keys=where.nodes or None,
        bizdate=where.bizdate,
        workflow=where.workflow,
        owner=where.owner,
        run_type=where.run_type,
        after_id=before_id,
        limit=limit + 1,
        order="desc",
    )
    more = len(items) > limit
    items = items[:limit]
    return Page(items, items[-1].id if more and items else None)


def show_instance(db: Database, instance_id: int) -> InstanceDetail:
    """An instance with its attempts, events, neighbours and run; ``NotFound`` if none."""
    repo = InstanceRepository(db)
    instance = repo.get(instance_id)
    run = RunRepository(db).get(instance.run_id) if instance.run_id is not None else None
    return InstanceDetail(
        instance=instance,
        attempts=AttemptRepository(db).for_instance(instance_id),
        events=repo.events(instance_id),
        upstream=repo.get_many(repo.upstream_ids(instance_id)),
        downstream=repo.get_many(repo.downstream_ids(instance_id)),
        run=run,
        output=OutputRepository(db).get(instance_id),
        iterations=OutputRepository(db).iterations(instance_id),
    )


def read_logs(
    db: Database,
    instance_id: int,
    *,
    attempt: int | None = None,
    after_id: int = 0,
    limit: int = 10000,
) -> list[LogLine]:
    """Log lines of an instance (one attempt, or all), after ``after_id``."""
    InstanceRepository(db).get(instance_id)
    return LogRepository(db).read(instance_id, attempt=attempt, after_id=after_id, limit=limit)


def follow_logs(
    db: Database,
    instance_id: int,
    *,
    attempt: int | None = None,
    poll_seconds: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[LogLine]:
    """Log lines as they are written, until the instance is no longer running or queued."""
    repo = InstanceRepository(db)
    logs = LogRepository(db)
    last = 0
    while True:
        active = repo.get(instance_id).state in (S.RUNNING, S.WAITING_RESOURCES)
        lines = logs.read(instance_id, attempt=attempt, after_id=last)
        for line in lines:
            last = line.id
            yield line
        if (not active and not lines) or should_stop():
            return
        if not lines:
            time.sleep(poll_seconds)


def recent_actions(
    db: Database,
    *,
    workspace: str | None = None,
    env: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[OpsAction]:
    """Recorded operator actions, newest first."""
    return OperationsStore(db).actions(
        workspace=workspace, env=env, before_id=before_id, limit=limit
    )


def processes(db: Database, *, alive_within: float | None = None) -> list[ProcessInfo]:
    """Scheduler and worker processes (only those heard from recently with ``alive_within``)."""
    return ProcessRegistry(db).list(alive_within=alive_within)


# -- acting ----------------------------------------------------------------------------

Decide = Callable[[Instance], "tuple[InstanceState, str, dict[str, object]] | str"]
"""For one instance: (new state, reason, extra fields), or why the action does not apply."""


def _act(db: Database, actor: str, action: str, ids: Iterable[int], decide: Decide) -> ActionResult:
    wanted = sorted(set(ids))
    if not wanted:
        raise UserError(f"{action}: no instances given")
    repo = InstanceRepository(db)
    found = {i.id: i for i in repo.get_many(wanted)}
    changed: list[Instance] = []
    refused: list[tuple[int, str]] = []
    for id_ in wanted:
        instance = found.get(id_)
        if instance is None:
            refused.append((id_, "no such instance"))
            continue
        decision = decide(instance)
        if isinstance(decision, str):
            refused.append((id_, decision))
            continue
        target, reason, fields = decision
        moved = repo.transition(
            id_,
            target,
            expected=[instance.state],
            reason=reason,
            actor=actor,
            action=action,
            **fields,
        )
        if moved is None:
            refused.append((id_, "its state changed meanwhile; look again"))
        else:
            changed.append(moved)
    return _recorded(db, actor, action, changed, refused)


def _recorded(
    db: Database,
    actor: str,
    action: str,
    changed: list[Instance],
    refused: list[tuple[int, str]],
) -> ActionResult:
    store = OperationsStore(db)
    first = changed[0] if changed else None
    ids = [i.id for i in changed]
    detail = json.dumps({"changed": ids, "refused": [[i, why] for i, why in refused]})
    record = store.record(
        actor,
        action,
        _target(ids, [i for i, _ in refused]),
        workspace=first.workspace if first else None,
        env=first.env if first else None,
        detail=detail,
    )
    _wake_workers(db, changed)
    store.reopen([i.run_id for i in changed if i.run_id is not None and not i.state.is_terminal])
    return ActionResult(action, changed, refused, record)


def _target(changed: Sequence[int], refused: Sequence[int]) -> str:
    ids = sorted({*changed, *refused})
    shown = ", ".join(str(i) for i in ids[:20])
    more = f" and {len(ids) - 20} more" if len(ids) > 20 else ""
    return f"instance{'s' if len(ids) != 1 else ''} {shown}{more}"


def _wake_workers(db: Database, changed: Iterable[Instance]) -> None:
    channels = {
        channel_name(QUEUE, i.workspace, i.env) for i in changed if i.state is S.WAITING_RESOURCES
    }
    store = SchedulingStore(db)
    for channel in sorted(channels):
        store.send(channel)


def _policy(db: Database, instance: Instance) -> tuple[RerunPolicy | None, int]:
    store = OperationsStore(db)
    control = store.node_controls(instance.workspace, instance.env, [instance.node_key]).get(
        instance.node_key
    )
    if control is None:
        return None, max(1, instance.max_attempts)
    policy = RerunPolicy(control.rerun_policy) if control.rerun_policy else None
    return policy, control.max_attempts


def run_now(db: Database, actor: str, ids: Iterable[int]) -> ActionResult:
    """Queue waiting instances at once, without waiting for their time or upstream."""

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        if i.state not in (S.NOT_RUN, S.WAITING_TIME, S.WAITING_UPSTREAM):
            return _not_applicable("run now", i, "waiting instances (rerun finished ones)")
        reason = (
            f"run now by {actor} (time and upstream not checked);"
            f" waiting for a slot in group {i.resource_group}"
        )
        return S.WAITING_RESOURCES, reason, {"next_attempt_at": None}

    return _act(db, actor, "run_now", ids, decide)


def rerun(
    db: Database, actor: str, ids: Iterable[int], *, downstream: bool = False
) -> ActionResult:
    """Run finished instances again (with a fresh retry budget), optionally with every
    instance downstream of them. The node's rerun policy is respected."""
    wanted = set(ids)
    if downstream:
        below = OperationsStore(db).downstream_closure(wanted)
        # waiting instances below will run after their upstream anyway
        wanted.update(
            i.id for i in InstanceRepository(db).get_many(below) if i.state not in WAITING
        )

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        policy, budget = _policy(db, i)
        refusal = rerun_refusal(policy, i.state)
        if refusal is not None:
            return refusal
        if i.state not in FINISHED:
            return _not_applicable("rerun", i, "finished instances (run now queues waiting ones)")
        fields: dict[str, object] = {
            "max_attempts": i.attempts + budget,
            "next_attempt_at": None,
            "worker": None,
        }
        return S.NOT_RUN, f"rerun by {actor}", fields

    return _act(db, actor, "rerun_downstream" if downstream else "rerun", sorted(wanted), decide)


def set_success(db: Database, actor: str, ids: Iterable[int]) -> ActionResult:
    """Mark instances successful without running them (their downstream is released)."""

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        if i.state in (S.RUNNING, S.SUCCESS):
            return _not_applicable("set success", i, "instances that are not running")
        return S.SUCCESS, f"set success by {actor}", {}

    return _act(db, actor, "set_success", ids, decide)


def stop(db: Database, actor: str, ids: Iterable[int]) -> ActionResult:
    """Stop running instances (their worker kills the work) or waiting ones."""

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        if i.state not in (S.RUNNING, *WAITING, S.SUSPENDED):
            return _not_applicable("stop", i, "running or waiting instances")
        return S.STOPPED, f"stopped by {actor}", {}

    return _act(db, actor, "stop", ids, decide)


def suspend(db: Database, actor: str, ids: Iterable[int]) -> ActionResult:
    """Hold waiting instances: they are not started until resumed."""

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        if i.state not in WAITING:
            return _not_applicable("suspend", i, "waiting instances (stop running ones)")
        return S.SUSPENDED, f"suspended by {actor}", {}

    return _act(db, actor, "suspend", ids, decide)


def resume(db: Database, actor: str, ids: Iterable[int]) -> ActionResult:
    """Let suspended instances be scheduled again."""

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        if i.state is not S.SUSPENDED:
            return _not_applicable("resume", i, "suspended instances")
        return S.NOT_RUN, f"resumed by {actor}", {}

    return _act(db, actor, "resume", ids, decide)


def freeze(db: Database, actor: str, ids: Iterable[int]) -> ActionResult:
    """Freeze waiting instances: they do not run, and their downstream waits."""

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        if i.state not in (*WAITING, S.SUSPENDED):
            return _not_applicable("freeze", i, "waiting or suspended instances")
        return S.FROZEN, f"frozen by {actor}", {}

    return _act(db, actor, "freeze", ids, decide)


def unfreeze(db: Database, actor: str, ids: Iterable[int]) -> ActionResult:
    """Let frozen instances be scheduled again."""

    def decide(i: Instance) -> tuple[InstanceState, str, dict[str, object]] | str:
        if i.state is not S.FROZEN:
            return _not_applicable("unfreeze", i, "frozen instances")
        return S.NOT_RUN, f"unfrozen by {actor}", {}

    return _act(db, actor, "unfreeze", ids, decide)


def freeze_node(
    db: Database, actor: str, workspace: str, env: str, node_key: str, *, frozen: bool = True
) -> ActionResult:
    """Freeze (or unfreeze) a node: its waiting scheduled instances and future ones."""
    store = OperationsStore(db)
    store.set_frozen(workspace, env, node_key, frozen, actor)
    states = (*WAITING, S.SUSPENDED) if frozen else (S.FROZEN,)
    repo = InstanceRepository(db)
    ids: list[int] = []
    before: int | None = None
    while True:
        page = repo.list(
            workspace=workspace,
            env=env,
            node_keys=[node_key],
            states=states,
            run_type=RunType.SCHEDULED,
            after_id=before,
            limit=1000,
        )
        ids.extend(i.id for i in page)
        if len(page) < 1000:
            break
        before = page[-1].id
    target = S.FROZEN if frozen else S.NOT_RUN
    verb = "froze" if frozen else "unfroze"
    repo.set_many_state(
        ids,
        target,
        f"node {'frozen' if frozen else 'unfrozen'} by {actor}",
        actor,
        expected=states,
        action="freeze_node" if frozen else "unfreeze_node",
    )
    changed = repo.get_many(ids)
    changed = [i for i in changed if i.state is target]
    record = store.record(
        actor,
        "freeze_node" if frozen else "unfreeze_node",
        f"node {node_key}",
        workspace=workspace,
        env=env,
        detail=json.dumps(
            {"instances": [i.id for i in changed], "summary": f"{verb} {len(changed)}"}
        ),
    )
    return ActionResult(record.action, changed, [], record)


def _not_applicable(action: str, instance: Instance, applies_to: str) -> str:
    return f"it is {instance.state.value}; {action} applies to {applies_to}"


def get_instance(db: Database, instance_id: int) -> Instance:
    """One instance; ``NotFound`` with a hint when it does not exist."""
    try:
        return InstanceRepository(db).get(instance_id)
    except NotFound as exc:
        raise NotFound(exc.message, hint="list instances with 'lakeworks ops list'") from None
