"""Business-time arithmetic: "N business minutes after t" and "business minutes between a and b".

A :class:`Schedule` is a compiled, immutable business calendar: the working intervals of each
weekday in local wall time, dates with their own hours (holidays, transferred working days,
shortened days), the public holidays and working weekend days of a country from the
`holidays` package, and the time zone. It knows nothing about the database
(``tierdesk.sla.selectors.schedule_for`` compiles one from a ``BusinessCalendar``), so it can be
tested and benchmarked on its own.

Units. Instants in and out are aware datetimes (results are in UTC, as deadlines are stored);
internally they are whole microseconds since the Unix epoch, so adding a duration and then
measuring it gives back exactly that duration (no float drift). Durations are
``timedelta`` (exact) or minutes (``int``/``float``, for SLA targets). Business time is *real
elapsed time* while the desk is open: a 09:00-18:00 day is 9 hours, and a working day that
spans a daylight-saving change is an hour shorter or longer.

How it is fast. Per calendar year the schedule builds, once, the year's working intervals in
UTC as one sorted array with a running total of working time. Adding time and measuring time
are then two binary searches within a year and a subtraction per whole year crossed: no loop
over days or weeks, so "8 business hours" and "600 business hours across the New Year
holidays" cost the same few microseconds. A year is built lazily on first use (about 5 ms;
the process's first use of the `holidays` package adds ~0.15 s) and kept for the life of the
schedule, which the loader keeps as long as its calendar does not change.

Daylight saving. Each local day's intervals are built in wall time and converted to UTC for
that date with zoneinfo:

* a wall time that does not exist (the hour skipped when clocks go forward) is read as the
  instant the clocks jumped, so work scheduled inside the skipped hour simply does not happen
  (in Berlin, 01:00-02:30 on the last Sunday of March is one real hour, ending at 03:00
  summer time; 02:00-03:00 that night is no time at all);
* a wall time that occurs twice (clocks go back) is read as its first occurrence (``fold=0``),
  so an interval across the repeated hour contains both occurrences of it.

Both rules map wall time to UTC monotonically, so intervals stay ordered and never overlap.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import holidays as holidays_lib
from django.utils.translation import gettext

from tierdesk.common.errors import DomainError

# An interval of a local day in seconds since its midnight: 0 <= start < end <= 86_400
# (86_400 is the midnight that ends the day).
DayIntervals = tuple[tuple[int, int], ...]

DAY_SECONDS: Final = 86_400
_US: Final = 1_000_000
_MINUTE_US: Final = 60 * _US
_UTC: Final = dt.UTC
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_ONE_US: Final = dt.timedelta(microseconds=1)
_ONE_DAY: Final = dt.timedelta(days=1)

# A deadline more than this many calendar years after its start is refused: it is either a
# calendar with no working time at all (which would otherwise be searched forever) or a
# duration no service level means.
SEARCH_HORIZON_YEARS: Final = 5


class NoWorkingTime(DomainError):
    """The calendar has no working time within the search horizon of the given moment.

    Its message is translated (Django's gettext), so raising it needs configured settings; the
    arithmetic itself needs no Django at all (see bench/bench_deadlines.py)."""

    code = "no_working_time"


def seconds_of_day(value: dt.time) -> int:
    """A wall-clock time as seconds since midnight (sub-second parts are ignored)."""
    return value.hour * 3600 + value.minute * 60 + value.second


def day_intervals(pairs: Iterable[tuple[dt.time, dt.time]]) -> DayIntervals:
    """Working intervals of a day from (start, end) times, sorted; an end of 00:00 is midnight
    at the end of the day. Overlapping or touching intervals are joined (the models refuse
    overlaps; this keeps the arithmetic right for any caller)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted((seconds_of_day(start), seconds_of_day(end) or DAY_SECONDS) for start, end in pairs):
        if s >= e:
            raise ValueError(f"A working interval must end after it starts: {s}s-{e}s of the day.")
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return tuple(out)


def special_day(usual: DayIntervals, start: int | None, end: int | None) -> DayIntervals:
    """A special working day: the usual hours with the beginning moved to ``start`` and the end
    to ``end`` (seconds of day; ``None`` keeps the usual one). Breaks between the usual
    intervals (lunch) still apply, so a pre-holiday day "until 17:00" of a 09:00-13:00,
    14:00-18:00 calendar is 09:00-13:00, 14:00-17:00."""
    if not usual:
        return ((start, end),) if start is not None and end is not None and start < end else ()
    lo = usual[0][0] if start is None else start
    hi = usual[-1][1] if end is None else end
    pieces = [(lo, hi)] if lo < hi else []
    for (_, break_start), (break_end, _) in itertools.pairwise(usual):
        cut = []
        for s, e in pieces:
            if break_end <= s or break_start >= e:
                cut.append((s, e))
                continue
            if s < break_start:
                cut.append((s, break_start))
            if break_end < e:
                cut.append((break_end, e))
        pieces = cut
    return tuple(pieces)


@lru_cache(maxsize=256)
def country_days(country: str, subdivision: str, year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """The public holidays (days off, including those moved by law) and the working weekend
    days (transferred working days) of ``year`` in a country, from the `holidays` package.

    The neighbouring years are read as well: a transfer may move a day across New Year. Shared
    by all schedules of the process (the package's data only changes with its version).
    """
    table = holidays_lib.country_holidays(
        country, subdiv=subdivision or None, years=range(max(year - 1, 1), year + 2)
    )
    days_off = frozenset(day for day in table if day.year == year)
    working = frozenset(day for day in table.weekend_workdays if day.year == year)
    return days_off, working


@dataclass(frozen=True, slots=True)
class _Year:
    """One calendar year of a schedule: its working intervals in UTC microseconds, sorted and
    disjoint, with ``cum[i]`` the working time before interval ``i`` (``cum[-1]`` the year's
    total). ``lo``/``hi``: the year's first and last-plus-one instant (local midnights)."""

    lo: int
    hi: int
    starts: list[int]
    ends: list[int]
    cum: list[int]

    @property
    def total(self) -> int:
        return self.cum[-1]

    def position(self, t: int) -> int:
        """Working time from the start of the year until ``t``."""
        i = bisect.bisect_right(self.ends, t)
        if i == len(self.ends):
            return self.cum[-1]
        return self.cum[i] + max(0, t - self.starts[i])

    def instant(self, position: int) -> int:
        """The instant at which ``position`` (0 < position <= total) of working time has passed
        since the start of the year: the end of a working interval when it lands on one."""
        j = bisect.bisect_left(self.cum, position) - 1
        return self.starts[j] + position - self.cum[j]


@dataclass(frozen=True)
class Schedule:
    """A business calendar compiled for arithmetic; build it with :meth:`Schedule.build`.

    ``weekly[i]`` are the working intervals of weekday ``i`` (Monday 0) in local seconds of day;
    ``dates`` the dates with their own intervals (an empty tuple: a day off), which win over
    everything else; then the country's holidays (day off) and working weekend days (the
    weekday's own hours, or the usual working day's if it has none) apply.

    Immutable as far as anyone can tell: the per-year tables are a cache, filled lazily and
    shared by the threads of a process. Two schedules built from the same data are equal,
    which lets the loader keep a warm schedule when its calendar has not changed.
    """

    time_zone: str
    weekly: tuple[DayIntervals, ...]
    dates: tuple[tuple[dt.date, DayIntervals], ...] = ()
    holiday_country: str = ""
    holiday_subdivision: str = ""
    always_open: bool = False
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _overrides: Mapping[dt.date, DayIntervals] = field(init=False, repr=False, compare=False)
    _usual_day: DayIntervals = field(init=False, repr=False, compare=False)
    _years: dict[int, _Year] = field(init=False, repr=False, compare=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("A schedule needs the working intervals of all seven weekdays.")
        object.__setattr__(self, "_zone", ZoneInfo(self.time_zone))
        object.__setattr__(self, "_overrides", dict(self.dates))
        object.__setattr__(self, "_usual_day", usual_day(self.weekly))

    @classmethod
    def build(
        cls,
        *,
        time_zone: str,
        weekly: Mapping[int, Iterable[tuple[dt.time, dt.time]]] | None = None,
        days_off: Iterable[dt.date] = (),
        working_days: Mapping[dt.date, tuple[dt.time | None, dt.time | None]] | None = None,
        holiday_country: str = "",
        holiday_subdivision: str = "",
        always_open: bool = False,
    ) -> Schedule:
        """Compile a schedule from wall-clock hours.

        ``weekly``: weekday (Monday 0) -> (start, end) times; an end of 00:00 is midnight.
        ``days_off``: dates without work (admins' holidays). ``working_days``: dates that are
        worked, with an optional new start and end (``None``: the usual one); see
        :func:`special_day`. Both win over the country's calendar.
        """
        week = tuple(day_intervals((weekly or {}).get(weekday, ())) for weekday in range(7))
        usual = usual_day(week)
        dates: dict[dt.date, DayIntervals] = {}
        for day, (start, end) in (working_days or {}).items():
            base = week[day.weekday()] or usual
            dates[day] = special_day(
                base,
                None if start is None else seconds_of_day(start),
                None if end is None else (seconds_of_day(end) or DAY_SECONDS),
            )
        for day in days_off:
            dates[day] = ()
        return cls(
            time_zone=time_zone,
            weekly=week,
            dates=tuple(sorted(dates.items())),
            holiday_country=holiday_country,
            holiday_subdivision=holiday_subdivision,
            always_open=always_open,
        )

    # --- The two operations ---------------------------------------------------------------

    def add(self, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """The earliest instant by which ``duration`` of working time has passed since
        ``start`` (UTC). A positive duration always ends inside working hours, at the latest
        at the end of an interval (Friday 17:00 + 1 hour is Friday 18:00, not Monday 09:00);
        a zero duration gives ``start`` back."""
        remaining = duration // _ONE_US
        if remaining < 0:
            raise ValueError("Business time to add must not be negative.")
        t = _to_us(start)
        if remaining == 0 or self.always_open:
            return _from_us(t + remaining)
        year, table = self._year_of(t, start.astimezone(_UTC).year)
        position = table.position(t)
        horizon = year + SEARCH_HORIZON_YEARS
        while position + remaining > table.total:
            remaining -= table.total - position
            year += 1
            if year > horizon:
                raise NoWorkingTime(
                    gettext(
                        "The business calendar has too little working time: the deadline would be "
                        "more than %(years)d years after %(start)s."
                    )
                    % {"years": SEARCH_HORIZON_YEARS, "start": start.isoformat()}
                )
            table = self._year(year)
            position = 0
        return _from_us(table.instant(position + remaining))

    def between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Working time from ``a`` to ``b`` (negative if ``b`` is before ``a``)."""
        if self.always_open:
            return b - a
        ta, tb = _to_us(a), _to_us(b)
        if tb < ta:
            return -self.between(b, a)
        year_a, first = self._year_of(ta, a.astimezone(_UTC).year)
        year_b, last = self._year_of(tb, b.astimezone(_UTC).year)
        if year_a == year_b:
            us = last.position(tb) - first.position(ta)
        else:
            us = first.total - first.position(ta) + last.position(tb)
            us += sum(self._year(year).total for year in range(year_a + 1, year_b))
        return dt.timedelta(microseconds=us)

    def add_business_minutes(self, start: dt.datetime, minutes: float) -> dt.datetime:
        """``start`` plus ``minutes`` of working time (rounded to the microsecond), in UTC."""
        return self.add(start, dt.timedelta(microseconds=round(minutes * _MINUTE_US)))

    def business_minutes_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Working minutes from ``a`` to ``b`` (negative if ``b`` is before ``a``)."""
        return self.between(a, b) / dt.timedelta(minutes=1)

    def is_working(self, moment: dt.datetime) -> bool:
        """Whether the desk is open at ``moment`` (intervals include their start, not their end)."""
        if self.always_open:
            return True
        t = _to_us(moment)
        _, table = self._year_of(t, moment.astimezone(_UTC).year)
        i = bisect.bisect_right(table.ends, t)
        return i < len(table.ends) and table.starts[i] <= t

    def local_intervals(self, day: dt.date) -> DayIntervals:
        """The working intervals of a local date, in seconds of day, after all the rules."""
        if self.always_open:
            return ((0, DAY_SECONDS),)
        if day in self._overrides:
            return self._overrides[day]
        if self.holiday_country:
            days_off, working = country_days(self.holiday_country, self.holiday_subdivision, day.year)
            if day in days_off:
                return ()
            if day in working:
                return self.weekly[day.weekday()] or self._usual_day
        return self.weekly[day.weekday()]

    # --- Year tables ------------------------------------------------------------------------

    def _year_of(self, t: int, guess: int) -> tuple[int, _Year]:
        """The table of the local year containing instant ``t`` (``guess``: its UTC year)."""
        table = self._year(guess)
        while t < table.lo:
            guess -= 1
            table = self._year(guess)
        while t >= table.hi:
            guess += 1
            table = self._year(guess)
        return guess, table

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is None:
            if not dt.MINYEAR < year < dt.MAXYEAR:
                raise NoWorkingTime(
                    gettext("Business time cannot be computed for the year %(year)d.") % {"year": year}
                )
            with self._lock:
                table = self._years.get(year)
                if table is None:
                    table = self._build_year(year)
                    self._years[year] = table
        return table

    def _build_year(self, year: int) -> _Year:
        starts: list[int] = []
        ends: list[int] = []
        cum = [0]
        day = dt.date(year, 1, 1)
        stop = dt.date(year + 1, 1, 1)
        midnight = self._wall_to_us(day, 0)
        lo = midnight
        while day < stop:
            following = day + _ONE_DAY
            next_midnight = self._wall_to_us(following, 0)
            intervals = self.local_intervals(day)
            if intervals:
                # A 24-hour day has the same UTC offset at both ends: no clock change today.
                regular = next_midnight - midnight == DAY_SECONDS * _US
                for s, e in intervals:
                    if regular:  # no clock change today: wall time is a fixed offset from UTC
                        us_start, us_end = midnight + s * _US, midnight + e * _US
                    else:
                        us_start, us_end = self._wall_to_us(day, s), self._wall_to_us(day, e)
                    if us_end <= us_start:  # wholly inside the skipped hour
                        continue
                    if ends and ends[-1] >= us_start:  # touches the previous one: one interval
                        if us_end > ends[-1]:
                            cum[-1] += us_end - ends[-1]
                            ends[-1] = us_end
                    else:
                        starts.append(us_start)
                        ends.append(us_end)
                        cum.append(cum[-1] + us_end - us_start)
            day, midnight = following, next_midnight
        return _Year(lo=lo, hi=midnight, starts=starts, ends=ends, cum=cum)

    def _wall_to_us(self, day: dt.date, seconds: int) -> int:
        """Local wall time on ``day`` as UTC microseconds, by the module's DST rules."""
        if seconds >= DAY_SECONDS:
            day, seconds = day + _ONE_DAY, seconds - DAY_SECONDS
        wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        first = wall.replace(tzinfo=self._zone)  # fold=0: the first occurrence of a repeated time
        utc = first.astimezone(_UTC)
        if utc.astimezone(self._zone).replace(tzinfo=None) == wall:
            return _to_us(utc)
        # The wall time was skipped: find the instant the clocks jumped, the first one whose
        # wall time is at or after it. It lies between the two readings of the wall time.
        other = _to_us(wall.replace(tzinfo=self._zone, fold=1).astimezone(_UTC))
        lo, hi = sorted((other, _to_us(utc)))
        lo //= _US
        hi = -(-hi // _US)
        while lo < hi:  # whole seconds: zones change their offsets on whole seconds
            mid = (lo + hi) // 2
            if _from_us(mid * _US).astimezone(self._zone).replace(tzinfo=None) >= wall:
                hi = mid
            else:
                lo = mid + 1
        return lo * _US


def usual_day(weekly: Sequence[DayIntervals]) -> DayIntervals:
    """The calendar's ordinary working day: the hours most weekdays have (the earliest such
    weekday on a tie). A transferred working day on a weekend works these hours."""
    counts = Counter(day for day in weekly if day)
    if not counts:
        return ()
    best = max(counts.values())
    return next(day for day in weekly if day and counts[day] == best)


def always_open(time_zone: str = "UTC") -> Schedule:
    """A 24/7 schedule: every moment is working time."""
    return Schedule(time_zone=time_zone, weekly=((),) * 7, always_open=True)


def _to_us(moment: dt.datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Business time needs aware datetimes (store and pass UTC).")
    return (moment - _EPOCH) // _ONE_US


def _from_us(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)
