"""Baselines for volatility rules, from stored observations (never by rescanning data)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from lakeworks.quality.models import Compare


@dataclass(frozen=True)
class Observation:
    """A metric as measured for one cycle; later evaluations of a cycle win."""

    cycle_time: datetime
    value: float
    seq: int = 0
    """Order of recording (the result id): the highest wins within one cycle."""


@dataclass(frozen=True)
class SeriesKey:
    """Identifies one metric series: the same metric of the same table and partition."""

    table: str
    partition_spec: str
    metric_key: str


class HistorySource(Protocol):
    """Where earlier observations come from (the results repository)."""

    def observations(
        self, key: SeriesKey, *, since: datetime | None, before: datetime
    ) -> list[Observation]:
        """Observations of ``key`` with ``since <= cycle_time < before``."""
        ...


def lookback(compare: Compare, cycle_time: datetime) -> datetime | None:
    """The oldest cycle time a baseline can use (None: any, for the previous cycle)."""
    days = compare.days
    return None if days is None else cycle_time - timedelta(days=days)


def latest_per_cycle(observations: Iterable[Observation]) -> dict[datetime, float]:
    """The last recorded value of each cycle."""
    best: dict[datetime, Observation] = {}
    for obs in observations:
        current = best.get(obs.cycle_time)
        if current is None or obs.seq >= current.seq:
            best[obs.cycle_time] = obs
    return {cycle: obs.value for cycle, obs in best.items()}


def baseline(
    compare: Compare, cycle_time: datetime, observations: Iterable[Observation]
) -> tuple[float | None, int]:
    """The value to compare with and how many cycles it is based on.

    ``previous_cycle``: the latest cycle before ``cycle_time``. ``avg_Nd``: the mean of
    the cycles in the N days before ``cycle_time``. ``(None, 0)`` without history.
    """
    values = latest_per_cycle(o for o in observations if o.cycle_time < cycle_time)
    if compare is Compare.PREVIOUS_CYCLE:
        if not values:
            return None, 0
        return values[max(values)], 1
    since = lookback(compare, cycle_time)
    window = [v for cycle, v in values.items() if since is None or cycle >= since]
    if not window:
        return None, 0
    return sum(window) / len(window), len(window)
