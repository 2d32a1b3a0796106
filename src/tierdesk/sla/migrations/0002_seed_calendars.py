"""Seed two business calendars (admins edit both afterwards): the default "Standard business
hours" (Europe/Moscow, Monday to Friday 09:00-18:00, the Russian production calendar) and "24/7"."""

import datetime

from django.db import migrations


def seed(apps, schema_editor):
    BusinessCalendar = apps.get_model("sla", "BusinessCalendar")
    WorkingHours = apps.get_model("sla", "WorkingHours")
    standard, created = BusinessCalendar.objects.get_or_create(
        name="Standard business hours",
        defaults={
            "time_zone": "Europe/Moscow",
            "holiday_country": "RU",
            "is_default": not BusinessCalendar.objects.filter(is_default=True).exists(),
        },
    )
    if created:
        WorkingHours.objects.bulk_create(
            WorkingHours(calendar=standard, weekday=weekday, start=datetime.time(9), end=datetime.time(18))
            for weekday in range(5)
        )
    BusinessCalendar.objects.get_or_create(name="24/7", defaults={"time_zone": "UTC", "is_24x7": True})


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
