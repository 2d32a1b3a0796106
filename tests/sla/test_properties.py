"""Properties of business-time arithmetic over random calendars, zones, dates and durations.

The reference below knows nothing of the schedule's year tables or its wall-to-UTC
conversion: it walks a 15-minute grid of UTC instants around a local day, reads the wall clock
at each, and takes as an interval's start (end) the first instant whose wall time has reached
it. That is the documented rule for skipped and repeated wall times, found the slow, obvious
way. (All interval boundaries drawn here, and every clock change of the zones used, fall on
quarter hours of UTC, so the grid is exact.)
"""

from __future__ import annotations

import bisect
import datetime as dt
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import holidays
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tierdesk.sla.business_time import Schedule, always_open

UTC = dt.UTC
QUARTER = dt.timedelta(minutes=15)
ZONES = [
    "UTC",
    "Europe/Moscow",
    "Europe/Berlin",  # DST at 02:00/03:00 local
    "America/New_York",
    "America/Santiago",  # clocks change at midnight
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45/+13:45
]
START = dt.datetime(2024, 1, 1)
END = dt.datetime(2027, 12, 31)

# Building a calendar year takes a few milliseconds the first time, hence no deadline.
examples = settings(deadline=None, max_examples=100)


def quarter(index: int) -> dt.time:
    """The ``index``-th quarter hour of a day; 96 is the midnight that ends it (00:00)."""
    return dt.time(index // 4 % 24, index % 4 * 15)


# Interval boundaries, with the night (00:00-04:00, where clocks change) drawn more often.
boundaries = st.integers(0, 96) | st.integers(0, 16)
day_hours = (
    st.sets(boundaries, max_size=6)
    .map(sorted)
    .map(lambda b: [(quarter(b[i]), quarter(b[i + 1])) for i in range(0, len(b) - 1, 2)])
)
special_hours = st.tuples(
    st.none() | st.integers(0, 95).map(quarter), st.none() | st.integers(1, 96).map(quarter)
).filter(lambda se: se[0] is None or se[1] is None or se[1] == dt.time(0) or se[0] < se[1])


@st.composite
def schedules(draw: st.DrawFn, country: st.SearchStrategy[str] | None = None) -> Schedule:
    week = draw(st.lists(day_hours, min_size=7, max_size=7).filter(any))
    dates = draw(st.dictionaries(st.dates(START.date(), END.date()), st.none() | special_hours, max_size=6))
    return Schedule.build(
        time_zone=draw(st.sampled_from(ZONES)),
        weekly=dict(enumerate(week)),
        days_off=[day for day, hours in dates.items() if hours is None],
        working_days={day: hours for day, hours in dates.items() if hours is not None},
        holiday_country=draw(country if country is not None else st.sampled_from(["", "RU", "DE"])),
    )


instants = st.datetimes(min_value=START, max_value=END, timezones=st.just(UTC))


@cache
def clock_changes(zone_name: str) -> tuple[dt.datetime, ...]:
    """Noon UTC of each day whose UTC offset differs from the day before's, 2024-2027."""
    zone, found = ZoneInfo(zone_name), []
    day = dt.datetime.combine(START.date(), dt.time(12), tzinfo=UTC)
    offset = day.astimezone(zone).utcoffset()
    while day < END.replace(tzinfo=UTC):
        day += dt.timedelta(days=1)
        if (current := day.astimezone(zone).utcoffset()) != offset:
            found.append(day)
            offset = current
    return tuple(found)


def moments(schedule: Schedule) -> st.SearchStrategy[dt.datetime]:
    """Any instant, or (as often) one within a few days of a clock change in the calendar's zone."""
    changes = clock_changes(schedule.time_zone)
    if not changes:
        return instants
    near = st.builds(
        lambda change, shift: change + shift,
        st.sampled_from(changes),
        st.timedeltas(-dt.timedelta(days=3), dt.timedelta(days=1)),
    )
    return instants | near


def weekly_total(schedule: Schedule) -> dt.timedelta:
    seconds = sum(end - start for day in schedule.weekly for start, end in day)
    return dt.timedelta(seconds=seconds)


@st.composite
def durations(draw: st.DrawFn, schedule: Schedule, weeks: int = 40) -> dt.timedelta:
    """Up to ``weeks`` weeks' worth of the calendar's working time (never more than 400 hours),
    so that even a calendar with one quarter hour a week stays well inside the search horizon."""
    cap = min(weekly_total(schedule) * weeks, dt.timedelta(hours=400))
    return dt.timedelta(microseconds=draw(st.integers(0, cap // dt.timedelta(microseconds=1))))


# --- The reference ------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _grid(zone_name: str, day: dt.date) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """UTC quarter hours from 15 hours before to 15 hours after the local day, and the running
    maximum of the wall time shown at each (wall time goes back once a year)."""
    zone = ZoneInfo(zone_name)
    first = dt.datetime.combine(day, dt.time(), tzinfo=UTC) - dt.timedelta(hours=15)
    instants = [first + i * QUARTER for i in range((24 + 30) * 4 + 1)]
    reached: list[dt.datetime] = []
    for instant in instants:
        wall = instant.astimezone(zone).replace(tzinfo=None)
        reached.append(max(wall, reached[-1]) if reached else wall)
    return instants, reached


def reference_intervals(schedule: Schedule, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    instants, reached = _grid(schedule.time_zone, day)
    midnight = dt.datetime.combine(day, dt.time())

    def when(seconds: int) -> dt.datetime:
        return instants[bisect.bisect_left(reached, midnight + dt.timedelta(seconds=seconds))]

    return [(when(s), when(e)) for s, e in schedule.local_intervals(day) if when(s) < when(e)]


def local_days(schedule: Schedule, a: dt.datetime, b: dt.datetime) -> list[dt.date]:
    zone = ZoneInfo(schedule.time_zone)
    first, last = a.astimezone(zone).date() - dt.timedelta(days=1), b.astimezone(zone).date()
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 2)]


def reference_between(schedule: Schedule, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    total = dt.timedelta(0)
    for day in local_days(schedule, a, b):
        for start, end in reference_intervals(schedule, day):
            total += max(dt.timedelta(0), min(end, b) - max(start, a))
    return total


# --- Properties -----------------------------------------------------------------------------


@examples
@given(st.data())
def test_adding_then_measuring_gives_the_same_duration_back(data: st.DataObject) -> None:
    schedule = data.draw(schedules())
    start = data.draw(moments(schedule))
    duration = data.draw(durations(schedule))
    due = schedule.add(start, duration)
    assert due >= start
    assert schedule.between(start, due) == duration  # exactly: microseconds, no float drift


@examples
@given(st.data())
def test_measuring_agrees_with_the_wall_clock_reference(data: st.DataObject) -> None:
    schedule = data.draw(schedules())
    a = data.draw(moments(schedule))
    b = a + data.draw(st.timedeltas(dt.timedelta(0), dt.timedelta(days=10)))
    assert schedule.between(a, b) == reference_between(schedule, a, b)
    assert schedule.between(b, a) == -schedule.between(a, b)


@examples
@given(schedules())
def test_every_clock_change_agrees_with_the_wall_clock_reference(schedule: Schedule) -> None:
    """All the zone's clock changes of 2024-2027 (random ranges rarely hit the skipped hour)."""
    zone = ZoneInfo(schedule.time_zone)
    for change in clock_changes(schedule.time_zone):
        day = change.astimezone(zone).date()
        a = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), tzinfo=UTC)
        b = a + dt.timedelta(days=3)
        assert schedule.between(a, b) == reference_between(schedule, a, b), day


@examples
@given(st.data())
def test_a_deadline_never_falls_outside_working_hours(data: st.DataObject) -> None:
    schedule = data.draw(schedules())
    start = data.draw(moments(schedule))
    duration = data.draw(durations(schedule, weeks=3))
    assume(duration > dt.timedelta(0))
    due = schedule.add(start, duration)
    # Inside an interval, or at its very end (closing time): start < due <= end.
    intervals = [iv for day in local_days(schedule, due, due) for iv in reference_intervals(schedule, day)]
    assert any(begin < due <= end for begin, end in intervals), (due, intervals)
    assert schedule.is_working(due - dt.timedelta(microseconds=1))


@examples
@given(st.data())
def test_more_time_never_gives_an_earlier_deadline(data: st.DataObject) -> None:
    schedule = data.draw(schedules())
    start = data.draw(moments(schedule))
    first = data.draw(durations(schedule, weeks=20))
    second = data.draw(durations(schedule, weeks=20))
    assert schedule.add(start, first) <= schedule.add(start, first + second)
    # Stopping on the way changes nothing.
    assert schedule.add(schedule.add(start, first), second) == schedule.add(start, first + second)


@lru_cache(maxsize=1)
def russian_days_off() -> list[dt.date]:
    return sorted(holidays.country_holidays("RU", years=range(2024, 2028)))


@examples
@given(st.data())
def test_public_holidays_are_skipped(data: st.DataObject) -> None:
    schedule = data.draw(schedules(country=st.just("RU")))
    holiday = data.draw(st.sampled_from(russian_days_off()))
    assume(holiday not in dict(schedule.dates))  # an administrator's date would win
    zone = ZoneInfo(schedule.time_zone)
    midnight = dt.datetime.combine(holiday, dt.time(), tzinfo=zone)
    following = dt.datetime.combine(holiday + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    assert schedule.between(midnight, following) == dt.timedelta(0)
    # Work due during the holiday is done after it.
    due = schedule.add(midnight, data.draw(durations(schedule, weeks=2).filter(bool)))
    assert due > following
    worked_on = (due - dt.timedelta(microseconds=1)).astimezone(zone).date()
    assert worked_on not in russian_days_off() or worked_on in dict(schedule.dates)


@examples
@given(
    st.sampled_from(ZONES),
    instants,
    st.timedeltas(dt.timedelta(0), dt.timedelta(days=400)),
)
def test_a_24x7_calendar_is_plain_elapsed_time(zone: str, start: dt.datetime, duration: dt.timedelta) -> None:
    schedule = always_open(zone)
    assert schedule.add(start, duration) == start + duration
    assert schedule.between(start, start + duration) == duration
