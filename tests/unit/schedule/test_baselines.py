"""The baseline prediction: history + today's state + time -> finish, state, key path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lakeworks.schedule.baselines import (
    BaselineState,
    EventKind,
    History,
    Observed,
    mean_absolute_error,
    parse_offset,
    predict,
)
from lakeworks.schedule.states import InstanceState as S

DAY = datetime(2026, 5, 4, tzinfo=UTC)
A, B, C, K = ((n, DAY) for n in ("a", "b", "c", "k"))
# a -> k (10 min), b (30 min) -> c (5 min) -> k: the slow path is b, c, k
UP = {K: [A, C], C: [B]}
HIST = History({"a": [600.0] * 10, "b": [1800.0] * 10, "c": [300.0] * 10, "k": [60.0] * 10})
COMMITTED = DAY + timedelta(hours=2)
MARGIN = timedelta(minutes=30)


def at(minutes: float) -> datetime:
    return DAY + timedelta(minutes=minutes)


def test_nothing_started_follows_the_slowest_path() -> None:
    p = predict([K], UP, {}, HIST, DAY, COMMITTED, MARGIN)
    assert p.predicted_finish == at(30 + 5 + 1)
    assert p.key_path == (B, C, K)
    assert p.state is BaselineState.SAFE
    assert p.events == ()


def test_the_median_of_the_last_runs_is_the_expected_time() -> None:
    hist = History({"b": [9999.0] + [60.0] * 10, "c": [60.0], "k": [60.0], "a": [60.0]})
    p = predict([K], UP, {}, hist, DAY, COMMITTED, MARGIN)
    assert p.finishes[B] == at(1)  # the eleventh-newest run is out of the window
    one_slow_day = History({"b": [60.0] * 9 + [6000.0]})
    assert one_slow_day.expected("b") == timedelta(minutes=1)


def test_finished_instances_count_with_their_actual_time() -> None:
    observed = {
        B: Observed(S.SUCCESS, at(0), at(50)),
        A: Observed(S.SUCCESS, at(0), at(10)),
        C: Observed(S.RUNNING, at(50)),
    }
    p = predict([K], UP, observed, HIST, at(52), COMMITTED, MARGIN)
    assert p.finishes[C] == at(55)
    assert p.predicted_finish == at(56)
    assert p.key_path == (C, K)


def test_a_late_upstream_turns_the_baseline_to_warning_then_breached() -> None:
    observed = {B: Observed(S.RUNNING, at(0)), A: Observed(S.SUCCESS, at(0), at(10))}
    assert predict([K], UP, observed, HIST, at(20), COMMITTED, MARGIN).state is (BaselineState.SAFE)
    late = predict([K], UP, observed, HIST, at(90), COMMITTED, MARGIN)
    assert late.state is BaselineState.WARNING
    assert late.predicted_finish == at(90) + timedelta(seconds=1) + timedelta(minutes=6)
    assert late.key_path == (B, C, K)
    assert [(e.kind, e.key) for e in late.events] == [(EventKind.SLOW, B)]
    assert "running 90.0 min, usually 30.0 min" in late.events[0].detail
    assert predict([K], UP, observed, HIST, at(120), COMMITTED, MARGIN).state is (
        BaselineState.BREACHED
    )


def test_an_unfinished_baseline_is_warning_throughout_its_margin() -> None:
    observed = {B: Observed(S.RUNNING, at(0))}
    quick = History({"b": [1.0], "c": [1.0], "k": [1.0], "a": [1.0]})
    for minute in range(90, 120):
        p = predict([K], UP, observed, quick, at(minute), COMMITTED, MARGIN)
        assert p.predicted_finish > at(minute)
        assert p.state is BaselineState.WARNING


def test_a_failed_ancestor_is_an_event_and_is_expected_to_be_rerun() -> None:
    observed = {B: Observed(S.FAILED, at(0), None), A: Observed(S.SUCCESS, at(0), at(10))}
    p = predict([K], UP, observed, HIST, at(60), COMMITTED, MARGIN)
    assert [(e.kind, e.key) for e in p.events] == [(EventKind.FAILED, B)]
    assert p.predicted_finish == at(60 + 30 + 5 + 1)
    assert p.state is BaselineState.WARNING


def test_all_key_instances_done_is_finished_or_breached_by_actual_time() -> None:
    on_time = {K: Observed(S.SUCCESS, at(60), at(61))}
    assert predict([K], UP, on_time, HIST, at(200), COMMITTED, MARGIN).state is (
        BaselineState.FINISHED
    )
    late = {K: Observed(S.SUCCESS, at(125), at(130))}
    assert predict([K], UP, late, HIST, at(200), COMMITTED, MARGIN).state is (
        BaselineState.BREACHED
    )


def test_several_key_instances_finish_with_the_last_one() -> None:
    p = predict([A, K], UP, {}, HIST, DAY, COMMITTED, MARGIN)
    assert p.predicted_finish == at(36)
    assert p.key_path[-1] == K


def test_nodes_without_history_use_the_default_and_the_cycle_time() -> None:
    later = (("x", DAY + timedelta(hours=1)),)
    p = predict(later, {}, {}, History({}, default_seconds=120), DAY, COMMITTED, MARGIN)
    assert p.predicted_finish == at(62)


def test_cyclic_edges_do_not_hang() -> None:
    p = predict([A], {A: [B], B: [A]}, {}, HIST, DAY, COMMITTED, MARGIN)
    assert p.predicted_finish >= at(10)


def test_a_long_chain_is_predicted_without_recursion() -> None:
    chain = [(f"n{i}", DAY) for i in range(5000)]
    up = {chain[i]: [chain[i - 1]] for i in range(1, len(chain))}
    p = predict([chain[-1]], up, {}, History({}, default_seconds=1), DAY, COMMITTED, MARGIN)
    assert len(p.key_path) == 5000


def test_no_key_instances_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one key instance"):
        predict([], {}, {}, HIST, DAY, COMMITTED, MARGIN)


@pytest.mark.parametrize(
    ("text", "minutes"), [("09:00", 540), ("0:05", 5), ("47:59", 47 * 60 + 59)]
)
def test_offsets(text: str, minutes: int) -> None:
    assert parse_offset(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["48:00", "9", "09:60", "aa:bb", "9:5"])
def test_bad_offsets(text: str) -> None:
    with pytest.raises(ValueError, match=r"hh:mm|hour 0-47"):
        parse_offset(text)


def test_mean_absolute_error() -> None:
    pairs = [(at(10), at(12)), (at(20), at(16))]
    assert mean_absolute_error(pairs) == timedelta(minutes=3)
    assert mean_absolute_error([]) == timedelta(0)
