"""Business-time arithmetic on concrete dates one can check against a wall calendar.

The Russian production calendar comes from the `holidays` package; the dates below are the
official ones (2025-11-01 was a working Saturday, 2025-11-03/04 and 2025-12-31 - 2026-01-11
were days off). Berlin is the daylight-saving example: clocks go forward on the last Sunday of
March (02:00 -> 03:00) and back on the last Sunday of October (03:00 -> 02:00).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays
import pytest

from tests.sla.conftest import NINE, SIX_PM
from tierdesk.sla.business_time import SEARCH_HORIZON_YEARS, NoWorkingTime, Schedule, always_open

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MSK)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def weekdays(*intervals: tuple[dt.time, dt.time], days: range = range(5)) -> dict[int, list]:
    return {weekday: list(intervals) for weekday in days}


# --- An ordinary week ---------------------------------------------------------------------


def test_friday_evening_plus_an_hour_is_monday_morning(moscow: Schedule) -> None:
    due = moscow.add_business_minutes(msk(2025, 10, 17, 17, 30), 60)
    assert due == msk(2025, 10, 20, 9, 30)
    assert due.tzinfo is UTC  # deadlines come back in UTC, as they are stored


def test_a_deadline_at_closing_time_stays_on_that_day(moscow: Schedule) -> None:
    assert moscow.add_business_minutes(msk(2025, 10, 17, 17, 0), 60) == msk(2025, 10, 17, 18, 0)


def test_time_outside_working_hours_does_not_count(moscow: Schedule) -> None:
    assert moscow.add_business_minutes(msk(2025, 10, 18, 12, 0), 60) == msk(2025, 10, 20, 10, 0)
    assert moscow.add_business_minutes(msk(2025, 10, 20, 7, 0), 30) == msk(2025, 10, 20, 9, 30)
    assert moscow.business_minutes_between(msk(2025, 10, 17, 17, 0), msk(2025, 10, 20, 10, 0)) == 120


def test_zero_minutes_is_the_start_itself(moscow: Schedule) -> None:
    start = msk(2025, 10, 18, 12, 0)
    assert moscow.add_business_minutes(start, 0) == start


def test_a_lunch_break_is_skipped() -> None:
    schedule = Schedule.build(
        time_zone="Europe/Moscow", weekly=weekdays((NINE, dt.time(13)), (dt.time(14), SIX_PM))
    )
    assert schedule.add_business_minutes(msk(2025, 10, 20, 12, 30), 60) == msk(2025, 10, 20, 14, 30)
    assert schedule.business_minutes_between(msk(2025, 10, 20, 0, 0), msk(2025, 10, 21, 0, 0)) == 8 * 60


def test_measuring_backwards_is_negative(moscow: Schedule) -> None:
    a, b = msk(2025, 10, 20, 10, 0), msk(2025, 10, 21, 10, 0)
    assert moscow.business_minutes_between(b, a) == -moscow.business_minutes_between(a, b) == -9 * 60


def test_any_aware_input_is_accepted_and_naive_is_refused(moscow: Schedule) -> None:
    start = msk(2025, 10, 17, 17, 30)
    assert moscow.add_business_minutes(start.astimezone(ZoneInfo("America/New_York")), 60) == msk(
        2025, 10, 20, 9, 30
    )
    with pytest.raises(ValueError, match="aware"):
        moscow.add_business_minutes(dt.datetime(2025, 10, 17, 17, 30), 60)
    with pytest.raises(ValueError, match="negative"):
        moscow.add_business_minutes(start, -1)


# --- The Russian production calendar ------------------------------------------------------


def test_the_new_year_holidays_are_skipped(moscow: Schedule) -> None:
    # 2025-12-31 is a day off (moved from 2025-01-05), 2026-01-01..09 holidays, 10-11 a weekend.
    assert moscow.add_business_minutes(msk(2025, 12, 30, 17, 0), 120) == msk(2026, 1, 12, 10, 0)
    assert moscow.business_minutes_between(msk(2025, 12, 30, 0, 0), msk(2026, 1, 13, 0, 0)) == 2 * 9 * 60


def test_the_working_saturday_of_november_2025(moscow: Schedule) -> None:
    # Saturday 2025-11-01 is worked; Monday 3rd (moved from that Saturday) and Tuesday 4th are off.
    assert moscow.add_business_minutes(msk(2025, 10, 31, 17, 30), 60) == msk(2025, 11, 1, 9, 30)
    assert moscow.add_business_minutes(msk(2025, 11, 1, 17, 30), 60) == msk(2025, 11, 5, 9, 30)
    assert moscow.business_minutes_between(msk(2025, 11, 1, 0, 0), msk(2025, 11, 6, 0, 0)) == 2 * 9 * 60
    assert moscow.is_working(msk(2025, 11, 1, 12, 0))
    assert not moscow.is_working(msk(2025, 11, 3, 12, 0))


def test_hundreds_of_days_agree_with_the_holidays_package(moscow: Schedule) -> None:
    """600 full working days from 2025-01-01, counted day by day from the package itself."""
    table = holidays.country_holidays("RU", years=range(2025, 2029))
    day, worked = dt.date(2024, 12, 31), 0
    while worked < 600:
        day += dt.timedelta(days=1)
        weekend = day.weekday() >= 5
        if (day in table.weekend_workdays) if weekend else (day not in table):
            worked += 1
    due = moscow.add_business_minutes(msk(2025, 1, 1, 0, 0), 600 * 9 * 60)
    assert due == msk(day.year, day.month, day.day, 18, 0)
    assert moscow.business_minutes_between(msk(2025, 1, 1, 0, 0), due) == 600 * 9 * 60


def test_admin_dates_win_over_the_package() -> None:
    schedule = Schedule.build(
        time_zone="Europe/Moscow",
        weekly=weekdays((NINE, SIX_PM)),
        holiday_country="RU",
        days_off=[dt.date(2025, 11, 1)],  # the working Saturday, made a day off by the company
        working_days={
            dt.date(2026, 1, 5): (None, None),  # a public holiday, worked (Monday hours)
            dt.date(2025, 11, 5): (None, dt.time(17)),  # shortened by an hour
            dt.date(2025, 11, 8): (dt.time(10), dt.time(14)),  # a working Saturday, 10-14
        },
    )
    assert schedule.business_minutes_between(msk(2025, 11, 1, 0, 0), msk(2025, 11, 2, 0, 0)) == 0
    assert schedule.business_minutes_between(msk(2026, 1, 5, 0, 0), msk(2026, 1, 6, 0, 0)) == 9 * 60
    assert schedule.business_minutes_between(msk(2025, 11, 5, 0, 0), msk(2025, 11, 6, 0, 0)) == 8 * 60
    assert schedule.add_business_minutes(msk(2025, 11, 7, 17, 0), 120) == msk(2025, 11, 8, 11, 0)


def test_a_shortened_day_keeps_the_lunch_break() -> None:
    schedule = Schedule.build(
        time_zone="Europe/Moscow",
        weekly=weekdays((NINE, dt.time(13)), (dt.time(14), SIX_PM)),
        working_days={dt.date(2025, 11, 5): (None, dt.time(17))},
    )
    assert schedule.local_intervals(dt.date(2025, 11, 5)) == ((9 * 3600, 13 * 3600), (14 * 3600, 17 * 3600))


def test_a_transferred_working_day_on_a_weekend_works_the_usual_day() -> None:
    schedule = Schedule.build(
        time_zone="Europe/Moscow",
        weekly={**weekdays((NINE, SIX_PM), days=range(4)), 4: [(NINE, dt.time(16, 45))]},
        holiday_country="RU",
    )
    assert schedule.local_intervals(dt.date(2025, 11, 1)) == ((9 * 3600, 18 * 3600),)


# --- Time zones and daylight saving -------------------------------------------------------


def test_a_weekday_calendar_across_the_march_change() -> None:
    schedule = Schedule.build(time_zone="Europe/Berlin", weekly=weekdays((NINE, SIX_PM)))
    # Friday 17:00 CET (16:00 UTC) + 2 hours -> Monday 10:00 CEST (08:00 UTC).
    due = schedule.add_business_minutes(berlin(2025, 3, 28, 17, 0), 120)
    assert due == berlin(2025, 3, 31, 10, 0) == dt.datetime(2025, 3, 31, 8, 0, tzinfo=UTC)
    assert schedule.add_business_minutes(berlin(2025, 10, 24, 17, 0), 120) == berlin(2025, 10, 27, 10, 0)


def test_a_night_shift_across_daylight_saving_changes_counts_real_time() -> None:
    schedule = Schedule.build(
        time_zone="Europe/Berlin",
        weekly={5: [(dt.time(22), dt.time(0))], 6: [(dt.time(0), dt.time(6))]},
    )
    # Saturday 22:00 to Sunday 06:00 by the wall clock: 7 real hours in March, 9 in October.
    assert schedule.between(berlin(2025, 3, 29, 12, 0), berlin(2025, 3, 30, 12, 0)) == 7 * HOUR
    assert schedule.between(berlin(2025, 10, 25, 12, 0), berlin(2025, 10, 26, 12, 0)) == 9 * HOUR
    assert schedule.between(berlin(2025, 6, 7, 12, 0), berlin(2025, 6, 8, 12, 0)) == 8 * HOUR
    assert schedule.add(berlin(2025, 3, 29, 22, 0), 7 * HOUR) == berlin(2025, 3, 30, 6, 0)
    assert schedule.add(berlin(2025, 3, 29, 22, 0), 4 * HOUR) == berlin(2025, 3, 30, 3, 0)
    # In October 02:30 happens twice: 4.5 hours after 22:00 is the first, 5.5 hours the second.
    # (Aware datetimes in a repeated hour never compare equal across zones: compare in UTC.)
    start = berlin(2025, 10, 25, 22, 0)
    assert schedule.add(start, 4.5 * HOUR) == berlin(2025, 10, 26, 2, 30).astimezone(UTC)
    assert schedule.add(start, 5.5 * HOUR) == berlin(2025, 10, 26, 2, 30, fold=1).astimezone(UTC)


def test_skipped_and_repeated_wall_times_follow_the_documented_rules() -> None:
    schedule = Schedule.build(
        time_zone="Europe/Berlin",
        weekly={6: [(dt.time(1), dt.time(2, 30)), (dt.time(3), dt.time(4))]},
    )
    # March: 02:30 does not exist; the first interval ends when the clocks jump (03:00 CEST).
    assert schedule.between(berlin(2025, 3, 30, 0, 0), berlin(2025, 3, 31, 0, 0)) == 2 * HOUR
    # October: 02:30 is read as its first occurrence (summer time): 1.5 + 1 hours.
    assert schedule.between(berlin(2025, 10, 26, 0, 0), berlin(2025, 10, 27, 0, 0)) == 2.5 * HOUR
    only_skipped = Schedule.build(time_zone="Europe/Berlin", weekly={6: [(dt.time(2), dt.time(3))]})
    assert only_skipped.between(berlin(2025, 3, 30, 0, 0), berlin(2025, 3, 31, 0, 0)) == dt.timedelta(0)
    # 02:00 (first, summer time) to 03:00 (winter time) is two real hours.
    assert only_skipped.between(berlin(2025, 10, 26, 0, 0), berlin(2025, 10, 27, 0, 0)) == 2 * HOUR


def test_a_zone_whose_clocks_change_at_midnight() -> None:
    """Santiago skips 00:00-01:00 on 2025-09-07 and repeats 23:00-24:00 of 2025-04-05."""
    santiago = ZoneInfo("America/Santiago")
    schedule = Schedule.build(
        time_zone="America/Santiago", weekly=weekdays((dt.time(0), dt.time(0)), days=range(7))
    )

    def day(year: int, month: int, d: int) -> dt.timedelta:
        start = dt.datetime(year, month, d, 12, tzinfo=santiago)
        return schedule.between(start, start + dt.timedelta(days=1))

    assert day(2025, 9, 6) == 23 * HOUR
    assert day(2025, 4, 5) == 25 * HOUR
    assert day(2025, 6, 5) == 24 * HOUR


# --- 24/7 and calendars without working time ----------------------------------------------


def test_a_24x7_calendar_counts_every_minute() -> None:
    schedule = always_open("Europe/Moscow")
    start = msk(2025, 12, 31, 23, 30)
    assert schedule.add_business_minutes(start, 90) == msk(2026, 1, 1, 1, 0)
    assert schedule.business_minutes_between(start, msk(2026, 1, 1, 1, 0)) == 90
    assert schedule.is_working(start)


def test_a_calendar_without_working_time_fails_clearly_instead_of_looping() -> None:
    schedule = Schedule.build(time_zone="UTC", weekly={})
    with pytest.raises(NoWorkingTime, match=f"{SEARCH_HORIZON_YEARS} years"):
        schedule.add_business_minutes(dt.datetime(2025, 1, 1, tzinfo=UTC), 1)
    assert (
        schedule.business_minutes_between(
            dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)
        )
        == 0
    )


def test_a_single_working_date_years_ahead_is_found() -> None:
    schedule = Schedule.build(time_zone="UTC", weekly={}, working_days={dt.date(2027, 3, 1): (NINE, SIX_PM)})
    assert schedule.add_business_minutes(dt.datetime(2025, 1, 1, tzinfo=UTC), 60) == dt.datetime(
        2027, 3, 1, 10, tzinfo=UTC
    )


def test_equal_data_makes_equal_schedules(moscow: Schedule) -> None:
    again = Schedule.build(
        time_zone="Europe/Moscow", weekly={d: [(NINE, SIX_PM)] for d in range(5)}, holiday_country="RU"
    )
    assert again == moscow
    assert again != Schedule.build(time_zone="Europe/Moscow", weekly={d: [(NINE, SIX_PM)] for d in range(5)})


def test_overlapping_hours_given_directly_are_joined() -> None:
    schedule = Schedule.build(
        time_zone="UTC", weekly={0: [(NINE, dt.time(14)), (dt.time(12), SIX_PM), (dt.time(10), dt.time(11))]}
    )
    assert schedule.local_intervals(dt.date(2025, 10, 20)) == ((9 * 3600, 18 * 3600),)


def test_years_beyond_the_package_data_still_work(moscow: Schedule) -> None:
    start = msk(2150, 6, 1, 12, 0)  # a Monday; only the fixed holidays are known that far ahead
    assert moscow.business_minutes_between(start, moscow.add_business_minutes(start, 600)) == 600
