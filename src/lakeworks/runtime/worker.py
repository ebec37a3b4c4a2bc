"""A worker: claims queued instances of its resource groups and runs them.

``lakeworks worker --group G --slots N`` serves each named group with N slots. It
claims from the work queue (highest priority, then earliest cycle; ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), runs each claimed instance through ``InstanceExecutor`` (the
one code path for running a node), renews the leases of what it runs about every
second, and interrupts an instance whose lease it no longer holds: an operator
stopped it from another process, or the scheduler presumed this worker dead and gave
the instance to another worker. Every end of a run is written only if this worker
still holds that attempt, so an instance never runs to completion on two workers.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lakeworks.engines.base import Engine
from lakeworks.errors import LakeworksError, UserError
from lakeworks.runtime.clock import Clock, SystemClock
from lakeworks.runtime.execution import InstanceExecutor
from lakeworks.runtime.heartbeat import ProcessHandle, process_name
from lakeworks.runtime.provenance import DefinitionRecorder
from lakeworks.runtime.wakeup import DONE, QUEUE, Bell, Listener, channel_name
from lakeworks.runtime.workspace_source import WorkspaceSource
from lakeworks.spec.models import Workspace
from lakeworks.store.claims import ClaimRequest
from lakeworks.store.database import Database
from lakeworks.store.leases import claim, reclaim
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.queue import WorkQueue
from lakeworks.store.repositories import RunRepository

Log = Callable[[str], None]


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs."""

    groups: Mapping[str, int] = field(default_factory=lambda: {"default": 4})
    """Resource group -> slots served."""
    env: str = "prod"
    name: str | None = None
    lease_seconds: float = 30.0
    """How long a claim stays valid without renewal (real seconds)."""
    renew_seconds: float = 1.0
    """How often leases are renewed and stop requests noticed."""
    poll_seconds: float = 1.0
    """How long an idle worker waits before looking at the queue again."""

    def check(self) -> None:
        """``UserError`` for a configuration no worker can run with."""
        if not self.groups:
            raise UserError("a worker needs at least one resource group", hint="--group default")
        for group, slots in self.groups.items():
            if slots < 1:
                raise UserError(f"resource group {group} needs at least one slot, not {slots}")
        if self.renew_seconds * 3 > self.lease_seconds:
            raise UserError(
                f"the lease ({self.lease_seconds:g} s) must be at least three renewals"
                f" ({self.renew_seconds:g} s each) long"
            )


def default_engine(workspace: Workspace, env: str) -> Engine:
    """The warehouse engine of ``env`` (opened lazily by the engine itself)."""
    from lakeworks.engines.registry import engine_for

    return engine_for(workspace, env)


@dataclass
class _Job:
    instance: Instance
    executor: InstanceExecutor


class Worker:
    """Claims and runs instances of one workspace environment."""

    def __init__(
        self,
        db: Database,
        source: WorkspaceSource,
        config: WorkerConfig | None = None,
        *,
        clock: Clock | None = None,
        engine_factory: Callable[[Workspace, str], Engine] = default_engine,
        on_done: Callable[[], None] | None = None,
        log: Log | None = None,
    ) -> None:
        self.config = config or WorkerConfig()
        self.config.check()
        self.db = db
        self.source = source
        self.clock = clock or SystemClock()
        self.engine_factory = engine_factory
        self.on_done = on_done
        self.log = log or (lambda _line: None)
        self.name = self.config.name or process_name("worker")
        self.bell = Bell()
        self.queue = WorkQueue(db)
        self.runs = RunRepository(db)
        self.definitions = DefinitionRecorder(db, source)
        self._pool = ThreadPoolExecutor(
            max_workers=sum(self.config.groups.values()), thread_name_prefix="lakeworks-slot"
        )
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._busy: dict[str, int] = dict.fromkeys(self.config.groups, 0)
        self._finished = 0
        self._executors: dict[int, InstanceExecutor] = {}
        self._overrides: dict[int, dict[str, str]] = {}
        self._stopping = threading.Event()
        self.completed = 0

    @property
    def env(self) -> str:
        return self.config.env

    @property
    def lease_clock_seconds(self) -> float:
        """The lease in clock seconds (real seconds times the clock's speed)."""
        return self.config.lease_seconds * self.clock.speed

    def running(self) -> list[int]:
        """Ids of the instances this worker runs now."""
        with self._lock:
            return sorted(self._jobs)

    # -- claiming and running -------------------------------------------------------

    def step(self) -> int:
        """Claim what free slots allow and start it; returns how many were claimed."""
        workspace = self.source.current(self.env)
        executor = self._executor(workspace)
        claimed = 0
        for group, slots in self.config.groups.items():
            with self._lock:
                free = slots - self._busy[group]
            if free <= 0:
                continue
            instances = claim(
                self.db,
                worker=self.name,
                lease_seconds=self.lease_clock_seconds,
                limit=free,
                group=group,
                workspace=workspace.name,
                env=self.env,
                now=self.clock.now(),
            )
            for instance in instances:
                self._start(group, instance, executor)
            claimed += len(instances)
        return claimed

    def _executor(self, workspace: Workspace) -> InstanceExecutor:
        executor = self._executors.get(id(workspace))
        if executor is None or executor.workspace is not workspace:
            executor = InstanceExecutor(
                workspace,
                self.db,
                self.engine_factory(workspace, self.env),
                self.env,
                worker=self.name,
                clock=self.clock.now,
                done_channel=channel_name(DONE, workspace.name, self.env),
            )
            for previous in self._executors.values():
                previous.followups.close(timeout=5.0)  # the new one takes over what is left
            self._executors = {id(workspace): executor}
            executor.followups.notify()  # also takes over what a dead worker left
        return executor

    def _start(self, group: str, instance: Instance, executor: InstanceExecutor) -> None:
        job = _Job(instance, executor)
        with self._lock:
            self._busy[group] += 1
            self._jobs[instance.id] = job
        self._pool.submit(self._run, group, job)

    def _run(self, group: str, job: _Job) -> None:
        """Run ``job`` in its slot, then keep the slot busy with the next queued instance
        of its group while there is one (a claim from this thread saves the hand-over
        to the claiming loop; the slot is given back when the queue is empty). The next
        instance is registered before the finished one is removed, so the worker never
        looks idle while its slot goes on."""
        current: _Job | None = job
        try:
            while current is not None:
                following: _Job | None = None
                try:
                    answered, claimed = self._run_one(group, current)
                    if claimed is not None:
                        following = _Job(claimed, current.executor)
                    elif not answered:
                        following = self._next_in_slot(group, current.executor)
                finally:
                    with self._lock:
                        self._jobs.pop(current.instance.id, None)
                        if following is not None:
                            self._jobs[following.instance.id] = following
                        self._finished += 1
                        self.completed += 1
                    self.bell.ring()  # the loop announces the end (``on_done``)
                current = following
        finally:
            with self._lock:
                self._busy[group] -= 1
            self.bell.ring()

    def _run_one(self, group: str, job: _Job) -> tuple[bool, Instance | None]:
        """Run ``job``; its end also claims the slot's next instance (while the worker
        goes on under the same definition). Returns whether that claim was made, and
        what it claimed."""
        instance = job.instance
        ends = job.executor.ends
        if not self._stopping.is_set() and self.source.current(self.env) is job.executor.workspace:
            ends.claim_after(
                ClaimRequest(
                    worker=self.name,
                    lease_seconds=self.lease_clock_seconds,
                    group=group,
                    workspace=job.executor.workspace.name,
                    env=self.env,
                )
            )
        try:
            instance = self.definitions.record(job.executor.workspace, instance, actor=self.name)
            outcome = job.executor.run(
                instance,
                overrides=self._overrides_for(instance.run_id),
                actor=self.name,
                already_claimed=True,
            )
            if outcome is not None:
                ended = outcome.instance
                why = (ended.reason or "").strip().splitlines()
                self.log(
                    f"instance {instance.id} {instance.node_key} attempt {instance.attempts}:"
                    f" {ended.state.value}"
                    + (f" ({why[0]})" if why and ended.state is not InstanceState.SUCCESS else "")
                )
        except Exception as exc:  # the store failed under us: the lease will expire
            self.log(f"instance {instance.id}: the run could not be recorded: {exc}")
            for line in traceback.format_exc().splitlines():
                self.log(line)
        return ends.claimed()

    def _next_in_slot(self, group: str, executor: InstanceExecutor) -> _Job | None:
        """The next instance for a slot that just became free, claimed here; None when
        the worker is stopping, the definition changed or nothing is queued."""
        if self._stopping.is_set():
            return None
        try:
            workspace = self.source.current(self.env)
            if workspace is not executor.workspace:
                return None  # the claiming loop switches to the new definition
            instances = claim(
                self.db,
                worker=self.name,
                lease_seconds=self.lease_clock_seconds,
                limit=1,
                group=group,
                workspace=workspace.name,
                env=self.env,
                now=self.clock.now(),
            )
        except Exception as exc:  # the claiming loop reports and retries
            self.log(f"worker: a slot could not claim: {type(exc).__name__}: {exc}")
            return None
        return _Job(instances[0], executor) if instances else None

    def _overrides_for(self, run_id: int | None) -> dict[str, str]:
        if run_id is None:
            return {}
        cached = self._overrides.get(run_id)
        if cached is None:
            params = json.loads(self.runs.get(run_id).params_json or "{}")
            raw = params.get("overrides") if isinstance(params, dict) else None
            cached = {str(k): str(v) for k, v in (raw or {}).items()}
            self._overrides[run_id] = cached
        return cached

    # -- leases ---------------------------------------------------------------------

    def renew(self) -> list[int]:
        """Renew the leases of running instances; interrupt those no longer held."""
        with self._lock:
            jobs = dict(self._jobs)
        if not jobs:
            return []
        held = self.queue.renew(
            jobs, worker=self.name, lease_seconds=self.lease_clock_seconds, now=self.clock.now()
        )
        lost = sorted(set(jobs) - held)
        for id_ in lost:
            job = jobs[id_]
            if job.executor.stop(id_):
                self.log(f"instance {id_} was stopped or taken over elsewhere: interrupting it")
        return lost

    def release_all(self, why: str) -> int:
        """Give back everything running here to the queue and interrupt it (shutdown)."""
        with self._lock:
            jobs = dict(self._jobs)
        released = 0
        workspace = self.source.current(self.env)
        channel = channel_name(QUEUE, workspace.name, self.env)
        for id_, job in jobs.items():
            current = job.instance
            back = reclaim(
                self.db,
                current,
                now=self.clock.now(),
                actor=self.name,
                channel=channel,
                expired_only=False,
                why=why,
            )
            job.executor.stop(id_)
            released += back is not None
        return released

    # -- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event, *, grace_seconds: float = 30.0) -> None:
        """Claim and run until ``stop`` is set, then finish (or give back) what runs."""
        workspace = self.source.current(self.env)
        groups = ",".join(f"{g}:{n}" for g, n in self.config.groups.items())
        handle = ProcessHandle(
            self.db, "worker", workspace.name, self.env, groups=groups, name=self.name
        )
        listener = Listener(self.db, {channel_name(QUEUE, workspace.name, self.env): self.bell})
        listener.start()
        self.log(f"{self.name} serving {groups} of {workspace.name}/{self.env} ({self.db.url})")
        next_renew = 0.0
        try:
            while not stop.is_set():
                claimed = self._safely(self.step) or 0
                if time.monotonic() >= next_renew:
                    self._safely(self.renew)
                    self._safely(handle.beat)
                    next_renew = time.monotonic() + self.config.renew_seconds
                self._announce_done()
                if claimed:
                    continue
                wait = min(self.config.poll_seconds, max(0.0, next_renew - time.monotonic()))
                self.bell.wait(wait)
            self._stopping.set()
            self._drain(grace_seconds)
        finally:
            listener.stop()
            self.close(wait=False, timeout=grace_seconds)
            handle.close()

    def close(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Stop the slot threads (after the runs in them, with ``wait``) and the
        follow-up drainers (after the queued work, up to ``timeout``): no thread of this
        worker touches the store afterwards."""
        self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        for executor in self._executors.values():
            executor.followups.close(timeout=timeout)

    def _drain(self, grace_seconds: float) -> None:
        deadline = time.monotonic() + grace_seconds
        if self.running():
            self.log(f"waiting up to {grace_seconds:g} s for {len(self.running())} runs to end")
        while self.running() and time.monotonic() < deadline:
            self._safely(self.renew)
            self._announce_done()
            self.bell.wait(min(self.config.renew_seconds, deadline - time.monotonic()))
        if self.running():
            released = self.release_all(f"worker {self.name} shut down")
            self.log(f"gave {released} unfinished instances back to the queue")
        self._announce_done()

    def _announce_done(self) -> None:
        with self._lock:
            finished, self._finished = self._finished, 0
        if not finished:
            return
        if self.on_done is not None:  # other processes hear of it through the store
            self.on_done()

    def _safely(self, call: Callable[[], int | list[int] | None]) -> int | list[int] | None:
        try:
            return call()
        except LakeworksError as exc:
            self.log(f"worker: {exc.render()}")
        except Exception as exc:  # keep serving: the next loop tries again
            self.log(f"worker: {type(exc).__name__}: {exc}")
            for line in traceback.format_exc().splitlines():
                self.log(line)
        time.sleep(0.5)
        return None
