"""The scheduler: plans instances ahead, decides which waiting ones run, reclaims leases.

One pass (``Scheduler.run_once``), about every second, with time from a ``Clock``:

1. **Plan** whole local days up to ``now + days_ahead`` with the planning core, from
   where planning stopped last time (stored), so a scheduler that was down catches up
   every missed cycle; the unique (node, cycle) constraint makes a second scheduler,
   or a restarted one, create nothing twice. Dependencies are stored as edges between
   instances (by key while the upstream instance does not exist yet).
2. **Reclaim** instances whose worker let its lease expire: back to the queue for a
   new attempt, or failed when no attempts are left.
3. **Evaluate** the waiting instances in batches with the runnability core: runnable
   ones go to ``waiting_resources`` (the queue workers claim from), dry runs are
   skipped, and the others get their state and reason ("waiting for upstream …").
4. **Settle** backfill runs none of whose instances can make progress any more.

Every write is a batched compare-and-set, so several schedulers can run at once.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from lakeworks.errors import LakeworksError, UserError
from lakeworks.runtime import hooks
from lakeworks.runtime.clock import Clock, SystemClock
from lakeworks.runtime.heartbeat import ProcessHandle, process_name
from lakeworks.runtime.retention import RetentionPolicy, prune
from lakeworks.runtime.wakeup import DONE, QUEUE, Bell, Listener, channel_name
from lakeworks.runtime.workspace_source import WorkspaceSource, pinned_versions
from lakeworks.schedule.cycles import format_local, local_midnight, to_utc
from lakeworks.schedule.dependencies import DependencyKind, UpstreamInstance
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.planning import PlannedInstance, Planner, planning_window
from lakeworks.schedule.runnability import Action, InstanceStatus, evaluate
from lakeworks.spec.models import NodeKind, RunMode, Workspace
from lakeworks.store.database import Database
from lakeworks.store.leases import reclaim
from lakeworks.store.models import Instance, InstanceState, NewInstance
from lakeworks.store.operations import OperationsStore
from lakeworks.store.queue import WorkQueue
from lakeworks.store.repositories import InstanceRepository, NodeVersionRepository
from lakeworks.store.scheduling import SchedulingStore, StateChange, UpstreamRef
from lakeworks.store.statements import chunked

Log = Callable[[str], None]
EVENT_LOOKBACK = 500
"""Events re-read on every pass: an older event id may commit after a newer one."""


@dataclass(frozen=True)
class SchedulerConfig:
    """How a scheduler runs."""

    env: str = "prod"
    interval_seconds: float = 1.0
    """Time between passes when nothing wakes the scheduler earlier."""
    min_interval_seconds: float = 0.25
    """Shortest time between passes when finished instances wake it up."""
    days_ahead: int = 1
    """Whole local days planned ahead of today."""
    since: str = "today"
    """Where the very first plan starts: ``today`` (local midnight), ``now``, or an
    ISO date-time."""
    batch_size: int = 2000
    """Instances evaluated per query."""
    name: str | None = None
    sweep_seconds: float = 30.0
    """How often every instance waiting for upstream ones is looked at again (between
    sweeps only those whose upstream changed are)."""
    retention: RetentionPolicy | None = None
    """Prune old instances and logs by this policy (None: keep everything)."""
    retention_every_seconds: float = 3600.0


@dataclass
class PassReport:
    """What one pass did."""

    planned: int = 0
    linked: int = 0
    reclaimed: int = 0
    queued: int = 0
    skipped: int = 0
    updated: int = 0
    """Instances whose waiting state or reason changed."""
    runs_settled: int = 0
    seconds: float = 0.0


class _Model:
    """Everything derived from one version of the workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.graph = build_graph(workspace)
        self.planner = Planner(workspace, self.graph)
        self.resolver = self.planner.resolver
        self.zone = ZoneInfo(workspace.config.timezone)
        self.versions: dict[str, int] = {}

    def zone_of(self, node_key: str) -> ZoneInfo:
        schedule = self.resolver.schedules.get(node_key)
        return schedule.zone if schedule is not None else self.zone

    def is_merge(self, node_key: str) -> bool:
        """Whether ``node_key`` is a merge node (a failed upstream releases it)."""
        node = self.resolver.nodes.get(node_key)
        return node is not None and node.kind is NodeKind.MERGE

    def dry_run(self, node_key: str, cycle_time: datetime) -> bool:
        """Whether the instance of ``node_key`` at ``cycle_time`` is a dry run."""
        node = self.resolver.nodes.get(node_key)
        if node is None:
            return False
        if node.header.run_mode is RunMode.DRY_RUN:
            return True
        schedule = self.resolver.schedules[node_key]
        if not schedule.has_dry_runs:
            return False
        moment = to_utc(cycle_time)
        for cycle in schedule.day(moment.astimezone(schedule.zone).date(), active_only=False):
            if cycle.time == moment:
                return cycle.dry_run
        return False


def first_start(since: str, now: datetime, zone: str) -> datetime:
    """The instant the very first plan starts from (aware UTC)."""
    if since == "today":
        return planning_window(now, zone, 0)[0]
    if since == "now":
        return to_utc(now)
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--since '{since}' is not 'today', 'now' or an ISO date-time",
            hint="e.g. --since 2026-04-06T00:00:00+00:00",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return to_utc(moment)


class Scheduler:
    """Plans and dispatches the instances of one workspace environment."""

    def __init__(
        self,
        db: Database,
        source: WorkspaceSource,
        config: SchedulerConfig | None = None,
        *,
        clock: Clock | None = None,
        on_queued: Callable[[], None] | None = None,
        log: Log | None = None,
    ) -> None:
        self.db = db
        self.source = source
        self.config = config or SchedulerConfig()
        self.clock = clock or SystemClock()
        self.on_queued = on_queued
        self.log = log or (lambda _line: None)
        self.name = self.config.name or process_name("scheduler")
        self.bell = Bell()
        self.store = SchedulingStore(db)
        self.ops = OperationsStore(db)
        self.instances = InstanceRepository(db)
        self.queue = WorkQueue(db)
        self._model: _Model | None = None
        self._planned_model: _Model | None = None
        self._last_event: int | None = None
        self._last_sweep = 0.0

    @property
    def env(self) -> str:
        return self.config.env

    def model(self) -> _Model:
        """The model of the current workspace definition (rebuilt when it changes)."""
        workspace = self.source.current(self.env)
        if self._model is None or self._model.workspace is not workspace:
            self._model = _Model(workspace)
        return self._model

    # -- one pass -------------------------------------------------------------------

    def run_once(self) -> PassReport:
        """One pass: plan, reclaim, evaluate, settle."""
        started = time.perf_counter()
        report = PassReport()
        model = self.model()
        now = self.clock.now()
        self._plan(model, now, report)
        self._reclaim(model, now, report)
        self._evaluate(model, now, report)
        self._settle(model, report)
        self._after_pass(model, now)
        report.seconds = time.perf_counter() - started
        return report

    def _after_pass(self, model: _Model, now: datetime) -> None:
        """The registered pass hooks (alerts, baselines); a failing hook is logged."""
        for hook in hooks.pass_hooks():
            try:
                hook(self.db, model.workspace, self.env, now)
            except LakeworksError as exc:
                self.log(f"pass hook failed: {exc.render()}")
            except Exception as exc:  # a hook's bug must not stop scheduling
                self.log(f"pass hook failed: {type(exc).__name__}: {exc}")

    # -- planning -------------------------------------------------------------------

    def _plan(self, model: _Model, now: datetime, report: PassReport) -> None:
        ws = model.workspace
        state = self.store.planning_state(ws.name, self.env)
        if state is None:
            start = first_start(self.config.since, now, ws.config.timezone)
            state = self.store.begin_planning(ws.name, self.env, start)
        history = state.history_start.replace(tzinfo=UTC)
        planned_until = state.planned_until.replace(tzinfo=UTC)
        horizon = planning_window(now, ws.config.timezone, self.config.days_ahead)[1]
        begin = planned_until
        if self._planned_model is not model:
            self._sync_nodes(model)
            today = planning_window(now, ws.config.timezone, 0)[0]
            begin = min(planned_until, max(history, today))
        if begin >= horizon:
            self._planned_model = model
            report.linked += self.store.link_pending(ws.name, self.env)
            if report.linked:
                self._last_event = None
            return
        for day_start, day_end in _days(begin, horizon, model.zone):
            window_start = max(day_start, history)
            existing = self.store.existing_cycles(
                ws.name, self.env, window_start, day_end, model.planner.order
            )
            planned = model.planner.plan(window_start, day_end, existing, history_start=history)
            if planned:
                report.planned += self._create(model, planned, now)
            if day_end > planned_until:
                self.store.advance_planning(ws.name, self.env, day_end)
        self._planned_model = model
        report.linked += self.store.link_pending(ws.name, self.env)
        if report.linked:
            self._last_event = None  # new edges: look at every waiting instance again
        if report.planned:
            self.log(f"planned {report.planned} new instances up to {format_local(horizon)} UTC")

    def _sync_nodes(self, model: _Model) -> None:
        ws = model.workspace
        pinned = pinned_versions(self.source, self.env)
        nodes = model.resolver.nodes
        unpinned = [
            (key, nodes[key].code, nodes[key].header.model_dump_json())
            for key in model.planner.settings
            if key not in pinned
        ]
        recorded = NodeVersionRepository(self.db).record_many(ws.name, self.env, unpinned)
        rows = []
        for key, settings in model.planner.settings.items():
            node = model.resolver.nodes[key]
            model.versions[key] = pinned[key] if key in pinned else recorded[key]
            policy = node.settings.rerun_policy
            rows.append(
                (
                    key,
                    settings.workflow,
                    settings.owner,
                    None if policy is None else policy.value,
                    settings.retry.max_attempts,
                )
            )
        self.ops.sync_nodes(ws.name, self.env, rows)

    def _create(self, model: _Model, planned: list[PlannedInstance], now: datetime) -> int:
        ws = model.workspace
        controls = self.ops.node_controls(ws.name, self.env, {p.node_key for p in planned})
        index = {p.key: i for i, p in enumerate(planned)}
        items: list[NewInstance] = []
        pairs: list[tuple[int, int]] = []
        outside: list[tuple[int, str, datetime]] = []
        for i, item in enumerate(planned):
            control = controls.get(item.node_key)
            state, reason = InstanceState.NOT_RUN, None
            if item.frozen:
                state, reason = InstanceState.FROZEN, "frozen (run mode of the node)"
            elif control is not None and control.frozen:
                state, reason = InstanceState.FROZEN, f"node frozen by {control.frozen_by}"
            elif item.cycle_time > now:
                state = InstanceState.WAITING_TIME
                reason = f"waiting for time {format_local(item.local_time)}"
            items.append(
                NewInstance(
                    workspace=ws.name,
                    env=self.env,
                    node_key=item.node_key,
                    workflow=item.workflow,
                    cycle_time=item.store_cycle_time,
                    bizdate=item.bizdate_text,
                    state=state,
                    reason=reason,
                    max_attempts=item.max_attempts,
                    priority=item.priority,
                    resource_group=item.resource_group,
                    owner=item.settings.owner,
                    node_version=model.versions.get(item.node_key),
                )
            )
            for up in item.upstream:
                parent = index.get(up.key)
                if parent is not None:
                    pairs.append((i, parent))
                else:
                    outside.append((i, up.node_key, up.cycle_time.replace(tzinfo=None)))
        return self.store.create_planned(items, inside=pairs, outside=outside)

    # -- leases ---------------------------------------------------------------------

    def _reclaim(self, model: _Model, now: datetime, report: PassReport) -> None:
        ws = model.workspace
        channel = channel_name(QUEUE, ws.name, self.env)
        for instance in self.queue.expired(now=now):
            if instance.workspace != ws.name or instance.env != self.env:
                continue
            back = reclaim(self.db, instance, now=now, actor=self.name, channel=channel)
            if back is not None:
                report.reclaimed += 1
                self.log(f"instance {instance.id} ({instance.node_key}): {back.reason}")
        if report.reclaimed and self.on_queued is not None:
            self.on_queued()

    # -- evaluation -----------------------------------------------------------------

    def _evaluate(self, model: _Model, now: datetime, report: PassReport) -> None:
        """Decide about new and due instances, and about those waiting for upstream ones.

        Instances waiting for upstream ones are looked at again only when one of their
        upstream instances changed state since the last pass (read from the events),
        and all of them in a full sweep every ``sweep_seconds``: a backlog of blocked
        instances then costs nothing on most passes.
        """
        ws = model.workspace
        started = time.monotonic()
        mark = self.store.last_event_id()
        full = self._last_event is None or started - self._last_sweep >= self.config.sweep_seconds
        after = 0
        while True:
            batch = self.store.candidates(
                ws.name,
                self.env,
                now,
                after_id=after,
                limit=self.config.batch_size,
                waiting_upstream=full,
            )
            self._decide_batch(model, batch, now, report)
            if len(batch) < self.config.batch_size:
                break
            after = batch[-1].id
        if full:
            self._last_sweep = started
        else:
            assert self._last_event is not None
            since = max(0, self._last_event - EVENT_LOOKBACK)  # late commits of older ids
            children = self.store.children_of_changes(ws.name, self.env, since, mark)
            for part in chunked(children, self.config.batch_size):
                self._decide_batch(model, list(part), now, report)
        self._last_event = mark

    def _decide_batch(
        self, model: _Model, batch: list[Instance], now: datetime, report: PassReport
    ) -> None:
        if not batch:
            return
        ws = model.workspace
        upstream = self.store.upstream_of(i.id for i in batch)
        changes = [
            change
            for instance in batch
            if (change := self._decide(model, instance, upstream[instance.id], now))
        ]
        queued = sum(1 for c in changes if c.to_state is InstanceState.WAITING_RESOURCES)
        channel = channel_name(QUEUE, ws.name, self.env) if queued else None
        moved = set(self.store.apply(changes, actor=self.name, now=now, channel=channel))
        for change in changes:
            if change.instance_id not in moved:
                continue
            if change.to_state is InstanceState.WAITING_RESOURCES:
                report.queued += 1
            elif change.to_state is InstanceState.SKIPPED:
                report.skipped += 1
            else:
                report.updated += 1
        if queued and self.on_queued is not None:
            self.on_queued()

    def _decide(
        self, model: _Model, instance: Instance, refs: list[UpstreamRef], now: datetime
    ) -> StateChange | None:
        status = InstanceStatus(
            node_key=instance.node_key,
            cycle_time=instance.cycle_time,
            state=instance.state,
            run_mode=RunMode.DRY_RUN
            if model.dry_run(instance.node_key, instance.cycle_time)
            else RunMode.NORMAL,
            resource_group=instance.resource_group,
            priority=instance.priority,
            attempts=instance.attempts,
            next_attempt_at=instance.next_attempt_at,
            merge=model.is_merge(instance.node_key),
        )
        upstream = []
        states = {}
        for ref in refs:
            moment = ref.cycle_time.replace(tzinfo=UTC)
            local = moment.astimezone(model.zone_of(ref.node_key))
            upstream.append(
                UpstreamInstance(ref.node_key, moment, DependencyKind.SAME_CYCLE, local)
            )
            if ref.state is not None:
                states[(ref.node_key, moment)] = ref.state
        verdict = evaluate(status, upstream, states, now, None, zone=model.zone)
        if verdict.action is Action.NONE:
            return None
        if verdict.action is Action.RUN:
            target = InstanceState.WAITING_RESOURCES
            reason: str | None = f"waiting for a slot in group {instance.resource_group}"
        elif verdict.action is Action.SKIP:
            target, reason = InstanceState.SKIPPED, "dry run: nothing to run on this cycle"
        else:
            target, reason = verdict.state, verdict.reason
        if target is instance.state and reason == instance.reason:
            return None
        return StateChange(instance.id, instance.state, target, reason)

    # -- runs -----------------------------------------------------------------------

    def _settle(self, model: _Model, report: PassReport) -> None:
        for run in self.ops.open_runs(model.workspace.name, self.env):
            state = self.ops.settle(run.id)
            if state is not None:
                report.runs_settled += 1
                self.log(f"backfill run {run.id} finished: {state.value}")

    # -- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Run passes until ``stop`` is set; finished instances wake it up early."""
        workspace = self.model().workspace
        handle = ProcessHandle(self.db, "scheduler", workspace.name, self.env, name=self.name)
        self.name = handle.name
        listener = Listener(self.db, {channel_name(DONE, workspace.name, self.env): self.bell})
        listener.start()
        self.log(f"{self.name} scheduling {workspace.name}/{self.env} ({self.db.url})")
        pruned = 0.0
        try:
            while not stop.is_set():
                started = time.monotonic()
                self._pass_safely()
                handle.beat()
                if (
                    self.config.retention
                    and started - pruned >= self.config.retention_every_seconds
                ):
                    pruned = started
                    self._prune(self.config.retention, workspace.name)
                self.bell.wait(self.config.interval_seconds - (time.monotonic() - started))
                rest = self.config.min_interval_seconds - (time.monotonic() - started)
                if rest > 0:
                    stop.wait(rest)
        finally:
            listener.stop()
            handle.close()

    def _prune(self, policy: RetentionPolicy, workspace: str) -> None:
        try:
            report = prune(self.db, policy, now=self.clock.now(), workspace=workspace, env=self.env)
            ProcessHandle.forget_silent(self.db)
        except LakeworksError as exc:
            self.log(f"pruning failed: {exc.render()}")
            return
        self.log(f"retention: {report.summary()}")

    def _pass_safely(self) -> None:
        try:
            report = self.run_once()
        except LakeworksError as exc:
            self.log(f"scheduler pass failed: {exc.render()}")
            return
        except Exception as exc:  # a bug must not stop scheduling: log it, try again
            self.log(f"scheduler pass failed: {type(exc).__name__}: {exc}")
            for line in traceback.format_exc().splitlines():
                self.log(line)
            return
        if report.queued or report.reclaimed or report.skipped:
            self.log(
                f"queued {report.queued}, skipped {report.skipped}, reclaimed "
                f"{report.reclaimed} ({report.seconds * 1000:.0f} ms)"
            )


def _days(start: datetime, end: datetime, zone: ZoneInfo) -> Iterable[tuple[datetime, datetime]]:
    """``[start, end)`` cut at local midnights."""
    day: date = start.astimezone(zone).date()
    cursor = start
    while cursor < end:
        day += timedelta(days=1)
        boundary = min(local_midnight(day, zone), end)
        if boundary > cursor:
            yield cursor, boundary
        cursor = boundary
