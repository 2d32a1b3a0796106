"""Seed the five support lines and the ITIL priority matrix (admins edit both afterwards)."""

from django.db import migrations

LINES = [
    # code, level, name, may contact customers, time budget (minutes)
    ("L0", 0, "Dispatch", True, None),
    ("L1", 1, "First line", True, 15),
    ("L2", 2, "Second line", True, None),
    ("L3", 3, "Experts", False, None),
    ("L4", 4, "Vendor", False, None),
]

MATRIX = {
    (1, 1): 1, (1, 2): 2, (1, 3): 3,
    (2, 1): 2, (2, 2): 3, (2, 3): 4,
    (3, 1): 3, (3, 2): 4, (3, 3): 5,
}


def seed(apps, schema_editor):
    SupportLine = apps.get_model("tickets", "SupportLine")
    PriorityMatrixEntry = apps.get_model("tickets", "PriorityMatrixEntry")
    DeskSettings = apps.get_model("tickets", "DeskSettings")
    for code, level, name, may_contact, budget in LINES:
        SupportLine.objects.get_or_create(
            code=code,
            defaults={"level": level, "name": name, "may_contact_customer": may_contact, "time_budget_minutes": budget},
        )
    for (impact, urgency), priority in MATRIX.items():
        PriorityMatrixEntry.objects.get_or_create(impact=impact, urgency=urgency, defaults={"priority": priority})
    DeskSettings.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
