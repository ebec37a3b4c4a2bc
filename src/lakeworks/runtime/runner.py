"""``lakeworks run``: run a workspace (or part of it) for one business date, in-process.

Creates a manual run with one instance per selected node, runs them in dependency
order with bounded parallelism, and records every state change. A failed attempt is
retried per the node's policy and the error model (``execution.Retry``), in this process.
Downstream of a failed (or frozen) instance is not run and ends as ``blocked`` with the
reason, except a merge node right below a failed one: its condition decides.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from lakeworks.engines.base import Engine
from lakeworks.runtime.collector import exempt_long_lived
from lakeworks.runtime.cycles import cycle_time_for
from lakeworks.runtime.execution import InstanceExecutor, InstanceOutcome
from lakeworks.runtime.ready_queue import ReadyQueue
from lakeworks.schedule.graph import DependencyGraph, build_graph
from lakeworks.schedule.planning import Planner
from lakeworks.schedule.retries import RetryPolicy
from lakeworks.spec.models import NodeKind, RunMode, Workspace
from lakeworks.spec.selection import select_nodes
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.leases import StartRequest
from lakeworks.store.models import Instance, InstanceState, NewInstance, Run, RunState, RunType
from lakeworks.store.repositories import InstanceRepository, NodeVersionRepository, RunRepository

DONE_OK = (InstanceState.SUCCESS, InstanceState.SKIPPED)
FOLLOWUP_SECONDS = 300.0
"""How long a run waits for its follow-up work while the metadata store is unavailable."""
logger = logging.getLogger("lakeworks.runner")


@dataclass(frozen=True)
class RunSummary:
    run: Run
    instances: list[Instance]
    seconds: float

    @property
    def failed(self) -> list[Instance]:
        return [i for i in self.instances if i.state not in DONE_OK]

    @property
    def ok(self) -> bool:
        return not self.failed


class ManualRunner:
    """Runs selected nodes of a workspace for one business date in this process."""

    def __init__(
        self,
        workspace: Workspace,
        db: Database,
        engine: Engine,
        env: str,
        *,
        max_parallel: int | None = None,
        echo: Callable[[Instance, str], None] | None = None,
        on_state: Callable[[Instance], None] | None = None,
        exits_after: bool = False,
    ) -> None:
        """``exits_after``: the process ends after this runner's run (``lakeworks run``);
        what lives until then is kept out of the garbage collector's way."""
        self.workspace = workspace
        self.exits_after = exits_after
        self.db = db
        self.env = env
        self.max_parallel = max_parallel or workspace.config.max_parallel
        self.on_state = on_state
        self.engine = engine
        self.executor = InstanceExecutor(workspace, db, engine, env, echo=echo)
        self._opening: threading.Thread | None = None
        self.instances = InstanceRepository(db)
        self.runs = RunRepository(db)
        self.versions = NodeVersionRepository(db)

    def create(
        self,
        bizdate: date,
        targets: Iterable[str] = (),
        *,
        actor: str = "cli",
        overrides: Mapping[str, str] | None = None,
        graph: DependencyGraph | None = None,
        description: str | None = None,
    ) -> tuple[Run, list[Instance], DependencyGraph]:
        """Validate, then create the run and its instances (nothing runs yet)."""
        if graph is None:
            graph = build_graph(self.workspace)
            Planner(self.workspace, graph)  # rejects bad schedules before anything runs
        keys = graph.topological_order(select_nodes(self.workspace, targets))
        if any(graph.nodes[key].kind is NodeKind.SQL for key in keys):
            self._open_engine_meanwhile()
        ws = self.workspace
        run = self.runs.create(
            ws.name,
            self.env,
            RunType.MANUAL,
            actor,
            description=description or f"manual run for bizdate {bizdate:%Y%m%d}",
            params={"bizdate": f"{bizdate:%Y%m%d}", "overrides": dict(overrides or {})},
        )
        index = {key: i for i, key in enumerate(keys)}
        versions = self.versions.record_many(
            ws.name,
            self.env,
            [(k, graph.nodes[k].code, graph.nodes[k].header.model_dump_json()) for k in keys],
        )
        new: list[NewInstance] = []
        for key in keys:
            node = graph.nodes[key]
            new.append(
                NewInstance(
                    workspace=ws.name,
                    env=self.env,
                    node_key=key,
                    workflow=node.workflow,
                    cycle_time=cycle_time_for(ws, bizdate, ws.node_schedule(node).at),
                    bizdate=f"{bizdate:%Y%m%d}",
                    run_type=RunType.MANUAL,
                    run_key=run.run_key,
                    run_id=run.id,
                    state=InstanceState.WAITING_UPSTREAM
                    if graph.upstream(key)
                    else InstanceState.NOT_RUN,
                    max_attempts=1
                    if node.header.run_mode is RunMode.DRY_RUN
                    else RetryPolicy.from_settings(node.settings).max_attempts,
                    priority=node.settings.priority or 0,
                    resource_group=node.settings.resource_group or "default",
                    owner=node.settings.owner,
                    node_version=versions[key],
                )
            )
        deps = [
            (index[key], index[parent])
            for key in keys
            for parent in graph.upstream(key)
            if parent in index
        ]
        created = self.instances.create_many(new, dependencies=deps)
        self.executor.followups.before_run(keys)  # e.g. the Data Map's lineage, ahead
        return run, created, graph

    def run(
        self,
        bizdate: date,
        targets: Iterable[str] = (),
        *,
        actor: str = "cli",
        overrides: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RunSummary:
        """Create the run and carry it out to the end."""
        started = time.perf_counter()
        if self.exits_after:
            exempt_long_lived()  # the modules and the workspace
        run, created, graph = self.create(
            bizdate, targets, actor=actor, overrides=overrides, description=description
        )
        if self.exits_after:
            exempt_long_lived()  # the parsed SQL of every node
        try:
            final = self.carry_out(run, created, graph, overrides)
        finally:
            if self.exits_after:
                exempt_long_lived()  # nothing left for the collection at exit to scan
        return RunSummary(self.runs.get(run.id), final, time.perf_counter() - started)

    def carry_out(
        self,
        run: Run,
        created: list[Instance],
        graph: DependencyGraph,
        overrides: Mapping[str, str] | None = None,
    ) -> list[Instance]:
        """Run the instances ``create`` made, then finish the run; final states in order.

        The run ends ``failed`` when any instance did not succeed, or when carrying it
        out raised.
        """
        try:
            final = self._execute(created, graph, overrides or {})
        except BaseException:
            self.runs.finish(run.id, RunState.FAILED)
            raise
        finally:
            self._complete_followups()
            if self._opening is not None:
                self._opening.join()
        ok = all(i.state in DONE_OK for i in final)
        self.runs.finish(run.id, RunState.SUCCESS if ok else RunState.FAILED)
        position = {c.id: n for n, c in enumerate(created)}
        return sorted(final, key=lambda i: position[i.id])

    def _open_engine_meanwhile(self) -> None:
        """Open the warehouse on another thread while this one creates the run's instances,
        so that the first SQL node does not wait for it (DuckDB opens its file without
        holding the GIL). Why it cannot be opened, the first node that uses it reports."""
        if not self.engine.capabilities.opens_in_background or self._opening is not None:
            return
        self._opening = threading.Thread(
            target=_open_quietly, args=(self.engine,), name="lakeworks-engine-open", daemon=True
        )
        self._opening.start()

    def _complete_followups(self) -> None:
        """Finish the run's follow-up work (the Data Map) before the run is reported."""
        drainer = self.executor.followups
        if not drainer.drain(FOLLOWUP_SECONDS):
            logger.warning(
                "the Data Map is not up to date yet (%s); the next run or worker completes it",
                drainer.outage or "still working",
            )

    def _execute(
        self, created: list[Instance], graph: DependencyGraph, overrides: Mapping[str, str]
    ) -> list[Instance]:
        """Run the instances in dependency order on ``max_parallel`` threads.

        This thread settles every instance that ends (releasing, or blocking, what
        depends on it) and puts what may start on the ready queue. A thread that ends a
        run starts the next ready instance in the same transaction as that end
        (``EndWriter.start_after``), then runs it: one write per instance, not two.
        """
        by_key = {i.node_key: i for i in created}
        keys = set(by_key)
        parents = {k: [p for p in graph.upstream(k) if p in keys] for k in keys}
        children = {k: [c for c in graph.downstream(k) if c in keys] for k in keys}
        pending = {k: len(parents[k]) for k in keys}
        final: dict[str, Instance] = {}
        ready = ReadyQueue()
        reports: queue.SimpleQueue[_Report] = queue.SimpleQueue()
        retrying: dict[str, datetime] = {}  # node key -> when its next attempt is due
        outstanding = 0  # put on the ready queue and not reported back yet

        def release(key: str, only: list[str] | None = None) -> list[str]:
            nxt = []
            for child in children[key] if only is None else only:
                pending[child] -= 1
                if pending[child] == 0 and child not in final:
                    nxt.append(child)
            return nxt

        def block_descendants(key: str, why: str, start: list[str] | None = None) -> None:
            stack = list(children[key] if start is None else start)
            blocked: list[int] = []
            while stack:
                child = stack.pop()
                if child in final:
                    continue
                final[child] = by_key[child]
                blocked.append(by_key[child].id)
                stack.extend(children[child])
            if blocked:
                self.instances.set_many_state(blocked, InstanceState.BLOCKED, why, "system")
                for inst in self.instances.get_many(blocked):
                    final[inst.node_key] = inst
                    if self.on_state:
                        self.on_state(inst)

        def settle(instance: Instance) -> list[str]:
            final[instance.node_key] = instance
            if self.on_state:
                self.on_state(instance)
            key = instance.node_key
            if instance.state in DONE_OK:
                return release(key)
            if instance.state is not InstanceState.FAILED:
                word = "is frozen" if instance.state is InstanceState.FROZEN else "failed"
                block_descendants(key, f"upstream {key} {word}")
                return []
            # a merge right below decides over the failure; the other children are blocked
            merges = [c for c in children[key] if graph.nodes[c].kind is NodeKind.MERGE]
            others = [c for c in children[key] if c not in merges]
            block_descendants(key, f"upstream {key} failed", others)
            return release(key, merges)

        def make_ready(new: list[str]) -> None:
            nonlocal outstanding
            waiting = sorted(new)
            while waiting:
                key = waiting.pop(0)
                instance = by_key[key]
                if graph.nodes[key].header.run_mode is RunMode.FROZEN:
                    frozen = self.instances.transition(
                        instance.id, InstanceState.FROZEN, reason="frozen", actor="system"
                    )
                    waiting.extend(settle(frozen or instance))
                    waiting.sort()
                    continue
                outstanding += 1
                ready.put(key)

        def work() -> None:
            started: Instance | None = None
            while True:
                if started is None:
                    key = ready.take()
                    if key is None:
                        return
                    started = self._run_one(by_key[key], False, ready, by_key, reports, overrides)
                else:
                    started = self._run_one(started, True, ready, by_key, reports, overrides)

        make_ready([k for k, n in pending.items() if n == 0])
        threads = [
            threading.Thread(target=work, name=f"lakeworks-run-{n}", daemon=True)
            for n in range(max(1, min(self.max_parallel, len(keys))))
        ]
        for thread in threads:
            thread.start()
        try:
            while outstanding or retrying:
                now = utcnow()
                for key, due in sorted(retrying.items()):
                    if due <= now:
                        del retrying[key]
                        outstanding += 1
                        ready.put(key)
                if not outstanding:
                    time.sleep(max(0.0, (min(retrying.values()) - utcnow()).total_seconds()))
                    continue
                timeout = None
                if retrying:
                    timeout = max(0.0, (min(retrying.values()) - utcnow()).total_seconds())
                for report in _reports(reports, timeout):
                    outstanding -= 1
                    if report.error is not None:
                        raise report.error
                    key = report.key
                    outcome = report.outcome
                    instance = outcome.instance if outcome else self.instances.get(by_key[key].id)
                    if instance.state is InstanceState.WAITING_TIME:
                        by_key[key] = instance
                        retrying[key] = instance.next_attempt_at or utcnow()
                        if self.on_state:
                            self.on_state(instance)
                        continue
                    make_ready(settle(instance))
        finally:
            ready.close()
            for thread in threads:
                thread.join()
        return list(final.values())

    def _run_one(
        self,
        instance: Instance,
        started: bool,
        ready: ReadyQueue,
        by_key: Mapping[str, Instance],
        reports: queue.SimpleQueue[_Report],
        overrides: Mapping[str, str],
    ) -> Instance | None:
        """Run ``instance`` (``started``: its start is recorded already) on this thread
        and report its outcome; the next ready instance its end started, if any."""
        picked: list[str] = []

        def pick() -> StartRequest | None:
            key = ready.take_nowait()
            if key is None:
                return None
            picked.append(key)
            return self.executor.start_request(by_key[key].id)

        self.executor.ends.start_after(pick)
        try:
            outcome = self.executor.run(instance, overrides=overrides, already_started=started)
            report = _Report(instance.node_key, outcome)
        except BaseException as exc:
            report = _Report(instance.node_key, None, exc)
        finally:
            written, following = self.executor.ends.claimed()
        reports.put(report)
        if not picked:
            return None
        if not written:  # the end (and so the start) was not written: still ready
            ready.put(picked[0])
            return None
        if following is None:  # no longer runnable (stopped meanwhile): settle it as it is
            reports.put(_Report(picked[0], None))
        return following


@dataclass(frozen=True)
class _Report:
    """An instance a run's thread is done with: its outcome, or what it raised."""

    key: str
    outcome: InstanceOutcome | None
    error: BaseException | None = None


def _reports(reports: queue.SimpleQueue[_Report], timeout: float | None) -> list[_Report]:
    """The reports that arrived: at least one, unless ``timeout`` passes first."""
    try:
        done = [reports.get(timeout=timeout)]
    except queue.Empty:
        return []
    with contextlib.suppress(queue.Empty):
        while True:
            done.append(reports.get_nowait())
    return done


def _open_quietly(engine: Engine) -> None:
    with contextlib.suppress(Exception):
        engine.session().close()


def summary_json(summary: RunSummary) -> str:
    """The summary as JSON (for ``--format json``)."""
    return json.dumps(
        {
            "run_id": summary.run.id,
            "ok": summary.ok,
            "seconds": round(summary.seconds, 3),
            "instances": [
                {
                    "id": i.id,
                    "node": i.node_key,
                    "state": str(i.state),
                    "reason": i.reason,
                    "seconds": i.duration_seconds,
                }
                for i in summary.instances
            ],
        },
        indent=2,
    )
