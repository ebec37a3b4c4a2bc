"""A pure model of scheduler and workers driven by a fake clock.

``simulate(workspace, graph, SimulationConfig(start=...))`` plays N days: the
scheduler plans whole days ahead with ``Planner`` (a second, duplicate scheduler plans
the same windows again and must create nothing), decides with ``decide_batch`` which
waiting instances start, and workers run them for a random time, failing at random
and retrying by each node's policy. The scheduler can be down for a while
(``outages``): it then catches up by planning the missed window. Events are processed
in time order; nothing sleeps.

Control flow is modelled as the runtime runs it: an assignment node publishes the
output ``outputs`` gives; a branch evaluates its conditions over its bound inputs and
skips the instances under the outputs not taken ("branch not taken"), down to a merge;
a merge is released by failed upstream instances too and succeeds when its condition
holds; a for-each runs one body run per item of its bound input (its time is theirs,
more than 1,024 items fail it).

The result's ``final_states`` is a plain mapping ``(node_key, cycle_time) -> state``,
the form in which a run of the real processes can be compared with the model.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum

from lakeworks.schedule.control_flow import BRANCH_NOT_TAKEN, merge_holds, taken_output
from lakeworks.schedule.cycles import load_zone, local_midnight, to_utc
from lakeworks.schedule.dependencies import GraphView, InstanceKey
from lakeworks.schedule.planning import PlannedInstance, Planner, planning_window
from lakeworks.schedule.runnability import (
    WAITING_STATES,
    Action,
    InstanceStatus,
    decide_batch,
)
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.expressions import ExpressionError
from lakeworks.spec.models import (
    MAX_LOOP_ITEMS,
    ForeachConfig,
    MergeConfig,
    Node,
    NodeKind,
    Workspace,
)
from lakeworks.spec.outputs import OutputValue, binding_source, loop_items


@dataclass(frozen=True)
class SimulationConfig:
    start: datetime
    """Aware; the simulation covers whole local days from the day of ``start``."""
    days: int = 30
    failure_rate: float = 0.05
    """Chance that one attempt fails."""
    min_run_seconds: float = 20.0
    max_run_seconds: float = 300.0
    seed: int = 0
    outages: tuple[tuple[datetime, datetime], ...] = ()
    """Windows in which the scheduler is down (workers finish what they run)."""
    days_ahead: int = 1
    """Whole days planned ahead of the clock."""
    duplicate_scheduler: bool = True
    """Plan every window twice, as a second scheduler would."""
    fails: Callable[[InstanceKey, int], bool] | None = None
    """Whether attempt N of an instance fails (instead of ``failure_rate``): lets a run
    of the real processes with the same failures be compared with the model."""
    run_seconds: Callable[[InstanceKey, int, float], float] | None = None
    """The run time of attempt N given the drawn one (e.g. to make some runs slow)."""
    outputs: Callable[[InstanceKey], OutputValue] | None = None
    """The output an instance of a node with ``output: true`` publishes (default none),
    read by the branches and for-each nodes bound to it."""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    number: int
    started_at: datetime
    finished_at: datetime
    succeeded: bool


@dataclass
class SimulationResult:
    final_states: dict[InstanceKey, InstanceState]
    """``(node_key, cycle_time) -> state`` at the end."""
    instances: dict[InstanceKey, PlannedInstance]
    attempts: dict[InstanceKey, list[AttemptRecord]]
    done_at: dict[InstanceKey, datetime]
    """When an instance reached success, skipped or failed."""
    reasons: dict[InstanceKey, str | None]
    """The last reason recorded for instances that did not finish."""
    start: datetime
    end: datetime
    """The simulated whole local days ``[start, end)``, aware UTC."""
    skipped_by: dict[InstanceKey, str] = field(default_factory=dict)
    """Instances a branch skipped, with the reason ("branch not taken")."""
    taken: dict[InstanceKey, str | None] = field(default_factory=dict)
    """The output each branch instance took (None: no condition held)."""
    iterations: dict[InstanceKey, int] = field(default_factory=dict)
    """The number of items each for-each instance looped over (its last attempt)."""
    duplicates: int = 0
    """Instances a scheduler tried to create that already existed (must be 0)."""
    plan_calls: int = 0
    events: int = 0


class _Kind(IntEnum):
    FINISH = 0
    WAKE = 1
    PLAN = 2


@dataclass(order=True)
class _Event:
    at: datetime
    kind: _Kind
    seq: int
    key: InstanceKey | None = field(default=None, compare=False)
    ok: bool = field(default=True, compare=False)


class _Model:
    def __init__(self, workspace: Workspace, graph: GraphView, config: SimulationConfig) -> None:
        if config.start.tzinfo is None:
            raise ValueError("SimulationConfig.start must be timezone-aware")
        self.config = config
        self.zone = workspace.config.timezone
        self.tz = load_zone(self.zone)
        self.planner = Planner(workspace, graph)
        self.rng = random.Random(config.seed)
        first_day = to_utc(config.start).astimezone(self.tz).date()
        self.start = local_midnight(first_day, self.tz)
        self.end = local_midnight(first_day + timedelta(days=config.days), self.tz)
        self.now = self.start
        self.planned_until = self.start
        self.free = {g: c.slots for g, c in workspace.config.resource_groups.items()}
        self.events: list[_Event] = []
        self.seq = 0
        self.result = SimulationResult({}, {}, {}, {}, {}, self.start, self.end)
        self.state = self.result.final_states
        self.children: dict[InstanceKey, list[InstanceKey]] = {}
        self.next_attempt: dict[InstanceKey, datetime] = {}
        self.by_group: dict[str, set[InstanceKey]] = {g: set() for g in self.free}
        self.dirty: set[InstanceKey] = set()
        self.at_time: dict[datetime, list[InstanceKey]] = {}
        self.was_down = False
        self.nodes: dict[str, Node] = {n.key: n for n in workspace.nodes()}
        self.workspace = workspace

    def push(
        self, at: datetime, kind: _Kind, key: InstanceKey | None = None, ok: bool = True
    ) -> None:
        self.seq += 1
        heapq.heappush(self.events, _Event(at, kind, self.seq, key, ok))

    def down(self, moment: datetime) -> bool:
        return any(to_utc(a) <= moment < to_utc(b) for a, b in self.config.outages)

    # -- scheduler -----------------------------------------------------------------

    def plan(self) -> None:
        _, horizon = planning_window(self.now, self.zone, self.config.days_ahead)
        horizon = min(horizon, self.end)
        if horizon > self.planned_until:
            self._create(self._plan(self.planned_until, horizon))
            self.planned_until = horizon
        if self.config.duplicate_scheduler:  # a restarted twin re-plans the last days
            self._create(self._plan(max(self.start, horizon - timedelta(days=3)), horizon))

    def _plan(self, start: datetime, end: datetime) -> list[PlannedInstance]:
        self.result.plan_calls += 1
        existing = [k for k in self.result.instances if k[1] >= start]
        return self.planner.plan(start, end, existing, history_start=self.start)

    def _create(self, planned: Iterable[PlannedInstance]) -> None:
        for item in planned:
            key = item.key
            if key in self.result.instances:
                self.result.duplicates += 1
                continue
            self.result.instances[key] = item
            self.state[key] = item.initial_state
            for up in item.upstream:
                self.children.setdefault(up.key, []).append(key)
            if item.cycle_time <= self.now:
                self.dirty.add(key)
            else:
                bucket = self.at_time.get(item.cycle_time)
                if bucket is None:
                    bucket = self.at_time[item.cycle_time] = []
                    self.push(item.cycle_time, _Kind.WAKE)
                bucket.append(key)

    def decide(self) -> None:
        while self.dirty:
            batch, self.dirty = self.dirty, set()
            candidates = []
            for key in batch:
                if (
                    self.state[key] not in WAITING_STATES
                    and self.state[key] != InstanceState.FROZEN
                ):
                    continue
                item = self.result.instances[key]
                status = InstanceStatus(
                    node_key=item.node_key,
                    cycle_time=item.cycle_time,
                    state=self.state[key],
                    run_mode=item.run_mode,
                    frozen=item.frozen,
                    resource_group=item.resource_group,
                    priority=item.priority,
                    attempts=len(self.result.attempts.get(key, ())),
                    next_attempt_at=self.next_attempt.get(key),
                    merge=self._kind(item.node_key) is NodeKind.MERGE,
                )
                candidates.append((status, item.upstream))
            for status, verdict in decide_batch(candidates, self.state, self.now, self.free):
                key = status.key
                group = status.resource_group
                self.by_group[group].discard(key)
                if verdict.action == Action.RUN:
                    self.start_attempt(key, group)
                elif verdict.action == Action.SKIP:
                    self.finish(key, InstanceState.SKIPPED)
                else:
                    self.state[key] = verdict.state
                    self.result.reasons[key] = verdict.reason
                    if verdict.state == InstanceState.WAITING_RESOURCES:
                        self.by_group[group].add(key)

    # -- workers -------------------------------------------------------------------

    def start_attempt(self, key: InstanceKey, group: str) -> None:
        self.free[group] -= 1
        self.state[key] = InstanceState.RUNNING
        self.result.reasons.pop(key, None)
        seconds = self.rng.uniform(self.config.min_run_seconds, self.config.max_run_seconds)
        ok = self.rng.random() >= self.config.failure_rate
        number = len(self.result.attempts.get(key, ())) + 1
        if self.config.fails is not None:
            ok = not self.config.fails(key, number)
        ok, seconds = self._control_flow(key, ok, seconds)
        if self.config.run_seconds is not None:
            seconds = self.config.run_seconds(key, number, seconds)
        finish = self.now + timedelta(seconds=seconds)
        self.result.attempts.setdefault(key, []).append(AttemptRecord(number, self.now, finish, ok))
        self.push(finish, _Kind.FINISH, key, ok)

    # -- control flow --------------------------------------------------------------

    def _kind(self, node_key: str) -> NodeKind | None:
        node = self.nodes.get(node_key)
        return None if node is None else node.kind

    def _input(self, key: InstanceKey, source_ref: str) -> OutputValue:
        """The output of the upstream instance of ``source_ref`` that ``key`` reads."""
        source = self.workspace.find_node(source_ref)
        if source is None or self.config.outputs is None:
            return []
        for up in self.result.instances[key].upstream:
            if up.node_key == source.key:
                return self.config.outputs((up.node_key, up.cycle_time))
        return []

    def _inputs(self, key: InstanceKey, node: Node) -> dict[str, object]:
        return {
            name: self._input(key, binding_source(binding) or "")
            for name, binding in node.header.bindings.items()
        }

    def _control_flow(self, key: InstanceKey, ok: bool, seconds: float) -> tuple[bool, float]:
        """The outcome and run time of an attempt of a control-flow node."""
        node = self.nodes.get(key[0])
        if node is None:
            return ok, seconds
        if node.kind is NodeKind.BRANCH:
            try:
                self.result.taken[key] = taken_output(node, self._inputs(key, node))
            except ExpressionError:
                return False, seconds
        elif isinstance(node.config, MergeConfig):
            upstream = self.result.instances[key].upstream
            states = {u.node_key.partition(".")[2]: self.state[u.key] for u in upstream}
            try:
                ok = ok and merge_holds(node.config.condition, states)
            except ExpressionError:
                return False, seconds
        elif isinstance(node.config, ForeachConfig):
            items = loop_items(self._inputs(key, node).get(node.config.items))
            self.result.iterations[key] = len(items)
            if len(items) > MAX_LOOP_ITEMS:
                return False, 0.0
            low, high = self.config.min_run_seconds, self.config.max_run_seconds
            rounds = -(-len(items) // node.config.parallel)
            seconds = sum(self.rng.uniform(low, high) for _ in range(rounds))
        return ok, seconds

    def _skip_not_taken(self, key: InstanceKey) -> None:
        """Skip the instances under the outputs a branch did not take, down to a merge."""
        branch = self.nodes[key[0]]
        taken = self.result.taken.get(key)
        stack = []
        for child in self.children.get(key, ()):
            header = self.nodes[child[0]].header if child[0] in self.nodes else None
            if header is None:
                continue
            output = next(
                (o for ref, o in header.branch.items() if ref in (branch.key, branch.name)), None
            )
            if output is not None and output != taken:
                stack.append(child)
        while stack:
            child = stack.pop()
            if self._kind(child[0]) is NodeKind.MERGE or self.state[child] not in WAITING_STATES:
                continue
            self.result.skipped_by[child] = BRANCH_NOT_TAKEN
            self.finish(child, InstanceState.SKIPPED)
            stack.extend(self.children.get(child, ()))

    def finish(self, key: InstanceKey, state: InstanceState) -> None:
        self.state[key] = state
        self.result.done_at[key] = self.now
        self.result.reasons.pop(key, None)
        self.dirty.update(self.children.get(key, ()))

    def on_finish(self, key: InstanceKey, ok: bool) -> None:
        item = self.result.instances[key]
        self.free[item.resource_group] += 1
        self.dirty.update(self.by_group[item.resource_group])
        if ok:
            self.finish(key, InstanceState.SUCCESS)
            if self._kind(key[0]) is NodeKind.BRANCH:
                self._skip_not_taken(key)
            return
        attempt = len(self.result.attempts[key])
        retry_at = item.settings.retry.next_attempt_at(self.now, attempt)
        if retry_at is None:
            self.finish(key, InstanceState.FAILED)
            return
        self.state[key] = InstanceState.WAITING_TIME
        self.next_attempt[key] = retry_at
        self.push(retry_at, _Kind.WAKE, key)

    # -- the clock -----------------------------------------------------------------

    def run(self) -> SimulationResult:
        day = self.start
        while day < self.end:
            self.push(day, _Kind.PLAN)
            day = planning_window(day + timedelta(hours=1), self.zone, 0)[1]
        for _, back in self.config.outages:
            self.push(to_utc(back), _Kind.PLAN)
        while self.events:
            event = heapq.heappop(self.events)
            self.now = event.at
            self.result.events += 1
            if event.kind == _Kind.FINISH:
                assert event.key is not None
                self.on_finish(event.key, event.ok)
            elif event.kind == _Kind.WAKE:
                if event.key is not None:
                    self.dirty.add(event.key)
                else:
                    self.dirty.update(self.at_time.get(event.at, ()))
            if self.down(self.now):
                continue
            if event.kind == _Kind.PLAN:
                self.plan()
            if not self.events or self.events[0].at > self.now:
                self.decide()
        return self.result


def simulate(workspace: Workspace, graph: GraphView, config: SimulationConfig) -> SimulationResult:
    """Play ``config.days`` days of scheduling and running ``workspace``; see the module."""
    return _Model(workspace, graph, config).run()
