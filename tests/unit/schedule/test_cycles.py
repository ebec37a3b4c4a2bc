from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lakeworks.errors import Location, UserError
from lakeworks.schedule.cycles import (
    compile_schedule,
    cycle_times,
    dry_run_times,
    schedule_location,
)
from lakeworks.spec.models import ScheduleSpec

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def day_of(zone: ZoneInfo, y: int, m: int, d: int) -> tuple[datetime, datetime]:
    start = local(zone, y, m, d)
    return start, local(zone, *(start.date() + timedelta(days=1)).timetuple()[:3])


# -- daylight saving time -------------------------------------------------------------


def test_daily_at_a_time_skipped_by_spring_forward_runs_once_after_the_gap() -> None:
    spec = ScheduleSpec(cycle="day", at="02:30")
    times = cycle_times(spec, "America/New_York", local(NY, 2026, 3, 7), local(NY, 2026, 3, 10))
    assert [t.isoformat() for t in times] == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


def test_daily_at_a_repeated_time_on_fall_back_runs_once_at_the_first() -> None:
    spec = ScheduleSpec(cycle="day", at="01:30")
    times = cycle_times(spec, "America/New_York", *day_of(NY, 2026, 11, 1))
    assert [t.isoformat() for t in times] == ["2026-11-01T01:30:00-04:00"]


def test_hourly_over_fall_back_gets_each_real_hour_once() -> None:
    times = cycle_times(ScheduleSpec(cycle="hour"), "America/New_York", *day_of(NY, 2026, 11, 1))
    assert len(times) == 25
    instants = [t.astimezone(UTC) for t in times]
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(instants))
    assert [t.strftime("%H:%M%z") for t in times[1:3]] == ["01:00-0400", "01:00-0500"]


def test_hourly_over_spring_forward_has_23_cycles_without_duplicates() -> None:
    times = cycle_times(ScheduleSpec(cycle="hour"), "America/New_York", *day_of(NY, 2026, 3, 8))
    assert len(times) == 23
    assert len({t.astimezone(UTC) for t in times}) == 23
    assert "02:00" not in [t.strftime("%H:%M") for t in times]


def test_every_two_hours_moves_a_missing_slot_past_the_gap() -> None:
    spec = ScheduleSpec(cycle="hour", every=2)
    times = cycle_times(spec, "America/New_York", *day_of(NY, 2026, 3, 8))
    assert [t.strftime("%H:%M") for t in times][:3] == ["00:00", "03:00", "04:00"]


def test_berlin_daily_keeps_its_wall_time_across_dst() -> None:
    spec = ScheduleSpec(cycle="day", at="06:00")
    times = cycle_times(
        spec, "Europe/Berlin", local(BERLIN, 2026, 3, 28), local(BERLIN, 2026, 3, 31)
    )
    assert [t.strftime("%d %H:%M") for t in times] == ["28 06:00", "29 06:00", "30 06:00"]
    assert [t.astimezone(UTC).hour for t in times] == [5, 4, 4]


# -- minute, hour, day ----------------------------------------------------------------


def test_minute_cycle_with_step_and_until() -> None:
    spec = ScheduleSpec(cycle="minute", every=15, at="00:00", until="01:00")
    times = cycle_times(spec, "UTC", utc(2026, 4, 1), utc(2026, 4, 2))
    assert [t.strftime("%H:%M") for t in times] == ["00:00", "00:15", "00:30", "00:45", "01:00"]


def test_hour_cycle_starts_at_its_time_and_restarts_each_day() -> None:
    spec = ScheduleSpec(cycle="hour", every=5, at="01:30")
    times = cycle_times(spec, "UTC", utc(2026, 4, 1), utc(2026, 4, 3))
    assert [t.strftime("%d %H:%M") for t in times] == [
        "01 01:30",
        "01 06:30",
        "01 11:30",
        "01 16:30",
        "01 21:30",
        "02 01:30",
        "02 06:30",
        "02 11:30",
        "02 16:30",
        "02 21:30",
    ]


def test_window_is_half_open() -> None:
    spec = ScheduleSpec(cycle="day", at="02:00")
    times = cycle_times(spec, "UTC", utc(2026, 4, 1, 2), utc(2026, 4, 3, 2))
    assert [t.day for t in times] == [1, 2]


def test_node_zone_decides_the_local_day_and_bizdate() -> None:
    schedule = compile_schedule(ScheduleSpec(cycle="day", at="02:00", timezone="Asia/Shanghai"))
    (cycle,) = schedule.cycles(utc(2026, 4, 10), utc(2026, 4, 11))
    assert cycle.time == utc(2026, 4, 10, 18)
    assert cycle.local.isoformat() == "2026-04-11T02:00:00+08:00"
    assert cycle.bizdate == date(2026, 4, 10)


def test_bizdate_across_the_new_year() -> None:
    schedule = compile_schedule(ScheduleSpec(cycle="day"))
    cycle = schedule.cycles(utc(2027, 1, 1), utc(2027, 1, 2))[0]
    assert cycle.bizdate == date(2026, 12, 31)


def test_active_period_bounds_cycles_and_dry_runs() -> None:
    spec = ScheduleSpec(cycle="week", weekdays=[1], start="2026-04-08", end="2026-04-14")
    schedule = compile_schedule(spec)
    cycles = schedule.cycles(utc(2026, 4, 1), utc(2026, 4, 30))
    assert [c.local.day for c in cycles] == list(range(8, 15))
    assert [c.local.day for c in cycles if not c.dry_run] == [13]


def test_naive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cycle_times(ScheduleSpec(), "UTC", datetime(2026, 1, 1), utc(2026, 1, 2))


def test_previous_cycle_crosses_days_and_stops_at_start() -> None:
    schedule = compile_schedule(ScheduleSpec(cycle="hour", every=6, start="2026-04-01"))
    previous = schedule.previous(utc(2026, 4, 2))
    assert previous is not None and previous.time == utc(2026, 4, 1, 18)
    assert schedule.previous(utc(2026, 4, 1)) is None


# -- week, month, year: runs and dry runs -------------------------------------------


def test_weekly_runs_on_its_days_and_dry_runs_on_the_others() -> None:
    spec = ScheduleSpec(cycle="week", weekdays=[1, 5], at="03:00")
    start, end = utc(2026, 4, 6), utc(2026, 4, 20)  # two weeks from a Monday
    runs = cycle_times(spec, "UTC", start, end)
    dry = dry_run_times(spec, "UTC", start, end)
    assert [t.strftime("%a %d") for t in runs] == ["Mon 06", "Fri 10", "Mon 13", "Fri 17"]
    assert len(dry) == 10
    assert all(t.strftime("%H:%M") == "03:00" for t in dry)
    assert sorted(t.date() for t in runs + dry) == [
        date(2026, 4, 6) + timedelta(days=i) for i in range(14)
    ]


def test_monthly_last_day_handles_leap_years() -> None:
    spec = ScheduleSpec(cycle="month", monthdays=[-1], at="23:00")
    runs = cycle_times(spec, "UTC", utc(2026, 1, 1), utc(2026, 4, 1))
    assert [t.date() for t in runs] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    leap = cycle_times(spec, "UTC", utc(2028, 2, 1), utc(2028, 3, 1))
    assert [t.date() for t in leap] == [date(2028, 2, 29)]


def test_monthly_on_day_31_dry_runs_through_short_months() -> None:
    spec = ScheduleSpec(cycle="month", monthdays=[31])
    runs = cycle_times(spec, "UTC", utc(2026, 4, 1), utc(2026, 6, 1))
    assert [t.date() for t in runs] == [date(2026, 5, 31)]
    dry = dry_run_times(spec, "UTC", utc(2026, 4, 1), utc(2026, 5, 1))
    assert len(dry) == 30


def test_monthly_restricted_to_months() -> None:
    spec = ScheduleSpec(cycle="month", monthdays=[1], months=[1, 7])
    runs = cycle_times(spec, "UTC", utc(2026, 1, 1), utc(2027, 1, 1))
    assert [t.date() for t in runs] == [date(2026, 1, 1), date(2026, 7, 1)]


def test_yearly_runs_once_a_year() -> None:
    spec = ScheduleSpec(cycle="year", months=[3], monthdays=[15], at="04:00")
    runs = cycle_times(spec, "UTC", utc(2026, 1, 1), utc(2028, 1, 1))
    assert [t.isoformat() for t in runs] == [
        "2026-03-15T04:00:00+00:00",
        "2027-03-15T04:00:00+00:00",
    ]
    assert len(dry_run_times(spec, "UTC", utc(2026, 1, 1), utc(2027, 1, 1))) == 364


# -- cron -----------------------------------------------------------------------------


def test_cron_last_day_of_month() -> None:
    runs = cycle_times(ScheduleSpec(cron="0 3 L * *"), "UTC", utc(2026, 1, 1), utc(2026, 5, 1))
    assert [t.day for t in runs] == [31, 28, 31, 30]


def test_cron_nth_weekday() -> None:
    runs = cycle_times(ScheduleSpec(cron="0 3 * * 5#3"), "UTC", utc(2026, 1, 1), utc(2026, 4, 1))
    assert [t.date() for t in runs] == [date(2026, 1, 16), date(2026, 2, 20), date(2026, 3, 20)]
    assert all(t.isoweekday() == 5 for t in runs)


def test_cron_quartz_style_last_weekday() -> None:
    runs = cycle_times(ScheduleSpec(cron="0 3 * * 5L"), "UTC", utc(2026, 1, 1), utc(2026, 3, 1))
    assert [t.date() for t in runs] == [date(2026, 1, 30), date(2026, 2, 27)]


def test_cron_with_one_time_of_day_dry_runs_on_other_days() -> None:
    spec = ScheduleSpec(cron="30 4 * * 1-5")
    start, end = utc(2026, 4, 6), utc(2026, 4, 13)
    assert len(cycle_times(spec, "UTC", start, end)) == 5
    assert [t.strftime("%a %H:%M") for t in dry_run_times(spec, "UTC", start, end)] == [
        "Sat 04:30",
        "Sun 04:30",
    ]


def test_cron_several_times_a_day_has_no_dry_runs() -> None:
    spec = ScheduleSpec(cron="0 */6 * * 1-5")
    schedule = compile_schedule(spec)
    assert schedule.sub_daily
    start, end = utc(2026, 4, 10), utc(2026, 4, 13)  # Friday to Sunday
    assert len(cycle_times(spec, "UTC", start, end)) == 4
    assert dry_run_times(spec, "UTC", start, end) == []


def test_cron_in_a_zone_with_dst() -> None:
    runs = cycle_times(ScheduleSpec(cron="30 2 * * *"), "America/New_York", *day_of(NY, 2026, 3, 8))
    assert [t.isoformat() for t in runs] == ["2026-03-08T03:30:00-04:00"]


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ScheduleSpec(at="25:00"), "'at' must be a time of day HH:MM"),
        (ScheduleSpec(at="2:3"), "'at' must be a time of day HH:MM"),
        (ScheduleSpec(cycle="week", weekdays=[8]), "'weekdays' has 8; expected 1 to 7"),
        (ScheduleSpec(cycle="month", monthdays=[0]), "'monthdays' has 0; expected 1 to 31"),
        (ScheduleSpec(cycle="year", months=[13]), "'months' has 13; expected 1 to 12"),
        (ScheduleSpec(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (ScheduleSpec(cron="0 3 * *"), "has 4 fields; expected 5"),
        (ScheduleSpec(cron="61 3 * * *"), "invalid cron expression '61 3 \\* \\* \\*'"),
        (ScheduleSpec(start="2026-05-01", end="2026-04-01"), "'end' \\(2026-04-01\\) is before"),
        (ScheduleSpec(start="April 1"), "'start' must be a date YYYY-MM-DD"),
        (ScheduleSpec(cycle="day", until="05:00"), "'until' applies to cycle minute or hour"),
        (ScheduleSpec(cycle="hour", at="05:00", until="04:00"), "'until' \\(04:00\\) is before"),
        (ScheduleSpec(cycle="day", every=2), "'every' applies to cycle minute or hour"),
        (ScheduleSpec(cycle="day", weekdays=[1]), "'weekdays' applies to cycle week"),
        (ScheduleSpec(cycle="hour", every=25), "must be 1 to 24"),
    ],
)
def test_bad_schedules_are_user_errors(spec: ScheduleSpec, message: str) -> None:
    where = Location(Path("workflows/wf/node.sql"), 3, None, "schedule")
    with pytest.raises(UserError, match=message) as info:
        compile_schedule(spec, location=where)
    assert info.value.location == where


def test_schedule_location_finds_the_line(tmp_path: Path) -> None:
    path = tmp_path / "node.sql"
    path.write_text("-- ---\n-- owner: me\n-- schedule:\n--   at: '99:00'\n-- ---\nSELECT 1\n")
    where = schedule_location(path, "schedule")
    assert (where.file, where.line, where.key) == (path, 3, "schedule")
    assert schedule_location(tmp_path / "missing.sql").line is None
