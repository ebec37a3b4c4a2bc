"""Small pure parts of the scheduler runtime: clocks, first plans, day windows, config."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lakeworks.errors import UserError
from lakeworks.runtime.clock import SimulatedClock, SystemClock, parse_clock, span
from lakeworks.runtime.scheduler import _days, first_start
from lakeworks.runtime.wakeup import Bell, channel_name
from lakeworks.runtime.worker import WorkerConfig

NOW = datetime(2026, 4, 10, 15, 30, tzinfo=UTC)


def test_a_simulated_clock_runs_faster_and_can_be_shared() -> None:
    anchor = time.time()
    clock = parse_clock(f"sim start=2026-04-06T00:00:00Z speed=3600 anchor={anchor}")
    assert isinstance(clock, SimulatedClock)
    assert clock.start == datetime(2026, 4, 6, tzinfo=UTC)
    assert span(clock, 2) == timedelta(hours=2)
    again = parse_clock(clock.spec())
    assert again == clock  # another process gets the same clock
    now = clock.now()
    assert now.tzinfo is not None
    assert timedelta(0) <= now - clock.start < timedelta(hours=2)  # 3600 x a moment


def test_a_simulated_clock_stands_still_until_its_anchor() -> None:
    start = datetime(2026, 4, 6, tzinfo=UTC)
    clock = SimulatedClock(start, 14400.0, time.time() + 60)
    assert clock.now() == start  # never before the simulated period


def test_an_unset_clock_is_the_system_clock() -> None:
    assert parse_clock("") == SystemClock()
    assert parse_clock("system") == SystemClock()
    before = datetime.now(UTC)
    assert SystemClock().now() - before < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sim speed=10", "needs start="),
        ("fast start=2026-04-06", "unknown clock 'fast'"),
        ("sim start=2026-04-06 speed=0", "speed must be positive"),
        ("sim start=yesterday", "Invalid isoformat"),
        ("sim start=2026-04-06 pace=3", "unexpected 'pace=3'"),
    ],
)
def test_a_bad_clock_setting_says_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        parse_clock(text)
    assert "LAKEWORKS_CLOCK" in caught.value.message
    assert caught.value.hint and "speed=3600" in caught.value.hint


def test_the_first_plan_starts_today_now_or_when_told() -> None:
    assert first_start("today", NOW, "UTC") == datetime(2026, 4, 10, tzinfo=UTC)
    # 15:30 UTC is 23:30 in Shanghai: today there began at 16:00 UTC the day before
    assert first_start("today", NOW, "Asia/Shanghai") == datetime(2026, 4, 9, 16, tzinfo=UTC)
    assert first_start("now", NOW, "UTC") == NOW
    assert first_start("2026-04-01T02:00", NOW, "Asia/Shanghai") == datetime(
        2026, 3, 31, 18, tzinfo=UTC
    )
    with pytest.raises(UserError, match="--since 'soon'"):
        first_start("soon", NOW, "UTC")


def test_planning_windows_are_cut_at_local_midnights() -> None:
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # local midnight of Mar 29 (DST day)
    end = datetime(2026, 3, 30, 22, tzinfo=UTC)
    assert list(_days(start, end, zone)) == [
        (start, datetime(2026, 3, 29, 22, tzinfo=UTC)),  # a 23-hour day
        (datetime(2026, 3, 29, 22, tzinfo=UTC), end),
    ]
    middle = datetime(2026, 3, 29, 10, tzinfo=UTC)
    assert list(_days(middle, middle + timedelta(hours=2), zone)) == [
        (middle, middle + timedelta(hours=2))
    ]


def test_a_bell_wakes_a_waiter_early_and_resets() -> None:
    bell = Bell()
    threading.Timer(0.05, bell.ring).start()
    started = time.monotonic()
    assert bell.wait(5.0)
    assert time.monotonic() - started < 2.0
    assert not bell.wait(0.01)


def test_channels_are_per_workspace_and_environment() -> None:
    assert channel_name("queue", "a", "prod") != channel_name("queue", "a", "dev")
    assert channel_name("queue", "a", "prod") != channel_name("done", "a", "prod")
    assert len(channel_name("queue", "x" * 200, "prod")) < 63


def test_worker_settings_are_checked() -> None:
    with pytest.raises(UserError, match="at least one resource group"):
        WorkerConfig(groups={}).check()
    with pytest.raises(UserError, match="needs at least one slot"):
        WorkerConfig(groups={"etl": 0}).check()
    with pytest.raises(UserError, match="three renewals"):
        WorkerConfig(lease_seconds=2, renew_seconds=1).check()
    WorkerConfig(groups={"etl": 2}).check()
