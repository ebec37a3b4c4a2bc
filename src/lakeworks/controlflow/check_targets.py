"""What a check node can wait for in the metadata store: a sync cursor, a stream
watermark, and other nodes' or workflows' instances (of this workspace or another).

Each function answers whether the condition holds and what was seen, for a person
("sync cursor of ods.pull_orders is 2026-04-11 23:10, before 2026-04-12 00:00").
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from lakeworks.errors import UserCodeError, UserError
from lakeworks.runtime.context import NodeRunContext
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.models import CheckConfig, NodeKind
from lakeworks.store.database import Database
from lakeworks.store.models import Instance
from lakeworks.store.repositories import InstanceRepository, NodeVersionRepository

MAX_INSTANCES_PER_DAY = 5000
"""Instances of one target read for one business date (more is refused)."""


def _node_key(ctx: NodeRunContext, ref: str, kind: NodeKind) -> str:
    node = ctx.workspace.find_node(ref)
    if node is None or node.kind is not kind:
        raise UserError(f"{ctx.node.path.name}: '{ref}' is not a {kind} node of this workspace")
    return node.key


def _as_time(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def cursor_holds(db: Database, ctx: NodeRunContext, ref: str) -> tuple[bool, str]:
    """Whether the sync node's committed cursor (a time, in workspace time) has reached
    the instance's cycle time."""
    from lakeworks.integration.state import SyncState

    key = _node_key(ctx, ref, NodeKind.SYNC)
    value = SyncState(db, ctx.workspace.name, ctx.env).cursor(key)
    cycle = ctx.params.cycle_time
    if value is None:
        return False, f"sync {key} has no cursor yet (it has not run incrementally)"
    moment = _as_time(value)
    if moment is None:
        raise UserCodeError(
            f"the cursor of sync {key} is {value!r}, not a time: it cannot be compared "
            f"with the cycle time {cycle:%Y-%m-%d %H:%M}"
        )
    moment = moment.replace(tzinfo=None)
    holds = moment >= cycle
    word = "at or past" if holds else "before"
    shown = f"{moment:%Y-%m-%d %H:%M:%S}, {word} {cycle:%Y-%m-%d %H:%M}"
    return holds, f"sync cursor of {key} is {shown}"


def watermark_holds(
    db: Database, ctx: NodeRunContext, ref: str, cycle_utc: datetime
) -> tuple[bool, str]:
    """Whether the stream node's watermark (UTC) has reached the instance's cycle time."""
    from lakeworks.streaming.status import StreamStatusStore

    key = _node_key(ctx, ref, NodeKind.STREAM)
    status = StreamStatusStore(db, ctx.workspace.name, ctx.env).get(key)
    cycle = f"{cycle_utc:%Y-%m-%d %H:%M:%S} UTC"
    if status is None or status.watermark is None:
        return False, f"stream {key} has committed nothing yet (cycle time {cycle})"
    mark = status.watermark
    if mark >= cycle_utc:
        return True, f"stream {key} has passed {cycle} (watermark {mark:%Y-%m-%d %H:%M:%S} UTC)"
    return False, (
        f"stream {key} watermark {mark:%Y-%m-%d %H:%M:%S} UTC has not passed the cycle time {cycle}"
    )


def window_dates(bizdate: date, window: str, days: int) -> list[date]:
    """The business dates a dependency check looks at, oldest first."""
    if window == "previous_day":
        return [bizdate - timedelta(days=1)]
    if window == "last_days":
        return [bizdate - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return [bizdate]


def day_done(found: list[Instance]) -> bool:
    """Every cycle among ``found`` has a successful instance (and there is one)."""
    cycles: dict[tuple[str, datetime], bool] = {}
    for instance in found:
        key = (instance.node_key, instance.cycle_time)
        cycles[key] = cycles.get(key, False) or instance.state is InstanceState.SUCCESS
    return bool(cycles) and all(cycles.values())


def _exists(
    repo: InstanceRepository, db: Database, workspace: str, env: str, target: str, is_workflow: bool
) -> bool:
    if is_workflow:
        return bool(repo.list(workspace=workspace, env=env, workflow=target, limit=1))
    if NodeVersionRepository(db).latest(workspace, env, target) is not None:
        return True
    return bool(repo.list(workspace=workspace, env=env, node_keys=[target], limit=1))


def dependencies_hold(db: Database, ctx: NodeRunContext, config: CheckConfig) -> tuple[bool, str]:
    """Whether the named nodes and workflows succeeded for every date of the window
    (``all`` targets, or ``any`` one of them)."""
    workspace = config.workspace or ctx.workspace.name
    repo = InstanceRepository(db)
    targets: list[tuple[str, bool]] = []
    for ref in config.nodes:
        node = ctx.workspace.find_node(ref) if workspace == ctx.workspace.name else None
        targets.append((node.key if node else ref, False))
    targets.extend((name, True) for name in config.workflows)
    dates = window_dates(ctx.params.bizdate, config.window, config.days)
    done: list[str] = []
    waiting: list[str] = []
    for target, is_workflow in targets:
        missing = []
        for day in dates:
            found = repo.list(
                workspace=workspace,
                env=ctx.env,
                workflow=target if is_workflow else None,
                node_keys=None if is_workflow else [target],
                bizdate=f"{day:%Y%m%d}",
                limit=MAX_INSTANCES_PER_DAY,
            )
            if not day_done(found):
                missing.append(f"{day:%Y%m%d}")
        shown = f"workflow {target}" if is_workflow else target
        if workspace != ctx.workspace.name:
            shown = f"{shown} of workspace {workspace}"
        if not missing:
            done.append(shown)
            continue
        if not _exists(repo, db, workspace, ctx.env, target, is_workflow):
            raise UserError(
                f"{ctx.node.path.name}: {shown} does not exist in {ctx.env} "
                "(no instance or version of it was ever recorded)",
                hint="check the workspace, workflow and node names (write nodes as "
                "'workflow.node')",
            )
        waiting.append(f"{shown} not done for {', '.join(missing)}")
    holds = bool(done) if config.mode == "any" else not waiting
    if holds:
        return True, f"{', '.join(done)} succeeded"
    return False, "; ".join(waiting)
