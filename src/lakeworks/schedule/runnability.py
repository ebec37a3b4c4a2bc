"""Is a waiting instance runnable now, and if not, why (a sentence for a person).

The scheduler reads its waiting instances and the states of their upstream instances,
then asks ``decide_batch``: which to start (by priority, within the free slots of each
resource group), which dry runs to complete, and for the others the state and reason
to record ("waiting for upstream X cycle T", "waiting for time T", "waiting for a
slot in group G", "frozen").

After a failed attempt with attempts left, the runtime records ``waiting_time`` with
``next_attempt_at = RetryPolicy.next_attempt_at(failed_at, attempt)``; ``evaluate``
then holds the instance until that time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

from lakeworks.schedule.cycles import format_local, to_utc
from lakeworks.schedule.dependencies import InstanceKey, UpstreamInstance
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.models import RunMode

DONE_STATES = frozenset({InstanceState.SUCCESS, InstanceState.SKIPPED})
"""Upstream states that release a child (a dry run counts as done)."""

ENDED_STATES = DONE_STATES | {InstanceState.FAILED}
"""Upstream states that release a merge node: it decides over success, skipped and
failed alike."""

WAITING_STATES = frozenset(
    {
        InstanceState.NOT_RUN,
        InstanceState.WAITING_TIME,
        InstanceState.WAITING_UPSTREAM,
        InstanceState.WAITING_RESOURCES,
    }
)
"""States of instances the scheduler still has to decide about."""


class Action(StrEnum):
    RUN = "run"
    """Start it: claim a slot in its resource group."""
    SKIP = "skip"
    """A dry run whose time and upstream are done: mark it skipped, run nothing."""
    WAIT = "wait"
    """Not yet: record ``state`` and ``reason``."""
    NONE = "none"
    """Nothing to decide: running, finished, suspended or frozen."""


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """What the scheduler knows about one instance (a read-only view of the store)."""

    node_key: str
    cycle_time: datetime
    """Aware, or naive UTC as stored."""
    state: InstanceState = InstanceState.NOT_RUN
    run_mode: RunMode = RunMode.NORMAL
    frozen: bool = False
    resource_group: str = "default"
    priority: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    """When a retry may start (aware, or naive UTC)."""
    merge: bool = False
    """A merge node: a failed upstream releases it too (its condition decides)."""

    @property
    def key(self) -> InstanceKey:
        return (self.node_key, to_utc(self.cycle_time))


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    state: InstanceState
    """The state to record (unchanged for ``NONE``)."""
    reason: str | None = None

    @property
    def runnable(self) -> bool:
        return self.action in (Action.RUN, Action.SKIP)


def _when(moment: datetime, zone: tzinfo) -> str:
    return format_local(to_utc(moment).astimezone(zone))


def _upstream_state_text(state: InstanceState | None) -> str:
    if state is None:
        return " (not created yet)"
    if state in (InstanceState.FAILED, InstanceState.STOPPED, InstanceState.FROZEN):
        return f" ({state.value})"
    if state == InstanceState.SUSPENDED:
        return " (suspended)"
    return ""


def unmet_upstream(
    upstream: Iterable[UpstreamInstance],
    states: Mapping[InstanceKey, InstanceState],
    *,
    merge: bool = False,
) -> list[UpstreamInstance]:
    """The upstream instances that are not done yet (for a merge: not ended), in order."""
    released = ENDED_STATES if merge else DONE_STATES
    return [u for u in upstream if states.get((u.node_key, u.cycle_time)) not in released]


def evaluate(
    instance: InstanceStatus,
    upstream: Sequence[UpstreamInstance],
    states: Mapping[InstanceKey, InstanceState],
    now: datetime,
    free_slots: Mapping[str, int] | None = None,
    *,
    zone: tzinfo = UTC,
) -> Verdict:
    """Decide about one instance.

    ``states`` maps upstream keys to their states (a missing key: not created yet);
    ``free_slots`` per resource group (None: do not check slots); ``zone`` is used to
    show times in reasons. Checks, in order: suspended/frozen, the cycle time, the retry
    time, upstream instances, then a slot (dry runs need none).
    """
    state = instance.state
    if state == InstanceState.SUSPENDED:
        return Verdict(Action.NONE, state, "suspended")
    if instance.frozen or state == InstanceState.FROZEN:
        return Verdict(Action.NONE, InstanceState.FROZEN, "frozen")
    if state not in WAITING_STATES:
        return Verdict(Action.NONE, state)
    now_utc = to_utc(now)
    cycle_utc = to_utc(instance.cycle_time)
    if now_utc < cycle_utc:
        return Verdict(
            Action.WAIT, InstanceState.WAITING_TIME, f"waiting for time {_when(cycle_utc, zone)}"
        )
    if instance.next_attempt_at is not None and now_utc < to_utc(instance.next_attempt_at):
        return Verdict(
            Action.WAIT,
            InstanceState.WAITING_TIME,
            f"waiting for retry at {_when(instance.next_attempt_at, zone)}"
            f" (attempt {instance.attempts + 1})",
        )
    missing = unmet_upstream(upstream, states, merge=instance.merge)
    if missing:
        first = missing[0]
        reason = f"waiting for upstream {first.describe()}"
        reason += _upstream_state_text(states.get(first.key))
        if len(missing) > 1:
            reason += f" and {len(missing) - 1} more"
        return Verdict(Action.WAIT, InstanceState.WAITING_UPSTREAM, reason)
    if instance.run_mode == RunMode.DRY_RUN:
        return Verdict(Action.SKIP, InstanceState.SKIPPED, "dry run")
    if free_slots is not None and free_slots.get(instance.resource_group, 0) <= 0:
        return Verdict(
            Action.WAIT,
            InstanceState.WAITING_RESOURCES,
            f"waiting for a slot in group {instance.resource_group}",
        )
    return Verdict(Action.RUN, InstanceState.RUNNING)


def priority_order(instance: InstanceStatus) -> tuple[int, datetime, str]:
    """Sort key: higher priority first, then earlier cycle, then node key."""
    return (-instance.priority, to_utc(instance.cycle_time), instance.node_key)


def decide_batch(
    candidates: Iterable[tuple[InstanceStatus, Sequence[UpstreamInstance]]],
    states: Mapping[InstanceKey, InstanceState],
    now: datetime,
    free_slots: Mapping[str, int],
    *,
    zone: tzinfo = UTC,
) -> list[tuple[InstanceStatus, Verdict]]:
    """Decide about many instances at once, sharing the free slots by priority.

    Returns every candidate with its verdict, in priority order; at most
    ``free_slots[group]`` instances of each group get ``Action.RUN``.
    """
    slots = dict(free_slots)
    ordered = sorted(candidates, key=lambda pair: priority_order(pair[0]))
    out: list[tuple[InstanceStatus, Verdict]] = []
    for instance, upstream in ordered:
        verdict = evaluate(instance, upstream, states, now, slots, zone=zone)
        if verdict.action == Action.RUN:
            slots[instance.resource_group] = slots.get(instance.resource_group, 0) - 1
        out.append((instance, verdict))
    return out
