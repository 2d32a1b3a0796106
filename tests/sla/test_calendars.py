"""Business calendars in the database: the seeded calendars, audited admin-only edits, the
per-process schedule cache, and the Django admin."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, World
from tierdesk.audit.models import AuditEvent
from tierdesk.common import process_cache
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.sla import selectors, services
from tierdesk.sla.choices import DateKind
from tierdesk.sla.models import BusinessCalendar, CalendarDate, WorkingHours

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
NINE, SIX_PM = dt.time(9), dt.time(18)
WEEKDAYS_9_TO_6 = [(day, NINE, SIX_PM) for day in range(5)]


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MSK)


def standard() -> BusinessCalendar:
    return BusinessCalendar.objects.get(name="Standard business hours")


def events(calendar: BusinessCalendar, event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type, target_id=calendar.pk).order_by("id"))


# --- The seeded calendars -----------------------------------------------------------------


def test_the_migrations_seed_a_default_moscow_calendar_and_a_24x7_one() -> None:
    default = selectors.default_calendar()
    assert default is not None and default.name == "Standard business hours"
    assert (default.time_zone, default.holiday_country, default.is_24x7) == ("Europe/Moscow", "RU", False)
    assert list(default.working_hours.values_list("weekday", "start", "end")) == WEEKDAYS_9_TO_6
    assert BusinessCalendar.objects.get(name="24/7").is_24x7

    schedule = selectors.schedule_for(default.pk)
    assert schedule.add_business_minutes(msk(2025, 10, 17, 17, 30), 60) == msk(2025, 10, 20, 9, 30)
    assert schedule.add_business_minutes(msk(2025, 10, 31, 17, 30), 60) == msk(2025, 11, 1, 9, 30)
    always = selectors.schedule_for(BusinessCalendar.objects.get(name="24/7").pk)
    assert always.add_business_minutes(msk(2025, 10, 17, 17, 30), 60) == msk(2025, 10, 17, 18, 30)


# --- Services: audited, administrators only -------------------------------------------------


def test_creating_and_changing_a_calendar_is_audited(world: World) -> None:
    calendar = services.save_calendar(
        BusinessCalendar(name="Berlin office", time_zone="Europe/Berlin", holiday_country="de"),
        actor=world.admin,
    )
    assert calendar.holiday_country == "DE"
    [created] = events(calendar, "calendar.created")
    assert created.actor == world.admin and created.organisation is None
    assert created.new is not None and created.new["time_zone"] == "Europe/Berlin"

    calendar.holiday_subdivision = "BY"
    services.save_calendar(calendar, actor=world.admin)
    [updated] = events(calendar, "calendar.updated")
    assert (updated.old, updated.new) == ({"holiday_subdivision": ""}, {"holiday_subdivision": "BY"})

    services.save_calendar(calendar, actor=world.admin)  # nothing changed: no event
    assert len(events(calendar, "calendar.updated")) == 1


def test_a_new_default_takes_over_from_the_old_one(world: World) -> None:
    old = standard()
    new = services.save_calendar(
        BusinessCalendar(name="Night", time_zone="UTC", is_default=True), actor=world.admin
    )
    old.refresh_from_db()
    assert not old.is_default and selectors.default_calendar() == new
    [handover] = events(old, "calendar.updated")
    assert (handover.old, handover.new) == ({"is_default": True}, {"is_default": False})


def test_setting_working_hours_replaces_the_week_and_is_audited(world: World) -> None:
    calendar = standard()
    lunch = [(d, NINE, dt.time(13)) for d in range(5)] + [(d, dt.time(14), SIX_PM) for d in range(5)]
    services.set_working_hours(calendar, intervals=lunch, actor=world.admin)
    assert calendar.working_hours.count() == 10
    [event] = events(calendar, "calendar.hours_changed")
    assert event.old == {"working_hours": [[d, "09:00", "18:00"] for d in range(5)]}
    assert event.new is not None and event.new["working_hours"][:2] == [
        [0, "09:00", "13:00"],
        [0, "14:00", "18:00"],
    ]
    schedule = selectors.schedule_for(calendar.pk)
    assert schedule.add_business_minutes(msk(2025, 10, 20, 12, 30), 60) == msk(2025, 10, 20, 14, 30)

    services.set_working_hours(calendar, intervals=reversed(lunch), actor=world.admin)  # same week
    assert len(events(calendar, "calendar.hours_changed")) == 1


@pytest.mark.parametrize(
    "intervals",
    [
        [(0, NINE, SIX_PM), (0, dt.time(17), dt.time(19))],  # overlap
        [(0, SIX_PM, NINE)],  # ends before it starts
        [(0, dt.time(20), dt.time(0)), (0, dt.time(22), dt.time(23))],  # 20:00-midnight overlaps
        [(7, NINE, SIX_PM)],  # no such weekday
    ],
)
def test_bad_working_hours_are_refused_and_nothing_changes(world: World, intervals: list[Any]) -> None:
    calendar = standard()
    with pytest.raises(ValidationError):
        services.set_working_hours(calendar, intervals=intervals, actor=world.admin)
    assert calendar.working_hours.count() == 5


def test_a_night_shift_ends_at_midnight(world: World) -> None:
    calendar = services.save_calendar(
        BusinessCalendar(name="Nights", time_zone="Europe/Moscow"), actor=world.admin
    )
    services.set_working_hours(
        calendar, intervals=[(4, dt.time(20), dt.time(0)), (5, dt.time(0), dt.time(8))], actor=world.admin
    )
    schedule = selectors.schedule_for(calendar.pk)
    assert schedule.business_minutes_between(msk(2025, 10, 17), msk(2025, 10, 19)) == 12 * 60


def test_admin_dates_override_the_production_calendar_and_are_audited(world: World) -> None:
    calendar = standard()
    schedule = selectors.schedule_for(calendar.pk)
    assert schedule.business_minutes_between(msk(2026, 1, 5), msk(2026, 1, 6)) == 0  # a public holiday
    assert schedule.business_minutes_between(msk(2025, 11, 1), msk(2025, 11, 2)) == 9 * 60  # worked Saturday

    worked = services.add_calendar_date(
        calendar,
        date=dt.date(2026, 1, 5),
        kind=DateKind.WORKING_DAY,
        note="Year-end closing",
        actor=world.admin,
    )
    services.add_calendar_date(calendar, date=dt.date(2025, 11, 1), kind=DateKind.HOLIDAY, actor=world.admin)
    services.add_calendar_date(
        calendar, date=dt.date(2025, 11, 5), kind=DateKind.WORKING_DAY, end=dt.time(17), actor=world.admin
    )
    schedule = selectors.schedule_for(calendar.pk)
    assert schedule.business_minutes_between(msk(2026, 1, 5), msk(2026, 1, 6)) == 9 * 60
    assert schedule.business_minutes_between(msk(2025, 11, 1), msk(2025, 11, 2)) == 0
    assert schedule.business_minutes_between(msk(2025, 11, 5), msk(2025, 11, 6)) == 8 * 60

    added = events(calendar, "calendar.date_added")
    assert [e.new["date"] for e in added if e.new] == ["2026-01-05", "2025-11-01", "2025-11-05"]
    assert added[0].new == {
        "date": "2026-01-05",
        "kind": "working_day",
        "start": None,
        "end": None,
        "note": "Year-end closing",
    }

    worked.end = dt.time(15)
    services.save_calendar_date(worked, actor=world.admin)
    [changed] = events(calendar, "calendar.date_changed")
    assert (changed.old, changed.new) == (
        {"date": "2026-01-05", "end": None},
        {"date": "2026-01-05", "end": "15:00"},
    )
    assert (
        selectors.schedule_for(calendar.pk).business_minutes_between(msk(2026, 1, 5), msk(2026, 1, 6))
        == 6 * 60
    )

    services.remove_calendar_date(worked, actor=world.admin)
    [removed] = events(calendar, "calendar.date_removed")
    assert removed.old is not None and removed.old["date"] == "2026-01-05" and removed.new is None
    assert selectors.schedule_for(calendar.pk).business_minutes_between(msk(2026, 1, 5), msk(2026, 1, 6)) == 0


def test_a_date_is_added_once_and_a_day_off_has_no_hours(world: World) -> None:
    calendar = standard()
    services.add_calendar_date(calendar, date=dt.date(2025, 12, 26), kind=DateKind.HOLIDAY, actor=world.admin)
    with pytest.raises(DomainError, match="already"):
        services.add_calendar_date(
            calendar, date=dt.date(2025, 12, 26), kind=DateKind.WORKING_DAY, actor=world.admin
        )
    with pytest.raises(ValidationError):
        services.add_calendar_date(
            calendar, date=dt.date(2025, 12, 29), kind=DateKind.HOLIDAY, start=NINE, actor=world.admin
        )
    with pytest.raises(ValidationError):
        services.add_calendar_date(
            calendar,
            date=dt.date(2025, 12, 29),
            kind=DateKind.WORKING_DAY,
            start=SIX_PM,
            end=NINE,
            actor=world.admin,
        )
    assert calendar.dates.count() == 1


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"holiday_subdivision": "BY"}, "holiday_subdivision"),
        ({"is_default": True, "is_active": False}, "is_active"),
    ],
)
def test_bad_calendars_are_refused(world: World, fields: dict[str, Any], error_field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        services.save_calendar(BusinessCalendar(name="Bad", **fields), actor=world.admin)
    assert error_field in caught.value.message_dict
    assert not BusinessCalendar.objects.filter(name="Bad").exists()


def test_only_administrators_change_calendars(world: World) -> None:
    calendar = standard()
    entry = CalendarDate.objects.create(calendar=calendar, date=dt.date(2025, 12, 26), kind=DateKind.HOLIDAY)
    attempts = [
        lambda actor: services.save_calendar(BusinessCalendar(name="Mine", time_zone="UTC"), actor=actor),
        lambda actor: services.set_working_hours(calendar, intervals=[], actor=actor),
        lambda actor: services.add_calendar_date(
            calendar, date=dt.date(2025, 12, 29), kind=DateKind.HOLIDAY, actor=actor
        ),
        lambda actor: services.save_calendar_date(entry, actor=actor),
        lambda actor: services.remove_calendar_date(entry, actor=actor),
    ]
    for attempt in attempts:
        for user in (world.l1, world.manager_a, world.customer_b):
            with pytest.raises(NotPermitted):
                attempt(user)
    assert calendar.working_hours.count() == 5
    assert list(calendar.dates.values_list("date", flat=True)) == [dt.date(2025, 12, 26)]
    assert not AuditEvent.objects.filter(event_type__startswith="calendar.").exists()


# --- The per-process schedule cache --------------------------------------------------------


def test_a_schedule_is_read_once_then_served_without_queries(django_assert_num_queries: Any) -> None:
    calendar_id = standard().pk
    with django_assert_num_queries(3):  # the calendar, its hours, its dates
        first = selectors.schedule_for(calendar_id)
    with django_assert_num_queries(0):
        assert selectors.schedule_for(calendar_id) is first


def test_an_administrators_change_is_seen_at_once_in_this_process(world: World) -> None:
    calendar = standard()
    friday_evening = msk(2025, 10, 17, 17, 30)
    assert selectors.schedule_for(calendar.pk).add_business_minutes(friday_evening, 60) == msk(
        2025, 10, 20, 9, 30
    )
    services.set_working_hours(calendar, intervals=[*WEEKDAYS_9_TO_6, (5, NINE, SIX_PM)], actor=world.admin)
    assert selectors.schedule_for(calendar.pk).add_business_minutes(friday_evening, 60) == msk(
        2025, 10, 18, 9, 30
    )
    calendar.time_zone = "Asia/Vladivostok"
    services.save_calendar(calendar, actor=world.admin)
    assert selectors.schedule_for(calendar.pk).time_zone == "Asia/Vladivostok"


def test_another_process_change_is_seen_after_the_ttl(monkeypatch: Any) -> None:
    calendar = standard()
    first = selectors.schedule_for(calendar.pk)
    # An UPDATE sends no signal: exactly what this process sees when another process changes it.
    WorkingHours.objects.filter(calendar=calendar, weekday=0).update(start=dt.time(10))
    assert selectors.schedule_for(calendar.pk) is first

    later = process_cache.time.monotonic() + selectors.SCHEDULE_TTL_SECONDS + 0.1
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: later)
    changed = selectors.schedule_for(calendar.pk)
    assert changed != first
    assert changed.add_business_minutes(msk(2025, 10, 17, 17, 30), 60) == msk(2025, 10, 20, 10, 30)


def test_an_unchanged_calendar_keeps_its_warm_schedule_after_the_ttl(monkeypatch: Any) -> None:
    calendar_id = standard().pk
    first = selectors.schedule_for(calendar_id)
    later = process_cache.time.monotonic() + selectors.SCHEDULE_TTL_SECONDS + 0.1
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: later)
    assert selectors.schedule_for(calendar_id) is first


def test_a_schedule_read_inside_the_changing_transaction_is_dropped_on_commit(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    calendar = standard()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.set_working_hours(calendar, intervals=[(0, NINE, SIX_PM)], actor=world.admin)
        selectors.schedule_for(calendar.pk)  # holds the uncommitted week
        assert calendar.pk in selectors._schedules
    assert callbacks
    assert calendar.pk not in selectors._schedules


def test_an_unknown_calendar_is_an_error() -> None:
    with pytest.raises(BusinessCalendar.DoesNotExist):
        selectors.schedule_for(999_999)


# --- The Django admin ----------------------------------------------------------------------


@pytest.fixture
def admin_client(world: World) -> Client:
    client = Client()
    assert client.login(username="admin", password=PASSWORD)
    return client


def _inline(prefix: str, rows: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def _calendar_form(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Support Berlin",
        "time_zone": "Europe/Berlin",
        "holiday_country": "DE",
        "holiday_subdivision": "",
        "is_active": "on",
        **overrides,
    }


def test_the_calendar_changelist_opens(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:sla_businesscalendar_changelist"))
    assert response.status_code == 200
    assert b"Standard business hours" in response.content
    assert (
        admin_client.get(reverse("admin:sla_businesscalendar_change", args=[standard().pk])).status_code
        == 200
    )


def test_a_calendar_added_in_the_admin_is_saved_through_the_services(
    admin_client: Client, world: World
) -> None:
    data = {
        **_calendar_form(),
        **_inline(
            "working_hours",
            [{"weekday": day, "start": "08:00", "end": "17:00"} for day in range(5)],
        ),
        **_inline("dates", [{"date": "2025-12-24", "kind": "holiday", "note": "Christmas Eve"}]),
    }
    response = admin_client.post(reverse("admin:sla_businesscalendar_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    calendar = BusinessCalendar.objects.get(name="Support Berlin")
    assert calendar.working_hours.count() == 5
    assert [e.actor for e in events(calendar, "calendar.created")] == [world.admin]
    assert len(events(calendar, "calendar.hours_changed")) == 1
    assert len(events(calendar, "calendar.date_added")) == 1
    schedule = selectors.schedule_for(calendar.pk)
    christmas_eve = dt.datetime(2025, 12, 24, tzinfo=ZoneInfo("Europe/Berlin"))
    assert schedule.business_minutes_between(christmas_eve, christmas_eve + dt.timedelta(days=1)) == 0


def test_overlapping_hours_in_the_admin_are_a_form_error(admin_client: Client) -> None:
    data = {
        **_calendar_form(),
        **_inline(
            "working_hours",
            [
                {"weekday": 0, "start": "08:00", "end": "17:00"},
                {"weekday": 0, "start": "16:00", "end": "18:00"},
            ],
        ),
        **_inline("dates", []),
    }
    response = admin_client.post(reverse("admin:sla_businesscalendar_add"), data)
    assert response.status_code == 200
    assert b"overlap" in response.content
    assert not BusinessCalendar.objects.filter(name="Support Berlin").exists()


def test_removing_a_date_in_the_admin_is_audited(admin_client: Client, world: World) -> None:
    calendar = standard()
    entry = services.add_calendar_date(
        calendar, date=dt.date(2025, 12, 26), kind=DateKind.HOLIDAY, actor=world.admin
    )
    hours = list(calendar.working_hours.order_by("weekday"))
    data = {
        **_calendar_form(
            name=calendar.name, time_zone="Europe/Moscow", holiday_country="RU", is_default="on"
        ),
        **_inline(
            "working_hours",
            [
                {"id": h.pk, "calendar": calendar.pk, "weekday": h.weekday, "start": "09:00", "end": "18:00"}
                for h in hours
            ],
            initial=len(hours),
        ),
        **_inline(
            "dates",
            [
                {
                    "id": entry.pk,
                    "calendar": calendar.pk,
                    "date": "2025-12-26",
                    "kind": "holiday",
                    "DELETE": "on",
                }
            ],
            initial=1,
        ),
    }
    response = admin_client.post(reverse("admin:sla_businesscalendar_change", args=[calendar.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not calendar.dates.exists()
    assert len(events(calendar, "calendar.date_removed")) == 1
    assert not events(calendar, "calendar.hours_changed")  # the week did not change
    assert not events(calendar, "calendar.updated")


def test_calendars_cannot_be_deleted_in_the_admin(admin_client: Client) -> None:
    calendar = standard()
    response = admin_client.post(
        reverse("admin:sla_businesscalendar_delete", args=[calendar.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert BusinessCalendar.objects.filter(pk=calendar.pk).exists()
