"""Run one instance of one node: the single code path for manual runs and workers.

Render, execute inside the user-code error boundary, run the after-success checks,
record every state change, attempt and log line. A failure of user code fails the
instance; it never escapes to the caller.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from lakeworks.connectors.credentials import redact as default_redact
from lakeworks.engines.base import Engine
from lakeworks.errors import (
    CheckAgain,
    LakeworksError,
    PermissionDenied,
    TransientError,
    UserError,
)
from lakeworks.runtime import hooks
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.runtime.cycles import local_cycle_time, param_context
from lakeworks.runtime.executors import executor_for
from lakeworks.runtime.followups import FollowupDrainer, payload
from lakeworks.runtime.logsink import InstanceLog
from lakeworks.runtime.run_ends import EndWriter
from lakeworks.schedule.retries import RetryPolicy
from lakeworks.spec.models import RunMode, Workspace
from lakeworks.spec.outputs import (
    OutputTooLarge,
    as_parameter,
    binding_source,
    decode_output,
    encode_output,
)
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.followups import new_row
from lakeworks.store.leases import RunEnd, StartRequest, start_here
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import AttemptRepository, InstanceRepository, LogRepository

RUNNABLE_STATES = (
    InstanceState.NOT_RUN,
    InstanceState.WAITING_TIME,
    InstanceState.WAITING_UPSTREAM,
    InstanceState.WAITING_RESOURCES,
)


TRANSIENT_MIN_ATTEMPTS = 3
"""A transient failure is retried even when the node's policy allows fewer attempts."""


class Retry(Enum):
    """Whether a failure may be retried, by the error model of ``errors.py``."""

    NEVER = "never"  # deterministic: spec, SQL syntax, unknown parameter, permission
    POLICY = "policy"  # the user's code failed at run time: per the node's retry policy
    ALWAYS = "always"  # transient: retried up to at least TRANSIENT_MIN_ATTEMPTS


@dataclass(frozen=True)
class InstanceOutcome:
    instance: Instance
    result: NodeResult | None
    retry: Retry = Retry.POLICY


class InstanceExecutor:
    """Runs instances of a workspace against one environment, recording everything."""

    def __init__(
        self,
        workspace: Workspace,
        db: Database,
        engine: Engine,
        env: str,
        *,
        worker: str = "local",
        echo: Callable[[Instance, str], None] | None = None,
        redact: Callable[[str], str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        done_channel: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.db = db
        self.engine = engine
        self.env = env
        self.worker = worker
        self.echo = echo
        self.redact = redact or default_redact
        self.clock = clock
        self.done_channel = done_channel
        self.instances = InstanceRepository(db)
        self.attempts = AttemptRepository(db)
        self.logs = LogRepository(db)
        self.outputs = OutputRepository(db)
        self.ends = EndWriter(db)
        """Records run ends; those of concurrent runs share one transaction."""
        self._running: dict[int, NodeRunContext] = {}
        self._lock = threading.Lock()
        self.followups = FollowupDrainer(db, lambda: self.workspace, engine, env, owner=worker)
        """Drains the follow-up work of the instances this executor finished."""

    def start_request(self, instance_id: int) -> StartRequest:
        """How ``run`` would start ``instance_id`` (for ``EndWriter.start_after``)."""
        return StartRequest(instance_id, self.worker, RUNNABLE_STATES)

    def stop(self, instance_id: int) -> bool:
        """Interrupt a running instance of this process; False if it is not running here."""
        with self._lock:
            ctx = self._running.get(instance_id)
        if ctx is None:
            return False
        ctx.interrupt()
        return True

    def run(
        self,
        instance: Instance,
        *,
        overrides: Mapping[str, str] | None = None,
        actor: str = "system",
        already_claimed: bool = False,
        already_started: bool = False,
    ) -> InstanceOutcome | None:
        """Run ``instance`` once (one attempt). None if another runner claimed it first.

        ``already_claimed``: the instance was claimed from the work queue (its attempt
        count already includes this attempt, and the claim recorded the attempt); its
        end (attempt, last log lines, state) is written in one transaction, and the
        state only if this worker still holds that attempt (``done_channel`` is then
        notified). A failed attempt with attempts left waits for its retry time
        (``next_attempt_at``) instead of failing the instance.

        ``already_started``: the caller started it outside the work queue as this
        method would (``leases.StartRequest``, e.g. in the end of its previous run).
        """
        node = self.workspace.find_node(instance.node_key)
        if already_claimed or already_started:
            claimed: Instance | None = instance
        else:
            claimed = start_here(
                self.db,
                instance.id,
                worker=self.worker,
                expected=RUNNABLE_STATES,
                actor=actor,
                now=self.clock(),
            )
        if claimed is None:
            return None
        number = claimed.attempts
        echo = self.echo
        log = InstanceLog(
            self.logs,
            instance.id,
            number,
            echo=(lambda line: echo(claimed, line)) if echo else None,
            redact=self.redact,
        )
        if node is None:
            return self._finish(
                claimed,
                log,
                None,
                f"node {instance.node_key} no longer exists",
                held=already_claimed,
            )
        ctx = NodeRunContext(
            workspace=self.workspace,
            node=node,
            env=self.env,
            engine=self.engine,
            params=param_context(
                self.workspace,
                node,
                local_cycle_time(self.workspace, instance.cycle_time),
                overrides,
            ),
            log=log,
            instance_id=instance.id,
            attempt=number,
            timeout_seconds=node.settings.timeout_seconds,
            extras={"db": self.db},
        )
        with self._lock:
            self._running[instance.id] = ctx
        try:
            return self._execute(claimed, ctx, log, held=already_claimed)
        finally:
            with self._lock:
                self._running.pop(instance.id, None)

    def _execute(
        self,
        instance: Instance,
        ctx: NodeRunContext,
        log: InstanceLog,
        *,
        held: bool = False,
    ) -> InstanceOutcome:
        node = ctx.node
        if node.header.run_mode is RunMode.DRY_RUN:
            log("dry-run mode: the node's code is not run")
            return self._finish(
                instance,
                log,
                NodeResult(rendered_code="", skipped=True),
                None,
                held=held,
                cycle_time=ctx.cycle_time,
            )
        for listener in hooks.listeners():
            self._safely(log, partial(listener.on_start, ctx))
        timer = None
        timed_out = threading.Event()
        if ctx.timeout_seconds:

            def on_timeout() -> None:
                timed_out.set()
                ctx.interrupt()

            timer = threading.Timer(ctx.timeout_seconds, on_timeout)
            timer.daemon = True
            timer.start()
        result: NodeResult | None = None
        reason: str | None = None
        retry = Retry.POLICY
        log(f"running {node.key} for bizdate {ctx.params.bizdate:%Y%m%d} (attempt {ctx.attempt})")
        check_again: CheckAgain | None = None
        try:
            self._bind_inputs(instance, ctx)
            result = executor_for(node.kind)(ctx)
            if result is not None and result.output is not None:
                self._publish(instance, result)
        except CheckAgain as exc:
            check_again, reason = exc, exc.message
        except (UserError, PermissionDenied) as exc:
            reason, retry = f"not retried: {exc.render()}", Retry.NEVER
        except TransientError as exc:
            reason = exc.render()
            retry = Retry.POLICY if exc.exhausted else Retry.ALWAYS
        except LakeworksError as exc:
            reason = exc.render()
        except Exception as exc:  # the boundary: a platform bug must not kill the runner
            reason = f"internal error: {type(exc).__name__}: {exc}"
            for line in traceback.format_exc().splitlines():
                log(line)
        finally:
            if timer is not None:
                timer.cancel()
        if check_again is not None and not ctx.cancel.is_set():
            return self._check_later(instance, ctx, log, check_again, held=held)
        if timed_out.is_set():
            reason = f"timed out after {ctx.timeout_seconds:g} s"
        elif ctx.cancel.is_set() and reason is not None:
            reason = "stopped by an operator"
        if reason is None and result is not None:
            for check in hooks.checks():
                try:
                    checked = check(ctx, result)
                except LakeworksError as exc:
                    checked = hooks.CheckOutcome(failure=exc.render())
                for warning in checked.warnings:
                    log(f"WARNING: {warning}")
                if checked.failure:  # the data breached a check: another try changes nothing
                    reason, retry = f"not retried: {checked.failure}", Retry.NEVER
                    break
        if reason is not None and ctx.cancel.is_set() and not timed_out.is_set():
            retry = Retry.NEVER  # an operator stopped it
        if reason is not None:
            for line in reason.splitlines():
                log(f"FAILED: {line}")
        state = InstanceState.SUCCESS if reason is None else InstanceState.FAILED
        for listener in hooks.listeners():
            self._safely(log, partial(listener.on_finish, ctx, state, result, reason))
        retry_at: datetime | None = None
        budget = instance.max_attempts
        if reason is not None and retry is not Retry.NEVER:
            if retry is Retry.ALWAYS:
                budget = max(budget, TRANSIENT_MIN_ATTEMPTS)
            if ctx.attempt < budget:
                delay = RetryPolicy.from_settings(node.settings).delay(ctx.attempt)
                retry_at = self.clock() + delay
        finished = self._finish(
            instance,
            log,
            result,
            reason,
            held=held,
            retry_at=retry_at,
            max_attempts=budget,
            cycle_time=ctx.cycle_time,
        )
        return InstanceOutcome(finished.instance, result, retry)

    def _check_later(
        self,
        instance: Instance,
        ctx: NodeRunContext,
        log: InstanceLog,
        waiting: CheckAgain,
        *,
        held: bool,
    ) -> InstanceOutcome:
        """A check that does not hold yet: wait (no slot held) and run it again later."""
        retry_at = self.clock() + timedelta(seconds=waiting.delay_seconds)
        log(waiting.message)
        updated = self.ends.finish(
            RunEnd(
                instance_id=instance.id,
                worker=self.worker,
                attempt=instance.attempts,
                to_state=InstanceState.WAITING_TIME,
                reason=waiting.message,
                attempt_state=InstanceState.SUCCESS,
                attempt_error=None,
                log_lines=log.drain(),
                actor=self.worker if held else "system",
                now=self.clock(),
                fields={"next_attempt_at": retry_at, "max_attempts": ctx.attempt + 1},
                channel=self.done_channel if held else None,
            )
        )
        if updated is None:
            updated = self.instances.get(instance.id)
        return InstanceOutcome(updated, None)

    def _bind_inputs(self, instance: Instance, ctx: NodeRunContext) -> None:
        """Give the node the outputs its ``inputs:`` bind, as values and parameters."""
        bindings = ctx.node.header.bindings
        if not bindings:
            return
        stored = self.outputs.of_upstream(instance.id)
        parameters = dict(ctx.params.parameters)
        for name, binding in bindings.items():
            source = self.workspace.find_node(binding_source(binding) or "")
            key = source.key if source else binding
            if key not in stored:
                raise UserError(
                    f"input '{name}': no instance of {key} for this cycle in this run",
                    hint=f"run {key} together with {ctx.node.key}",
                )
            text = stored[key]
            if text is None:
                raise UserError(
                    f"input '{name}': {key} published no output for this cycle",
                    hint=f"rerun {key} first",
                )
            value = decode_output(text)
            ctx.inputs[name] = value
            parameters[name] = as_parameter(value)
        ctx.params = replace(ctx.params, parameters=parameters)

    def _publish(self, instance: Instance, result: NodeResult) -> None:
        """Store the node's output with its instance (refused over the size limit)."""
        try:
            text = encode_output(result.output or [])
        except OutputTooLarge as exc:
            raise UserError(str(exc), hint="publish less: aggregate, or filter rows") from None
        self.outputs.save(instance.id, text)

    def _retry_reason(
        self, instance: Instance, retry_at: datetime, reason: str | None, budget: int
    ) -> str:
        zone = ZoneInfo(self.workspace.config.timezone)
        aware = retry_at if retry_at.tzinfo else retry_at.replace(tzinfo=ZoneInfo("UTC"))
        local = aware.astimezone(zone)
        first = reason.splitlines()[0] if reason else "failed"
        return (
            f"attempt {instance.attempts} of {budget} failed, "
            f"retry at {local:%Y-%m-%d %H:%M:%S}: {first}"
        )

    @staticmethod
    def _safely(log: InstanceLog, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception as exc:
            log(f"listener failed: {type(exc).__name__}: {exc}")

    def _finish(
        self,
        instance: Instance,
        log: InstanceLog,
        result: NodeResult | None,
        reason: str | None,
        *,
        held: bool = False,
        retry_at: datetime | None = None,
        max_attempts: int | None = None,
        cycle_time: datetime | None = None,
    ) -> InstanceOutcome:
        if reason is None and result is not None and result.skipped:
            state = InstanceState.SKIPPED
        else:
            state = InstanceState.SUCCESS if reason is None else InstanceState.FAILED
        target, why = state, reason
        if state is InstanceState.FAILED and retry_at is not None:
            budget = max_attempts or instance.max_attempts
            target = InstanceState.WAITING_TIME
            why = self._retry_reason(instance, retry_at, reason, budget)
            log(why)
        if state is InstanceState.SUCCESS:
            log("succeeded")
        fields: dict[str, Any] = {"finished_at": self.clock()}
        if result is not None:
            fields["rendered_code"] = result.rendered_code
        if target is InstanceState.WAITING_TIME:
            fields = {"next_attempt_at": retry_at, "rendered_code": fields.get("rendered_code")}
        if max_attempts is not None and max_attempts != instance.max_attempts:
            fields["max_attempts"] = max_attempts
        followup = None
        if cycle_time is not None and hooks.batch_listeners():
            followup = new_row(
                instance_id=instance.id,
                workspace=self.workspace.name,
                env=self.env,
                node_key=instance.node_key,
                attempt=instance.attempts,
                state=state.value,
                payload=payload(result, reason, cycle_time),
                owner=self.followups.owner,
                at=fields["finished_at"] if "finished_at" in fields else self.clock(),
            )
        updated = self.ends.finish(
            RunEnd(
                instance_id=instance.id,
                worker=self.worker,
                attempt=instance.attempts,
                to_state=target,
                reason=why,
                attempt_state=state,
                attempt_error=reason,
                log_lines=log.drain(),
                actor=self.worker if held else "system",
                now=self.clock(),
                fields=fields,
                channel=self.done_channel if held else None,
                followup=followup,
            )
        )
        if followup is not None:
            self.followups.notify()
        if updated is None:  # stopped or set by an operator meanwhile: keep their state
            updated = self.instances.get(instance.id)
        return InstanceOutcome(updated, result)


def overrides_of(params_json: str | None) -> dict[str, str]:
    """Parameter overrides stored with a run (e.g. by a backfill)."""
    if not params_json:
        return {}
    data = json.loads(params_json)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
