"""A simulated month of a five-node chain with a baseline on its last node.

Some days a node runs far slower than usual or fails for good. The prediction is
evaluated every five minutes of each day, as the scheduler's pass would, from the
state the simulation had at that moment and the run times of earlier days: every
breach must be preceded by a warning, no breach may be missed (or invented), and the
mean absolute error of the predicted finish is printed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from lakeworks.schedule.baselines import (
    BaselineState,
    History,
    Observed,
    Prediction,
    mean_absolute_error,
    predict,
)
from lakeworks.schedule.dependencies import InstanceKey
from lakeworks.schedule.simulate import SimulationConfig, SimulationResult, simulate
from lakeworks.schedule.states import InstanceState as S
from tests.unit.schedule.factories import daily, graph_of, node, workspace

START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
COMMITTED = timedelta(hours=3)
MARGIN = timedelta(minutes=30)
STEP = timedelta(minutes=5)
KEY = "wf.ads"
SLOW = {(5, "wf.dws"): 6.0, (12, "wf.dwd"): 5.0, (20, "wf.dws"): 7.0, (8, "wf.ods_a"): 3.0}
"""(day, node) -> how many times slower than drawn its runs are."""
BROKEN = {(25, "wf.dwd")}
"""(day, node) whose every attempt fails."""


def _day(key: InstanceKey) -> int:
    return (key[1] - START).days


def _slow(key: InstanceKey, _attempt: int, seconds: float) -> float:
    return seconds * SLOW.get((_day(key), key[0]), 1.0)


def _fails(key: InstanceKey, _attempt: int) -> bool:
    return (_day(key), key[0]) in BROKEN


@cache
def month() -> SimulationResult:
    settings = {"retries": 1, "retry_delay_seconds": 120}
    ws = workspace(
        node("ods_a", schedule=daily(), settings=settings),
        node("ods_b", schedule=daily("01:00"), settings=settings),
        node("dwd", depends_on=["ods_a", "ods_b"], schedule=daily(), settings=settings),
        node("dws", depends_on=["dwd"], schedule=daily(), settings=settings),
        node("ads", depends_on=["dws"], schedule=daily(), settings=settings),
    )
    config = SimulationConfig(
        start=START,
        days=DAYS,
        failure_rate=0.0,
        min_run_seconds=600,
        max_run_seconds=1500,
        seed=3,
        duplicate_scheduler=False,
        fails=_fails,
        run_seconds=_slow,
    )
    return simulate(ws, graph_of(ws), config)


def observed_at(
    result: SimulationResult, keys: list[InstanceKey], t: datetime
) -> dict[InstanceKey, Observed]:
    """What the store would hold at ``t``: running, done or failed instances."""
    out: dict[InstanceKey, Observed] = {}
    for key in keys:
        for attempt in result.attempts.get(key, ()):
            if attempt.started_at <= t < attempt.finished_at:
                out[key] = Observed(S.RUNNING, attempt.started_at)
        done = result.done_at.get(key)
        if done is not None and done <= t:
            state = result.final_states[key]
            out[key] = Observed(state, None, done if state is S.SUCCESS else None)
    return out


def history_before(result: SimulationResult, day: datetime) -> History:
    runs: dict[str, list[float]] = {}
    for key, attempts in sorted(result.attempts.items(), key=lambda kv: kv[0][1]):
        if key[1] < day and attempts[-1].succeeded:
            a = attempts[-1]
            runs.setdefault(key[0], []).append((a.finished_at - a.started_at).total_seconds())
    return History(runs)


def play_day(result: SimulationResult, day: datetime) -> list[tuple[datetime, Prediction]]:
    key = (KEY, day)
    upstream: dict[InstanceKey, list[InstanceKey]] = {}
    todo = [key]
    while todo:  # the key instance and its ancestors, whatever their cycle time
        current = todo.pop()
        if current not in upstream:
            upstream[current] = [u.key for u in result.instances[current].upstream]
            todo.extend(upstream[current])
    keys = list(upstream)
    history = history_before(result, day)
    committed = day + COMMITTED
    timeline = []
    t = day
    while t <= committed + timedelta(hours=3):
        p = predict([key], upstream, observed_at(result, keys, t), history, t, committed, MARGIN)
        timeline.append((t, p))
        if p.state in (BaselineState.FINISHED, BaselineState.BREACHED):
            break
        t += STEP
    return timeline


def test_a_month_every_breach_is_warned_first_none_is_missed() -> None:
    result = month()
    breaches, warned_only, errors = [], [], []
    for offset in range(1, DAYS):  # the first day has no history
        day = START + timedelta(days=offset)
        timeline = play_day(result, day)
        done = result.done_at.get((KEY, day))
        ok = result.final_states[(KEY, day)] is S.SUCCESS
        actually_breached = not ok or done is None or done > day + COMMITTED
        states = [p.state for _, p in timeline]
        predicted_breach = BaselineState.BREACHED in states
        assert predicted_breach == actually_breached, (day, done, states[-3:])
        if actually_breached:
            breaches.append(offset)
            first_breach = states.index(BaselineState.BREACHED)
            assert BaselineState.WARNING in states[:first_breach], (day, states)
        elif BaselineState.WARNING in states:
            warned_only.append(offset)
        if ok and done is not None:
            errors += [(p.predicted_finish, done) for t, p in timeline if t < done]
    mae = mean_absolute_error(errors)
    print(
        f"\nbaseline month: breaches on days {breaches}, warnings without breach on days "
        f"{warned_only}, mean absolute error of the predicted finish {mae} "
        f"over {len(errors)} predictions"
    )
    assert {5, 20, 25} <= set(breaches)
    assert mae < timedelta(minutes=30)


def test_key_path_events_name_the_slow_and_the_failed_node() -> None:
    result = month()
    slow = play_day(result, START + timedelta(days=20))
    slow_events = {(e.kind.value, e.key[0]) for _, p in slow for e in p.events}
    assert ("slow", "wf.dws") in slow_events
    broken = play_day(result, START + timedelta(days=25))
    broken_events = {(e.kind.value, e.key[0]) for _, p in broken for e in p.events}
    assert ("failed", "wf.dwd") in broken_events
    assert broken[-1][1].key_path[0][0] == "wf.dwd"
