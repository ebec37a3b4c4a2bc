"""Cycle times of a schedule: when a node runs, and when it dry-runs.

A ``ScheduleSpec`` is compiled once (``compile_schedule``) into a ``Schedule`` that
lists its cycles day by day in the schedule's time zone. Every cycle carries its
instant in UTC (the identity of an instance) and the same instant in local time.

Daylight saving time, the choices made:

- A wall time that does not exist (spring forward, e.g. 02:30 when clocks jump from
  02:00 to 03:00) runs once, at the same distance past the gap (03:30). If that
  instant is already a cycle of the day, the two are one cycle.
- A wall time that happens twice (fall back) runs at its first occurrence for daily
  and coarser schedules, and at both occurrences for schedules that run several
  times a day, so an hourly schedule gets each real hour of a 25-hour day once.

Weekly, monthly and yearly schedules (and cron expressions with one fixed time of
day) get a *dry-run* cycle, at the same time of day, on every day they do not run,
so that daily children are not blocked (DataWorks semantics).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lakeworks.errors import Location, UserError
from lakeworks.spec.models import ScheduleSpec

ONE_DAY = timedelta(days=1)
MAX_LOOKBACK_DAYS = 800
"""How far back ``Schedule.previous`` searches for the previous cycle."""


@dataclass(frozen=True, slots=True)
class Cycle:
    """One cycle of a schedule. Equal cycles have the same UTC instant."""

    time: datetime
    """The instant, timezone-aware in UTC: the identity of the instance."""
    local: datetime = field(compare=False)
    """The same instant in the schedule's zone."""
    dry_run: bool = field(default=False, compare=False)
    """True on a day the node does not run: the instance succeeds without running."""

    @property
    def bizdate(self) -> date:
        """Business date: the day before the local scheduled day."""
        return self.local.date() - ONE_DAY


def format_local(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM``, the way times are shown in reasons and plans."""
    return moment.strftime("%Y-%m-%d %H:%M")


def to_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is UTC:
        return moment
    return moment.astimezone(UTC)


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


def load_zone(name: str, location: Location | None = None) -> ZoneInfo:
    """The IANA time zone ``name``; a ``UserError`` if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"unknown time zone '{name}'",
            location=location,
            hint="use an IANA name such as 'UTC', 'Asia/Shanghai' or 'Europe/Berlin'",
        ) from None


def _parse_hhmm(value: str, what: str, location: Location | None) -> time:
    hours, sep, minutes = value.partition(":")
    if (
        sep
        and len(hours) in (1, 2)
        and len(minutes) == 2
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
    ):
        return time(int(hours), int(minutes))
    raise UserError(
        f"schedule '{what}' must be a time of day HH:MM (00:00 to 23:59), got '{value}'",
        location=location,
        hint=f'write it quoted, e.g. {what}: "02:30"',
    )


def _parse_day(value: str, what: str, location: Location | None) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"schedule '{what}' must be a date YYYY-MM-DD, got '{value}'",
            location=location,
        ) from None


def _check_range(
    values: list[int], what: str, low: int, high: int, location: Location | None, *, last: bool
) -> None:
    for value in values:
        if low <= value <= high or (last and value == -1):
            continue
        extra = " or -1 for the last day of the month" if last else ""
        raise UserError(
            f"schedule '{what}' has {value}; expected {low} to {high}{extra}",
            location=location,
        )


def _only_for(
    spec: ScheduleSpec, what: str, cycles: tuple[str, ...], location: Location | None
) -> None:
    if getattr(spec, what) and spec.cycle not in cycles:
        raise UserError(
            f"schedule '{what}' applies to cycle {' or '.join(cycles)}, not '{spec.cycle}'",
            location=location,
            hint=f"remove '{what}' or change 'cycle'",
        )


def _normalize_cron(expr: str, location: Location | None) -> str:
    fields = expr.split()
    if len(fields) != 5:
        raise UserError(
            f"cron expression '{expr}' has {len(fields)} fields; expected 5",
            location=location,
            hint="write: minute hour day-of-month month day-of-week, e.g. '30 2 L * *'",
        )
    dow = fields[4]
    # Quartz-style "5L" (last Friday) is written "L5" in croniter.
    if dow.upper().endswith("L") and dow[:-1].isdigit():
        fields[4] = "L" + dow[:-1]
    normalized = " ".join(fields)
    from croniter import CroniterError, croniter  # loaded by cron schedules only

    try:
        croniter(normalized)
    except (CroniterError, ValueError, KeyError) as exc:
        raise UserError(
            f"invalid cron expression '{expr}': {exc}",
            location=location,
            hint="minute hour day-of-month month day-of-week; 'L' = last day, '5#3' = 3rd Friday",
        ) from None
    return normalized


class Schedule:
    """A compiled ``ScheduleSpec``: its cycles, day by day, in its zone.

    Build it with ``compile_schedule``. Days are cached, so asking for the same day
    again is cheap.
    """

    def __init__(
        self,
        spec: ScheduleSpec,
        zone: ZoneInfo,
        *,
        at: time,
        until: time | None,
        start: date | None,
        end: date | None,
        cron: str | None,
    ) -> None:
        self.spec = spec
        self.zone = zone
        self._at = at
        self._until = until
        self._start = start
        self._end = end
        self._cron = cron
        self._utc_zone = zone.key in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Zulu")
        self._days: dict[tuple[date, bool], tuple[Cycle, ...]] = {}
        self._cron_walls: dict[date, tuple[time, ...]] = {}
        self.cron_fixed_time: time | None = None
        self.sub_daily = spec.cycle in ("minute", "hour")
        self._walls: tuple[time, ...] = ()
        if cron is not None:
            from croniter import croniter

            expanded = croniter(cron).expanded
            minutes, hours = expanded[0], expanded[1]
            fixed = len(minutes) == 1 and len(hours) == 1 and "*" not in (minutes[0], hours[0])
            self.sub_daily = not fixed
            if fixed:
                self.cron_fixed_time = time(int(hours[0]), int(minutes[0]))
        else:
            self._walls = self._spec_walls()

    @property
    def kind(self) -> str:
        """``cron`` or the spec's cycle (minute, hour, day, week, month, year)."""
        return "cron" if self._cron is not None else self.spec.cycle

    @property
    def has_dry_runs(self) -> bool:
        """Whether days the node does not run get a dry-run cycle."""
        if self._cron is not None:
            return self.cron_fixed_time is not None
        return self.spec.cycle in ("week", "month", "year")

    def _spec_walls(self) -> tuple[time, ...]:
        spec = self.spec
        if spec.cycle not in ("minute", "hour"):
            return (self._at,)
        first = self._at.hour * 60 + self._at.minute
        last = 23 * 60 + 59 if self._until is None else self._until.hour * 60 + self._until.minute
        step = spec.every if spec.cycle == "minute" else spec.every * 60
        return tuple(time(m // 60, m % 60) for m in range(first, last + 1, step))

    def active_on(self, day: date) -> bool:
        """Whether ``day`` lies in the schedule's active period (``start``..``end``)."""
        return (self._start is None or day >= self._start) and (
            self._end is None or day <= self._end
        )

    def runs_on(self, day: date) -> bool:
        """Whether the node really runs on ``day`` (ignoring the active period)."""
        if self._cron is not None:
            return bool(self._cron_day(day))
        spec = self.spec
        if spec.cycle == "week":
            return day.isoweekday() in (spec.weekdays or [1])
        if spec.cycle in ("month", "year"):
            if spec.cycle == "year" and day.month not in (spec.months or [1]):
                return False
            if spec.cycle == "month" and spec.months and day.month not in spec.months:
                return False
            monthdays = spec.monthdays or [1]
            if day.day in monthdays:
                return True
            return -1 in monthdays and (day + ONE_DAY).month != day.month
        return True

    def _cron_day(self, day: date) -> tuple[time, ...]:
        cached = self._cron_walls.get(day)
        if cached is not None:
            return cached
        assert self._cron is not None
        begin = datetime.combine(day, time(0)) - timedelta(seconds=1)
        stop = datetime.combine(day + ONE_DAY, time(0))
        walls: list[time] = []
        from croniter import croniter

        it = croniter(self._cron, begin)
        while True:
            fire = it.get_next(datetime)
            if fire >= stop:
                break
            walls.append(fire.time())
        result = tuple(walls)
        self._cron_walls[day] = result
        return result

    def day(self, day: date, *, active_only: bool = True) -> tuple[Cycle, ...]:
        """The cycles (runs and dry runs) whose local date is ``day``, in time order.

        With ``active_only=False`` the active period (``start``/``end``) is ignored, as a
        backfill does.
        """
        key = (day, active_only)
        cached = self._days.get(key)
        if cached is not None:
            return cached
        cycles: tuple[Cycle, ...] = ()
        if not active_only or self.active_on(day):
            cycles = self._compute_day(day)
        self._days[key] = cycles
        return cycles

    def forget_before(self, day: date) -> None:
        """Drop cached days before ``day`` (a long-running scheduler calls this daily)."""
        self._days = {k: v for k, v in self._days.items() if k[0] >= day}
        self._cron_walls = {k: v for k, v in self._cron_walls.items() if k >= day}

    def _compute_day(self, day: date) -> tuple[Cycle, ...]:
        if self._cron is not None:
            walls = self._cron_day(day)
            if walls:
                return self._localize(day, walls, dry_run=False)
            if self.cron_fixed_time is not None:
                return self._localize(day, (self.cron_fixed_time,), dry_run=True)
            return ()
        if self.spec.cycle in ("week", "month", "year"):
            return self._localize(day, self._walls, dry_run=not self.runs_on(day))
        return self._localize(day, self._walls, dry_run=False)

    def _localize(self, day: date, walls: tuple[time, ...], *, dry_run: bool) -> tuple[Cycle, ...]:
        zone = self.zone
        if self._utc_zone:
            out = []
            for w in walls:
                moment = datetime.combine(day, w, tzinfo=UTC)
                out.append(Cycle(moment, moment, dry_run))
            return tuple(out)
        midnight = datetime.combine(day, time(0))
        offset = zone.utcoffset(midnight)
        late = zone.utcoffset(midnight + timedelta(hours=23, minutes=59, seconds=59))
        if offset is not None and offset == late:
            # No transition today: one offset for every wall time.
            out = []
            for w in walls:
                local = datetime.combine(day, w, tzinfo=zone)
                out.append(
                    Cycle((local.replace(tzinfo=None) - offset).replace(tzinfo=UTC), local, dry_run)
                )
            return tuple(out)
        seen: dict[datetime, Cycle] = {}
        for w in walls:
            for cycle in _transition_day_instants(
                day, w, zone, both=self.sub_daily, dry_run=dry_run
            ):
                seen.setdefault(cycle.time, cycle)
        return tuple(sorted(seen.values(), key=lambda c: c.time))

    def cycles(self, start: datetime, end: datetime, *, active_only: bool = True) -> list[Cycle]:
        """Every cycle (runs and dry runs) with ``start <= time < end``, in time order."""
        _require_aware("start", start)
        _require_aware("end", end)
        out: list[Cycle] = []
        for day in self.days_between(start, end):
            for cycle in self.day(day, active_only=active_only):
                if start <= cycle.time < end:
                    out.append(cycle)
        return out

    def days_between(self, start: datetime, end: datetime) -> Iterator[date]:
        """The local dates that ``[start, end)`` touches, in order."""
        if end <= start:
            return
        first = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        day = first
        while day <= last:
            yield day
            day += ONE_DAY

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """``[start, end)`` of the local day ``day``, as aware UTC datetimes."""
        return local_midnight(day, self.zone), local_midnight(day + ONE_DAY, self.zone)

    def cycle_at(self, moment: datetime) -> Cycle | None:
        """The cycle at exactly ``moment`` (any aware datetime), or None."""
        utc = to_utc(moment)
        for cycle in self.day(utc.astimezone(self.zone).date()):
            if cycle.time == utc:
                return cycle
        return None

    def previous(self, moment: datetime) -> Cycle | None:
        """The latest cycle (run or dry run) strictly before ``moment``, or None."""
        utc = to_utc(moment)
        day = utc.astimezone(self.zone).date()
        for _ in range(MAX_LOOKBACK_DAYS):
            if self._start is not None and day < self._start:
                return None
            earlier = [c for c in self.day(day) if c.time < utc]
            if earlier:
                return earlier[-1]
            day -= ONE_DAY
        return None


def _transition_day_instants(
    day: date, wall: time, zone: ZoneInfo, *, both: bool, dry_run: bool
) -> list[Cycle]:
    local = datetime.combine(day, wall, tzinfo=zone)
    utc = local.astimezone(UTC)
    back = utc.astimezone(zone)
    out = [Cycle(utc, back, dry_run)]
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        return out  # did not exist: runs once, shifted forward past the gap
    if both:
        second = local.replace(fold=1)
        if second.utcoffset() != local.utcoffset():
            utc2 = second.astimezone(UTC)
            out.append(Cycle(utc2, utc2.astimezone(zone), dry_run))
    return out


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The first instant of local ``day`` in ``zone``, as an aware UTC datetime."""
    local = datetime.combine(day, time(0), tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).date() != day:  # midnight fell into a gap
        utc = local.replace(fold=1).astimezone(UTC)
    return utc


def compile_schedule(
    spec: ScheduleSpec, default_zone: str = "UTC", *, location: Location | None = None
) -> Schedule:
    """Check ``spec`` and compile it; the zone is the spec's own, else ``default_zone``.

    Bad values raise ``UserError`` naming the key and what was expected.
    """
    zone = load_zone(spec.timezone or default_zone, location)
    start = _parse_day(spec.start, "start", location) if spec.start else None
    end = _parse_day(spec.end, "end", location) if spec.end else None
    if start and end and end < start:
        raise UserError(
            f"schedule 'end' ({spec.end}) is before 'start' ({spec.start})",
            location=location,
        )
    if spec.cron is not None:
        cron = _normalize_cron(spec.cron, location)
        return Schedule(spec, zone, at=time(0), until=None, start=start, end=end, cron=cron)
    at = _parse_hhmm(spec.at, "at", location)
    until = _parse_hhmm(spec.until, "until", location) if spec.until else None
    if until is not None:
        if spec.cycle not in ("minute", "hour"):
            raise UserError(
                f"schedule 'until' applies to cycle minute or hour, not '{spec.cycle}'",
                location=location,
            )
        if until < at:
            raise UserError(
                f"schedule 'until' ({spec.until}) is before 'at' ({spec.at})",
                location=location,
            )
    if spec.every > 1 and spec.cycle not in ("minute", "hour"):
        raise UserError(
            f"schedule 'every' applies to cycle minute or hour, not '{spec.cycle}'",
            location=location,
            hint="a day, week, month or year cycle runs once per period",
        )
    if spec.cycle == "hour" and spec.every > 24:
        raise UserError(
            f"schedule 'every' for an hourly cycle must be 1 to 24, got {spec.every}",
            location=location,
        )
    if spec.cycle == "minute" and spec.every > 1440:
        raise UserError(
            f"schedule 'every' for a minute cycle must be 1 to 1440, got {spec.every}",
            location=location,
        )
    _only_for(spec, "weekdays", ("week",), location)
    _only_for(spec, "monthdays", ("month", "year"), location)
    _only_for(spec, "months", ("month", "year"), location)
    _check_range(spec.weekdays, "weekdays", 1, 7, location, last=False)
    _check_range(spec.monthdays, "monthdays", 1, 31, location, last=True)
    _check_range(spec.months, "months", 1, 12, location, last=False)
    return Schedule(spec, zone, at=at, until=until, start=start, end=end, cron=None)


def cycle_times(spec: ScheduleSpec, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The times the node really runs in ``[start, end)``, aware, in ``zone``."""
    schedule = compile_schedule(spec, zone)
    return [c.local for c in schedule.cycles(start, end) if not c.dry_run]


def dry_run_times(spec: ScheduleSpec, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """For each day in ``[start, end)`` the node does not run, its dry-run time, in ``zone``."""
    schedule = compile_schedule(spec, zone)
    return [c.local for c in schedule.cycles(start, end) if c.dry_run]


def schedule_location(path: Path | None, key: str = "schedule") -> Location:
    """Where a schedule was written: the file and, when it can be found, the line."""
    line: int | None = None
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        needle = key.split(".")[0] + ":"
        for number, text in enumerate(lines, 1):
            if needle in text:
                line = number
                break
    return Location(path, line, None, key)
