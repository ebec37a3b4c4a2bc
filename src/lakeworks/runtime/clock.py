"""The time the scheduler and workers go by: the system clock, or a simulated one.

A simulated clock runs faster than real time from a chosen start, so that days of
scheduling pass in minutes (tests, demonstrations). Every process that shares a store
must share the clock: ``LAKEWORKS_CLOCK="sim start=2026-04-06T00:00:00Z speed=3600
anchor=1775000000.0"`` makes simulated time ``start + (wall time - anchor) * speed``;
without ``anchor`` each process anchors at its own start.

Durations the machinery measures in real seconds (leases, heartbeats) are converted
with ``Clock.span`` so that they stay real under a fast clock.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from lakeworks.errors import UserError

ENV_CLOCK = "LAKEWORKS_CLOCK"


class Clock(Protocol):
    """A source of aware UTC time."""

    @property
    def speed(self) -> float:
        """Clock seconds per real second."""
        ...

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


def span(clock: Clock, real_seconds: float) -> timedelta:
    """``real_seconds`` of wall time as clock time."""
    return timedelta(seconds=real_seconds * clock.speed)


@dataclass(frozen=True)
class SystemClock:
    """The machine's clock."""

    speed: float = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class SimulatedClock:
    """``start + (wall - anchor) * speed``: a clock that runs ``speed`` times faster.

    Before the anchor it stands still at ``start``, so processes started early never
    see a time before the simulated period begins.
    """

    start: datetime
    speed: float
    anchor: float
    """Wall time (``time.time()``) at which simulated time is ``start``."""

    def now(self) -> datetime:
        elapsed = max(0.0, time.time() - self.anchor)
        return self.start + timedelta(seconds=elapsed * self.speed)

    def spec(self) -> str:
        """The ``LAKEWORKS_CLOCK`` value that reproduces this clock in another process."""
        return f"sim start={self.start.isoformat()} speed={self.speed!r} anchor={self.anchor!r}"


def _bad(text: str, why: str) -> UserError:
    return UserError(
        f"{ENV_CLOCK}={text!r}: {why}",
        hint="write e.g. 'sim start=2026-04-06T00:00:00Z speed=3600' (anchor=<unix time> "
        "to share the clock between processes), or leave it unset for the system clock",
    )


def parse_clock(text: str) -> Clock:
    """A clock from its ``LAKEWORKS_CLOCK`` text (empty or ``system``: the system clock)."""
    cleaned = text.strip()
    if cleaned in ("", "system"):
        return SystemClock()
    kind, _, rest = cleaned.partition(" ")
    if kind != "sim":
        raise _bad(text, f"unknown clock '{kind}'")
    fields: dict[str, str] = {}
    for part in rest.split():
        name, sep, value = part.partition("=")
        if not sep or name not in ("start", "speed", "anchor"):
            raise _bad(text, f"unexpected '{part}'")
        fields[name] = value
    if "start" not in fields:
        raise _bad(text, "a simulated clock needs start=")
    try:
        start = datetime.fromisoformat(fields["start"].replace("Z", "+00:00"))
        speed = float(fields.get("speed", "1"))
        anchor = float(fields["anchor"]) if "anchor" in fields else time.time()
    except ValueError as exc:
        raise _bad(text, str(exc)) from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if speed <= 0:
        raise _bad(text, "speed must be positive")
    return SimulatedClock(start.astimezone(UTC), speed, anchor)


def clock_from_env() -> Clock:
    """The clock ``LAKEWORKS_CLOCK`` names, else the system clock."""
    return parse_clock(os.environ.get(ENV_CLOCK, ""))
