"""Volatility baselines from stored observations."""

from __future__ import annotations

from datetime import datetime, timedelta

from lakeworks.quality.history import Observation, baseline, lookback
from lakeworks.quality.models import Compare

NOW = datetime(2026, 4, 11, 2, 0)


def _daily(values: list[float]) -> list[Observation]:
    """One observation per day before NOW, the last value the most recent day."""
    count = len(values)
    return [Observation(NOW - timedelta(days=count - i), v, seq=i) for i, v in enumerate(values)]


def test_previous_cycle_is_the_latest_earlier_cycle() -> None:
    assert baseline(Compare.PREVIOUS_CYCLE, NOW, _daily([10, 20, 30])) == (30, 1)


def test_day_averages_use_their_window_only() -> None:
    history = _daily([1000, 100, 100, 100, 100, 100, 100, 200])  # 8 days
    assert baseline(Compare.AVG_1D, NOW, history) == (200, 1)
    value, cycles = baseline(Compare.AVG_7D, NOW, history)
    assert cycles == 7
    assert value == (100 * 6 + 200) / 7  # the 8th day back is outside the window
    assert baseline(Compare.AVG_30D, NOW, history)[1] == 8


def test_current_and_later_cycles_are_ignored() -> None:
    history = [*_daily([10]), Observation(NOW, 99, seq=5), Observation(NOW + timedelta(1), 7)]
    assert baseline(Compare.PREVIOUS_CYCLE, NOW, history) == (10, 1)


def test_a_rerun_cycle_counts_once_with_its_latest_value() -> None:
    day = NOW - timedelta(days=1)
    history = [Observation(day, 10, seq=1), Observation(day, 40, seq=2)]
    assert baseline(Compare.AVG_7D, NOW, history) == (40, 1)


def test_no_history_means_no_baseline() -> None:
    assert baseline(Compare.AVG_7D, NOW, []) == (None, 0)
    assert lookback(Compare.PREVIOUS_CYCLE, NOW) is None
    assert lookback(Compare.AVG_30D, NOW) == NOW - timedelta(days=30)
