"""Thirty simulated days of a generated 200-node workspace: what a user would notice."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache

from lakeworks.schedule.cycles import compile_schedule
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.runnability import DONE_STATES
from lakeworks.schedule.simulate import SimulationConfig, SimulationResult, simulate
from lakeworks.schedule.synthetic import synthetic_workspace
from lakeworks.spec.models import RunMode, Workspace
from lakeworks.store.models import InstanceState as S

ZONE = "Europe/Berlin"  # the 30 days include the switch to summer time
START = datetime(2026, 3, 15, tzinfo=UTC)
OUTAGE = (START + timedelta(days=9, hours=7), START + timedelta(days=10, hours=13))


@cache
def workspace() -> Workspace:
    return synthetic_workspace(200, seed=7, timezone=ZONE)


@cache
def run(failure_rate: float, days: int = 30) -> SimulationResult:
    ws = workspace()
    config = SimulationConfig(
        start=START, days=days, failure_rate=failure_rate, seed=11, outages=(OUTAGE,)
    )
    return simulate(ws, build_graph(ws), config)


def expected_cycles(ws: Workspace, start: datetime, end: datetime) -> set[tuple[str, datetime]]:
    keys = set()
    for n in ws.nodes():
        schedule = compile_schedule(ws.node_schedule(n), ws.config.timezone)
        keys.update((n.key, c.time) for c in schedule.cycles(start, end))
    return keys


def test_every_due_cycle_exists_exactly_once() -> None:
    result = run(0.01)
    assert result.duplicates == 0
    assert set(result.final_states) == expected_cycles(workspace(), result.start, result.end)
    assert len(result.final_states) > 20_000


def test_nothing_is_left_half_done() -> None:
    result = run(0.01)
    states = Counter(result.final_states.values())
    assert set(states) <= {S.SUCCESS, S.SKIPPED, S.FAILED, S.WAITING_UPSTREAM, S.FROZEN}
    assert states[S.SUCCESS] > 10_000 and states[S.FAILED] > 0
    for key, state in result.final_states.items():
        if state == S.WAITING_UPSTREAM:
            upstream = result.instances[key].upstream
            assert any(result.final_states[u.key] not in DONE_STATES for u in upstream)
            assert (result.reasons[key] or "").startswith("waiting for upstream ")


def test_each_instance_succeeds_at_most_once_within_its_attempts() -> None:
    result = run(0.01)
    for key, attempts in result.attempts.items():
        item = result.instances[key]
        assert len(attempts) <= item.max_attempts
        assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
        assert all(not a.succeeded for a in attempts[:-1])
        state = result.final_states[key]
        assert state == (S.SUCCESS if attempts[-1].succeeded else S.FAILED)
        if state == S.FAILED:
            assert len(attempts) == item.max_attempts


def test_no_instance_runs_before_its_time_or_its_upstream() -> None:
    result = run(0.01)
    for key, attempts in result.attempts.items():
        item = result.instances[key]
        first = attempts[0].started_at
        assert first >= item.cycle_time
        for up in item.upstream:
            assert result.final_states[up.key] in DONE_STATES
            assert result.done_at[up.key] <= first


def test_retries_follow_the_backoff() -> None:
    result = run(0.01)
    retried = 0
    for key, attempts in result.attempts.items():
        policy = result.instances[key].settings.retry
        for before, after in itertools.pairwise(attempts):
            assert after.started_at >= before.finished_at + policy.delay(before.number)
            retried += 1
    assert retried > 50


def test_resource_groups_never_run_more_than_their_slots() -> None:
    result = run(0.01)
    slots = {g: c.slots for g, c in workspace().config.resource_groups.items()}
    changes: list[tuple[datetime, int, str]] = []
    for key, attempts in result.attempts.items():
        group = result.instances[key].resource_group
        for a in attempts:
            changes += [(a.started_at, 1, group), (a.finished_at, -1, group)]
    running = Counter[str]()
    for _, delta, group in sorted(changes, key=lambda c: (c[0], c[1])):
        running[group] += delta
        assert running[group] <= slots[group]


def test_weekly_nodes_dry_run_on_off_days_and_frozen_nodes_never_run() -> None:
    result = run(0.01)
    ws = workspace()
    weekly = [n for n in ws.nodes() if (s := ws.node_schedule(n)).cycle == "week" and not s.cron]
    assert weekly
    for n in weekly:
        mine = {k: v for k, v in result.instances.items() if k[0] == n.key}
        runs = [k for k, v in mine.items() if v.run_mode == RunMode.NORMAL]
        dry = [k for k, v in mine.items() if v.run_mode == RunMode.DRY_RUN]
        assert len(mine) == 30  # one a day: a run or a dry run
        if n.header.run_mode == RunMode.NORMAL:
            assert 4 <= len(runs) <= 5
        for key in dry:
            assert result.final_states[key] in (S.SKIPPED, S.WAITING_UPSTREAM)
            assert key not in result.attempts
    frozen = [n.key for n in ws.nodes() if n.header.run_mode == RunMode.FROZEN]
    assert frozen
    for key, state in result.final_states.items():
        if key[0] in frozen:
            assert state == S.FROZEN and key not in result.attempts


def test_scheduler_outage_is_caught_up_after_restart() -> None:
    result = run(0.01)
    down, back = OUTAGE
    missed = [k for k in result.instances if down <= k[1] < back]
    assert len(missed) > 500
    for key in missed:
        attempts = result.attempts.get(key)
        if attempts:
            assert attempts[0].started_at >= back
    assert all(result.final_states[k] != S.WAITING_TIME for k in missed)


def test_hourly_nodes_get_23_cycles_on_the_spring_forward_day() -> None:
    result = run(0.01)
    hourly = next(
        n.key
        for n in workspace().nodes()
        if (s := workspace().node_schedule(n)).cycle == "hour" and s.every == 1 and not s.cron
    )
    on_the_day = [
        k
        for k, item in result.instances.items()
        if k[0] == hourly and item.local_time.date().isoformat() == "2026-03-29"
    ]
    assert len(on_the_day) == 23
    assert all(result.final_states[k] != S.WAITING_TIME for k in on_the_day)


def test_without_failures_everything_runs_once() -> None:
    result = run(0.0, days=12)
    states = Counter(result.final_states.values())
    frozen_node = [n.key for n in workspace().nodes() if n.header.run_mode == RunMode.FROZEN]
    assert set(states) == {S.SUCCESS, S.SKIPPED, S.FROZEN}
    assert states[S.FROZEN] == sum(1 for k in result.final_states if k[0] in frozen_node)
    assert all(len(a) == 1 for a in result.attempts.values())
    assert set(result.attempts) == {k for k, s in result.final_states.items() if s == S.SUCCESS}
