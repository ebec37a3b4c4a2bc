"""SLA baseline prediction: history + today's state + time -> predicted finish, state, key path.

Pure: no store, no clock. A baseline is a set of key instances that must finish by a
committed time. Each instance's finish is predicted from the finishes of the instances
it waits for and its expected run time (a statistic of its recent successful runs):

- done (success, skipped): its actual finish;
- running: ``started + expected``, but never earlier than just after ``now``;
- waiting or failed: ``max(now, cycle time, upstream finishes) + expected`` (a failed
  instance is expected to be rerun now; it is also reported as an event).

The expected run time is the median of the node's recent successful runs.

An unfinished instance is always predicted to finish strictly after ``now``. So a
baseline whose key nodes are not done when ``committed - margin`` passes is already in
``warning`` at that moment: as long as it is evaluated at least once inside its margin,
a breach is always preceded by a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import median

from lakeworks.schedule.dependencies import InstanceKey
from lakeworks.schedule.states import InstanceState

DONE_STATES = frozenset({InstanceState.SUCCESS, InstanceState.SKIPPED})
FAILED_STATES = frozenset({InstanceState.FAILED, InstanceState.STOPPED})
MIN_REMAINING = timedelta(seconds=1)
"""The least time an unfinished instance is predicted to still need."""


class BaselineState(StrEnum):
    SAFE = "safe"
    WARNING = "warning"
    BREACHED = "breached"
    FINISHED = "finished"
    """Every key instance is done, on time."""


class EventKind(StrEnum):
    FAILED = "failed"
    SLOW = "slow"


@dataclass(frozen=True, slots=True)
class Observed:
    """Today's state of one instance."""

    state: InstanceState
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PathEvent:
    kind: EventKind
    key: InstanceKey
    detail: str


@dataclass(frozen=True, slots=True)
class Prediction:
    predicted_finish: datetime
    state: BaselineState
    key_path: tuple[InstanceKey, ...]
    """From the earliest ancestor to the key instance that finishes last."""
    events: tuple[PathEvent, ...]
    finishes: Mapping[InstanceKey, datetime]
    """Predicted (or actual) finish of every instance looked at."""


@dataclass(frozen=True, slots=True)
class History:
    """Recent successful run times in seconds, newest last, per node."""

    durations: Mapping[str, Sequence[float]]
    default_seconds: float = 60.0
    """The expected run time of a node without history."""
    window: int = 10
    slow_factor: float = 2.0
    """A running instance is slow when it runs this many times its expected time."""
    slow_min_seconds: float = 60.0
    """...and at least this long over it (short nodes jitter)."""

    def expected(self, node_key: str) -> timedelta:
        """The median of the last ``window`` runs (one unusually slow day does not
        make every following day look late)."""
        runs = self.durations.get(node_key)
        if not runs:
            return timedelta(seconds=self.default_seconds)
        return timedelta(seconds=median(runs[-self.window :]))


def predict(
    key_instances: Sequence[InstanceKey],
    upstream: Mapping[InstanceKey, Sequence[InstanceKey]],
    observed: Mapping[InstanceKey, Observed],
    history: History,
    now: datetime,
    committed: datetime,
    margin: timedelta,
) -> Prediction:
    """Predict when ``key_instances`` finish and the baseline's state at ``now``.

    ``upstream`` maps an instance to those it waits for (ancestors of the key
    instances are followed); an instance missing from ``observed`` has not been
    created yet and is treated as waiting. All datetimes share one convention
    (aware UTC or naive UTC).
    """
    if not key_instances:
        raise ValueError("a baseline needs at least one key instance")
    finishes: dict[InstanceKey, datetime] = {}
    via: dict[InstanceKey, InstanceKey | None] = {}
    events: list[PathEvent] = []
    for key in key_instances:
        _finish(key, upstream, observed, history, now, finishes, via, events)
    last = max(key_instances, key=lambda k: finishes[k])
    predicted = finishes[last]
    path: list[InstanceKey] = []
    cursor: InstanceKey | None = last
    while cursor is not None:
        path.append(cursor)
        cursor = via.get(cursor)
    path.reverse()
    done = all(_is_done(observed.get(k)) for k in key_instances)
    state = _state(done, predicted, now, committed, margin)
    on_path = set(path)
    events.sort(key=lambda e: (e.key not in on_path, e.key))
    return Prediction(predicted, state, tuple(path), tuple(events), finishes)


def _state(
    done: bool, predicted: datetime, now: datetime, committed: datetime, margin: timedelta
) -> BaselineState:
    if done:
        return BaselineState.BREACHED if predicted > committed else BaselineState.FINISHED
    if now >= committed:
        return BaselineState.BREACHED
    if predicted > committed - margin:
        return BaselineState.WARNING
    return BaselineState.SAFE


def _is_done(obs: Observed | None) -> bool:
    return obs is not None and obs.state in DONE_STATES and obs.finished_at is not None


def _finish(
    root: InstanceKey,
    upstream: Mapping[InstanceKey, Sequence[InstanceKey]],
    observed: Mapping[InstanceKey, Observed],
    history: History,
    now: datetime,
    finishes: dict[InstanceKey, datetime],
    via: dict[InstanceKey, InstanceKey | None],
    events: list[PathEvent],
) -> datetime:
    """Depth-first with an explicit stack (chains can be thousands deep)."""
    stack: list[tuple[InstanceKey, bool]] = [(root, False)]
    entered: set[InstanceKey] = set()
    while stack:
        key, expanded = stack.pop()
        if key in finishes:
            continue
        obs = observed.get(key)
        if _is_done(obs):
            assert obs is not None and obs.finished_at is not None
            finishes[key] = obs.finished_at
            via[key] = None
            continue
        parents = upstream.get(key, ())
        if not expanded:
            if key in entered:  # a cycle in the given edges: ignore the back edge
                continue
            entered.add(key)
            stack.append((key, True))
            stack.extend((p, False) for p in parents if p not in finishes)
            continue
        finishes[key] = _own_finish(key, obs, parents, history, now, finishes, via, events)
    return finishes[root]


def _own_finish(
    key: InstanceKey,
    obs: Observed | None,
    parents: Sequence[InstanceKey],
    history: History,
    now: datetime,
    finishes: Mapping[InstanceKey, datetime],
    via: dict[InstanceKey, InstanceKey | None],
    events: list[PathEvent],
) -> datetime:
    expected = history.expected(key[0])
    soonest = now + MIN_REMAINING
    if obs is not None and obs.state is InstanceState.RUNNING and obs.started_at is not None:
        via[key] = None
        ran = now - obs.started_at
        over = ran - expected
        if ran > expected * history.slow_factor and over.total_seconds() > (
            history.slow_min_seconds
        ):
            events.append(
                PathEvent(
                    EventKind.SLOW,
                    key,
                    f"running {_minutes(ran)}, usually {_minutes(expected)}",
                )
            )
        return max(obs.started_at + expected, soonest)
    if obs is not None and obs.state in FAILED_STATES:
        events.append(PathEvent(EventKind.FAILED, key, f"{obs.state.value}; waits for a rerun"))
    start = max(now, key[1])
    slowest: InstanceKey | None = None
    for parent in parents:
        at = finishes.get(parent)
        if at is not None and at > start:
            start, slowest = at, parent
    via[key] = slowest
    return max(start + expected, soonest)


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.1f} min"


def mean_absolute_error(pairs: Sequence[tuple[datetime, datetime]]) -> timedelta:
    """Mean of ``|predicted - actual|`` over ``(predicted, actual)`` pairs."""
    if not pairs:
        return timedelta(0)
    total = sum(abs((p - a).total_seconds()) for p, a in pairs)
    return timedelta(seconds=total / len(pairs))


def parse_offset(text: str) -> timedelta:
    """``"hh:mm"`` with the hour up to 47 (the next day) as a span from midnight.

    Raises ``ValueError`` with what was expected.
    """
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError("expected a time as hh:mm (hour 0-47)")
    h, m = int(hours), int(minutes)
    if h > 47 or m > 59:
        raise ValueError("expected hh:mm with hour 0-47 and minute 0-59")
    return timedelta(hours=h, minutes=m)
